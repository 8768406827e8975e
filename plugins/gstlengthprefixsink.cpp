/**
 * SECTION:element-lengthprefixsink
 * @title: lengthprefixsink
 *
 * The camera side of #lengthprefixsrc: connects to host:port as a TCP client
 * and writes every buffer as one frame, an unsigned length (8 bytes,
 * big-endian by default) followed by the buffer's bytes.
 *
 * When the server is down or goes away, buffers are dropped (and counted in
 * #lengthprefixsink:frames-dropped) while the sink reconnects with a backoff
 * that doubles up to #lengthprefixsink:max-reconnect-interval; the pipeline
 * never waits for the server longer than #lengthprefixsink:timeout. A frame
 * whose write fails part-way closes that connection, so a new connection
 * always starts at a frame boundary.
 *
 * With #lengthprefixsink:tls-ca-file (or a certificate) set the sink speaks
 * TLS, verifies the server's certificate against that CA and the host name,
 * and presents #lengthprefixsink:tls-certificate as its client certificate:
 * what a lengthprefixsrc with tls-ca-file requires.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! jpegenc ! lengthprefixsink host=127.0.0.1 port=5000
 * ]|
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! jpegenc ! lengthprefixsink host=relay.example.org port=5000 \
 *     tls-ca-file=relay-ca.pem tls-certificate=camera.pem tls-key=camera.key
 * ]|
 */
#include "gstlengthprefixsink.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "gstimagestream.h"
#include "glibptr.h"
#include "lengthprefix.h"
#include "lengthprefixtls.h"

using imagestream::ErrorPtr;
using imagestream::GObjectPtr;
using imagestream::out;
using imagestream::PrefixFormat;
using imagestream::TlsCredentials;
using imagestream::TlsFiles;

GST_DEBUG_CATEGORY_STATIC(lengthprefixsink_debug);
#define GST_CAT_DEFAULT lengthprefixsink_debug

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 5000
#define DEFAULT_TIMEOUT 5
#define DEFAULT_MAX_RECONNECT_INTERVAL 2000
constexpr gint64 kFirstReconnectInterval = 100;  // ms

enum {
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_PREFIX_SIZE,
  PROP_BYTE_ORDER,
  PROP_TIMEOUT,
  PROP_MAX_RECONNECT_INTERVAL,
  PROP_CONNECTED,
  PROP_FRAMES_SENT,
  PROP_FRAMES_DROPPED,
  PROP_CONNECTIONS,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_TLS_CA_FILE,
};

namespace {

struct Settings {
  std::string host = DEFAULT_HOST;
  int port = DEFAULT_PORT;
  PrefixFormat format;
  guint timeout = DEFAULT_TIMEOUT;                             // seconds
  guint max_reconnect_interval = DEFAULT_MAX_RECONNECT_INTERVAL;  // ms
  TlsFiles tls;
};

// Used by the streaming thread, and by start/stop while it is not running.
struct Link {
  GObjectPtr<GSocketConnection> connection;
  GObjectPtr<GIOStream> stream;  // what frames are written to: `connection`, or TLS over it
  TlsCredentials tls;            // loaded by start()
  gint64 next_attempt = 0;  // monotonic µs before which no connect is tried
  gint64 interval = 0;      // current backoff, ms
  bool warned = false;      // one warning per outage, not one per frame

  std::atomic<guint64> frames_sent{0}, frames_dropped{0}, connections{0};
  std::atomic<bool> connected{false};
};

}  // namespace

// The element's C++ state, constructed in instance_init.
struct SinkState {
  Settings settings;  // guarded by the object lock
  Link link;
  GObjectPtr<GCancellable> cancellable{g_cancellable_new()};  // cancelled by unlock() to abort a connect or write
};

struct _GstLengthPrefixSink {
  GstBaseSink parent;
  SinkState state;
};

