// The TLS handshakes of lengthprefixsrc's senders, run beside its streaming
// thread so that none holds up the frames of the others.
//
// glib-networking runs every handshake, sync or async, on a thread of GLib's
// shared worker pool (10 threads, growing slowly when all are busy, also used
// by the web port's handshakes), and that thread waits for the client. So a
// handshake starts only once the client's whole first record (its
// ClientHello) is in the kernel's buffer, and at most kMaxRunning run at
// once: a client that connects and stalls holds a socket, not a thread. The
// completions, and the certificate check glib-networking hands back to the
// context that started a handshake, are dispatched on a context of our own
// that the streaming thread iterates with its poll() of the sockets.
#pragma once

#include <gio/gio.h>
#include <poll.h>

#include <memory>
#include <string>
#include <vector>

#include "glibptr.h"

namespace imagestream {

class TlsHandshakes {
 public:
  // Handshakes running at once; more wait until one ends.
  static constexpr int kMaxRunning = 2;

  // One handshake, shared with its completion, which may come after the
  // sender is gone: then the completion closes the socket (the handshake's
  // thread reads it until it ends).
  struct Handshake {
    GObjectPtr<GCancellable> cancellable{g_cancellable_new()};
    GObjectPtr<GSocket> socket;
    bool done = false;
    bool abandoned = false;  // the sender is gone: close the socket when done
    std::string error;       // why it failed, once done; empty if it succeeded
  };

  enum class Hello { Incomplete, Complete, NotTls };
  // Whether the whole first record of a TLS client is buffered on `socket`
  // (a non-blocking socket poll() found readable). While it is Incomplete,
  // poll() finds the socket readable only once it is (SO_RCVLOWAT). NotTls:
  // the peer is gone, or its first byte is not a TLS handshake record.
  static Hello hello(GSocket *socket);

  bool can_start() const { return running_ < kMaxRunning; }
  int running() const { return running_; }
  // Starts the handshake of `tls` (over `socket`).
  std::shared_ptr<Handshake> start(GTlsConnection *tls, GSocket *socket);
  // Gives up on a handshake: cancelled, and its socket closed when it ends.
  static void abandon(Handshake &handshake);

  // Around the streaming thread's poll(): adds the context's fds to
  // `pollfds` and lowers `timeout_ms` to its own; then dispatches what became
  // ready (completions set their Handshake's `done`).
  void before_poll(std::vector<pollfd> &pollfds, int &timeout_ms);
  void after_poll(const std::vector<pollfd> &pollfds);
  // Waits up to `timeout` µs for the handshakes still running (abandoned
  // ones end soon); from a thread that does not poll meanwhile. False if
  // some did not end.
  bool finish(gint64 timeout);

 private:
  static void completed(GObject *source, GAsyncResult *result, gpointer data);

  MainContextPtr context_{g_main_context_new()};
  int running_ = 0;  // started, completion not yet dispatched
  std::vector<GPollFD> fds_;
  gint priority_ = 0;
  size_t first_fd_ = 0;  // where fds_ start among the poll fds
  bool acquired_ = false;
};

}  // namespace imagestream
