// TCP as both servers use it (lengthprefixsrc's ingest and websocketsink's web
// port): listeners written once (one host name may stand for several
// addresses, port 0 means any free port, and a user who picked a port that is
// taken gets one line that says so), and peer addresses as logs print them.
#pragma once

#include <gio/gio.h>

#include <string>
#include <vector>

#include "glibptr.h"

namespace imagestream {

struct Listeners {
  // Non-blocking, listening, all on `port`.
  std::vector<GObjectPtr<GSocket>> sockets;
  int port = 0;
};

// Binds every address `host` resolves to (for "localhost": 127.0.0.1 and ::1)
// on one port; with port 0 the first address picks a free port and the others
// take the same. Succeeds if at least one address could be bound. Returns ""
// on success, else one line naming the host, the port and the reason, e.g.
// "Cannot listen on localhost port 8090: the port is in use".
std::string listen_tcp(const std::string &host, int port, int backlog, Listeners &listeners);

// "host:port" (IPv6 as "[addr]:port") of a socket's peer, or "unknown".
std::string peer_address(GSocket *socket);
std::string peer_address(GSocketAddress *address);

}  // namespace imagestream