G_DEFINE_TYPE(GstLengthPrefixSink, gst_length_prefix_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE(lengthprefixsink, "lengthprefixsink", GST_RANK_NONE, GST_TYPE_LENGTH_PREFIX_SINK);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void disconnect(GstLengthPrefixSink *self) {
  Link &l = self->state.link;
  if (!l.connection) return;
  // Closing TLS sends close_notify, bounded by the socket's timeout.
  g_io_stream_close(l.stream.get(), nullptr, nullptr);
  if (l.stream.get() != G_IO_STREAM(l.connection.get())) g_io_stream_close(G_IO_STREAM(l.connection.get()), nullptr, nullptr);
  l.stream.reset();
  l.connection.reset();
  l.connected.store(false);
}

static void schedule_reconnect(GstLengthPrefixSink *self, guint max_interval) {
  Link &l = self->state.link;
  l.interval = l.interval ? std::min<gint64>(l.interval * 2, max_interval) : kFirstReconnectInterval;
  l.next_attempt = g_get_monotonic_time() + l.interval * 1000;
}

// Tries to connect unless a backoff is running. False when not connected;
// `cancelled` tells whether unlock() interrupted it.
static bool ensure_connected(GstLengthPrefixSink *self, bool *cancelled) {
  Link &l = self->state.link;
  *cancelled = false;
  if (l.connection) return true;
  if (g_get_monotonic_time() < l.next_attempt) return false;

  GST_OBJECT_LOCK(self);
  std::string host = self->state.settings.host;
  int port = self->state.settings.port;
  guint timeout = self->state.settings.timeout;
  guint max_interval = self->state.settings.max_reconnect_interval;
  GST_OBJECT_UNLOCK(self);

  GObjectPtr<GSocketClient> client(g_socket_client_new());
  g_socket_client_set_timeout(client.get(), timeout);
  g_socket_client_set_enable_proxy(client.get(), FALSE);  // a camera talks to its relay directly
  ErrorPtr err;
  GSocketConnection *c =
      g_socket_client_connect_to_host(client.get(), host.c_str(), port, self->state.cancellable.get(), out(err));
  if (!c) {
    *cancelled = g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_CANCELLED);
    if (!*cancelled) {
      schedule_reconnect(self, max_interval);
      if (!l.warned) {
        GST_ELEMENT_WARNING(self, RESOURCE, OPEN_WRITE,
                            ("Cannot connect to %s:%d: %s; dropping frames and retrying", host.c_str(), port,
                             err->message),
                            (nullptr));
        l.warned = true;
      }
    }
    return false;
  }
  GObjectPtr<GSocketConnection> connection(c);
  GSocket *socket = g_socket_connection_get_socket(c);
  g_socket_set_timeout(socket, timeout);
  // Each frame goes out in one writev; don't hold its tail back for an ACK.
  g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
  GObjectPtr<GIOStream> stream(G_IO_STREAM(g_object_ref(c)));
  if (l.tls.enabled) {
    GObjectPtr<GSocketConnectable> identity(g_network_address_new(host.c_str(), port));
    stream.reset(imagestream::tls_client_connection(G_IO_STREAM(c), identity.get(), l.tls, out(err)));
    if (!stream || !g_tls_connection_handshake(G_TLS_CONNECTION(stream.get()), self->state.cancellable.get(),
                                               out(err))) {
      g_io_stream_close(G_IO_STREAM(c), nullptr, nullptr);
      *cancelled = g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_CANCELLED);
      if (*cancelled) return false;
      schedule_reconnect(self, max_interval);
      if (!l.warned) {
        GST_ELEMENT_WARNING(self, RESOURCE, OPEN_WRITE,
                            ("TLS with %s:%d failed: %s; dropping frames and retrying", host.c_str(), port,
                             err->message),
                            (nullptr));
        l.warned = true;
      }
      return false;
    }
  }
  l.connection = std::move(connection);
  l.stream = std::move(stream);
  l.connected.store(true);
  l.connections.fetch_add(1);
  l.interval = 0;
  l.warned = false;
  GST_INFO_OBJECT(self, "connected to %s:%d%s", host.c_str(), port, l.tls.enabled ? " (TLS)" : "");
  return true;
}

// The server never writes: a readable socket means it closed or reset the
// connection, and a frame written now would be lost. Over TLS the server does
// write records of its own (session tickets): a read that finds no data
// consumed them.
static bool peer_gone(GstLengthPrefixSink *self) {
  Link &l = self->state.link;
  GSocket *socket = g_socket_connection_get_socket(l.connection.get());
  if (!g_socket_condition_check(socket, static_cast<GIOCondition>(G_IO_IN | G_IO_ERR | G_IO_HUP))) return false;
  if (l.stream.get() == G_IO_STREAM(l.connection.get())) return true;
  GInputStream *in = g_io_stream_get_input_stream(l.stream.get());
  uint8_t byte;
  ErrorPtr err;
  gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), &byte, 1, nullptr, out(err));
  return !(n < 0 && g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK));
}

