// Bytes from the kernel's random source, for secrets (the MJPEG boundary, the
// logins' digest key): getrandom(2), which blocks only until the pool is
// seeded at boot, and is repeated for the rest when a signal cuts it short.
#pragma once

#include <sys/random.h>

#include <cstddef>
#include <cstdint>

namespace imagestream {

inline void random_bytes(void *out, size_t size) {
  auto *bytes = static_cast<uint8_t *>(out);
  size_t have = 0;
  while (have < size) {
    const ssize_t n = getrandom(bytes + have, size - have, 0);
    if (n > 0) have += static_cast<size_t>(n);
  }
}

}  // namespace imagestream
