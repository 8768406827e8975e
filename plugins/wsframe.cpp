#include "wsframe.h"

#include <algorithm>
#include <cstring>

namespace imagestream::ws {

size_t encode_header(uint8_t out[kMaxServerHeader], Opcode opcode, uint64_t payload_size) {
  out[0] = 0x80 | opcode;
  if (payload_size < 126) {
    out[1] = static_cast<uint8_t>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_size >> 8);
    out[3] = static_cast<uint8_t>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = static_cast<uint8_t>(payload_size >> (56 - 8 * i));
  return 10;
}

std::vector<uint8_t> control_frame(Opcode opcode, const uint8_t *payload, size_t size) {
  size = std::min(size, kMaxControlPayload);
  std::vector<uint8_t> frame(2 + size);
  encode_header(frame.data(), opcode, size);
  if (size) std::memcpy(frame.data() + 2, payload, size);
  return frame;
}

std::vector<uint8_t> close_frame(uint16_t code, const std::string &reason) {
  std::vector<uint8_t> payload{static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code)};
  payload.insert(payload.end(), reason.begin(), reason.begin() + std::min(reason.size(), kMaxControlPayload - 2));
  return control_frame(kClose, payload.data(), payload.size());
}

std::vector<uint8_t> text_frame(const std::string &text) {
  std::vector<uint8_t> frame(kMaxServerHeader + text.size());
  const size_t header = encode_header(frame.data(), kText, text.size());
  std::copy(text.begin(), text.end(), frame.begin() + header);
  frame.resize(header + text.size());
  return frame;
}

bool Utf8Validator::feed(const uint8_t *data, size_t len) {
  if (need_ > 3) return false;  // failed before
  for (size_t i = 0; i < len; i++) {
    const uint8_t b = data[i];
    if (need_ == 0) {
      if (b < 0x80) continue;
      if (b >= 0xC2 && b <= 0xDF) {
        need_ = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        need_ = 2;
        if (b == 0xE0) low_ = 0xA0;   // else overlong
        if (b == 0xED) high_ = 0x9F;  // else a surrogate, U+D800..DFFF
      } else if (b >= 0xF0 && b <= 0xF4) {
        need_ = 3;
        if (b == 0xF0) low_ = 0x90;   // else overlong
        if (b == 0xF4) high_ = 0x8F;  // else past U+10FFFF
      } else {
        need_ = 0xFF;  // a continuation byte first, C0/C1 (overlong), F5..FF
        return false;
      }
      continue;
    }
    if (b < low_ || b > high_) {
      need_ = 0xFF;
      return false;
    }
    low_ = 0x80;
    high_ = 0xBF;
    need_--;
  }
  return true;
}

bool valid_close_code(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

ClientFrameReader::Status ClientFrameReader::header_complete() {
  fin_ = header_[0] & 0x80;
  if (header_[0] & 0x70) return Status::ProtocolError;  // no extension was negotiated
  opcode_ = static_cast<Opcode>(header_[0] & 0x0F);
  const uint8_t len7 = header_[1] & 0x7F;
  size_t pos = 2;
  if (len7 == 126) {
    payload_size_ = (uint64_t{header_[2]} << 8) | header_[3];
    pos = 4;
  } else if (len7 == 127) {
    payload_size_ = 0;
    for (int i = 0; i < 8; i++) payload_size_ = (payload_size_ << 8) | header_[2 + i];
    if (payload_size_ >> 63) return Status::ProtocolError;
    pos = 10;
  } else {
    payload_size_ = len7;
  }
  std::memcpy(mask_, header_ + pos, 4);
  payload_have_ = 0;

  if (opcode_ & 0x8) {
    if (opcode_ != kClose && opcode_ != kPing && opcode_ != kPong) return Status::ProtocolError;
    if (!fin_ || payload_size_ > kMaxControlPayload) return Status::ProtocolError;
    if (opcode_ == kClose && payload_size_ == 1) return Status::ProtocolError;
    return Status::Ok;
  }
  if (opcode_ != kContinuation && opcode_ != kText && opcode_ != kBinary) return Status::ProtocolError;
  if ((opcode_ == kContinuation) != in_message_) return Status::ProtocolError;
  if (opcode_ != kContinuation) {
    in_message_ = true;
    message_opcode_ = opcode_;
    message_size_ = 0;
    text_.reset();
  }
  message_size_ += payload_size_;
  if (max_message_size_ && message_size_ > max_message_size_) return Status::TooBig;
  return Status::Ok;
}

ClientFrameReader::Status ClientFrameReader::frame_complete(Receiver &receiver) {
  in_payload_ = false;
  header_have_ = 0;
  header_need_ = 2;
  switch (opcode_) {
    case kPing:
      receiver.ping(control_, payload_size_);
      break;
    case kPong:
      receiver.pong();
      break;
    case kClose: {
      uint16_t code = 1005;  // none given
      std::string reason;
      if (payload_size_ >= 2) {
        code = static_cast<uint16_t>((control_[0] << 8) | control_[1]);
        if (!valid_close_code(code)) return Status::ProtocolError;
        Utf8Validator text;
        if (!text.feed(control_ + 2, payload_size_ - 2) || !text.complete()) return Status::InvalidUtf8;
        reason.assign(reinterpret_cast<const char *>(control_ + 2), payload_size_ - 2);
      }
      receiver.close(code, reason);
      break;
    }
    default:
      if (fin_) {
        // A text message may not end inside a sequence.
        if (message_opcode_ == kText && !text_.complete()) return Status::InvalidUtf8;
        in_message_ = false;
        receiver.message(message_opcode_, message_size_);
      }
  }
  return Status::Ok;
}

bool ClientFrameReader::text_valid(const uint8_t *data, size_t len) {
  uint8_t plain[256];
  for (size_t done = 0; done < len;) {
    const size_t n = std::min(len - done, sizeof plain);
    for (size_t i = 0; i < n; i++) plain[i] = data[done + i] ^ mask_[(payload_have_ + done + i) & 3];
    if (!text_.feed(plain, n)) return false;
    done += n;
  }
  return true;
}

ClientFrameReader::Status ClientFrameReader::feed(const uint8_t *data, size_t len, Receiver &receiver) {
  while (len > 0 && status_ == Status::Ok) {
    if (!in_payload_) {
      size_t take = std::min(header_need_ - header_have_, len);
      std::memcpy(header_ + header_have_, data, take);
      header_have_ += take;
      data += take;
      len -= take;
      if (header_have_ < header_need_) break;
      if (header_need_ == 2) {
        if (!(header_[1] & 0x80)) {  // clients must mask
          status_ = Status::ProtocolError;
          break;
        }
        const uint8_t len7 = header_[1] & 0x7F;
        header_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
        continue;
      }
      status_ = header_complete();
      if (status_ != Status::Ok) break;
      in_payload_ = true;
      if (payload_size_ == 0) status_ = frame_complete(receiver);
      continue;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(payload_size_ - payload_have_, len));
    if (opcode_ & 0x8) {
      for (size_t i = 0; i < take; i++) control_[payload_have_ + i] = data[i] ^ mask_[(payload_have_ + i) & 3];
    } else if (message_opcode_ == kText && !text_valid(data, take)) {
      status_ = Status::InvalidUtf8;
      break;
    }
    payload_have_ += take;
    data += take;
    len -= take;
    if (payload_have_ == payload_size_) status_ = frame_complete(receiver);
  }
  return status_;
}

}  // namespace imagestream::ws
