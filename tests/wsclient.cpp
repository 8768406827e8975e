#include "wsclient.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "clientframe.h"

namespace testutil {

namespace {

int ms_left(gint64 deadline) {
  return static_cast<int>(std::max<gint64>(0, (deadline - g_get_monotonic_time()) / 1000));
}

gint64 deadline_in(int timeout_ms) { return g_get_monotonic_time() + gint64{timeout_ms} * 1000; }

}  // namespace

WsClient::WsClient(Transport transport, int receive_buffer) : transport_(transport), receive_buffer_(receive_buffer) {}

void WsClient::connect(int port) {
  g_assert_cmpint(fd_, <, 0);
  fd_ = tcp_connect(port, receive_buffer_);
  if (transport_ == Transport::Plain) return;
  imagestream::ErrorPtr err;
  imagestream::GObjectPtr<GSocket> socket(g_socket_new_from_fd(fd_, imagestream::out(err)));
  g_assert_nonnull(socket);
  imagestream::GObjectPtr<GSocketConnection> tcp(g_socket_connection_factory_create_connection(socket.get()));
  tls_.reset(g_tls_client_connection_new(G_IO_STREAM(tcp.get()), nullptr, imagestream::out(err)));
  g_assert_nonnull(tls_);
  g_signal_connect(
      tls_.get(), "accept-certificate",
      G_CALLBACK(+[](GTlsConnection *, GTlsCertificate *, GTlsCertificateFlags) -> gboolean { return TRUE; }), nullptr);
  if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls_.get()), nullptr, imagestream::out(err)))
    g_error("TLS handshake with 127.0.0.1:%d: %s", port, err->message);
}

int WsClient::upgrade(int port, const std::string &path, const std::string &extra_headers) {
  connect(port);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                          extra_headers + "\r\n";
  if (!send_raw(req.data(), req.size())) return 0;
  return read_head();
}

int WsClient::read_head(int timeout_ms) {
  const gint64 deadline = deadline_in(timeout_ms);
  response_ = HttpResponse{};
  static const std::string blank = "\r\n\r\n";
  for (;;) {
    auto end = std::search(pending_.begin(), pending_.end(), blank.begin(), blank.end());
    if (end != pending_.end()) {
      parse_response_head(std::string(pending_.begin(), end), response_);
      pending_.erase(pending_.begin(), end + blank.size());
      return response_.status;
    }
    if (!fill(pending_.size() + 1, deadline)) return 0;
  }
}

bool WsClient::read_message(Message &m, int timeout_ms) {
  const gint64 deadline = deadline_in(timeout_ms);
  if (!fill(2, deadline)) return false;
  g_assert_cmpuint(pending_[1] & 0x80, ==, 0);  // servers never mask
  uint64_t len = pending_[1] & 0x7F;
  const size_t head = len == 126 ? 4 : len == 127 ? 10 : 2;
  if (!fill(head, deadline)) return false;
  if (head > 2) {
    len = 0;
    for (size_t i = 2; i < head; i++) len = (len << 8) | pending_[i];
  }
  if (!fill(head + len, deadline)) return false;
  g_assert_cmpuint(pending_[0] & 0x80, !=, 0);  // FIN: one frame per message
  m.opcode = pending_[0] & 0x0F;
  m.payload.assign(pending_.begin() + head, pending_.begin() + head + len);
  pending_.erase(pending_.begin(), pending_.begin() + head + len);
  return true;
}

bool WsClient::read_data(Bytes &payload, int timeout_ms) {
  const gint64 deadline = deadline_in(timeout_ms);
  Message m;
  while (read_message(m, ms_left(deadline))) {
    if (m.opcode == kPing || m.opcode == kPong) continue;
    if (m.opcode == kClose) return false;
    payload = std::move(m.payload);
    return true;
  }
  return false;
}

int WsClient::read_close_code(bool answer, int timeout_ms) {
  const gint64 deadline = deadline_in(timeout_ms);
  Message m;
  while (read_message(m, ms_left(deadline))) {
    if (m.opcode != kClose) continue;
    if (answer) send_frame(kClose, m.payload);
    return m.payload.size() >= 2 ? (m.payload[0] << 8) | m.payload[1] : 1005;
  }
  return 0;
}

bool WsClient::wait_for_close(int timeout_ms) {
  const gint64 deadline = deadline_in(timeout_ms);
  pending_.clear();
  while (fill(1, deadline)) pending_.clear();
  return eof_;
}

bool WsClient::send_frame(uint8_t opcode, const Bytes &payload) {
  return send_raw(client_frame(static_cast<uint8_t>(0x80 | opcode), payload));
}

bool WsClient::send_raw(const void *data, size_t n) {
  if (fd_ < 0) return false;
  if (!tls_) return send_all(fd_, data, n);
  return g_output_stream_write_all(g_io_stream_get_output_stream(tls_.get()), data, n, nullptr, nullptr, nullptr);
}

void WsClient::close() {
  if (tls_) {
    g_io_stream_close(tls_.get(), nullptr, nullptr);  // closes the socket too
    tls_.reset();
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
}

void WsClient::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

bool WsClient::fill(size_t want, gint64 deadline) {
  uint8_t chunk[65536];
  while (pending_.size() < want) {
    const ssize_t n = receive(chunk, sizeof chunk, deadline);
    if (n == 0) eof_ = true;
    if (n <= 0) return false;
    pending_.insert(pending_.end(), chunk, chunk + n);
  }
  return true;
}

ssize_t WsClient::receive(uint8_t *buf, size_t n, gint64 deadline) {
  if (fd_ < 0 || eof_) return eof_ ? 0 : -1;
  for (;;) {
    if (tls_) {
      // GnuTLS may hold decrypted bytes the socket no longer shows: ask it first.
      imagestream::ErrorPtr err;
      auto *in = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(tls_.get()));
      const gssize got = g_pollable_input_stream_read_nonblocking(in, buf, n, nullptr, imagestream::out(err));
      if (got >= 0) return got;
      if (!g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return -1;
    }
    pollfd p{fd_, POLLIN, 0};
    const int left = ms_left(deadline);
    if (left <= 0 || poll(&p, 1, left) <= 0) return -1;
    if (tls_) continue;
    const ssize_t got = recv(fd_, buf, n, 0);
    if (got < 0 && errno == EINTR) continue;
    return got;
  }
}

}  // namespace testutil
