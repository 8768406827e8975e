#include "pendingconnections.h"

#include <dirent.h>
#include <gst/gst.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tcp.h"

GST_DEBUG_CATEGORY_EXTERN(websocketsink_debug);
#define GST_CAT_DEFAULT websocketsink_debug

namespace imagestream {

namespace {

constexpr int64_t kWarningIntervalUs = G_USEC_PER_SEC;
constexpr int64_t kRecountUs = G_USEC_PER_SEC / 10;
// A TLS record: a 5-byte header and up to 16 KiB (RFC 8446 5.1); a
// ClientHello comes in one in practice.
constexpr size_t kRecordHeader = 5;
constexpr size_t kMaxRecord = kRecordHeader + 16384;
constexpr uint8_t kHandshakeRecord = 0x16;

size_t count_open_fds() {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) return SIZE_MAX / 2;  // none left to open it with, most likely
  size_t n = 0;
  while (const dirent *e = readdir(dir))
    if (e->d_name[0] != '.') n++;
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the directory's own descriptor
}

// What the per-address caps count a peer under: its IPv4 address, or the /64
// of an IPv6 one (a host is handed a whole /64, and could otherwise take
// every slot with addresses of its own). IPv4-mapped IPv6 counts as IPv4.
std::string address_group(GSocket *socket) {
  GObjectPtr<GSocketAddress> sa(g_socket_get_remote_address(socket, nullptr));
  if (!sa || !G_IS_INET_SOCKET_ADDRESS(sa.get())) return "";
  GInetAddress *ip = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(sa.get()));
  const auto *bytes = g_inet_address_to_bytes(ip);
  const size_t size = g_inet_address_get_native_size(ip);
  static const guint8 kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  const char *raw = reinterpret_cast<const char *>(bytes);
  if (size == 16 && memcmp(bytes, kMapped, sizeof kMapped) == 0) return "4" + std::string(raw + 12, 4);
  if (size == 16) return "6" + std::string(raw, 8);
  return "4" + std::string(raw, size);
}

int64_t deadline_after(int64_t now, unsigned seconds) {
  return seconds ? now + int64_t{seconds} * G_USEC_PER_SEC : INT64_MAX;
}

void set_receive_low_water(GSocket *socket, int bytes) {
  setsockopt(g_socket_get_fd(socket), SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes);
}

}  // namespace

size_t FdBudget::limit() const {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX / 2;
  return rl.rlim_cur;
}

size_t FdBudget::available(int newest_fd) {
  const int64_t now = g_get_monotonic_time();
  const size_t max = limit();
  // Near the limit every call counts afresh: other threads open descriptors too.
  if (!counted_at_ || now - counted_at_ >= kRecountUs || last_ < 2 * viewer_reserve()) {
    open_counted_ = count_open_fds();
    counted_at_ = now;
    opened_since_ = 0;
  }
  const size_t open = std::max(open_counted_ + opened_since_, static_cast<size_t>(newest_fd + 1));
  last_ = max > open ? max - open : 0;
  return last_;
}

size_t FdBudget::viewer_reserve() const { return std::clamp<size_t>(limit() / 8, 128, 1024); }

struct PendingConnections::Connection : std::enable_shared_from_this<Connection> {
  explicit Connection(PendingConnections *o) : owner(o) {}
  enum class Phase {
    Hello,      // TLS: waiting for the whole ClientHello
    Queued,     // TLS: waiting for a handshake slot
    Handshake,  // TLS: handshaking (on a thread of GLib's pool)
    Http,       // libsoup reads the request and answers it
  };
  PendingConnections *const owner;
  GObjectPtr<GSocket> socket;
  std::string group;  // key of groups_
  Phase phase;
  int64_t deadline;  // of the phase: each step of a TLS connection gets tls-handshake-timeout
  bool slot = false;  // holds one of the handshake slots
  SourcePtr hello;                  // Hello: the socket's readable source
  GObjectPtr<GIOStream> tls;        // Handshake
  GObjectPtr<GCancellable> cancel;  // Handshake
  bool dropped = false;             // no longer tracked (its handshake may still run)
};

PendingConnections::PendingConnections(GMainContext *context, const ConnectionLimits &limits,
                                       GTlsCertificate *certificate, std::shared_ptr<PortCounters> counters,
                                       int log_port, Serve serve)
    : context_(context),
      limits_(limits),
      certificate_(certificate),
      counters_(std::move(counters)),
      log_port_(log_port),
      serve_(std::move(serve)),
      refusals_(kWarningIntervalUs),
      timeouts_(kWarningIntervalUs) {}

