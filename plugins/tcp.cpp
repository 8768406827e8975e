#include "tcp.h"

namespace imagestream {

namespace {

GSocket *listen_on(GInetAddress *address, int port, int backlog, GError **err) {
  GObjectPtr<GSocket> socket(
      g_socket_new(g_inet_address_get_family(address), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, err));
  if (!socket) return nullptr;
  GObjectPtr<GSocketAddress> sa(g_inet_socket_address_new(address, port));
  if (!g_socket_bind(socket.get(), sa.get(), TRUE, err)) return nullptr;
  g_socket_set_listen_backlog(socket.get(), backlog);
  if (!g_socket_listen(socket.get(), err)) return nullptr;
  g_socket_set_blocking(socket.get(), FALSE);
  return socket.release();
}

// What went wrong, in words a user acts on. GIO says "Error binding to
// address A:P: <reason>"; the reason is what matters.
std::string reason_of(const GError *err) {
  if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)) return "the port is in use";
  const char *reason = g_strrstr(err->message, ": ");
  return reason ? reason + 2 : err->message;
}

}  // namespace

std::string listen_tcp(const std::string &host, int port, int backlog, Listeners &listeners) {
  listeners = Listeners{};
  ErrorPtr err;
  GObjectPtr<GResolver> resolver(g_resolver_get_default());
  GList *addresses = g_resolver_lookup_by_name(resolver.get(), host.c_str(), nullptr, out(err));
  if (!addresses) return "Cannot resolve host \"" + host + "\": " + err->message;
  std::string first_error;
  for (GList *l = addresses; l; l = l->next) {
    GSocket *socket = listen_on(G_INET_ADDRESS(l->data), listeners.port ? listeners.port : port, backlog, out(err));
    if (!socket) {
      if (first_error.empty()) first_error = reason_of(err.get());
      continue;
    }
    listeners.sockets.emplace_back(socket);
    if (!listeners.port) {
      GObjectPtr<GSocketAddress> bound(g_socket_get_local_address(socket, nullptr));
      listeners.port = bound ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound.get())) : port;
    }
  }
  g_resolver_free_addresses(addresses);
  if (listeners.sockets.empty()) return "Cannot listen on " + host + " port " + std::to_string(port) + ": " + first_error;
  return "";
}

std::string peer_address(GSocket *socket) {
  GObjectPtr<GSocketAddress> addr(g_socket_get_remote_address(socket, nullptr));
  return peer_address(addr.get());
}

std::string peer_address(GSocketAddress *addr) {
  if (!addr || !G_IS_INET_SOCKET_ADDRESS(addr)) return "unknown";
  auto *inet = G_INET_SOCKET_ADDRESS(addr);
  GInetAddress *ip = g_inet_socket_address_get_address(inet);
  g_autofree gchar *host = g_inet_address_to_string(ip);
  const std::string port = std::to_string(g_inet_socket_address_get_port(inet));
  if (g_inet_address_get_family(ip) == G_SOCKET_FAMILY_IPV6) return "[" + std::string(host) + "]:" + port;
  return std::string(host) + ":" + port;
}

}  // namespace imagestream
