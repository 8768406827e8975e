// libFuzzer target for FrameParser: the first byte picks the prefix format
// and how the rest is cut into reads (through feed() or written straight to
// the payload room, as lengthprefixsrc does) and how much room the receiver
// hands out at a time (lengthprefixsrc grows a frame's memory in steps); ASan
// checks every write stays inside the room frame_room() handed out, and the
// frame accounting holds.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "frameparser.h"

using imagestream::ByteOrder;
using imagestream::FrameParser;
using imagestream::PrefixFormat;

namespace {

struct Receiver : FrameParser::Receiver {
  explicit Receiver(uint64_t piece) : piece(piece) {}
  const uint64_t piece;  // most room handed out at once
  std::unique_ptr<uint8_t[]> room;
  uint64_t size = 0, begun = 0, complete = 0, empty = 0, bytes = 0;
  void frame_begin(uint64_t n) override {
    if (complete != begun) abort();  // a frame began before the last completed
    begun++;
    size = n;
    room.reset();
  }
  // Fresh memory of just the room each time, so that ASan sees a write past it.
  uint8_t *frame_room(uint64_t offset, uint64_t *n) override {
    if (offset >= size) abort();
    *n = std::min(piece, size - offset);
    room.reset(new uint8_t[*n]);
    return room.get();
  }
  void frame_complete() override {
    complete++;
    bytes += size;
  }
  void frame_empty() override { empty++; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 2) return 0;
  static const unsigned widths[] = {2, 4, 8, 8};
  PrefixFormat format{widths[data[0] & 3], (data[0] & 4) ? ByteOrder::LittleEndian : ByteOrder::BigEndian};
  uint64_t max_frame_size = 1 + (data[1] << 4);  // up to 4 KiB keeps allocations small
  size_t chunk = 1 + (data[0] >> 3);              // 1..32 bytes a read
  Receiver r(1 + (data[1] & 15) * 97);            // 1..1456 bytes of room at a time
  data += 2;
  len -= 2;

  FrameParser parser(format, max_frame_size);
  size_t consumed = 0;
  bool direct = false;
  while (consumed < len) {
    size_t n = std::min(chunk, len - consumed);
    if (direct && parser.payload_missing() > 0) {
      uint64_t room = 0;
      uint8_t *at = parser.payload_room(r, &room);
      n = std::min<uint64_t>(n, room);
      std::memcpy(at, data + consumed, n);
      parser.payload_written(n, r);
    } else if (parser.feed(data + consumed, n, r) != FrameParser::Status::Ok) {
      if (parser.announced_size() <= max_frame_size) abort();
      return 0;
    }
    consumed += n;
    direct = !direct;
  }
  if (r.complete + (parser.payload_missing() > 0 ? 1 : 0) != r.begun) abort();
  return 0;
}
