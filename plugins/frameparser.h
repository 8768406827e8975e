// Length-prefixed framing: a frame is an unsigned length of `width` bytes in a
// given byte order, followed by that many payload bytes. No sockets, no
// GObject: the elements feed bytes in and get frames out.
#pragma once

#include <cstddef>
#include <cstdint>

namespace imagestream {

enum class ByteOrder { BigEndian, LittleEndian };

struct PrefixFormat {
  unsigned width = 8;  // 2, 4 or 8 bytes
  ByteOrder order = ByteOrder::BigEndian;

  // The largest length the prefix can express.
  uint64_t max_length() const;
  // Writes `length` as `width` bytes to `out`. False when it does not fit.
  bool encode(uint64_t length, uint8_t *out) const;
  uint64_t decode(const uint8_t *in) const;
};

class FrameParser {
 public:
  // Gets the frames; the memory for a payload is the receiver's.
  class Receiver {
   public:
    virtual ~Receiver() = default;
    // A header announced `size` bytes (1 <= size <= max frame size).
    virtual void frame_begin(uint64_t size) = 0;
    // Where the payload bytes from `offset` on go (offset < size), with room
    // for `*room` of them (1 <= *room <= size - offset). Asked again each time
    // that room is used up, so that the memory can grow with the bytes that
    // arrive instead of being taken for the whole announced size at once.
    virtual uint8_t *frame_room(uint64_t offset, uint64_t *room) = 0;
    // The payload of the frame begun last is complete.
    virtual void frame_complete() = 0;
    // A header announced a zero-length frame; it is skipped.
    virtual void frame_empty() {}
  };

  enum class Status {
    Ok,
    // A header announced more than the maximum frame size. The parser stays
    // in this state: the stream cannot be resynchronised.
    Oversized,
  };

  FrameParser(PrefixFormat format, uint64_t max_frame_size);

  // Consumes all `len` bytes (unless the stream turns out oversized).
  Status feed(const uint8_t *data, size_t len, Receiver &receiver);

  // For reading a large payload straight into its destination: how many
  // payload bytes are still missing (0 outside a payload), and where the next
  // ones go, with room for `*room` of them (at most payload_missing()).
  uint64_t payload_missing() const { return in_payload_ ? payload_size_ - payload_have_ : 0; }
  uint8_t *payload_room(Receiver &receiver, uint64_t *room);
  // `n` bytes (at most the room payload_room() gave) were written there.
  void payload_written(size_t n, Receiver &receiver);

  // True when bytes of an unfinished frame (header or payload) were consumed:
  // if the stream ends now, that frame is lost.
  bool mid_frame() const { return in_payload_ || header_have_ > 0; }
  Status status() const { return status_; }
  // The length announced by the last header (the offending one when Oversized).
  uint64_t announced_size() const { return announced_; }

 private:
  void header_complete(Receiver &receiver);

  PrefixFormat format_;
  uint64_t max_frame_size_;
  Status status_ = Status::Ok;
  uint8_t header_[8] = {};
  unsigned header_have_ = 0;
  bool in_payload_ = false;
  uint64_t payload_size_ = 0;
  uint64_t payload_have_ = 0;
  uint64_t announced_ = 0;
};

}  // namespace imagestream