static GstFlowReturn gst_length_prefix_sink_render(GstBaseSink *bsink, GstBuffer *buffer) {
  auto *self = GST_LENGTH_PREFIX_SINK(bsink);
  Link &l = self->state.link;
  GST_OBJECT_LOCK(self);
  PrefixFormat format = self->state.settings.format;
  guint max_interval = self->state.settings.max_reconnect_interval;
  GST_OBJECT_UNLOCK(self);

  if (l.connection && peer_gone(self)) {
    GST_INFO_OBJECT(self, "server closed the connection; reconnecting");
    disconnect(self);
  }
  bool cancelled;
  if (!ensure_connected(self, &cancelled)) {
    if (cancelled) return GST_FLOW_FLUSHING;
    l.frames_dropped.fetch_add(1, std::memory_order_relaxed);
    return GST_FLOW_OK;
  }

  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Cannot read the buffer's memory"), (nullptr));
    return GST_FLOW_ERROR;
  }
  uint8_t header[8];
  if (!format.encode(map.size, header)) {
    gst_buffer_unmap(buffer, &map);
    GST_ELEMENT_WARNING(self, STREAM, FORMAT,
                        ("A buffer of %" G_GSIZE_FORMAT " bytes does not fit a %u-byte length prefix; dropped",
                         map.size, format.width),
                        (nullptr));
    l.frames_dropped.fetch_add(1, std::memory_order_relaxed);
    return GST_FLOW_OK;
  }
  GOutputVector vectors[2] = {{header, format.width}, {map.data, map.size}};
  ErrorPtr err;
  GOutputStream *output = g_io_stream_get_output_stream(l.stream.get());
  gboolean ok = g_output_stream_writev_all(output, vectors, 2, nullptr, self->state.cancellable.get(), out(err));
  gst_buffer_unmap(buffer, &map);
  if (ok) {
    l.frames_sent.fetch_add(1, std::memory_order_relaxed);
    return GST_FLOW_OK;
  }
  // Part of the frame may be on the wire: this connection can't carry another.
  disconnect(self);
  if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_CANCELLED)) return GST_FLOW_FLUSHING;
  GST_INFO_OBJECT(self, "write failed: %s; reconnecting", err->message);
  l.frames_dropped.fetch_add(1, std::memory_order_relaxed);
  schedule_reconnect(self, max_interval);
  l.next_attempt = 0;  // the first retry after losing a live connection is immediate
  return GST_FLOW_OK;
}

static gboolean gst_length_prefix_sink_start(GstBaseSink *bsink) {
  auto *self = GST_LENGTH_PREFIX_SINK(bsink);
  GST_OBJECT_LOCK(self);
  const TlsFiles files = self->state.settings.tls;
  GST_OBJECT_UNLOCK(self);
  const std::string error = imagestream::load_tls_credentials(files, false, self->state.link.tls);
  if (!error.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.c_str()), (nullptr));
    return FALSE;
  }
  self->state.link.next_attempt = 0;
  self->state.link.interval = 0;
  bool cancelled;
  ensure_connected(self, &cancelled);  // not fatal: render() retries
  return TRUE;
}

static gboolean gst_length_prefix_sink_stop(GstBaseSink *bsink) {
  disconnect(GST_LENGTH_PREFIX_SINK(bsink));
  return TRUE;
}

static gboolean gst_length_prefix_sink_unlock(GstBaseSink *bsink) {
  g_cancellable_cancel(GST_LENGTH_PREFIX_SINK(bsink)->state.cancellable.get());
  return TRUE;
}

static gboolean gst_length_prefix_sink_unlock_stop(GstBaseSink *bsink) {
  g_cancellable_reset(GST_LENGTH_PREFIX_SINK(bsink)->state.cancellable.get());
  return TRUE;
}

static void gst_length_prefix_sink_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_LENGTH_PREFIX_SINK(object);
  Settings &s = self->state.settings;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_HOST:
      s.host = g_value_get_string(value) ? g_value_get_string(value) : DEFAULT_HOST;
      break;
    case PROP_PORT:
      s.port = g_value_get_int(value);
      break;
    case PROP_TIMEOUT:
      s.timeout = g_value_get_uint(value);
      break;
    case PROP_MAX_RECONNECT_INTERVAL:
      s.max_reconnect_interval = g_value_get_uint(value);
      break;
    case PROP_TLS_CERTIFICATE:
      s.tls.certificate = g_value_get_string(value) ? g_value_get_string(value) : "";
      break;
    case PROP_TLS_KEY:
      s.tls.key = g_value_get_string(value) ? g_value_get_string(value) : "";
      break;
    case PROP_TLS_CA_FILE:
      s.tls.ca_file = g_value_get_string(value) ? g_value_get_string(value) : "";
      break;
    default:
      if (!imagestream::set_prefix_property(s.format, id, value, PROP_PREFIX_SIZE, PROP_BYTE_ORDER))
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_length_prefix_sink_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_LENGTH_PREFIX_SINK(object);
  Settings &s = self->state.settings;
  Link &l = self->state.link;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_HOST:
      g_value_set_string(value, s.host.c_str());
      break;
    case PROP_PORT:
      g_value_set_int(value, s.port);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint(value, s.timeout);
      break;
    case PROP_MAX_RECONNECT_INTERVAL:
      g_value_set_uint(value, s.max_reconnect_interval);
      break;
    case PROP_CONNECTED:
      g_value_set_boolean(value, l.connected.load());
      break;
    case PROP_FRAMES_SENT:
      g_value_set_uint64(value, l.frames_sent.load());
      break;
    case PROP_FRAMES_DROPPED:
      g_value_set_uint64(value, l.frames_dropped.load());
      break;
    case PROP_CONNECTIONS:
      g_value_set_uint64(value, l.connections.load());
      break;
    case PROP_TLS_CERTIFICATE:
      g_value_set_string(value, s.tls.certificate.empty() ? nullptr : s.tls.certificate.c_str());
      break;
    case PROP_TLS_KEY:
      g_value_set_string(value, s.tls.key.empty() ? nullptr : s.tls.key.c_str());
      break;
    case PROP_TLS_CA_FILE:
      g_value_set_string(value, s.tls.ca_file.empty() ? nullptr : s.tls.ca_file.c_str());
      break;
    default:
      if (!imagestream::get_prefix_property(s.format, id, value, PROP_PREFIX_SIZE, PROP_BYTE_ORDER))
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_length_prefix_sink_finalize(GObject *object) {
  auto *self = GST_LENGTH_PREFIX_SINK(object);
  imagestream::destroy_member(&self->state);
  G_OBJECT_CLASS(gst_length_prefix_sink_parent_class)->finalize(object);
}

