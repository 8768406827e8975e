#include "server.h"

#include <algorithm>
#include <future>
#include <map>

#include "endpoints.h"
#include "responses.h"
#include "tcp.h"

GST_DEBUG_CATEGORY_EXTERN(websocketsink_debug);
#define GST_CAT_DEFAULT websocketsink_debug

namespace imagestream {

namespace {

constexpr guint kTickMs = 200;
// Connections the kernel completes before the server thread accepts them: a
// burst of viewers (a page reloaded by a thousand clients) must not overflow
// the SYN queue and wait for TCP's 1 s retries.
constexpr int kListenBacklog = 1024;
// Connections taken per wake-up of a listener: a flood of them must leave
// the viewers' reads and writes their turn.
constexpr int kAcceptsPerWakeup = 64;
// How long a listener rests after accept() failed for want of descriptors
// or memory: failing again at once would only spin this thread.
constexpr guint kAcceptPauseMs = 200;

// The servers of this process, by "host:port" (the port as listened on).
struct Registry {
  std::mutex lock;  // guards `ports`; held while a server starts or stops
  struct Entry {
    std::shared_ptr<Server> server;
    PortConfig config;
    int users = 0;
  };
  std::map<std::string, Entry> ports;
};
Registry &registry() {
  static Registry r;
  return r;
}
std::string port_key(const std::string &host, int port) { return host + ":" + std::to_string(port); }

// The setting two sinks on one port disagree on, or nullptr.
const char *port_mismatch(const PortConfig &a, const PortConfig &b) {
  if (a.tls_certificate != b.tls_certificate) return "tls-certificate";
  if (a.tls_key != b.tls_key) return "tls-key";
  const ConnectionLimits &x = a.limits, &y = b.limits;
  if (x.request_timeout_s != y.request_timeout_s) return "request-timeout";
  if (x.max_pending != y.max_pending) return "max-pending-connections";
  if (x.max_pending_per_address != y.max_pending_per_address) return "max-pending-per-address";
  if (x.handshake_timeout_s != y.handshake_timeout_s) return "tls-handshake-timeout";
  if (x.max_handshakes != y.max_handshakes) return "max-tls-handshakes";
  if (x.max_handshakes_per_address != y.max_handshakes_per_address) return "max-tls-handshakes-per-address";
  if (a.auth_realm != b.auth_realm) return "auth-realm";
  return nullptr;
}

// What a connection being admitted as a viewer carries until its response
// head is written. The stream may stop meanwhile, hence a weak reference.
struct PendingViewer {
  std::weak_ptr<Stream> stream;
  std::string mjpeg_boundary;
  std::string mjpeg_type;
};
const char *const kPendingKey = "imagestream-pending-viewer";

// The socket under a taken connection (SoupIOStream over TLS or TCP).
GSocket *socket_of(GIOStream *stream) {
  GObjectPtr<GIOStream> base;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(stream), "base-iostream")) {
    GIOStream *b = nullptr;
    g_object_get(stream, "base-iostream", &b, nullptr);
    base.reset(b);
    stream = b;
  }
  GObjectPtr<GIOStream> tcp;
  if (stream && G_IS_TLS_CONNECTION(stream)) {
    GIOStream *t = nullptr;
    g_object_get(stream, "base-io-stream", &t, nullptr);
    tcp.reset(t);
    stream = t;
  }
  return stream && G_IS_SOCKET_CONNECTION(stream) ? g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream))
                                                   : nullptr;
}

// A request body is never wanted: refuse it before libsoup reads it into
// memory (it keeps the whole body by default), and keep none of it.
void refuse_body(SoupServerMessage *msg) {
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const SoupEncoding encoding = soup_message_headers_get_encoding(headers);
  if (encoding == SOUP_ENCODING_CHUNKED ||
      (encoding == SOUP_ENCODING_CONTENT_LENGTH && soup_message_headers_get_content_length(headers) > 0)) {
    soup_server_message_set_status(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, nullptr);
    close_after_response(msg);
  }
}

}  // namespace

