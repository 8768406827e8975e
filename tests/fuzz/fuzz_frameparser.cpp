// libFuzzer target for FrameParser: the first byte picks the prefix format
// and how the rest is cut into reads (through feed() or written straight to
// the payload cursor, as lengthprefixsrc does); ASan checks every write stays
// inside the memory frame_begin() handed out, and the frame accounting holds.
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
  std::unique_ptr<uint8_t[]> frame;
  uint64_t size = 0, begun = 0, complete = 0, empty = 0, bytes = 0;
  uint8_t *frame_begin(uint64_t n) override {
    if (complete != begun) abort();  // a frame began before the last completed
    begun++;
    size = n;
    frame.reset(new uint8_t[n]);
    return frame.get();
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
  data += 2;
  len -= 2;

  Receiver r;
  FrameParser parser(format, max_frame_size);
  size_t consumed = 0;
  bool direct = false;
  while (consumed < len) {
    size_t n = std::min(chunk, len - consumed);
    if (direct && parser.payload_missing() > 0) {
      n = std::min<uint64_t>(n, parser.payload_missing());
      std::memcpy(parser.payload_cursor(), data + consumed, n);
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