static void gst_length_prefix_sink_init(GstLengthPrefixSink *self) {
  imagestream::construct_member(&self->state);
}

static void gst_length_prefix_sink_class_init(GstLengthPrefixSinkClass *klass) {
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *basesink_class = GST_BASE_SINK_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(lengthprefixsink_debug, "lengthprefixsink", 0, "Length-prefixed TCP frame sink");

  gobject_class->set_property = gst_length_prefix_sink_set_property;
  gobject_class->get_property = gst_length_prefix_sink_get_property;
  gobject_class->finalize = gst_length_prefix_sink_finalize;

  const auto rw_ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | static_cast<GParamFlags>(GST_PARAM_MUTABLE_READY));
  const auto rw_playing =
      static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | static_cast<GParamFlags>(GST_PARAM_MUTABLE_PLAYING));
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_property(gobject_class, PROP_HOST,
                                  g_param_spec_string("host", "Host", "Host name or address of the server",
                                                      DEFAULT_HOST, rw_playing));
  g_object_class_install_property(gobject_class, PROP_PORT,
                                  g_param_spec_int("port", "Port", "TCP port of the server", 1, 65535,
                                                   DEFAULT_PORT, rw_playing));
  imagestream::install_prefix_properties(gobject_class, PROP_PREFIX_SIZE, PROP_BYTE_ORDER, static_cast<GParamFlags>(GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(
      gobject_class, PROP_TIMEOUT,
      g_param_spec_uint("timeout", "Timeout",
                        "Seconds a connect or a frame's write may take before the connection is dropped "
                        "(0 = no limit)",
                        0, G_MAXUINT, DEFAULT_TIMEOUT, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_RECONNECT_INTERVAL,
      g_param_spec_uint("max-reconnect-interval", "Max reconnect interval",
                        "Longest wait between connection attempts, in ms (the wait starts at 100 ms and doubles)",
                        100, G_MAXUINT, DEFAULT_MAX_RECONNECT_INTERVAL, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM file of the client certificate (and key, unless tls-key) presented to the server "
                          "(unset = none); setting it turns TLS on",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_TLS_KEY,
      g_param_spec_string("tls-key", "TLS key",
                          "PEM file of the private key of tls-certificate (unset = in the certificate file)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string("tls-ca-file", "TLS CA file",
                          "PEM file of the CA(s) the server's certificate must be signed by; setting it turns TLS on "
                          "(with only tls-certificate set, the system's CA store verifies the server)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_CONNECTED,
      g_param_spec_boolean("connected", "Connected", "Whether a connection to the server is open", FALSE, ro));
  g_object_class_install_property(gobject_class, PROP_FRAMES_SENT,
                                  g_param_spec_uint64("frames-sent", "Frames sent", "Frames written whole", 0,
                                                      G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Buffers not delivered because no connection was open or a write failed", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_CONNECTIONS,
      g_param_spec_uint64("connections", "Connections", "Connections opened so far (1 + reconnects)", 0,
                          G_MAXUINT64, 0, ro));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(element_class, "Length-prefixed TCP frame sink", "Sink/Network",
                                        "Sends each buffer to a TCP server as one length-prefixed frame",
                                        "imagestream developers");

  basesink_class->render = gst_length_prefix_sink_render;
  basesink_class->start = gst_length_prefix_sink_start;
  basesink_class->stop = gst_length_prefix_sink_stop;
  basesink_class->unlock = gst_length_prefix_sink_unlock;
  basesink_class->unlock_stop = gst_length_prefix_sink_unlock_stop;
}