std::shared_ptr<Server> Server::acquire(const PortConfig &config, std::string &error) {
  Registry &r = registry();
  std::lock_guard<std::mutex> l(r.lock);
  if (config.port != 0) {
    auto it = r.ports.find(port_key(config.host, config.port));
    if (it != r.ports.end()) {
      if (const char *property = port_mismatch(it->second.config, config)) {
        error = "Port " + std::to_string(config.port) + " is already served with another " + property +
                ": websocketsinks sharing a port must set the same " + property;
        return nullptr;
      }
      it->second.users++;
      return it->second.server;
    }
  }
  GObjectPtr<GTlsCertificate> certificate;
  if (!config.tls_certificate.empty()) {
    ErrorPtr err;
    certificate.reset(config.tls_key.empty()
                          ? g_tls_certificate_new_from_file(config.tls_certificate.c_str(), out(err))
                          : g_tls_certificate_new_from_files(config.tls_certificate.c_str(), config.tls_key.c_str(),
                                                             out(err)));
    if (!certificate) {
      error = "Cannot load TLS certificate " + config.tls_certificate + " (key " +
              (config.tls_key.empty() ? std::string("in the same file") : config.tls_key) + "): " + err->message;
      return nullptr;
    }
  } else if (!config.tls_key.empty()) {
    error = "tls-key " + config.tls_key + " is set without tls-certificate: set both for https/wss";
    return nullptr;
  }
  auto server = std::make_shared<Server>(config, std::move(certificate));
  if (!server->start(error)) return nullptr;
  auto &entry = r.ports[port_key(config.host, server->port())];
  entry = {server, config, 1};
  return server;
}

void Server::release(std::shared_ptr<Server> server) {
  if (!server) return;
  Registry &r = registry();
  std::lock_guard<std::mutex> l(r.lock);
  auto it = r.ports.find(port_key(server->config_.host, server->port()));
  g_assert(it != r.ports.end() && it->second.server == server);
  if (--it->second.users > 0) return;
  r.ports.erase(it);
  // Stopped under the registry's lock, so that a sink starting on this port
  // meanwhile finds it free rather than still bound.
  server->stop();
}

Server::Server(PortConfig config, GObjectPtr<GTlsCertificate> certificate)
    : config_(std::move(config)), certificate_(std::move(certificate)) {}

Server::~Server() { g_assert(!thread_.joinable()); }

bool Server::start(std::string &error) {
  thread_ = std::thread([this] { run(); });
  std::unique_lock<std::mutex> l(start_lock_);
  start_cond_.wait(l, [this] { return start_done_; });
  error = start_error_;
  if (error.empty()) return true;
  l.unlock();
  thread_.join();
  return false;
}

void Server::stop() {
  g_assert(mounts_.empty());
  run_on_thread([this] { g_main_loop_quit(loop_.get()); });
  thread_.join();
}

void Server::run_on_thread(const std::function<void()> &task) {
  struct Call {
    const std::function<void()> &task;
    std::promise<void> done;
  } call{task, {}};
  auto finished = call.done.get_future();
  g_main_context_invoke(
      context_.get(),
      [](gpointer data) -> gboolean {
        auto *c = static_cast<Call *>(data);
        c->task();
        c->done.set_value();
        return G_SOURCE_REMOVE;
      },
      &call);
  finished.wait();
}

bool Server::mount(const std::shared_ptr<Stream> &stream, std::string &error) {
  {
    std::lock_guard<std::mutex> l(mounts_lock_);
    for (const auto &m : mounts_) {
      if (m->path().path == stream->path().path) {
        error = "Path " + stream->path().path + " is already served on port " + std::to_string(port_) +
                " by another websocketsink: give each stream its own path";
        return false;
      }
    }
    mounts_.push_back(stream);
  }
  stream->set_port_counters(counters_);
  const unsigned max_viewers = stream->settings().max_viewers;
  FdBudget fds;
  const size_t room = fds.available();
  if (max_viewers && max_viewers + fds.viewer_reserve() > room)
    GST_WARNING_OBJECT(stream->log_object(),
                       "max-viewers %u is more than this process can open: the open files limit is %zu and %zu are "
                       "free, of which %zu stay reserved, so viewers past about %zu get 503 (too many open files); "
                       "raise the limit (ulimit -n, systemd LimitNOFILE=)",
                       max_viewers, fds.limit(), room, fds.viewer_reserve(),
                       room > fds.viewer_reserve() ? room - fds.viewer_reserve() : 0);
  run_on_thread([this, &stream] {
    stream->attach(context_.get());
    served_.push_back(stream);
  });
  return true;
}

