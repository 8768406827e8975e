/* The floor: the least work any relay can do, to measure the others against.
 *
 *   floor_relay INGEST_PORT WS_PORT [PATH]
 *
 * Single thread, blocking sockets, bound to 127.0.0.1. It accepts one ingest
 * connection (a later one replaces it) and any number of WebSocket viewers,
 * reads one length-prefixed frame at a time and sends it to every viewer with a
 * single writev(frame header, payload). Deliberately nothing else: no reading
 * from viewers, no limits, no recovery. One viewer that stops reading blocks
 * everything, which is what the stuck-viewer scenario shows. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ws_handshake.h"

#define MAX_VIEWERS 4096

static int listen_on(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) {
    fprintf(stderr, "floor_relay: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
    exit(1);
  }
  return fd;
}

static int read_full(int fd, void *buf, size_t n)
{
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0)
      return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Reads the upgrade request (blocking) and answers 101. Returns 0 on success. */
static int handshake(int fd, const char *path)
{
  char req[4096];
  size_t len = 0;
  while (len < sizeof req - 1) {
    ssize_t r = read(fd, req + len, sizeof req - 1 - len);
    if (r <= 0)
      return -1;
    len += (size_t)r;
    req[len] = '\0';
    if (strstr(req, "\r\n\r\n"))
      break;
  }
  char want[512];
  snprintf(want, sizeof want, "GET %s ", path);
  if (strncmp(req, want, strlen(want)) != 0)
    return -1;
  const char *key = strcasestr(req, "\r\nSec-WebSocket-Key:");
  if (!key)
    return -1;
  key += strlen("\r\nSec-WebSocket-Key:");
  while (*key == ' ')
    key++;
  size_t key_len = strcspn(key, " \r\n");
  char accept[29];
  bench_ws_accept(key, key_len, accept);
  char resp[256];
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
  return write(fd, resp, (size_t)n) == n ? 0 : -1;
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: floor_relay INGEST_PORT WS_PORT [PATH]\n");
    return 2;
  }
  const char *path = argc > 3 ? argv[3] : "/camera";
  signal(SIGPIPE, SIG_IGN);
  int ingest_listener = listen_on(atoi(argv[1]));
  int ws_listener = listen_on(atoi(argv[2]));
  int ingest = -1;
  static int viewers[MAX_VIEWERS];
  int n_viewers = 0;
  uint8_t *payload = NULL;
  size_t capacity = 0;

  for (;;) {
    struct pollfd p[3] = {
        {ingest_listener, POLLIN, 0},
        {ws_listener, POLLIN, 0},
        {ingest, POLLIN, 0},
    };
    if (poll(p, ingest >= 0 ? 3 : 2, -1) < 0)
      continue;

    if (p[0].revents & POLLIN) {
      int fd = accept(ingest_listener, NULL, NULL);
      if (fd >= 0) {
        if (ingest >= 0)
          close(ingest);
        ingest = fd;
      }
    }
    if (p[1].revents & POLLIN) {
      int fd = accept(ws_listener, NULL, NULL);
      if (fd >= 0) {
        if (n_viewers < MAX_VIEWERS && handshake(fd, path) == 0)
          viewers[n_viewers++] = fd;
        else
          close(fd);
      }
    }
    if (ingest >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      uint8_t prefix[8];
      if (read_full(ingest, prefix, 8) < 0) {
        close(ingest);
        ingest = -1;
        continue;
      }
      uint64_t size = 0;
      for (int i = 0; i < 8; i++)
        size = (size << 8) | prefix[i];
      if (size > capacity) {
        payload = realloc(payload, size);
        capacity = size;
      }
      if (read_full(ingest, payload, size) < 0) {
        close(ingest);
        ingest = -1;
        continue;
      }

      /* Server-to-client frames are unmasked: FIN + binary opcode, then a 7,
       * 16 or 64-bit payload length (RFC 6455 section 5.2). */
      uint8_t header[10];
      size_t header_len;
      header[0] = 0x82;
      if (size < 126) {
        header[1] = (uint8_t)size;
        header_len = 2;
      } else if (size < 65536) {
        header[1] = 126;
        header[2] = (uint8_t)(size >> 8);
        header[3] = (uint8_t)size;
        header_len = 4;
      } else {
        header[1] = 127;
        for (int i = 0; i < 8; i++)
          header[2 + i] = (uint8_t)(size >> (56 - 8 * i));
        header_len = 10;
      }
      struct iovec iov[2] = {{header, header_len}, {payload, size}};
      for (int i = 0; i < n_viewers;) {
        /* A blocking writev sends everything or fails. */
        if (writev(viewers[i], iov, 2) < 0) {
          close(viewers[i]);
          viewers[i] = viewers[--n_viewers];
        } else {
          i++;
        }
      }
    }
  }
}
