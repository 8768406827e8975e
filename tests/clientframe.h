// A WebSocket frame as a client sends it (RFC 6455 5.2): masked with a fixed
// key unless told otherwise, the length in 7, 16 or 64 bits. Pure bytes, no
// sockets: the unit tests feed it to the frame reader, WsClient sends it.
#pragma once

#include <cstdint>
#include <vector>

namespace testutil {

// `first_byte` is FIN, RSV and the opcode as they go on the wire (0x82: one
// whole binary message).
inline std::vector<uint8_t> client_frame(uint8_t first_byte, const std::vector<uint8_t> &payload, bool masked = true) {
  std::vector<uint8_t> f{first_byte};
  const uint8_t mask_bit = masked ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<uint8_t>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    f.push_back(mask_bit | 126);
    f.push_back(static_cast<uint8_t>(n >> 8));
    f.push_back(static_cast<uint8_t>(n));
  } else {
    f.push_back(mask_bit | 127);
    for (int i = 7; i >= 0; i--) f.push_back(static_cast<uint8_t>(n >> (8 * i)));
  }
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.insert(f.end(), mask, mask + 4);
  for (size_t i = 0; i < payload.size(); i++) f.push_back(masked ? payload[i] ^ mask[i & 3] : payload[i]);
  return f;
}

}  // namespace testutil
