#include "tlshandshakes.h"

#include <sys/socket.h>

#include <algorithm>

namespace imagestream {

namespace {

constexpr uint8_t kHandshakeRecord = 0x16;
constexpr size_t kRecordHeader = 5;
constexpr size_t kMaxRecord = kRecordHeader + 16384 + 2048;  // the largest TLS record on the wire

void set_receive_low_water(GSocket *socket, int bytes) {
  setsockopt(g_socket_get_fd(socket), SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes);
}

// What a completion needs: the handshake, and the counter of those running.
struct Completion {
  std::shared_ptr<TlsHandshakes::Handshake> handshake;
  int *running;
};

}  // namespace

TlsHandshakes::Hello TlsHandshakes::hello(GSocket *socket) {
  static thread_local uint8_t head[kMaxRecord];
  const ssize_t n = recv(g_socket_get_fd(socket), head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Hello::Incomplete;
  if (n <= 0 || head[0] != kHandshakeRecord) return Hello::NotTls;
  size_t need = kRecordHeader;
  if (static_cast<size_t>(n) >= kRecordHeader) need = std::min(kMaxRecord, kRecordHeader + ((head[3] << 8) | head[4]));
  if (static_cast<size_t>(n) < need) {
    set_receive_low_water(socket, static_cast<int>(need));
    return Hello::Incomplete;
  }
  set_receive_low_water(socket, 1);
  return Hello::Complete;
}

std::shared_ptr<TlsHandshakes::Handshake> TlsHandshakes::start(GTlsConnection *tls, GSocket *socket) {
  auto handshake = std::make_shared<Handshake>();
  handshake->socket.reset(G_SOCKET(g_object_ref(socket)));
  running_++;
  g_main_context_push_thread_default(context_.get());
  g_tls_connection_handshake_async(tls, G_PRIORITY_DEFAULT, handshake->cancellable.get(), completed,
                                   new Completion{handshake, &running_});
  g_main_context_pop_thread_default(context_.get());
  return handshake;
}

void TlsHandshakes::completed(GObject *source, GAsyncResult *result, gpointer data) {
  std::unique_ptr<Completion> c(static_cast<Completion *>(data));
  Handshake &h = *c->handshake;
  ErrorPtr err;
  if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result, out(err))) h.error = err->message;
  h.done = true;
  (*c->running)--;
  if (h.abandoned) g_socket_close(h.socket.get(), nullptr);
}

void TlsHandshakes::abandon(Handshake &handshake) {
  handshake.abandoned = true;
  g_cancellable_cancel(handshake.cancellable.get());
}

void TlsHandshakes::before_poll(std::vector<pollfd> &pollfds, int &timeout_ms) {
  acquired_ = g_main_context_acquire(context_.get());
  if (!acquired_) return;
  const bool ready = g_main_context_prepare(context_.get(), &priority_);
  int own_timeout = -1;
  fds_.resize(4);
  int n;
  while ((n = g_main_context_query(context_.get(), priority_, &own_timeout, fds_.data(), fds_.size())) >
         static_cast<int>(fds_.size()))
    fds_.resize(n);
  fds_.resize(n);
  first_fd_ = pollfds.size();
  for (const GPollFD &f : fds_) pollfds.push_back({f.fd, static_cast<short>(f.events), 0});
  if (ready) own_timeout = 0;
  if (own_timeout >= 0 && (timeout_ms < 0 || own_timeout < timeout_ms)) timeout_ms = own_timeout;
}

void TlsHandshakes::after_poll(const std::vector<pollfd> &pollfds) {
  if (!acquired_) return;
  for (size_t i = 0; i < fds_.size(); i++) fds_[i].revents = static_cast<gushort>(pollfds[first_fd_ + i].revents);
  if (g_main_context_check(context_.get(), priority_, fds_.data(), fds_.size())) g_main_context_dispatch(context_.get());
  g_main_context_release(context_.get());
  acquired_ = false;
}

bool TlsHandshakes::finish(gint64 timeout) {
  const gint64 give_up = g_get_monotonic_time() + timeout;
  while (running_ > 0 && g_get_monotonic_time() < give_up) {
    if (!g_main_context_iteration(context_.get(), FALSE)) g_usleep(1000);
  }
  return running_ == 0;
}

}  // namespace imagestream
