#pragma once
// websocketsink's settings: the properties a user sets, their defaults and
// descriptions (the GParamSpec table), and how each maps onto the port's and
// the stream's settings. The element's figures (current-port, num-viewers,
// frames-sent, ..., stats) are not settings and stay with the element.
//
// Threads: the element reads and writes SinkSettings under its object lock;
// the stream gets a copy (Stream::set_settings) whenever one changes, and the
// server thread reads only that copy.

#include <glib-object.h>

#include <string>

#include "pendingconnections.h"
#include "stream.h"


namespace imagestream {

// The defaults, as gst-inspect-1.0 shows them.
constexpr const char *kDefaultHost = "localhost";
constexpr int kDefaultPort = 8090;
constexpr const char *kDefaultPath = "/camera";
constexpr guint kDefaultMaxViewers = 1024;
constexpr guint kDefaultMaxQueuedFrames = 0;
constexpr uint64_t kDefaultMaxQueuedBytes = (8 * 1024 * 1024);
constexpr guint kDefaultMaxQueuedTime = 50;
constexpr guint kDefaultWriteInterval = 1000;
constexpr guint kDefaultViewerTimeout = 10;
constexpr guint kDefaultRequestTimeout = 5;
constexpr guint kDefaultMaxPendingConnections = 256;
constexpr guint kDefaultMaxPendingPerAddress = 32;
constexpr guint kDefaultTlsHandshakeTimeout = 5;
constexpr guint kDefaultMaxTlsHandshakes = 8;
constexpr guint kDefaultMaxTlsHandshakesPerAddress = 2;
constexpr const char *kDefaultAuthRealm = "imagestream";
constexpr uint64_t kDefaultMaxMessageSize = (64 * 1024);
constexpr gboolean kDefaultEnableSnapshot = TRUE;
constexpr gboolean kDefaultEnableMjpeg = TRUE;
constexpr gboolean kDefaultEnableStats = TRUE;

enum SinkProperty : guint {
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_CURRENT_PORT,
  PROP_PATH,
  PROP_DOCUMENT_ROOT,
  PROP_MAX_VIEWERS,
  PROP_ALLOWED_ORIGINS,
  PROP_REQUIRE_ORIGIN,
  PROP_CORS_ORIGINS,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_REQUEST_TIMEOUT,
  PROP_MAX_PENDING_CONNECTIONS,
  PROP_MAX_PENDING_PER_ADDRESS,
  PROP_TLS_HANDSHAKE_TIMEOUT,
  PROP_MAX_TLS_HANDSHAKES,
  PROP_MAX_TLS_HANDSHAKES_PER_ADDRESS,
  PROP_AUTH_REALM,
  PROP_AUTH_USERS,
  PROP_MAX_QUEUED_FRAMES,
  PROP_MAX_QUEUED_BYTES,
  PROP_MAX_QUEUED_TIME,
  PROP_WRITE_INTERVAL,
  PROP_VIEWER_TIMEOUT,
  PROP_MAX_MESSAGE_SIZE,
  PROP_ENABLE_SNAPSHOT,
  PROP_ENABLE_MJPEG,
  PROP_ENABLE_STATS,
  PROP_JPEG_STREAM,
  PROP_NUM_VIEWERS,
  PROP_FRAMES_SENT,
  PROP_FRAMES_DROPPED,
  PROP_BYTES_SENT,
  PROP_STATS,
};

struct SinkSettings {
  // The port's.
  std::string host = kDefaultHost;
  int port = kDefaultPort;
  std::string tls_certificate;
  std::string tls_key;
  imagestream::ConnectionLimits limits{kDefaultMaxPendingConnections, kDefaultMaxPendingPerAddress,
                                       kDefaultRequestTimeout,         kDefaultTlsHandshakeTimeout,
                                       kDefaultMaxTlsHandshakes,      kDefaultMaxTlsHandshakesPerAddress};
  std::string auth_realm = kDefaultAuthRealm;
  // The stream's.
  std::string path = kDefaultPath;
  std::string document_root;
  std::string auth_users;
  imagestream::StreamSettings stream{kDefaultMaxViewers,
                                     "",
                                     false,
                                     "",
                                     {kDefaultMaxQueuedFrames, kDefaultMaxQueuedBytes, kDefaultMaxQueuedTime * 1000},
                                     kDefaultWriteInterval,
                                     kDefaultViewerTimeout,
                                     kDefaultMaxMessageSize,
                                     kDefaultEnableSnapshot,
                                     kDefaultEnableMjpeg,
                                     kDefaultEnableStats,
                                     ""};
};

// Installs every settings property of the table on websocketsink's class.
void install_sink_settings(GObjectClass *klass);
// Sets or reads the setting property `id`; false when `id` is not a setting.
bool set_sink_setting(SinkSettings &s, guint id, const GValue *value);
bool get_sink_setting(const SinkSettings &s, guint id, GValue *value);

}  // namespace imagestream
