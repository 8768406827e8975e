/* WebSocket handshake arithmetic shared by the floor relay (C) and the load
 * generator (C++): SHA-1 (FIPS 180-4), base64, and the Sec-WebSocket-Accept
 * value of RFC 6455 section 4.2.2. Header-only so that each bench program stays
 * a single translation unit built by one compiler call. */
#ifndef BENCH_WS_HANDSHAKE_H
#define BENCH_WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t bench_rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* One-shot SHA-1 of a short message (handshake keys are about 60 bytes, so
 * there is no streaming interface). */
static inline void bench_sha1(const uint8_t *msg, size_t len, uint8_t digest[20])
{
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  /* Message + 0x80 + zero padding + 64-bit bit length, rounded up to 64. */
  size_t total = ((len + 8) / 64 + 1) * 64;
  uint8_t block[64];
  for (size_t off = 0; off < total; off += 64) {
    for (size_t i = 0; i < 64; i++) {
      size_t pos = off + i;
      uint8_t b = 0;
      if (pos < len)
        b = msg[pos];
      else if (pos == len)
        b = 0x80;
      else if (pos >= total - 8)
        b = (uint8_t)(((uint64_t)len * 8) >> (8 * (total - 1 - pos)));
      block[i] = b;
    }
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
      w[t] = ((uint32_t)block[4 * t] << 24) | ((uint32_t)block[4 * t + 1] << 16) |
             ((uint32_t)block[4 * t + 2] << 8) | (uint32_t)block[4 * t + 3];
    for (int t = 16; t < 80; t++)
      w[t] = bench_rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
      uint32_t f, k;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      uint32_t tmp = bench_rol32(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = bench_rol32(b, 30);
      b = a;
      a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  for (int i = 0; i < 5; i++) {
    digest[4 * i] = (uint8_t)(h[i] >> 24);
    digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
    digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
    digest[4 * i + 3] = (uint8_t)h[i];
  }
}

/* Standard base64 with padding; out must hold 4 * ceil(len / 3) + 1 bytes. */
static inline void bench_base64(const uint8_t *in, size_t len, char *out)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < len)
      v |= in[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
  }
  out[o] = '\0';
}

/* Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)), 28 chars. */
static inline void bench_ws_accept(const char *key, size_t key_len, char out[29])
{
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t buf[128 + sizeof guid];
  uint8_t digest[20];
  if (key_len > 128)
    key_len = 128;
  memcpy(buf, key, key_len);
  memcpy(buf + key_len, guid, sizeof guid - 1);
  bench_sha1(buf, key_len + sizeof guid - 1, digest);
  bench_base64(digest, 20, out);
}

#endif
