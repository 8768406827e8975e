// WebSocket framing (RFC 6455) as websocketsink needs it: headers of the
// frames the server sends (final, unmasked) and a reader for the frames a
// viewer sends (masked). No sockets, no GObject.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace imagestream::ws {

enum Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

enum CloseCode : uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,
  kProtocolError = 1002,
  kInvalidPayload = 1007,  // e.g. a text message that is not UTF-8
  kPolicyViolation = 1008,
  kMessageTooBig = 1009,
};

constexpr size_t kMaxServerHeader = 10;
constexpr size_t kMaxControlPayload = 125;

// Writes the header of a final, unmasked frame to `out`; returns its size (2, 4 or 10).
size_t encode_header(uint8_t out[kMaxServerHeader], Opcode opcode, uint64_t payload_size);

// A whole unmasked control frame; `payload` is cut to 125 bytes.
std::vector<uint8_t> control_frame(Opcode opcode, const uint8_t *payload, size_t size);
// A close frame with `code` and a reason (cut to fit 125 bytes).
std::vector<uint8_t> close_frame(uint16_t code, const std::string &reason);
// A whole unmasked text message.
std::vector<uint8_t> text_frame(const std::string &text);

// Whether bytes are UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF), fed in pieces split anywhere: a sequence may start
// in one piece and end in the next. Fails at the first byte that cannot
// continue a valid text, as RFC 6455 8.1 asks ("fail fast").
class Utf8Validator {
 public:
  // False once the bytes so far cannot be the start of a UTF-8 text.
  bool feed(const uint8_t *data, size_t len);
  // The bytes so far are a whole text (no sequence cut off at the end).
  bool complete() const { return need_ == 0; }
  void reset() { *this = Utf8Validator(); }

 private:
  uint8_t need_ = 0;  // continuation bytes still due for the current sequence
  // Bounds of the next continuation byte: narrower than 80..BF right after
  // E0, ED, F0 and F4, which is what excludes overlong forms, surrogates and
  // code points past U+10FFFF.
  uint8_t low_ = 0x80, high_ = 0xBF;
};

// Whether a viewer may send `code` in a close frame (RFC 6455 7.4):
// 1005, 1006 and 1015 only stand for "none" locally and never go on the wire.
bool valid_close_code(uint16_t code);

// Reads the frames a client sends. Data messages are only measured, never
// kept: the server has no use for them beyond enforcing the size limit and
// checking, on the fly, that text is UTF-8.
class ClientFrameReader {
 public:
  class Receiver {
   public:
    virtual ~Receiver() = default;
    virtual void ping(const uint8_t *payload, size_t size) = 0;
    virtual void pong() {}
    // `code` is 1005 (no status) when the frame carried none: a code of
    // 1005 on the wire is a protocol error, never reported here. `reason`
    // is UTF-8.
    virtual void close(uint16_t code, const std::string &reason) = 0;
    // A complete text or binary message of `size` bytes (over all fragments).
    virtual void message(Opcode opcode, uint64_t size) { (void)opcode, (void)size; }
  };

  enum class Status {
    Ok,
    // The stream broke the protocol (unmasked or malformed frame, a close
    // code that may not be sent): close with 1002.
    ProtocolError,
    // A message grew past the limit: close with 1009.
    TooBig,
    // A text message or a close reason is not UTF-8: close with 1007.
    InvalidUtf8,
  };

  explicit ClientFrameReader(uint64_t max_message_size) : max_message_size_(max_message_size) {}

  // Consumes `len` bytes; stops at the first error, after which the reader
  // stays in that state.
  Status feed(const uint8_t *data, size_t len, Receiver &receiver);

 private:
  Status header_complete();
  Status frame_complete(Receiver &receiver);
  // Unmasks the text payload in `data` and validates it, without keeping it.
  bool text_valid(const uint8_t *data, size_t len);

  uint64_t max_message_size_;
  Status status_ = Status::Ok;
  // Current frame header.
  uint8_t header_[14];
  size_t header_have_ = 0;
  size_t header_need_ = 2;
  bool in_payload_ = false;
  bool fin_ = false;
  Opcode opcode_ = kContinuation;
  uint8_t mask_[4] = {};
  uint64_t payload_size_ = 0;
  uint64_t payload_have_ = 0;
  // Control frame payload, unmasked.
  uint8_t control_[kMaxControlPayload];
  // The fragmented data message in progress, if any.
  bool in_message_ = false;
  Opcode message_opcode_ = kBinary;
  uint64_t message_size_ = 0;
  Utf8Validator text_;  // of the text message in progress
};

}  // namespace imagestream::ws