void Server::unmount(const std::shared_ptr<Stream> &stream) {
  {
    std::lock_guard<std::mutex> l(mounts_lock_);
    mounts_.erase(std::remove(mounts_.begin(), mounts_.end(), stream), mounts_.end());
  }
  std::promise<void> stopped;
  auto done = stopped.get_future();
  run_on_thread([this, &stream, &stopped] {
    served_.erase(std::remove(served_.begin(), served_.end(), stream), served_.end());
    stream->stop([&stopped] { stopped.set_value(); });
  });
  done.wait();
}

void Server::run() {
  g_main_context_push_thread_default(context_.get());
  std::string error;
  bool ok = listen(error);
  if (ok) {
    tick_source_.reset(g_timeout_source_new(kTickMs));
    g_source_set_callback(
        tick_source_.get(),
        [](gpointer self) -> gboolean {
          static_cast<Server *>(self)->tick();
          return G_SOURCE_CONTINUE;
        },
        this, nullptr);
    g_source_attach(tick_source_.get(), context_.get());
  }
  {
    std::lock_guard<std::mutex> l(start_lock_);
    start_error_ = error;
    start_done_ = true;
  }
  start_cond_.notify_one();

  if (ok) g_main_loop_run(loop_.get());
  tick_source_.reset();
  listeners_.clear();
  if (pending_) pending_->close_all();
  if (soup_) soup_server_disconnect(soup_.get());
  pending_.reset();
  soup_.reset();
  // Let the closed connections' pending callbacks run and free them here.
  while (g_main_context_iteration(context_.get(), FALSE)) {
  }
  g_main_context_pop_thread_default(context_.get());
}

// The server accepts on its own listeners (accept_connections), bound with a
// backlog for a crowd: libsoup's own listen() keeps GLib's default of 10, and
// libsoup 3.2's listener loses a GSocket object on every connection.
bool Server::listen(std::string &error) {
  soup_.reset(static_cast<SoupServer *>(
      g_object_new(SOUP_TYPE_SERVER, "server-header", "imagestream", "tls-certificate", certificate_.get(), nullptr)));
  // libsoup would compress every JPEG once per viewer.
  soup_server_remove_websocket_extension(soup_.get(), SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  g_signal_connect(soup_.get(), "request-started", G_CALLBACK(+[](SoupServer *, SoupServerMessage *msg, gpointer) {
                     // On every answer, errors included: a browser must never
                     // take a frame, a file or an error text for HTML or script.
                     soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                                  "X-Content-Type-Options", "nosniff");
                     g_signal_connect(msg, "got-headers", G_CALLBACK(refuse_body), nullptr);
                   }),
                   nullptr);
  soup_server_add_handler(
      soup_.get(), nullptr,
      [](SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *, gpointer self) {
        static_cast<Server *>(self)->request(msg, path);
      },
      this, nullptr);

  Listeners listening;
  error = listen_tcp(config_.host, config_.port, kListenBacklog, listening);
  if (!error.empty()) return false;
  port_ = listening.port;
  pending_ = std::make_unique<PendingConnections>(
      context_.get(), config_.limits, certificate_.get(), counters_, port_,
      [this](GIOStream *stream, GSocket *socket) {
        GObjectPtr<GSocketAddress> local(g_socket_get_local_address(socket, nullptr));
        GObjectPtr<GSocketAddress> remote(g_socket_get_remote_address(socket, nullptr));
        if (!local || !remote) return false;  // already gone
        ErrorPtr err;
        if (!soup_server_accept_iostream(soup_.get(), stream, local.get(), remote.get(), out(err))) {
          GST_DEBUG("connection lost before it was served: %s", err->message);
          return false;
        }
        return true;
      });
  listeners_.reserve(listening.sockets.size());
  for (auto &socket : listening.sockets) {
    listeners_.push_back({this, std::move(socket), nullptr, nullptr});
    watch(listeners_.back());
  }
  GST_INFO("listening on %s port %d (%s)", config_.host.c_str(), port_.load(), tls() ? "https/wss" : "http/ws");
  return true;
}

