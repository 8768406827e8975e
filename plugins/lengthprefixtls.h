// TLS for the ingest, written once for both ends: lengthprefixsrc (server,
// asking cameras for client certificates) and lengthprefixsink (client,
// verifying the relay). Credentials come from PEM files; connections are
// built with the CA database given up front, because GIO's default loads the
// system CA store into every new connection (glib-networking with GnuTLS
// copies it, about 3.8 MiB each), which a flood of connections would pay for.
#pragma once

#include <gio/gio.h>

#include <string>

#include "glibptr.h"

namespace imagestream {

// The `tls-certificate`, `tls-key` and `tls-ca-file` properties.
struct TlsFiles {
  std::string certificate;  // PEM; may hold the key too
  std::string key;          // PEM; empty = in `certificate`
  std::string ca_file;      // PEM: the CA(s) the peer's certificate must be signed by
  bool any() const { return !certificate.empty() || !key.empty() || !ca_file.empty(); }
};

struct TlsCredentials {
  GObjectPtr<GTlsCertificate> certificate;  // presented to the peer; null = none
  GObjectPtr<GTlsDatabase> ca;              // from ca_file; null = none given
  bool enabled = false;                     // some TLS file was set
};

// Loads the files. Returns "" or one line naming the property, the file and
// the reason. A server needs a certificate.
std::string load_tls_credentials(const TlsFiles &files, bool server, TlsCredentials &credentials);

// The server side of a connection: presents the certificate; with a CA,
// requires a client certificate signed by it (the handshake fails without).
// Nothing is read or written until the handshake is started.
GIOStream *tls_server_connection(GIOStream *base, const TlsCredentials &credentials, GError **error);

// The client side: verifies the server against the CA (the system's store
// when none was given) and `identity`; presents the certificate, if any.
GIOStream *tls_client_connection(GIOStream *base, GSocketConnectable *identity, const TlsCredentials &credentials,
                                 GError **error);

}  // namespace imagestream
