// The connections of one web port that are not viewers (yet): from accept()
// until libsoup has answered them, or handed them to a viewer. Strangers on
// the network reach this part before any secret is checked, so everything
// here is bounded: how many connections at once in total (and, once that is
// reached, an address holding more than its share gives way to newcomers);
// how long each may take; under TLS, how many handshakes run at once (each
// holds a thread of GLib's shared pool), and none before the client's whole
// ClientHello is in the kernel's buffer, so a client that connects and sends
// nothing, or a few bytes, holds no thread; and how many file descriptors
// are left, so that the process refuses cleanly before it hits EMFILE.
//
// Server thread only, apart from the counters (PortCounters).
#pragma once

#include <gio/gio.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "glibptr.h"
#include "warningthrottle.h"

namespace imagestream {

// The port's limits on connections that are not viewers; 0 = no limit.
struct ConnectionLimits {
  unsigned max_pending = 0;               // connections at once
  unsigned max_pending_per_address = 0;   // from one IPv4 address or IPv6 /64, once the port is full
  unsigned request_timeout_s = 0;         // to send a request and take its answer
  unsigned handshake_timeout_s = 0;       // TLS, for each step: the ClientHello, a slot, the handshake
  unsigned max_handshakes = 0;            // TLS handshakes running at once
  unsigned max_handshakes_per_address = 0;
};

// What the port refused or cut off, for the sinks' stats; any thread.
struct PortCounters {
  std::atomic<uint64_t> accept_errors{0};         // accept() failed (EMFILE and the like)
  std::atomic<uint64_t> connections_refused{0};   // closed at once: over a cap, or the fd reserve
  std::atomic<uint64_t> connections_timed_out{0};  // cut off at their deadline
};

// File descriptors: the soft RLIMIT_NOFILE, and how many this process may
// still open. Counting /proc/self/fd costs about 0.1 ms per thousand, so it
// is counted at most every 100 ms and descriptors opened meanwhile are added.
class FdBudget {
 public:
  size_t limit() const;
  // An estimate that errs towards fewer; `newest_fd` (just opened, or -1)
  // tells at least that many are open: the kernel gives the lowest free one.
  size_t available(int newest_fd = -1);
  void opened() { opened_since_++; }
  // Viewers are refused (503) below this many: room for cameras
  // (lengthprefixsrc's max-senders is 64), connections being answered and
  // files. An eighth of the limit, at least 128, at most 1024.
  size_t viewer_reserve() const;
  // Connections are closed at once below this many (a quarter of the viewer
  // reserve), so that the process answers with a close, never with EMFILE.
  size_t connection_reserve() const { return viewer_reserve() / 4; }

 private:
  size_t open_counted_ = 0;
  int64_t counted_at_ = 0;  // monotonic µs; 0 = never counted
  size_t opened_since_ = 0;
  size_t last_ = 0;  // what available() said last
};

class PendingConnections {
 public:
  // Hands a connection, ready for HTTP (under TLS: after the handshake), to
  // libsoup; false when it is gone already. The connection is tracked
  // before this runs, so forget() may run from inside it.
  using Serve = std::function<bool(GIOStream *stream, GSocket *socket)>;

  // `certificate` null = plain TCP. `log_port` names the port in warnings.
  PendingConnections(GMainContext *context, const ConnectionLimits &limits, GTlsCertificate *certificate,
                     std::shared_ptr<PortCounters> counters, int log_port, Serve serve);
  ~PendingConnections();
  PendingConnections(const PendingConnections &) = delete;
  PendingConnections &operator=(const PendingConnections &) = delete;

  // A connection just accepted: tracked, or closed at once over a cap.
  void add(GObjectPtr<GSocket> socket);
  // It is a viewer now: its own timeout applies from here on.
  void forget(GSocket *socket);
  // Cuts off connections past their deadline, forgets those libsoup closed,
  // and writes the warnings held back.
  void tick(int64_t now_us);
  // Closes every connection that libsoup does not own yet and returns once
  // no handshake runs any more (their callbacks run on this thread).
  void close_all();
  FdBudget &fds() { return fds_; }

 private:
  struct Connection;
  struct Group {  // connections from one address
    unsigned pending = 0;
    unsigned handshakes = 0;
  };
  using ConnectionRef = std::shared_ptr<Connection>;

  void refuse(GSocket *socket, const char *reason);
  const char *make_room(const std::string &group, GSocket *newcomer);
  void wait_for_hello(const ConnectionRef &c);
  gboolean hello_arrived(Connection *c);
  void start_handshakes();
  void start_handshake(const ConnectionRef &c);
  void handshake_done(const ConnectionRef &c, bool ok, const GError *error);
  void release_slot(const ConnectionRef &c);
  void serve(const ConnectionRef &c, GObjectPtr<GIOStream> stream);
  // Stops tracking `c` and closes it (a handshake running is cancelled, and
  // its callback closes the socket: the thread may still poll it).
  void drop(const ConnectionRef &c);
  void untrack(const ConnectionRef &c);
  // Forgets the connections libsoup closed (it does not tell): exact counts
  // before a cap refuses anyone.
  void forget_closed();

  GMainContext *const context_;
  const ConnectionLimits limits_;
  GTlsCertificate *const certificate_;  // the Server's, which outlives this
  const std::shared_ptr<PortCounters> counters_;
  const int log_port_;
  const Serve serve_;

  std::vector<ConnectionRef> connections_;  // in the order they were accepted
  std::unordered_map<std::string, Group> groups_;
  unsigned handshakes_ = 0;  // slots taken
  // Handshake callbacks still to come, counted until they ran (even for
  // connections dropped meanwhile): close_all() waits for them.
  unsigned handshakes_in_flight_ = 0;
  FdBudget fds_;
  WarningThrottle refusals_;
  WarningThrottle timeouts_;
};

}  // namespace imagestream