void Server::watch(Listener &listener) {
  listener.resume.reset();
  listener.source.reset(g_socket_create_source(listener.socket.get(), G_IO_IN, nullptr));
  g_source_set_callback(listener.source.get(), G_SOURCE_FUNC(+[](GSocket *, GIOCondition, gpointer l) -> gboolean {
                          auto *self = static_cast<Listener *>(l);
                          self->server->accept_connections(*self);
                          return G_SOURCE_CONTINUE;
                        }),
                        &listener, nullptr);
  g_source_attach(listener.source.get(), context_.get());
}

void Server::pause(Listener &listener) {
  listener.source.reset();
  listener.resume.reset(g_timeout_source_new(kAcceptPauseMs));
  g_source_set_callback(
      listener.resume.get(),
      [](gpointer l) -> gboolean {
        auto *self = static_cast<Listener *>(l);
        self->server->watch(*self);  // destroys this source
        return G_SOURCE_REMOVE;
      },
      &listener, nullptr);
  g_source_attach(listener.resume.get(), context_.get());
}

void Server::accept_connections(Listener &listener) {
  for (int i = 0; i < kAcceptsPerWakeup; i++) {
    ErrorPtr err;
    GObjectPtr<GSocket> socket(g_socket_accept(listener.socket.get(), nullptr, out(err)));
    if (!socket) {
      if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return;
      counters_->accept_errors++;
      if (accept_warnings_.admit(g_get_monotonic_time()))
        GST_WARNING("port %d: cannot accept connections: %s; trying again every %u ms (failures are summed up "
                    "once a second)",
                    port_.load(), err->message, kAcceptPauseMs);
      pause(listener);  // the listener's source is gone: leave at once
      return;
    }
    pending_->add(std::move(socket));
  }
}

// A viewer now: its own timeout applies, not the request's.
void Server::forget_connection(GSocket *socket) { pending_->forget(socket); }

// A stream's own path wins over a resource under another stream's path
// (/cam/jpeg may be a stream of its own beside /cam), and a deeper path over
// a shallower one.
std::shared_ptr<Stream> Server::route(const std::string &path, PathMatch &match) const {
  std::shared_ptr<Stream> best;
  for (const auto &s : served_) {
    PathMatch m = match_stream_path(s->path(), path);
    if (m.kind == PathMatch::None) continue;
    if (m.kind == PathMatch::Stream) {
      match = m;
      return s;
    }
    if (!best || s->path().base.size() > best->path().base.size()) {
      best = s;
      match = m;
    }
  }
  return best;
}

std::shared_ptr<Stream> Server::jpeg_source(const std::shared_ptr<Stream> &stream) const {
  if (!stream->video()) return stream;
  const std::string path = stream->settings().jpeg_stream;
  if (path.empty()) return nullptr;
  const StreamPath wanted(path);
  for (const auto &s : served_)
    if (s->path().path == wanted.path && !s->video()) return s;
  return nullptr;
}

// With logins on any stream of the port, nothing is answered before the
// credentials are checked: a request under a stream with logins needs one of
// its users; a request that names no stream needs a user of any stream of
// the port, so that a stranger gets 401 for every path and cannot tell which
// exist (a stream without logins is public, and served as before). Every 401
// is the same, realm included, whatever the path.
bool Server::authorized(SoupServerMessage *msg, Stream *stream) {
  bool logins = false;
  for (const auto &s : served_) logins = logins || s->logins();
  if (!logins || (stream && !stream->logins())) return true;
  const char *credentials =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  const int64_t now = g_get_monotonic_time();
  std::string client = peer_address(soup_server_message_get_remote_address(msg));
  client = client.substr(0, client.rfind(':'));  // the address, whatever the port
  if (stream && stream->logins()->admits(credentials, client, now)) return true;
  if (!stream) {
    for (const auto &s : served_)
      if (s->logins() && s->logins()->admits(credentials, client, now)) return true;
  }
  close_after_response(msg);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  std::string realm;
  for (char c : config_.auth_realm) {
    if (c == '"' || c == '\\') realm += '\\';
    realm += c;
  }
  const std::string challenge = "Basic realm=\"" + realm + "\", charset=\"UTF-8\"";
  soup_message_headers_replace(headers, "WWW-Authenticate", challenge.c_str());
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, nullptr);
  return false;
}