PendingConnections::~PendingConnections() { g_assert(handshakes_in_flight_ == 0); }

void PendingConnections::refuse(GSocket *socket, const char *reason) {
  counters_->connections_refused++;
  if (refusals_.admit(g_get_monotonic_time()))
    GST_WARNING("port %d: refused a connection from %s: %s (further refusals are summed up once a second)",
                log_port_, peer_address(socket).c_str(), reason);
  g_socket_close(socket, nullptr);
}

// The port is full. An address holding more than max-pending-per-address
// gives up its oldest connection for a newcomer from an address within it:
// one address (a proxy, a crowd behind a NAT, a flood) may fill the port
// while nobody else needs it, never keep anyone else out. Returns null when
// there is room now, else why the newcomer is refused.
const char *PendingConnections::make_room(const std::string &group, GSocket *newcomer) {
  const unsigned per_address = limits_.max_pending_per_address;
  if (!per_address) return "max-pending-connections reached";
  auto own = groups_.find(group);
  if (own != groups_.end() && own->second.pending >= per_address)
    return "max-pending-connections reached, and this address holds max-pending-per-address";
  auto heaviest = groups_.end();
  for (auto it = groups_.begin(); it != groups_.end(); ++it)
    if (heaviest == groups_.end() || it->second.pending > heaviest->second.pending) heaviest = it;
  if (heaviest == groups_.end() || heaviest->second.pending <= per_address)
    return "max-pending-connections reached, every address within max-pending-per-address";
  for (const auto &c : connections_) {  // in the order they were accepted: the oldest first
    if (c->group != heaviest->first) continue;
    counters_->connections_refused++;
    if (refusals_.admit(g_get_monotonic_time()))
      GST_WARNING("port %d: closed a connection from %s, which holds more than max-pending-per-address (%u) while "
                  "the port is full, for one from %s (further refusals are summed up once a second)",
                  log_port_, peer_address(c->socket.get()).c_str(), per_address, peer_address(newcomer).c_str());
    drop(ConnectionRef(c));
    return nullptr;
  }
  return "max-pending-connections reached";
}

void PendingConnections::add(GObjectPtr<GSocket> socket) {
  fds_.opened();
  const size_t fds_left = fds_.available(g_socket_get_fd(socket.get()));
  if (fds_left < fds_.connection_reserve()) {
    refuse(socket.get(), "too few file descriptors left (raise the open files limit, ulimit -n)");
    return;
  }
  std::string group = address_group(socket.get());
  if (limits_.max_pending && connections_.size() >= limits_.max_pending) {
    forget_closed();
    if (connections_.size() >= limits_.max_pending) {
      if (const char *full = make_room(group, socket.get())) {
        refuse(socket.get(), full);
        return;
      }
    }
  }
  const int64_t now = g_get_monotonic_time();
  // As libsoup does on the connections it accepts itself: a TLS server's
  // first flight or an answer in several writes must not wait for the
  // client's delayed ACK (40 to 200 ms).
  g_socket_set_option(socket.get(), IPPROTO_TCP, TCP_NODELAY, TRUE, nullptr);
  auto c = std::make_shared<Connection>(this);
  c->socket = std::move(socket);
  c->group = std::move(group);
  groups_[c->group].pending++;
  connections_.push_back(c);
  if (certificate_) {
    c->phase = Connection::Phase::Hello;
    c->deadline = deadline_after(now, limits_.handshake_timeout_s);
    wait_for_hello(c);
    return;
  }
  c->phase = Connection::Phase::Http;
  c->deadline = deadline_after(now, limits_.request_timeout_s);
  serve(c, GObjectPtr<GIOStream>(G_IO_STREAM(g_socket_connection_factory_create_connection(c->socket.get()))));
}

// The handshake runs on a thread that blocks until the client answers: it
// starts only once the client's first flight is wholly here, so what a
// client that stalls before that holds is a socket, not a thread. The
// kernel wakes us only when that much is buffered (SO_RCVLOWAT), so a client
// sending its ClientHello a byte at a time does not spin this thread either.
void PendingConnections::wait_for_hello(const ConnectionRef &c) {
  c->hello.reset(g_socket_create_source(c->socket.get(), G_IO_IN, nullptr));
  // The source is destroyed before its connection is dropped: `c` is alive when it fires.
  g_source_set_callback(c->hello.get(), G_SOURCE_FUNC(+[](GSocket *, GIOCondition, gpointer data) -> gboolean {
                          auto *c = static_cast<Connection *>(data);
                          return c->owner->hello_arrived(c);
                        }),
                        c.get(), nullptr);
  g_source_attach(c->hello.get(), context_);
}

