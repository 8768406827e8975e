#include "lengthprefixtls.h"

namespace imagestream {

std::string load_tls_credentials(const TlsFiles &files, bool server, TlsCredentials &credentials) {
  credentials = TlsCredentials{};
  if (!files.any()) return "";
  if (!g_tls_backend_supports_tls(g_tls_backend_get_default()))
    return "TLS is set (tls-certificate, tls-key or tls-ca-file) but GIO has no TLS backend: install glib-networking";
  if (files.certificate.empty() && !files.key.empty())
    return "tls-key " + files.key + " is set without tls-certificate: set both";
  if (server && files.certificate.empty())
    return "tls-ca-file " + files.ca_file + " is set without tls-certificate: the server needs a certificate for TLS";
  ErrorPtr err;
  if (!files.certificate.empty()) {
    credentials.certificate.reset(
        files.key.empty() ? g_tls_certificate_new_from_file(files.certificate.c_str(), out(err))
                          : g_tls_certificate_new_from_files(files.certificate.c_str(), files.key.c_str(), out(err)));
    if (!credentials.certificate)
      return "Cannot load tls-certificate " + files.certificate + " (key " +
             (files.key.empty() ? std::string("in the same file") : files.key) + "): " + err->message;
  }
  if (!files.ca_file.empty()) {
    credentials.ca.reset(g_tls_file_database_new(files.ca_file.c_str(), out(err)));
    if (!credentials.ca) return "Cannot load tls-ca-file " + files.ca_file + ": " + err->message;
  }
  credentials.enabled = true;
  return "";
}

namespace {

// glib-networking leaves every client certificate to this signal, even one
// that verified against the database without a fault.
gboolean accept_if_verified(GTlsConnection *, GTlsCertificate *, GTlsCertificateFlags errors, gpointer) {
  return errors == 0;
}

}  // namespace

GIOStream *tls_server_connection(GIOStream *base, const TlsCredentials &credentials, GError **error) {
  // "database" is passed even when null: a connection whose database was
  // never set loads the system store when it is initialised.
  GTlsBackend *backend = g_tls_backend_get_default();
  GIOStream *connection = G_IO_STREAM(g_initable_new(
      g_tls_backend_get_server_connection_type(backend), nullptr, error, "base-io-stream", base, "certificate",
      credentials.certificate.get(), "database", credentials.ca.get(), "authentication-mode",
      credentials.ca ? G_TLS_AUTHENTICATION_REQUIRED : G_TLS_AUTHENTICATION_NONE,
      // A sender's connection ending without close_notify is no attack on
      // the framing: a frame cut short is told by its length and dropped.
      "require-close-notify", FALSE, nullptr));
  if (connection) g_signal_connect(connection, "accept-certificate", G_CALLBACK(accept_if_verified), nullptr);
  return connection;
}

GIOStream *tls_client_connection(GIOStream *base, GSocketConnectable *identity, const TlsCredentials &credentials,
                                 GError **error) {
  GTlsBackend *backend = g_tls_backend_get_default();
  const GType type = g_tls_backend_get_client_connection_type(backend);
  if (!credentials.ca)  // verified against the system's store: the default database
    return G_IO_STREAM(g_initable_new(type, nullptr, error, "base-io-stream", base, "server-identity", identity,
                                      "certificate", credentials.certificate.get(), nullptr));
  return G_IO_STREAM(g_initable_new(type, nullptr, error, "base-io-stream", base, "server-identity", identity,
                                    "certificate", credentials.certificate.get(), "database", credentials.ca.get(),
                                    nullptr));
}

}  // namespace imagestream