void Server::request(SoupServerMessage *msg, const char *path) {
  PathMatch match;
  std::shared_ptr<Stream> stream = route(path, match);
  if (!authorized(msg, stream.get())) return;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  if (stream && match.kind == PathMatch::Stream && soup_message_headers_header_contains(headers, "Upgrade", "websocket")) {
    accept_upgrade(*stream, msg);
    return;
  }
  close_after_response(msg);
  const char *method = soup_server_message_get_method(msg);
  const bool preflight = strcmp(method, SOUP_METHOD_OPTIONS) == 0;
  if (!preflight && strcmp(method, SOUP_METHOD_GET) != 0 && strcmp(method, SOUP_METHOD_HEAD) != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  if (!stream) {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
    return;
  }
  if (match.kind == PathMatch::Resource && find_endpoint(match.rest.c_str()) && allow_cors(*stream, msg, preflight))
    return;
  if (preflight) {
    soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  if (match.kind == PathMatch::Stream) {
    serve_page(*stream, msg);
    return;
  }
  const StreamSettings settings = stream->settings();
  if (const EndpointInfo *endpoint = find_endpoint(match.rest.c_str())) {
    const bool jpeg = endpoint->id == Endpoint::Snapshot || endpoint->id == Endpoint::Mjpeg;
    std::shared_ptr<Stream> source = jpeg ? jpeg_source(stream) : stream;
    if (jpeg && !source && (endpoint->id == Endpoint::Snapshot ? settings.enable_snapshot : settings.enable_mjpeg)) {
      serve_no_jpeg(*stream, msg);
      return;
    }
    switch (endpoint->id) {
      case Endpoint::Snapshot:
        if (!settings.enable_snapshot) break;
        serve_snapshot(*source, msg);
        return;
      case Endpoint::Mjpeg:
        if (!settings.enable_mjpeg) break;
        accept_mjpeg(*source, msg);
        return;
      case Endpoint::Stats:
      case Endpoint::Metrics:
        if (!settings.enable_stats) break;
        serve_stats(*stream, msg, endpoint->id);
        return;
    }
  }
  if (!serve_file(*stream, msg, match.rest)) soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
}

// Why `msg` may not become a viewer of `stream` now (and its status), or nullptr.
const char *Server::refusal(Stream &stream, SoupServerMessage *msg, guint *status) {
  const StreamSettings settings = stream.settings();
  *status = SOUP_STATUS_SERVICE_UNAVAILABLE;
  if (stream.stopping()) return "stopping";
  const bool websocket = soup_message_headers_header_contains(soup_server_message_get_request_headers(msg),
                                                              "Upgrade", "websocket");
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const char *origin = soup_message_headers_get_one(headers, "Origin");
  const char *host = soup_message_headers_get_one(headers, "Host");
  const std::string own = std::string(tls() ? "https://" : "http://") + (host ? host : "");
  if (websocket && !origin_allowed(settings.allowed_origins, origin, own, settings.require_origin)) {
    *status = SOUP_STATUS_FORBIDDEN;
    return "origin not allowed";
  }
  if (settings.max_viewers && stream.viewers_and_pending() >= settings.max_viewers) return "max-viewers reached";
  // Refused with 503 while the process can still answer, rather than hitting
  // EMFILE with the next connection (the reserve is FdBudget's).
  FdBudget &fds = pending_->fds();
  if (fds.available() < fds.viewer_reserve()) return "too many open files";
  return nullptr;
}

void Server::refuse(Stream &stream, SoupServerMessage *msg, guint status, const char *reason) {
  soup_server_message_set_status(msg, status, nullptr);
  close_after_response(msg);
  stream.refuse(peer_address(soup_server_message_get_remote_address(msg)), reason);
}

void Server::accept_upgrade(Stream &stream, SoupServerMessage *msg) {
  if (!soup_websocket_server_check_handshake(msg, nullptr, nullptr, nullptr, nullptr)) {
    // Answers the bad handshake with the right error status.
    soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr);
    close_after_response(msg);
    return;
  }
  guint status;
  if (const char *reason = refusal(stream, msg, &status)) {
    refuse(stream, msg, status, reason);
    return;
  }
  // No extensions: no deflate.
  if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr)) return;
  await_response_head(stream, msg, ViewerKind::WebSocket, "wrote-informational");
}