gboolean PendingConnections::hello_arrived(Connection *connection) {
  const ConnectionRef c = connection->shared_from_this();
  uint8_t head[kMaxRecord];
  const ssize_t n = recv(g_socket_get_fd(c->socket.get()), head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return G_SOURCE_CONTINUE;
  if (n <= 0 || head[0] != kHandshakeRecord) {  // gone, or not TLS
    drop(c);
    return G_SOURCE_REMOVE;
  }
  size_t need = kRecordHeader;
  if (static_cast<size_t>(n) >= kRecordHeader) need = std::min(kMaxRecord, kRecordHeader + ((head[3] << 8) | head[4]));
  if (static_cast<size_t>(n) < need) {
    set_receive_low_water(c->socket.get(), static_cast<int>(need));
    return G_SOURCE_CONTINUE;
  }
  set_receive_low_water(c->socket.get(), 1);
  c->hello.reset();
  c->phase = Connection::Phase::Queued;
  c->deadline = deadline_after(g_get_monotonic_time(), limits_.handshake_timeout_s);
  start_handshakes();
  return G_SOURCE_REMOVE;
}

// Each free slot goes to the queued connection whose address has the fewest
// handshakes running, then the fewest connections, then the oldest: while
// some addresses keep every slot busy with handshakes that stall, a client
// from elsewhere gets the next slot that frees, not the end of their queue.
void PendingConnections::start_handshakes() {
  while (!limits_.max_handshakes || handshakes_ < limits_.max_handshakes) {
    ConnectionRef best;
    const Group *best_group = nullptr;
    for (const auto &c : connections_) {
      if (c->phase != Connection::Phase::Queued) continue;
      const Group &g = groups_.at(c->group);  // a tracked connection's group is there
      if (limits_.max_handshakes_per_address && g.handshakes >= limits_.max_handshakes_per_address) continue;
      if (!best || g.handshakes < best_group->handshakes ||
          (g.handshakes == best_group->handshakes && g.pending < best_group->pending)) {
        best = c;
        best_group = &g;
      }
    }
    if (!best) return;
    start_handshake(best);
  }
}

void PendingConnections::release_slot(const ConnectionRef &c) {
  if (!c->slot) return;
  c->slot = false;
  handshakes_--;
  auto group = groups_.find(c->group);
  g_assert(group != groups_.end());
  group->second.handshakes--;
  if (!group->second.pending && !group->second.handshakes) groups_.erase(group);
}

void PendingConnections::start_handshake(const ConnectionRef &c) {
  GObjectPtr<GIOStream> tcp(G_IO_STREAM(g_socket_connection_factory_create_connection(c->socket.get())));
  ErrorPtr err;
  // No trust database: a server that asks for no client certificate never
  // uses one, and glib-networking (2.74, GnuTLS 3.7) would copy the system's
  // whole CA store into every connection: 3.8 MiB and milliseconds of CPU each.
  c->tls.reset(static_cast<GIOStream *>(
      g_initable_new(g_tls_backend_get_server_connection_type(g_tls_backend_get_default()), nullptr, out(err),
                     "base-io-stream", tcp.get(), "certificate", certificate_, "database",
                     static_cast<GTlsDatabase *>(nullptr), nullptr)));
  if (!c->tls) {
    GST_WARNING("port %d: TLS connection from %s failed: %s", log_port_, peer_address(c->socket.get()).c_str(),
                err->message);
    drop(c);
    return;
  }
  c->phase = Connection::Phase::Handshake;
  c->deadline = deadline_after(g_get_monotonic_time(), limits_.handshake_timeout_s);
  c->cancel.reset(g_cancellable_new());
  c->slot = true;
  handshakes_++;
  groups_[c->group].handshakes++;
  handshakes_in_flight_++;
  // glib-networking runs the handshake on a thread of GLib's shared pool
  // (sync handshakes too), and that thread waits for the client: hence the
  // slots, no more than the pool's 10 threads by default.
  struct Call {
    PendingConnections *self;
    ConnectionRef c;
  };
  g_tls_connection_handshake_async(
      G_TLS_CONNECTION(c->tls.get()), G_PRIORITY_DEFAULT, c->cancel.get(),
      [](GObject *tls, GAsyncResult *result, gpointer data) {
        std::unique_ptr<Call> call(static_cast<Call *>(data));
        ErrorPtr err;
        const bool ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(tls), result, out(err));
        call->self->handshakes_in_flight_--;
        call->self->handshake_done(call->c, ok, err.get());
      },
      new Call{this, c});
}

