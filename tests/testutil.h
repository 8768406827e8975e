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

}  // namespace testutil
