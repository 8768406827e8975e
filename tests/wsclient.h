// The raw WebSocket client of the tests: one blocking socket to 127.0.0.1
// (plain, or TLS accepting any certificate) that speaks just enough HTTP and
// RFC 6455 by hand to be a well-behaved viewer, a stuck one (upgrades, then
// never reads: give it a small receive buffer so that the server's backlog
// builds at once) or a hostile one (sends what it likes, resets). Every server
// frame read is checked: unmasked, FIN set (one frame per message). Not
// thread-safe: one thread uses a client at a time.
#pragma once

#include <gio/gio.h>

#include <string>

#include "glibptr.h"
#include "httpclient.h"
#include "testutil.h"

namespace testutil {

class WsClient {
 public:
  enum class Transport { Plain, Tls };
  static constexpr uint8_t kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;
  struct Message {
    uint8_t opcode = 0;
    Bytes payload;
  };

  explicit WsClient(Transport transport = Transport::Plain, int receive_buffer = 0);
  WsClient(const WsClient &) = delete;
  WsClient &operator=(const WsClient &) = delete;
  ~WsClient() { close(); }

  // Connects (and under TLS, shakes hands) without sending a request: for
  // requests written by hand, then read_head().
  void connect(int port);
  // Connects, asks to upgrade at `path` (`extra_headers` each end in \r\n)
  // and reads the response head; returns its status (101: a viewer now; 0: no
  // answer in time).
  int upgrade(int port, const std::string &path, const std::string &extra_headers = "");
  // Reads a response head; returns its status (0: none in time).
  int read_head(int timeout_ms = 10000);

  // The next frame, control frames included; false on timeout, EOF or error.
  bool read_message(Message &m, int timeout_ms = 10000);
  // The next binary or text message's payload, pings and pongs skipped (not
  // answered); false on a close frame, timeout, EOF or error.
  bool read_data(Bytes &payload, int timeout_ms = 10000);
  // Reads until a close frame and returns its code (1005 if it has none; 0 if
  // no close frame came). With `answer`, echoes the close as a browser does.
  int read_close_code(bool answer = false, int timeout_ms = 10000);
  // Reads and discards until the server closes the connection; false if it
  // did not within `timeout_ms`.
  bool wait_for_close(int timeout_ms = 10000);

  // One masked frame with FIN set, any opcode.
  bool send_frame(uint8_t opcode, const Bytes &payload);
  // Bytes as they are (a request, an unmasked frame, half a frame).
  bool send_raw(const void *data, size_t n);
  bool send_raw(const Bytes &b) { return send_raw(b.data(), b.size()); }

  // Closes with a FIN (under TLS after close_notify); again is a no-op.
  void close();
  // Closes with an RST, as a crashed viewer does.
  void reset();

  int fd() const { return fd_; }  // -1 once closed; under TLS the socket under it
  int status() const { return response_.status; }
  const std::string &headers() const { return response_.head; }
  const HttpResponse &response() const { return response_; }
  // The local "127.0.0.1:port": the address the server names this viewer by.
  std::string address() const { return local_address(fd_); }

 private:
  // Reads until `want` bytes are pending; false at the deadline, EOF or error.
  bool fill(size_t want, gint64 deadline);
  // Up to `n` bytes into `buf` within the deadline; 0 at EOF, -1 on timeout or error.
  ssize_t receive(uint8_t *buf, size_t n, gint64 deadline);

  const Transport transport_;
  const int receive_buffer_;
  int fd_ = -1;
  imagestream::GObjectPtr<GIOStream> tls_;  // owns the socket under TLS
  Bytes pending_;                           // read past what was consumed
  bool eof_ = false;                        // the server closed the connection
  HttpResponse response_;
};

}  // namespace testutil
