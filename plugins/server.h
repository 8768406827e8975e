// One web port's server: the thread that runs libsoup, the listeners (which
// rest a moment when accept() fails), the connections that are not viewers
// yet (PendingConnections: caps, deadlines, TLS handshakes), logins, routing
// a request to the stream whose path it names, and admission (who may become
// a viewer). Every
// websocketsink with the same host and port in a process shares one Server,
// as RTSP servers share a port between mount points; each sink mounts its
// Stream at its path.
//
// Every libsoup call happens on the server's thread. The application threads
// (state changes) only acquire, mount, unmount and release, and each of those
// waits for the server thread where it must.
#pragma once

#include <libsoup/soup.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "glibptr.h"
#include "pendingconnections.h"
#include "stream.h"
#include "warningthrottle.h"

namespace imagestream {

// What belongs to the port rather than to a stream: sinks that share a port
// must agree on all of it.
struct PortConfig {
  std::string host;
  int port = 0;
  std::string tls_certificate;  // PEM file; empty = plain http/ws
  std::string tls_key;          // PEM file; empty = in the certificate file
  ConnectionLimits limits;      // connections that are not viewers
  std::string auth_realm;       // the realm of every 401 on the port (see Server::authorized)
};

class Server {
 public:
  // The server of `config`'s host and port in this process, or a new one
  // listening there (with port 0: on a free port). nullptr when it cannot
  // listen or when the running server's settings differ; `error` then holds
  // one line naming the port and the problem.
  static std::shared_ptr<Server> acquire(const PortConfig &config, std::string &error);
  // Lets go of what acquire() returned; the last release stops the server
  // and frees the port.
  static void release(std::shared_ptr<Server> server);

  int port() const { return port_; }
  bool tls() const { return certificate_ != nullptr; }
  // What the port refused or cut off; any thread.
  std::shared_ptr<const PortCounters> counters() const { return counters_; }
  // Serves `stream` at its path from now on; false (with `error`) when
  // another stream of this port has that path.
  bool mount(const std::shared_ptr<Stream> &stream, std::string &error);
  // Stops serving `stream`: new requests for its path get 404, its viewers
  // are closed with 1001, and this returns once they are gone.
  void unmount(const std::shared_ptr<Stream> &stream);

  // For acquire() only (public for make_shared).
  Server(PortConfig config, GObjectPtr<GTlsCertificate> certificate);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

 private:
  bool start(std::string &error);
  void stop();
  // Runs `task` on the server thread and returns once it has run.
  void run_on_thread(const std::function<void()> &task);
  void run();
  bool listen(std::string &error);

  struct Listener;
  void accept_connections(Listener &listener);
  // After an accept() error other than EAGAIN (EMFILE, ENFILE, ENOBUFS):
  // its listener rests a while instead of failing again at once.
  void pause(Listener &listener);
  void watch(Listener &listener);
  void forget_connection(GSocket *socket);
  void request(SoupServerMessage *msg, const char *path);
  // Whether `msg` may be answered (`stream`: what its path names, or null);
  // else it is answered 401 here.
  bool authorized(SoupServerMessage *msg, Stream *stream);
  // The stream a request path names, and what it names of it.
  std::shared_ptr<Stream> route(const std::string &path, PathMatch &match) const;
  // Where a stream's JPEG endpoints are served from: itself, its jpeg-stream, or none.
  std::shared_ptr<Stream> jpeg_source(const std::shared_ptr<Stream> &stream) const;
  void accept_upgrade(Stream &stream, SoupServerMessage *msg);
  void accept_mjpeg(Stream &stream, SoupServerMessage *msg);
  const char *refusal(Stream &stream, SoupServerMessage *msg, guint *status);
  void refuse(Stream &stream, SoupServerMessage *msg, guint status, const char *reason);
  void await_response_head(Stream &stream, SoupServerMessage *msg, ViewerKind kind, const char *signal);
  void take_connection(SoupServerMessage *msg, ViewerKind kind);
  void tick();

  const PortConfig config_;
  const GObjectPtr<GTlsCertificate> certificate_;
  const std::shared_ptr<PortCounters> counters_ = std::make_shared<PortCounters>();
  std::thread thread_;
  std::atomic<int> port_{0};

  // Mounted streams, for mount() to refuse a path that is taken; the server
  // thread works from its own copy, `served_`.
  std::mutex mounts_lock_;
  std::vector<std::shared_ptr<Stream>> mounts_;

  std::mutex start_lock_;
  std::condition_variable start_cond_;
  bool start_done_ = false;
  std::string start_error_;

  // Server thread only.
  MainContextPtr context_{g_main_context_new()};
  MainLoopPtr loop_{g_main_loop_new(context_.get(), FALSE)};
  GObjectPtr<SoupServer> soup_;
  SourcePtr tick_source_;
  std::vector<std::shared_ptr<Stream>> served_;
  struct Listener {
    Server *server;
    GObjectPtr<GSocket> socket;
    SourcePtr source;  // accepts; none while it rests
    SourcePtr resume;  // ends the rest
  };
  // Built once in listen(): the sources point at its elements.
  std::vector<Listener> listeners_;
  // Connections accepted that are not viewers (yet): libsoup 3.2 has no
  // timeout of its own, so a client sending half a request, or never reading
  // its answer, would keep its connection; see PendingConnections.
  std::unique_ptr<PendingConnections> pending_;
  WarningThrottle accept_warnings_{G_USEC_PER_SEC};
};

}  // namespace imagestream
