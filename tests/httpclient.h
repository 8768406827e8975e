// The HTTP client of the tests, on raw blocking sockets to 127.0.0.1: the
// request goes out exactly as given (no client-side normalising of the path)
// and the response comes back as bytes. Plain GETs that read to the server's
// close, and MJPEG (multipart/x-mixed-replace) clients that read and parse
// every part, or never read (stuck). No TLS.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "testutil.h"

namespace testutil {

struct HttpResponse {
  int status = 0;            // 0: no response head came in time
  std::string head;          // status line and headers, without the blank line
  std::string content_type;  // the Content-Type header's value, or ""
  std::string body;          // what followed the head until the server closed
  bool closed = false;       // the server closed the connection in time
  // The value of header `name` (case-insensitive), or "".
  std::string header(const std::string &name) const;
};

// Fills `r` from `head` (the bytes before the blank line); false if it is
// not an HTTP/1.1 status line.
bool parse_response_head(const std::string &head, HttpResponse &r);
// Reads the response head from `fd`, and not one byte further (the body stays
// in the kernel). False when none came within `timeout_ms`.
bool read_response_head(int fd, HttpResponse &r, int timeout_ms = 10000);

// Sends `request` as it is on a new connection and reads the response up to
// the server's close (at most `timeout_ms`).
HttpResponse http_request(int port, const std::string &request, int timeout_ms = 10000);
// GET `path` with Connection: close.
HttpResponse http_get(int port, const std::string &path);

// The boundary a multipart/x-mixed-replace response head declares, or "".
std::string boundary_of(const std::string &head);

// Splits a multipart/x-mixed-replace body into its parts as the bytes arrive;
// each part must be Content-Type: image/jpeg.
class MjpegParser {
 public:
  MjpegParser(const std::string &boundary, std::function<void(Bytes)> on_part);
  // False once the bytes are not what the format says.
  bool feed(const uint8_t *data, size_t n);
  // The closing delimiter came.
  bool ended() const { return state_ == State::Ended; }

 private:
  enum class State { Opening, Headers, Body, AfterDelimiter, Ended };
  bool step();
  void consume(size_t n, State next);

  std::function<void(Bytes)> on_part_;
  const std::string opening_;
  const std::string delimiter_;
  Bytes buf_;
  size_t scanned_ = 0;  // bytes of a part's body searched for the delimiter already
  State state_ = State::Opening;
  bool ok_ = true;
};

// A client of <path>/stream.mjpeg: open() reads the response head only, so a
// client that never calls read_parts() is stuck (with a small
// `receive_buffer`, the server's backlog to it builds at once);
// read_parts() reads and parses every part on a thread of its own until EOF.
// The counters may be read from any thread meanwhile.
class MjpegClient {
 public:
  MjpegClient() = default;
  MjpegClient(const MjpegClient &) = delete;
  MjpegClient &operator=(const MjpegClient &) = delete;
  ~MjpegClient();

  // Connects, asks for `path`, reads the head; returns the status.
  int open(int port, const std::string &path, int receive_buffer = 0);
  // Reads until EOF on a thread; `check(n, part)` judges the n-th part
  // (true: as expected).
  void read_parts(std::function<bool(size_t, const Bytes &)> check);
  // The stream's last bytes (up to 256), to see how it ended.
  Bytes last_bytes();
  // The local "127.0.0.1:port": the address the server names this viewer by.
  std::string address() const { return local_address(fd_); }

  HttpResponse response;               // the head
  std::string boundary;                // from the head: random per response
  std::atomic<size_t> parts{0};        // parts read
  std::atomic<size_t> bad_parts{0};    // parts `check` refused
  std::atomic<bool> malformed{false};  // bytes the format does not allow
  std::atomic<bool> eof{false};        // the server closed the stream

 private:
  int fd_ = -1;
  std::thread reader_;
  std::mutex lock_;  // guards last_bytes_, written by the reader thread
  Bytes last_bytes_;
};

}  // namespace testutil
