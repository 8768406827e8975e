// Shared by the element tests: real TCP clients, real JPEG frames, and
// waiting on conditions with a deadline instead of sleeping.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace testutil {

using Bytes = std::vector<uint8_t>;

// Initialises GStreamer and the GLib test framework.
void init(int *argc, char ***argv);

// A blocking TCP connection to 127.0.0.1:port; aborts the test on failure.
int tcp_connect(int port);
// Like send(2) in a loop; false if the peer went away.
bool send_all(int fd, const void *data, size_t len);
// One frame: `width`-byte big-endian length, then the payload.
bool send_frame(int fd, const Bytes &payload, unsigned width = 8);
// The 8-byte big-endian length prefix of `n`.
Bytes be64(uint64_t n);

// `count` real JPEG frames from videotestsrc ! jpegenc (each one different).
std::vector<Bytes> jpeg_frames(int count, int width = 320, int height = 240);
// Deterministic pseudo-random bytes.
Bytes random_bytes(size_t n, uint32_t seed);

// Polls `done` until it holds or `timeout_ms` pass; iterates the default
// main context meanwhile. Returns done().
bool wait_until(const std::function<bool()> &done, int timeout_ms = 10000);

// gst_parse_launch or abort; the pipeline is in NULL state.
GstElement *parse(const std::string &description);
// Sets the state and waits for it (or failure); returns the result.
GstStateChangeReturn set_state_sync(GstElement *pipeline, GstState state);
guint64 get_u64(GstElement *element, const char *property);

// Open file descriptors of this process.
int open_fds();
// Resident set size of this process, in KiB.
long rss_kib();

// A minimal WebSocket client on a raw blocking socket (the server side's
// frames are unmasked; ours are masked as RFC 6455 requires).
struct WsClient {
  int fd = -1;
  int status = 0;       // HTTP status of the upgrade response
  Bytes pending;        // bytes read past the last message

  WsClient() = default;
  WsClient(const WsClient &) = delete;
  ~WsClient() { close(); }
  // Connects and upgrades; true on 101. `extra_headers` end in \r\n each.
  bool open(int port, const std::string &path, const std::string &extra_headers = "");
  // The next data message (binary or text) within `timeout_ms`; answers
  // nothing. False on timeout, close or error. `opcode` gets 1, 2 or 8.
  bool read_message(Bytes &payload, int timeout_ms = 10000, int *opcode = nullptr);
  // Sends one masked frame.
  bool send_frame(int opcode, const Bytes &payload);
  void close();
};

// A plain HTTP/1.1 GET; returns the status, and the body in `body`.
int http_get(int port, const std::string &path, std::string *body = nullptr, std::string *headers = nullptr);

}  // namespace testutil
