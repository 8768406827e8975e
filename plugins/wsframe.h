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

// Reads the frames a client sends. Data messages are only measured, never
// kept: the server has no use for them beyond enforcing the size limit.
class ClientFrameReader {
 public:
  class Receiver {
   public:
    virtual ~Receiver() = default;
    virtual void ping(const uint8_t *payload, size_t size) = 0;
    virtual void pong() {}
    // `code` is 1005 (no status) when the frame carried none.
    virtual void close(uint16_t code, const std::string &reason) = 0;
    // A complete text or binary message of `size` bytes (over all fragments).
    virtual void message(Opcode opcode, uint64_t size) { (void)opcode, (void)size; }
  };

  enum class Status {
    Ok,
    // The stream broke the protocol (unmasked or malformed frame): close with 1002.
    ProtocolError,
    // A message grew past the limit: close with 1009.
    TooBig,
  };

  explicit ClientFrameReader(uint64_t max_message_size) : max_message_size_(max_message_size) {}

  // Consumes `len` bytes; stops at the first error, after which the reader
  // stays in that state.
  Status feed(const uint8_t *data, size_t len, Receiver &receiver);

 private:
  Status header_complete();
  void frame_complete(Receiver &receiver);

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
};

}  // namespace imagestream::ws