void PendingConnections::handshake_done(const ConnectionRef &c, bool ok, const GError *error) {
  release_slot(c);
  GObjectPtr<GIOStream> tls = std::move(c->tls);
  if (c->dropped || !ok) {
    if (!c->dropped)
      GST_DEBUG("port %d: TLS handshake with %s failed: %s", log_port_, peer_address(c->socket.get()).c_str(),
                error ? error->message : "?");
    untrack(c);
    // The thread is done with the socket: now it may be closed.
    g_io_stream_close(tls.get(), nullptr, nullptr);
    g_socket_close(c->socket.get(), nullptr);
  } else {
    c->phase = Connection::Phase::Http;
    c->deadline = deadline_after(g_get_monotonic_time(), limits_.request_timeout_s);
    serve(c, std::move(tls));
  }
  start_handshakes();
}

void PendingConnections::serve(const ConnectionRef &c, GObjectPtr<GIOStream> stream) {
  if (!serve_(stream.get(), c->socket.get())) {
    if (!c->dropped) drop(c);
  }
}

void PendingConnections::untrack(const ConnectionRef &c) {
  if (c->dropped) return;
  c->dropped = true;
  connections_.erase(std::remove(connections_.begin(), connections_.end(), c), connections_.end());
  auto group = groups_.find(c->group);
  if (group != groups_.end()) {
    group->second.pending--;
    if (!group->second.pending && !group->second.handshakes) groups_.erase(group);
  }
}

void PendingConnections::drop(const ConnectionRef &c) {
  const bool handshaking = c->phase == Connection::Phase::Handshake && c->tls;
  untrack(c);
  c->hello.reset();
  if (handshaking) {
    // Wakes the thread (its poll sees the end of the stream) and fails the
    // handshake; its slot is free from now on, for a connection waiting.
    g_cancellable_cancel(c->cancel.get());
    g_socket_shutdown(c->socket.get(), TRUE, TRUE, nullptr);
    release_slot(c);
  } else if (c->phase == Connection::Phase::Http) {
    g_socket_shutdown(c->socket.get(), TRUE, TRUE, nullptr);  // libsoup sees the end and closes it
  } else {
    g_socket_close(c->socket.get(), nullptr);
  }
}

void PendingConnections::forget(GSocket *socket) {
  for (const auto &c : connections_) {
    if (c->socket.get() == socket) {
      untrack(ConnectionRef(c));
      return;
    }
  }
}

void PendingConnections::forget_closed() {
  std::vector<ConnectionRef> closed;
  for (const auto &c : connections_)
    if (c->phase == Connection::Phase::Http && g_socket_is_closed(c->socket.get())) closed.push_back(c);
  for (const auto &c : closed) untrack(c);
}

void PendingConnections::tick(int64_t now) {
  forget_closed();
  // Handshakes cut off first: the slots they free go to connections waiting
  // before those are found late themselves.
  auto cut_off = [&](bool queued) {
    std::vector<ConnectionRef> late;
    for (const auto &c : connections_)
      if (now > c->deadline && (c->phase == Connection::Phase::Queued) == queued) late.push_back(c);
    for (const auto &c : late) {
      counters_->connections_timed_out++;
      if (timeouts_.admit(now))
        GST_INFO("port %d: cut off %s: %s", log_port_, peer_address(c->socket.get()).c_str(),
                 c->phase == Connection::Phase::Http ? "no request, or its answer not taken, in time"
                                                     : "no TLS session in time");
      drop(c);
    }
  };
  cut_off(false);
  start_handshakes();
  cut_off(true);
  if (const uint64_t n = refusals_.take_due(now))
    GST_WARNING("port %d: refused %" G_GUINT64_FORMAT " more connections in the last second (%" G_GUINT64_FORMAT
                " since the start)",
                log_port_, n, counters_->connections_refused.load());
  if (const uint64_t n = timeouts_.take_due(now))
    GST_INFO("port %d: cut off %" G_GUINT64_FORMAT " more connections at their deadline", log_port_, n);
}

void PendingConnections::close_all() {
  std::vector<ConnectionRef> all = connections_;
  for (const auto &c : all) {
    if (c->phase == Connection::Phase::Http)
      untrack(c);  // libsoup's: soup_server_disconnect() closes it
    else
      drop(c);
  }
  while (handshakes_in_flight_ > 0) g_main_context_iteration(context_, TRUE);
}

}  // namespace imagestream
