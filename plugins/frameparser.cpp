#include "frameparser.h"

#include <algorithm>
#include <cstring>

namespace imagestream {

uint64_t PrefixFormat::max_length() const {
  return width >= 8 ? UINT64_MAX : (uint64_t{1} << (8 * width)) - 1;
}

bool PrefixFormat::encode(uint64_t length, uint8_t *out) const {
  if (length > max_length()) return false;
  for (unsigned i = 0; i < width; i++) {
    uint8_t byte = static_cast<uint8_t>(length >> (8 * i));
    out[order == ByteOrder::BigEndian ? width - 1 - i : i] = byte;
  }
  return true;
}

uint64_t PrefixFormat::decode(const uint8_t *in) const {
  uint64_t v = 0;
  for (unsigned i = 0; i < width; i++) {
    uint8_t byte = in[order == ByteOrder::BigEndian ? i : width - 1 - i];
    v = (v << 8) | byte;
  }
  return v;
}

FrameParser::FrameParser(PrefixFormat format, uint64_t max_frame_size)
    : format_(format), max_frame_size_(max_frame_size) {}

void FrameParser::header_complete(Receiver &receiver) {
  header_have_ = 0;
  announced_ = format_.decode(header_);
  if (announced_ == 0) {
    receiver.frame_empty();
    return;
  }
  if (announced_ > max_frame_size_) {
    status_ = Status::Oversized;
    return;
  }
  receiver.frame_begin(announced_);
  payload_size_ = announced_;
  payload_have_ = 0;
  in_payload_ = true;
}

void FrameParser::payload_written(size_t n, Receiver &receiver) {
  payload_have_ += n;
  if (payload_have_ == payload_size_) {
    in_payload_ = false;
    receiver.frame_complete();
  }
}

uint8_t *FrameParser::payload_room(Receiver &receiver, uint64_t *room) {
  uint8_t *at = receiver.frame_room(payload_have_, room);
  *room = std::min(*room, payload_size_ - payload_have_);
  return at;
}

FrameParser::Status FrameParser::feed(const uint8_t *data, size_t len, Receiver &receiver) {
  while (len > 0 && status_ == Status::Ok) {
    if (in_payload_) {
      uint64_t room = 0;
      uint8_t *at = payload_room(receiver, &room);
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, room));
      std::memcpy(at, data, n);
      data += n;
      len -= n;
      payload_written(n, receiver);
    } else {
      size_t n = std::min<size_t>(len, format_.width - header_have_);
      std::memcpy(header_ + header_have_, data, n);
      header_have_ += static_cast<unsigned>(n);
      data += n;
      len -= n;
      if (header_have_ == format_.width) header_complete(receiver);
    }
  }
  return status_;
}

}  // namespace imagestream
