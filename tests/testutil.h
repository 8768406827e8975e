// The generic part of the test support: TCP sockets, frames, waiting on a
// condition with a deadline instead of sleeping, pipelines, fd and memory
// probes, and temporary files. What speaks a protocol lives in wsclient.h
// (WebSocket), httpclient.h (HTTP, MJPEG) and soupviewers.h; what drives an
// element in sinkharness.h and relay.h.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace testutil {

using Bytes = std::vector<uint8_t>;

// Initialises GStreamer and the GLib test framework; SIGPIPE is ignored.
void init(int *argc, char ***argv);

// --- TCP ---

// A blocking TCP connection to 127.0.0.1:port (TCP_NODELAY; SO_RCVBUF set
// to `receive_buffer` first if not 0); aborts the test on failure.
int tcp_connect(int port, int receive_buffer = 0);
// A plain socket bound to 127.0.0.1 on a free port and listening, that never
// accepts: a port that is taken. Sets `port`.
int tcp_listen(int *port);
// Like send(2) in a loop; false if the peer went away.
bool send_all(int fd, const void *data, size_t len);
// Closes with an RST instead of a FIN, as a crashed peer does.
void reset_close(int fd);
// "127.0.0.1:port" of our end of `fd`: the address the server names us by.
std::string local_address(int fd);

// --- frames ---

// One frame: `width`-byte big-endian length, then the payload.
bool send_frame(int fd, const Bytes &payload, unsigned width = 8);
// The 8-byte big-endian length prefix of `n`.
Bytes be64(uint64_t n);
// `count` real JPEG frames from videotestsrc ! jpegenc (each one different).
std::vector<Bytes> jpeg_frames(int count, int width = 320, int height = 240);
// Deterministic pseudo-random bytes.
Bytes random_bytes(size_t n, uint32_t seed);
// `count` frames of pseudo-random bytes, min_size..max_size long, each
// starting with JPEG's SOI and ending with its EOI (so that an MJPEG part can
// be told whole) and numbered in between (see frame_number).
std::vector<Bytes> numbered_frames(int count, size_t min_size, size_t max_size);
// The number numbered_frames put in `frame`.
int frame_number(const Bytes &frame);
// Starts with SOI (FF D8) and ends with EOI (FF D9).
bool is_full_jpeg(const Bytes &b);

// --- waiting ---

// Polls `done` until it holds or `timeout_ms` pass; iterates the default
// main context meanwhile. Returns done().
bool wait_until(const std::function<bool()> &done, int timeout_ms = 10000);

// --- elements ---

// gst_parse_launch or abort; the pipeline is in NULL state.
GstElement *parse(const std::string &description);
// Sets the state and waits for it (or failure); returns the result.
GstStateChangeReturn set_state_sync(GstElement *pipeline, GstState state);
guint64 get_u64(GstElement *element, const char *property);
guint get_uint(GstElement *element, const char *property);
int get_int(GstElement *element, const char *property);
std::string get_string(GstElement *element, const char *property);  // "" when unset
// Asserts that setting `pipeline` to `state` fails with an error of `domain`
// on the bus, and returns that error's message.
std::string state_change_error(GstElement *pipeline, GstState state, GQuark domain);

// --- the process ---

// Open file descriptors of this process.
int open_fds();
// Resident set size of this process, in KiB.
long rss_kib();

// --- files ---

// A fresh directory under $TMPDIR, removed with everything in it on
// destruction.
struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  // Writes `content` to path/rel, making the directories on the way.
  void write(const std::string &rel, const std::string &content) const;
};

// A self-signed PEM certificate and key for CN=localhost, made with openssl
// in `dir`; false (and nothing set) without openssl.
bool make_certificate(const std::string &dir, std::string &cert, std::string &key);

// PEM files of a small PKI for TLS with client certificates, made with openssl
// in `dir`: a CA; a server certificate it signed (CN=localhost, for localhost
// and 127.0.0.1); a camera's client certificate it signed; and a stranger's
// client certificate (same CN) signed by another CA.
struct Pki {
  std::string ca, server_cert, server_key, camera_cert, camera_key, other_ca, stranger_cert, stranger_key;
};
// False (and `pki` unset) when openssl (scripts/setup.sh installs it) fails or is missing.
bool make_pki(const std::string &dir, Pki &pki);

}  // namespace testutil
