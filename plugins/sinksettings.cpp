#include "sinksettings.h"

#include <gst/gst.h>

namespace imagestream {

namespace {

void set_string(std::string &field, const GValue *value, const char *fallback) {
  const char *s = g_value_get_string(value);
  field = s ? s : fallback;
}

void optional_string(GValue *value, const std::string &text) {
  g_value_set_string(value, text.empty() ? nullptr : text.c_str());
}

}  // namespace

bool set_sink_setting(SinkSettings &s, guint id, const GValue *value) {
  StreamSettings &ss = s.stream;
  switch (id) {
    case PROP_HOST:
      set_string(s.host, value, kDefaultHost);
      return true;
    case PROP_PORT:
      s.port = g_value_get_int(value);
      return true;
    case PROP_PATH:
      set_string(s.path, value, kDefaultPath);
      return true;
    case PROP_DOCUMENT_ROOT:
      set_string(s.document_root, value, "");
      return true;
    case PROP_TLS_CERTIFICATE:
      set_string(s.tls_certificate, value, "");
      return true;
    case PROP_TLS_KEY:
      set_string(s.tls_key, value, "");
      return true;
    case PROP_REQUEST_TIMEOUT:
      s.limits.request_timeout_s = g_value_get_uint(value);
      return true;
    case PROP_MAX_PENDING_CONNECTIONS:
      s.limits.max_pending = g_value_get_uint(value);
      return true;
    case PROP_MAX_PENDING_PER_ADDRESS:
      s.limits.max_pending_per_address = g_value_get_uint(value);
      return true;
    case PROP_TLS_HANDSHAKE_TIMEOUT:
      s.limits.handshake_timeout_s = g_value_get_uint(value);
      return true;
    case PROP_MAX_TLS_HANDSHAKES:
      s.limits.max_handshakes = g_value_get_uint(value);
      return true;
    case PROP_MAX_TLS_HANDSHAKES_PER_ADDRESS:
      s.limits.max_handshakes_per_address = g_value_get_uint(value);
      return true;
    case PROP_AUTH_REALM:
      set_string(s.auth_realm, value, kDefaultAuthRealm);
      return true;
    case PROP_AUTH_USERS:
      set_string(s.auth_users, value, "");
      return true;
    case PROP_MAX_VIEWERS:
      ss.max_viewers = g_value_get_uint(value);
      return true;
    case PROP_ALLOWED_ORIGINS:
      set_string(ss.allowed_origins, value, "");
      return true;
    case PROP_REQUIRE_ORIGIN:
      ss.require_origin = g_value_get_boolean(value);
      return true;
    case PROP_CORS_ORIGINS:
      set_string(ss.cors_origins, value, "");
      return true;
    case PROP_MAX_QUEUED_FRAMES:
      ss.limits.max_frames = g_value_get_uint(value);
      return true;
    case PROP_MAX_QUEUED_BYTES:
      ss.limits.max_bytes = g_value_get_uint64(value);
      return true;
    case PROP_MAX_QUEUED_TIME:
      ss.limits.max_delay_us = gint64{g_value_get_uint(value)} * 1000;
      return true;
    case PROP_WRITE_INTERVAL:
      ss.write_interval_us = g_value_get_uint(value);
      return true;
    case PROP_VIEWER_TIMEOUT:
      ss.viewer_timeout = g_value_get_uint(value);
      return true;
    case PROP_MAX_MESSAGE_SIZE:
      ss.max_message_size = g_value_get_uint64(value);
      return true;
    case PROP_ENABLE_SNAPSHOT:
      ss.enable_snapshot = g_value_get_boolean(value);
      return true;
    case PROP_ENABLE_MJPEG:
      ss.enable_mjpeg = g_value_get_boolean(value);
      return true;
    case PROP_ENABLE_STATS:
      ss.enable_stats = g_value_get_boolean(value);
      return true;
    case PROP_JPEG_STREAM:
      set_string(ss.jpeg_stream, value, "");
      return true;
    default:
      return false;
  }
}

bool get_sink_setting(const SinkSettings &s, guint id, GValue *value) {
  const StreamSettings &ss = s.stream;
  switch (id) {
    case PROP_HOST:
      g_value_set_string(value, s.host.c_str());
      return true;
    case PROP_PORT:
      g_value_set_int(value, s.port);
      return true;
    case PROP_PATH:
      g_value_set_string(value, s.path.c_str());
      return true;
    case PROP_DOCUMENT_ROOT:
      optional_string(value, s.document_root);
      return true;
    case PROP_TLS_CERTIFICATE:
      optional_string(value, s.tls_certificate);
      return true;
    case PROP_TLS_KEY:
      optional_string(value, s.tls_key);
      return true;
    case PROP_REQUEST_TIMEOUT:
      g_value_set_uint(value, s.limits.request_timeout_s);
      return true;
    case PROP_MAX_PENDING_CONNECTIONS:
      g_value_set_uint(value, s.limits.max_pending);
      return true;
    case PROP_MAX_PENDING_PER_ADDRESS:
      g_value_set_uint(value, s.limits.max_pending_per_address);
      return true;
    case PROP_TLS_HANDSHAKE_TIMEOUT:
      g_value_set_uint(value, s.limits.handshake_timeout_s);
      return true;
    case PROP_MAX_TLS_HANDSHAKES:
      g_value_set_uint(value, s.limits.max_handshakes);
      return true;
    case PROP_MAX_TLS_HANDSHAKES_PER_ADDRESS:
      g_value_set_uint(value, s.limits.max_handshakes_per_address);
      return true;
    case PROP_AUTH_REALM:
      g_value_set_string(value, s.auth_realm.c_str());
      return true;
    case PROP_AUTH_USERS:
      optional_string(value, s.auth_users);
      return true;
    case PROP_MAX_VIEWERS:
      g_value_set_uint(value, ss.max_viewers);
      return true;
    case PROP_ALLOWED_ORIGINS:
      g_value_set_string(value, ss.allowed_origins.c_str());
      return true;
    case PROP_REQUIRE_ORIGIN:
      g_value_set_boolean(value, ss.require_origin);
      return true;
    case PROP_CORS_ORIGINS:
      g_value_set_string(value, ss.cors_origins.c_str());
      return true;
    case PROP_MAX_QUEUED_FRAMES:
      g_value_set_uint(value, static_cast<guint>(ss.limits.max_frames));
      return true;
    case PROP_MAX_QUEUED_BYTES:
      g_value_set_uint64(value, ss.limits.max_bytes);
      return true;
    case PROP_MAX_QUEUED_TIME:
      g_value_set_uint(value, static_cast<guint>(ss.limits.max_delay_us / 1000));
      return true;
    case PROP_WRITE_INTERVAL:
      g_value_set_uint(value, static_cast<guint>(ss.write_interval_us));
      return true;
    case PROP_VIEWER_TIMEOUT:
      g_value_set_uint(value, ss.viewer_timeout);
      return true;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint64(value, ss.max_message_size);
      return true;
    case PROP_ENABLE_SNAPSHOT:
      g_value_set_boolean(value, ss.enable_snapshot);
      return true;
    case PROP_ENABLE_MJPEG:
      g_value_set_boolean(value, ss.enable_mjpeg);
      return true;
    case PROP_ENABLE_STATS:
      g_value_set_boolean(value, ss.enable_stats);
      return true;
    case PROP_JPEG_STREAM:
      optional_string(value, ss.jpeg_stream);
      return true;
    default:
      return false;
  }
}

void install_sink_settings(GObjectClass *gobject_class) {
  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto rw_ready = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_READY));
  const auto rw_playing = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_PLAYING));
  auto add = [gobject_class](guint id, GParamSpec *spec) { g_object_class_install_property(gobject_class, id, spec); };
  // The port's: sinks sharing a port set them alike.
  add(PROP_HOST, g_param_spec_string("host", "Host",
                                     "Address to listen on (a name listens on every address it resolves to; "
                                     "0.0.0.0 for all IPv4 interfaces). Per port. Used when going from NULL to READY",
                                     kDefaultHost, rw_ready));
  add(PROP_PORT, g_param_spec_int("port", "Port",
                                  "TCP port to listen on (0 = any free port; see current-port). Sinks with the same "
                                  "host and port share one server, each at its own path",
                                  0, 65535, kDefaultPort, rw_ready));
  add(PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM file of the server certificate (chain); when set the server speaks https/wss. Per port",
                          nullptr, rw_ready));
  add(PROP_TLS_KEY, g_param_spec_string("tls-key", "TLS key",
                                        "PEM file of the private key of tls-certificate (unset = in the certificate "
                                        "file). Per port",
                                        nullptr, rw_ready));
  add(PROP_REQUEST_TIMEOUT,
      g_param_spec_uint("request-timeout", "Request timeout",
                        "Seconds a connection may take to send a plain HTTP request and take its answer, counted "
                        "from accept (under TLS from the end of the handshake); past that it is closed (0 = no "
                        "limit). Per port",
                        0, G_MAXUINT, kDefaultRequestTimeout, rw_ready));
  add(PROP_MAX_PENDING_CONNECTIONS,
      g_param_spec_uint("max-pending-connections", "Max pending connections",
                        "Connections that are not viewers (handshaking, sending a request, being answered) at once; "
                        "further ones are closed at once and counted in stats' connections-refused (0 = no limit). "
                        "Per port",
                        0, G_MAXUINT, kDefaultMaxPendingConnections, rw_ready));
  add(PROP_MAX_PENDING_PER_ADDRESS,
      g_param_spec_uint("max-pending-per-address", "Max pending connections per address",
                        "Connections that are not viewers one IPv4 address or IPv6 /64 may hold once "
                        "max-pending-connections is reached: past it, a newcomer from another address closes the "
                        "address's oldest, and its own newcomers are closed at once (0 = no share: the port's "
                        "newcomers are closed at once). Per port",
                        0, G_MAXUINT, kDefaultMaxPendingPerAddress, rw_ready));
  add(PROP_TLS_HANDSHAKE_TIMEOUT,
      g_param_spec_uint("tls-handshake-timeout", "TLS handshake timeout",
                        "Seconds for each step of a TLS connection before it is a session: its whole ClientHello "
                        "to arrive, a handshake slot to free, the handshake; past that it is closed (0 = no limit). "
                        "Per port",
                        0, G_MAXUINT, kDefaultTlsHandshakeTimeout, rw_ready));
  add(PROP_MAX_TLS_HANDSHAKES,
      g_param_spec_uint("max-tls-handshakes", "Max TLS handshakes",
                        "TLS handshakes running at once; glib-networking runs each on a thread of GLib's shared "
                        "pool (10 threads, growing slowly), which waits for the client. Further connections wait "
                        "for a slot; a handshake starts only once the client's ClientHello has arrived whole (0 = "
                        "no limit). Per port",
                        0, G_MAXUINT, kDefaultMaxTlsHandshakes, rw_ready));
  add(PROP_MAX_TLS_HANDSHAKES_PER_ADDRESS,
      g_param_spec_uint("max-tls-handshakes-per-address", "Max TLS handshakes per address",
                        "TLS handshakes running at once for one IPv4 address or IPv6 /64 (0 = no limit). Per port",
                        0, G_MAXUINT, kDefaultMaxTlsHandshakesPerAddress, rw_ready));

  add(PROP_AUTH_REALM,
      g_param_spec_string("auth-realm", "Login realm",
                          "The realm browsers show when they ask for a login (auth-users); one for the whole port, "
                          "so that a 401 tells nothing about the path asked for. Per port",
                          kDefaultAuthRealm, rw_ready));

  // The stream's.
  add(PROP_AUTH_USERS,
      g_param_spec_string("auth-users", "Logins",
                          "File of user:password or user:$hash lines (crypt(3), e.g. openssl passwd -6): HTTP Basic "
                          "logins for the page and everything under the path (WebSocket, MJPEG, snapshot, stats, "
                          "metrics, files); others get 401, and so does every path on the port that names no stream. "
                          "Read when going from NULL to READY. Keep it readable by the relay only (unset = no "
                          "logins: the path is the only secret)",
                          nullptr, rw_ready));
  add(PROP_PATH, g_param_spec_string("path", "Path",
                                     "URL path of the WebSocket stream; a plain GET on it returns the viewer page, "
                                     "and <path>/snapshot.jpg, stream.mjpeg, stats.json and metrics serve the same "
                                     "stream",
                                     kDefaultPath, rw_ready));
  add(PROP_DOCUMENT_ROOT,
      g_param_spec_string("document-root", "Document root",
                          "Folder of static files served at <path>/<relative path>; its index.html replaces the "
                          "built-in viewer page at <path>/ (unset = built-in page only)",
                          nullptr, rw_ready));
  add(PROP_MAX_VIEWERS,
      g_param_spec_uint("max-viewers", "Max viewers",
                        "Most viewers (WebSocket and MJPEG) of this stream at once; further ones get 503 (0 = no "
                        "limit)",
                        0, G_MAXUINT, kDefaultMaxViewers, rw_playing));
  add(PROP_ALLOWED_ORIGINS,
      g_param_spec_string("allowed-origins", "Allowed origins",
                          "Comma-separated Origin values of pages allowed to open the WebSocket, e.g. "
                          "\"https://example.com,http://localhost:8080\"; others get 403. The relay's own page "
                          "(same origin) and clients that send no Origin (not browsers) are allowed too "
                          "(empty = any origin)",
                          "", rw_playing));
  add(PROP_REQUIRE_ORIGIN,
      g_param_spec_boolean("require-origin", "Require Origin",
                           "With allowed-origins set, refuse WebSocket clients that send no Origin header",
                           FALSE, rw_playing));
  add(PROP_CORS_ORIGINS,
      g_param_spec_string("cors-origins", "CORS origins",
                          "Comma-separated origins (or *) whose pages may fetch() stats.json, metrics, "
                          "snapshot.jpg and stream.mjpeg, e.g. for a dashboard: answers carry "
                          "Access-Control-Allow-Origin and OPTIONS preflights get 204 (empty = no CORS)",
                          "", rw_playing));
  add(PROP_MAX_QUEUED_FRAMES,
      g_param_spec_uint("max-queued-frames", "Max queued frames",
                        "Frames a viewer may have waiting behind the one being sent; past that (or past "
                        "max-queued-bytes or max-queued-time) its oldest waiting frames are dropped: the newest "
                        "frame wins (0 = no frame limit). Applies to viewers connecting afterwards",
                        0, G_MAXUINT, kDefaultMaxQueuedFrames, rw_playing));
  add(PROP_MAX_QUEUED_BYTES,
      g_param_spec_uint64("max-queued-bytes", "Max queued bytes",
                          "Bytes a viewer may have waiting beyond what its socket holds (0 = no byte limit). "
                          "Applies to viewers connecting afterwards",
                          0, G_MAXUINT64, kDefaultMaxQueuedBytes, rw_playing));
  add(PROP_MAX_QUEUED_TIME,
      g_param_spec_uint("max-queued-time", "Max queued time",
                        "Milliseconds of stream a viewer may have waiting, from the oldest waiting frame's "
                        "arrival to the newest's (0 = no time limit). Applies to viewers connecting afterwards",
                        0, G_MAXUINT, kDefaultMaxQueuedTime, rw_playing));
  add(PROP_WRITE_INTERVAL,
      g_param_spec_uint("write-interval", "Write interval",
                        "Microseconds between two writes to one viewer: frames arriving faster go out together in "
                        "one write, for at most this much latency (0 = each frame at once). Applies to viewers "
                        "connecting afterwards",
                        0, G_USEC_PER_SEC, kDefaultWriteInterval, rw_playing));
  add(PROP_VIEWER_TIMEOUT,
      g_param_spec_uint("viewer-timeout", "Viewer timeout",
                        "Seconds a viewer may accept no data while frames wait for it before it is closed "
                        "with code 1008 (0 = never)",
                        0, G_MAXUINT, kDefaultViewerTimeout, rw_playing));
  add(PROP_MAX_MESSAGE_SIZE,
      g_param_spec_uint64("max-message-size", "Max message size",
                          "Largest message a viewer may send, in bytes; a bigger one closes it with code 1009 "
                          "(0 = no limit). Applies to viewers connecting afterwards",
                          0, G_MAXUINT64, kDefaultMaxMessageSize, rw_playing));
  add(PROP_ENABLE_SNAPSHOT,
      g_param_spec_boolean("enable-snapshot", "Enable snapshot",
                           "Serve the most recent frame at <path>/snapshot.jpg (off = 404)", kDefaultEnableSnapshot,
                           rw_playing));
  add(PROP_ENABLE_MJPEG,
      g_param_spec_boolean("enable-mjpeg", "Enable MJPEG",
                           "Serve the stream as multipart/x-mixed-replace MJPEG at <path>/stream.mjpeg, for <img>, "
                           "VLC, ffmpeg and curl; its clients are viewers with the same limits (off = 404)",
                           kDefaultEnableMjpeg, rw_playing));
  add(PROP_ENABLE_STATS,
      g_param_spec_boolean("enable-stats", "Enable statistics",
                           "Serve the stream's and each viewer's figures at <path>/stats.json and as Prometheus "
                           "text at <path>/metrics (off = 404)",
                           kDefaultEnableStats, rw_playing));

  add(PROP_JPEG_STREAM,
      g_param_spec_string("jpeg-stream", "JPEG stream",
                          "For a stream of encoded video: the path of a stream on the same port with the same "
                          "camera's JPEG frames, whose snapshot.jpg and stream.mjpeg this stream's serve (unset = "
                          "they answer 404 saying so)",
                          nullptr, rw_playing));
}

}  // namespace imagestream