// libsoup writes the response head; the connection is taken once it is
// written (as after a WebSocket upgrade), and from then on the client is a
// viewer like any other, written by the same code.
void Server::accept_mjpeg(Stream &stream, SoupServerMessage *msg) {
  guint status;
  if (const char *reason = refusal(stream, msg, &status)) {
    refuse(stream, msg, status, reason);
    return;
  }
  const std::string boundary = start_mjpeg_response(stream, msg);
  if (strcmp(soup_server_message_get_method(msg), SOUP_METHOD_HEAD) == 0) return;
  await_response_head(stream, msg, ViewerKind::Mjpeg, "wrote-headers");
  static_cast<PendingViewer *>(g_object_get_data(G_OBJECT(msg), kPendingKey))->mjpeg_boundary = boundary;
}

void Server::await_response_head(Stream &stream, SoupServerMessage *msg, ViewerKind kind, const char *signal) {
  auto pending = std::make_unique<PendingViewer>(PendingViewer{stream.weak_from_this(), "", stream.content_type()});
  g_object_set_data_full(G_OBJECT(msg), kPendingKey, pending.release(),
                         [](gpointer p) { delete static_cast<PendingViewer *>(p); });
  stream.pending_added();
  if (kind == ViewerKind::WebSocket) {
    g_signal_connect(msg, signal, G_CALLBACK(+[](SoupServerMessage *m, gpointer self) {
                       if (soup_server_message_get_status(m) == SOUP_STATUS_SWITCHING_PROTOCOLS)
                         static_cast<Server *>(self)->take_connection(m, ViewerKind::WebSocket);
                     }),
                     this);
  } else {
    g_signal_connect(msg, signal, G_CALLBACK(+[](SoupServerMessage *m, gpointer self) {
                       static_cast<Server *>(self)->take_connection(m, ViewerKind::Mjpeg);
                     }),
                     this);
  }
  // Never taken: the client went away first.
  g_signal_connect(msg, "finished", G_CALLBACK(+[](SoupServerMessage *m, gpointer self) {
                     g_signal_handlers_disconnect_by_data(m, self);
                     auto *p = static_cast<PendingViewer *>(g_object_get_data(G_OBJECT(m), kPendingKey));
                     if (auto s = p->stream.lock()) s->pending_done();
                   }),
                   this);
}

// The response head is written: from here on the connection is the viewer's.
void Server::take_connection(SoupServerMessage *msg, ViewerKind kind) {
  g_signal_handlers_disconnect_by_data(msg, this);
  auto *pending = static_cast<PendingViewer *>(g_object_get_data(G_OBJECT(msg), kPendingKey));
  std::shared_ptr<Stream> stream = pending->stream.lock();
  if (stream) stream->pending_done();
  GObjectPtr<GIOStream> io(soup_server_message_steal_connection(msg));
  GSocket *s = io ? socket_of(io.get()) : nullptr;
  if (!s) return;
  GObjectPtr<GSocket> socket(G_SOCKET(g_object_ref(s)));
  forget_connection(s);
  if (!stream || stream->stopping()) {
    g_io_stream_close(io.get(), nullptr, nullptr);
    return;
  }
  const StreamSettings settings = stream->settings();
  Viewer::Options options{kind,
                          tls(),
                          settings.limits,
                          settings.write_interval_us,
                          settings.max_message_size,
                          pending->mjpeg_boundary,
                          pending->mjpeg_type};
  stream->add_viewer(std::move(socket), std::move(io), options);
}

// A tick does not change served_: only mount and unmount do.
void Server::tick() {
  const int64_t now = g_get_monotonic_time();
  pending_->tick(now);
  if (const uint64_t n = accept_warnings_.take_due(now))
    GST_WARNING("port %d: accept() failed %" G_GUINT64_FORMAT " more times in the last second (%" G_GUINT64_FORMAT
                " since the start)",
                port_.load(), n, counters_->accept_errors.load());
  for (auto &s : served_) s->tick(now);
}

}  // namespace imagestream
