/**
 * SECTION:element-websocketsink
 * @title: websocketsink
 *
 * A WebSocket fan-out server: every buffer goes to every connected viewer as
 * one binary WebSocket message (for example one JPEG per message). Caps
 * `streamheader` buffers go first to each new viewer, and a viewer connecting
 * mid-stream immediately receives the most recent frame.
 *
 * The same port serves HTTP: `GET` on #websocketsink:path without an upgrade
 * returns the viewer page (`index.html` from #websocketsink:document-root when
 * that is set, else a built-in page), and the other files under
 * #websocketsink:document-root are served under the path, at
 * `<path>/<relative path>`.
 *
 * Several websocketsinks in one process with the same #websocketsink:host and
 * #websocketsink:port share one server, each serving its own
 * #websocketsink:path (as RTSP servers serve mount points). The port's
 * settings (#websocketsink:tls-certificate, #websocketsink:tls-key,
 * #websocketsink:auth-realm and the limits on connections that are not
 * viewers) must then be the same for all of them; every other setting is the
 * stream's own.
 *
 * Every viewer has its own small queue and the newest frame wins: a viewer
 * that falls behind (more waiting than #websocketsink:max-queued-frames,
 * #websocketsink:max-queued-bytes or #websocketsink:max-queued-time) skips
 * frames, which are counted in #websocketsink:frames-dropped, and never slows
 * the stream or the other viewers. In encoded video (buffers flagged
 * %GST_BUFFER_FLAG_DELTA_UNIT) a viewer skips to the next key frame, never
 * past a delta frame. A viewer that accepts no data for
 * #websocketsink:viewer-timeout seconds is closed with code 1008.
 * With #websocketsink:tls-certificate set the server speaks https/wss.
 *
 * The stream is served from the READY state on, so viewers may connect as
 * soon as the state change returns; going back to NULL closes its viewers with
 * code 1001 (going away), and the port closes with the last stream on it.
 *
 * Under #websocketsink:path the same stream serves clients without
 * WebSocket, so the path's secret guards them too:
 * `<path>/snapshot.jpg` (the most recent frame), `<path>/stream.mjpeg`
 * (`multipart/x-mixed-replace` for `<img>`, VLC, ffmpeg and curl; each
 * client is a viewer with the same queue, limits and timeout as a WebSocket
 * viewer), `<path>/stats.json` and `<path>/metrics` (Prometheus text). Each
 * can be switched off: #websocketsink:enable-snapshot,
 * #websocketsink:enable-mjpeg, #websocketsink:enable-stats.
 *
 * With #websocketsink:auth-users set, the page and everything under the path
 * ask for an HTTP Basic login of that file (`user:password` or crypt(3)
 * `user:$hash` lines) and answer 401 before anything else; so does every
 * path of the port that names no stream, so that a stranger cannot tell which
 * paths exist. #websocketsink:auth-realm is the port's.
 *
 * Connections that are not viewers yet are bounded before any secret is
 * checked: #websocketsink:max-pending-connections in all and
 * #websocketsink:max-pending-per-address from one address (past those they
 * are closed at once), #websocketsink:request-timeout for a request to be
 * read and answered, and under TLS #websocketsink:tls-handshake-timeout per
 * step, #websocketsink:max-tls-handshakes and
 * #websocketsink:max-tls-handshakes-per-address (a handshake starts only once
 * the client's whole ClientHello is in). Near the open files limit new
 * viewers get 503 instead of the server running into EMFILE; a failing
 * accept() rests the listener 200 ms; repeated warnings are summed up once a
 * second. The counts are in #websocketsink:stats.
 *
 * Viewers are visible through the #websocketsink::viewer-added and
 * #websocketsink::viewer-removed signals, and per viewer through the
 * #websocketsink::get-stats action signal.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 lengthprefixsrc port=5000 ! websocketsink port=8090 path=/camera
 * ]|
 * Two cameras on one web port:
 * |[
 * gst-launch-1.0 lengthprefixsrc port=5000 ! websocketsink port=8090 path=/front \
 *     lengthprefixsrc port=5001 ! websocketsink port=8090 path=/garage
 * ]|
 */
#include "gstwebsocketsink.h"

#include <gst/video/video.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "glibptr.h"
#include "gstimagestream.h"
#include "server.h"
#include "sinksettings.h"
#include "staticfiles.h"
#include "stream.h"
#include "videoformat.h"
#include "wsframe.h"

using imagestream::Server;
using imagestream::Stream;
using imagestream::StreamFigures;
using imagestream::Totals;
using imagestream::ViewerExit;
using imagestream::WireMessage;
using imagestream::WireMessageRef;

GST_DEBUG_CATEGORY(websocketsink_debug);
#define GST_CAT_DEFAULT websocketsink_debug

enum {
  SIGNAL_VIEWER_ADDED,
  SIGNAL_VIEWER_REMOVED,
  SIGNAL_VIEWER_REFUSED,
  SIGNAL_GET_STATS,
  SIGNAL_DISCONNECT_VIEWER,
  LAST_SIGNAL
};
static guint signals[LAST_SIGNAL];

namespace {

namespace ws = imagestream::ws;

// A buffer as one binary message: mapped for as long as any viewer holds it.
// In a video stream the message starts with the video header
// (videoformat.h), written here right after the WebSocket header.
class BufferMessage : public WireMessage {
 public:
  // `sequence`: the frame's number in a video stream; negative in any other.
  BufferMessage(GstBuffer *buffer, int64_t sequence) : buffer_(gst_buffer_ref(buffer)) {
    mapped_ = gst_buffer_map(buffer_, &map_, GST_MAP_READ);
    const size_t size = mapped_ ? map_.size : 0;
    const size_t video_header = sequence >= 0 ? imagestream::kVideoHeaderSize : 0;
    header = header_;
    header_size = ws::encode_header(header_, ws::kBinary, video_header + size);
    arrival_us = g_get_monotonic_time();
    delta = GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    if (video_header) {
      imagestream::encode_video_header(header_ + header_size, !delta, static_cast<uint32_t>(sequence),
                                       g_get_real_time());
      header_size += video_header;
    }
    payload = mapped_ ? map_.data : nullptr;
    payload_size = size;
  }
  ~BufferMessage() {
    if (mapped_) gst_buffer_unmap(buffer_, &map_);
    gst_buffer_unref(buffer_);
  }
  BufferMessage(const BufferMessage &) = delete;
  BufferMessage &operator=(const BufferMessage &) = delete;

 private:
  GstBuffer *buffer_;
  GstMapInfo map_{};
  bool mapped_ = false;
  uint8_t header_[ws::kMaxServerHeader + imagestream::kVideoHeaderSize];
};

// The stream's events as the element's signals.
class SignalEvents : public imagestream::StreamEvents {
 public:
  explicit SignalEvents(GstWebsocketSink *sink) : sink_(sink) {}
  void viewer_added(const std::string &address) override {
    g_signal_emit(sink_, signals[SIGNAL_VIEWER_ADDED], 0, address.c_str());
  }
  void viewer_removed(const std::string &address, ViewerExit exit) override {
    g_signal_emit(sink_, signals[SIGNAL_VIEWER_REMOVED], 0, address.c_str(), imagestream::exit_name(exit));
  }
  void viewer_refused(const std::string &address, const char *reason) override {
    g_signal_emit(sink_, signals[SIGNAL_VIEWER_REFUSED], 0, address.c_str(), reason);
  }
  // An upstream event may be pushed from any thread.
  void key_frame_wanted() override {
    GST_DEBUG_OBJECT(sink_, "asking upstream for a key frame for a new viewer");
    gst_pad_push_event(GST_BASE_SINK_PAD(sink_),
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  }

 private:
  GstWebsocketSink *sink_;
};

// The element's C++ state, constructed in instance_init.
struct SinkState {
  explicit SinkState(GstWebsocketSink *sink)
      : events(sink), stream(std::make_shared<Stream>(events, GST_OBJECT(sink))) {}
  imagestream::SinkSettings settings;  // guarded by the object lock
  SignalEvents events;
  // For the element's whole life, so that its figures can be read at any
  // time; served from NULL->READY to READY->NULL.
  const std::shared_ptr<Stream> stream;
  // The port's server while the stream is served; state changes only.
  std::shared_ptr<Server> server;
  std::atomic<int> current_port{0};
  // The streaming thread's: whether the caps are encoded video, and the next
  // frame's sequence number in it.
  bool video = false;
  uint32_t sequence = 0;
};

}  // namespace

struct _GstWebsocketSink {
  GstBaseSink parent;
  SinkState state;
};

G_DEFINE_TYPE(GstWebsocketSink, gst_websocket_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE(websocketsink, "websocketsink", GST_RANK_NONE, GST_TYPE_WEBSOCKET_SINK);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static bool open_stream(GstWebsocketSink *self) {
  GST_OBJECT_LOCK(self);
  const imagestream::SinkSettings s = self->state.settings;
  GST_OBJECT_UNLOCK(self);

  std::string document_root;
  if (!s.document_root.empty()) {
    document_root = imagestream::resolve_document_root(s.document_root);
    if (document_root.empty()) {
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                        ("Cannot serve document-root %s: %s", s.document_root.c_str(), g_strerror(errno)), (nullptr));
      return false;
    }
  }
  std::shared_ptr<imagestream::Logins> logins;
  if (!s.auth_users.empty()) {
    std::string error, warning;
    logins = imagestream::Logins::load(s.auth_users, error, warning);
    if (!logins) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("%s", error.c_str()), (nullptr));
      return false;
    }
    if (!warning.empty()) GST_WARNING_OBJECT(self, "%s", warning.c_str());
  }
  std::string error;
  SinkState &st = self->state;
  st.server = Server::acquire({s.host, s.port, s.tls_certificate, s.tls_key, s.limits, s.auth_realm}, error);
  if (!st.server) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE, ("%s", error.c_str()), (nullptr));
    return false;
  }
  st.stream->configure(imagestream::StreamPath(s.path), document_root, std::move(logins));
  st.stream->set_settings(s.stream);
  if (!st.server->mount(st.stream, error)) {
    Server::release(std::move(st.server));
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE, ("%s", error.c_str()), (nullptr));
    return false;
  }
  st.current_port = st.server->port();
  GST_INFO_OBJECT(self, "serving %s on port %d", st.stream->path().path.c_str(), st.current_port.load());
  g_object_notify(G_OBJECT(self), "current-port");
  return true;
}

static void close_stream(GstWebsocketSink *self) {
  SinkState &st = self->state;
  if (!st.server) return;
  st.server->unmount(st.stream);
  Server::release(std::move(st.server));
  st.current_port = 0;
}

static GstStateChangeReturn gst_websocket_sink_change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_WEBSOCKET_SINK(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !open_stream(self)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_websocket_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE))
    close_stream(self);
  return ret;
}

static GstFlowReturn gst_websocket_sink_render(GstBaseSink *bsink, GstBuffer *buffer) {
  SinkState &st = GST_WEBSOCKET_SINK(bsink)->state;
  if (!st.video) {
    st.stream->deliver(std::make_shared<BufferMessage>(buffer, -1));
    return GST_FLOW_OK;
  }
  auto frame = std::make_shared<BufferMessage>(buffer, st.sequence++);
  // A key frame's bytes name an H.264 stream's profile and level.
  st.stream->deliver(frame, frame->payload, frame->delta ? 0 : frame->payload_size);
  return GST_FLOW_OK;
}

// The encoded video `s` describes, or codec None.
static imagestream::VideoFormat video_format_of(const GstStructure *s) {
  imagestream::VideoFormat f;
  const char *stream_format = gst_structure_get_string(s, "stream-format");
  const char *alignment = gst_structure_get_string(s, "alignment");
  const bool byte_stream_au = stream_format && alignment && strcmp(stream_format, "byte-stream") == 0 &&
                              strcmp(alignment, "au") == 0;
  f.codec = imagestream::codec_of_media_type(gst_structure_get_name(s), byte_stream_au);
  gst_structure_get_int(s, "width", &f.width);
  gst_structure_get_int(s, "height", &f.height);
  int n = 0, d = 1;
  if (gst_structure_get_fraction(s, "framerate", &n, &d) && d) f.framerate = static_cast<double>(n) / d;
  return f;
}

static gboolean gst_websocket_sink_set_caps(GstBaseSink *bsink, GstCaps *caps) {
  SinkState &st = GST_WEBSOCKET_SINK(bsink)->state;
  std::vector<WireMessageRef> headers;
  const GstStructure *s = gst_caps_get_size(caps) ? gst_caps_get_structure(caps, 0) : nullptr;
  const imagestream::VideoFormat video = s ? video_format_of(s) : imagestream::VideoFormat{};
  st.video = video.codec != imagestream::VideoCodec::None;
  const char *media_type = s ? gst_structure_get_name(s) : "";
  st.stream->set_content_type(g_str_has_prefix(media_type, "image/") ? media_type : "application/octet-stream");
  st.stream->set_video(video);
  if (st.video) {
    // The decoder configuration replaces stream headers: vp8enc's (an Ogg
    // header) is not a frame any browser can decode.
    GST_INFO_OBJECT(bsink, "%s video, %dx%d", imagestream::codec_name(video.codec), video.width, video.height);
    st.stream->set_headers({});
    return TRUE;
  }
  const GValue *streamheader = s ? gst_structure_get_value(s, "streamheader") : nullptr;
  if (streamheader && GST_VALUE_HOLDS_ARRAY(streamheader)) {
    for (guint i = 0; i < gst_value_array_get_size(streamheader); i++) {
      const GValue *v = gst_value_array_get_value(streamheader, i);
      if (GST_VALUE_HOLDS_BUFFER(v)) headers.push_back(std::make_shared<BufferMessage>(gst_value_get_buffer(v), -1));
    }
  }
  GST_DEBUG_OBJECT(bsink, "%zu stream header buffers", headers.size());
  st.stream->set_headers(std::move(headers));
  return TRUE;
}

// How many cameras the source upstream has: lengthprefixsrc says so with
// an out-of-band event whenever the number changes (SENDERS_EVENT).
static gboolean gst_websocket_sink_event(GstBaseSink *bsink, GstEvent *event) {
  const GstStructure *s = gst_event_get_structure(event);
  guint senders = 0;
  if (GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM_OOB && s &&
      gst_structure_has_name(s, IMAGESTREAM_SENDERS_EVENT) && gst_structure_get_uint(s, "senders", &senders))
    GST_WEBSOCKET_SINK(bsink)->state.stream->set_senders(static_cast<int>(senders));
  return GST_BASE_SINK_CLASS(gst_websocket_sink_parent_class)->event(bsink, event);
}

static gboolean gst_websocket_sink_stop(GstBaseSink *bsink) {
  GST_WEBSOCKET_SINK(bsink)->state.stream->forget_frames();
  return TRUE;
}

static GstStructure *make_stats(GstWebsocketSink *self, bool per_viewer) {
  const StreamFigures f = self->state.stream->figures(per_viewer);
  const Totals t = f.total();
  GstStructure *s = gst_structure_new(
      "websocketsink-stats", "num-viewers", G_TYPE_UINT, f.num_viewers(), "frames-in", G_TYPE_UINT64, f.frames_in,
      "frames-sent", G_TYPE_UINT64, t.frames_sent, "frames-dropped", G_TYPE_UINT64, t.frames_dropped, "bytes-sent",
      G_TYPE_UINT64, t.bytes_sent, "viewers-total", G_TYPE_UINT64, f.viewers_total, "viewers-refused",
      G_TYPE_UINT64, f.viewers_refused, nullptr);
  // The port's, shared by the sinks on it: 0 until it was served.
  const auto port = self->state.stream->port_counters();
  gst_structure_set(s, "connections-refused", G_TYPE_UINT64, port ? port->connections_refused.load() : 0,
                    "connections-timed-out", G_TYPE_UINT64, port ? port->connections_timed_out.load() : 0,
                    "accept-errors", G_TYPE_UINT64, port ? port->accept_errors.load() : 0, nullptr);
  if (!per_viewer) return s;
  GValue array = G_VALUE_INIT;
  g_value_init(&array, GST_TYPE_ARRAY);
  for (const auto &v : f.each) {
    GstStructure *vs = gst_structure_new(
        "viewer", "kind", G_TYPE_STRING, imagestream::kind_name(v.kind), "address", G_TYPE_STRING, v.address.c_str(),
        "connect-time", G_TYPE_UINT64, static_cast<guint64>(v.connect_time_us) * 1000, "frames-sent",
        G_TYPE_UINT64, v.totals.frames_sent, "frames-dropped", G_TYPE_UINT64, v.totals.frames_dropped,
        "bytes-sent", G_TYPE_UINT64, v.totals.bytes_sent, "fps", G_TYPE_DOUBLE, v.fps, "queued", G_TYPE_UINT,
        v.queued, "tls", G_TYPE_BOOLEAN, v.tls, nullptr);
    GValue item = G_VALUE_INIT;
    g_value_init(&item, GST_TYPE_STRUCTURE);
    gst_value_set_structure(&item, vs);
    gst_structure_free(vs);
    gst_value_array_append_and_take_value(&array, &item);
  }
  gst_structure_take_value(s, "viewers", &array);
  return s;
}

static GstStructure *gst_websocket_sink_get_stats(GstWebsocketSink *self) { return make_stats(self, true); }

static gboolean gst_websocket_sink_disconnect_viewer(GstWebsocketSink *self, const char *address) {
  return address && self->state.stream->disconnect(address);
}

static void gst_websocket_sink_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_WEBSOCKET_SINK(object);
  GST_OBJECT_LOCK(self);
  if (!imagestream::set_sink_setting(self->state.settings, id, value)) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  // The server thread reads the stream's copy.
  self->state.stream->set_settings(self->state.settings.stream);
  GST_OBJECT_UNLOCK(self);
}

static void gst_websocket_sink_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_WEBSOCKET_SINK(object);
  SinkState &st = self->state;
  switch (id) {
    case imagestream::PROP_CURRENT_PORT:
      g_value_set_int(value, st.current_port.load());
      return;
    case imagestream::PROP_NUM_VIEWERS:
      g_value_set_uint(value, st.stream->num_viewers());
      return;
    case imagestream::PROP_FRAMES_SENT:
      g_value_set_uint64(value, st.stream->figures(false).total().frames_sent);
      return;
    case imagestream::PROP_FRAMES_DROPPED:
      g_value_set_uint64(value, st.stream->figures(false).total().frames_dropped);
      return;
    case imagestream::PROP_BYTES_SENT:
      g_value_set_uint64(value, st.stream->figures(false).total().bytes_sent);
      return;
    case imagestream::PROP_STATS:
      g_value_take_boxed(value, make_stats(self, false));
      return;
    default:
      break;
  }
  GST_OBJECT_LOCK(self);
  const bool known = imagestream::get_sink_setting(st.settings, id, value);
  GST_OBJECT_UNLOCK(self);
  if (!known) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void gst_websocket_sink_finalize(GObject *object) {
  auto *self = GST_WEBSOCKET_SINK(object);
  close_stream(self);
  imagestream::destroy_member(&self->state);
  G_OBJECT_CLASS(gst_websocket_sink_parent_class)->finalize(object);
}

static void gst_websocket_sink_init(GstWebsocketSink *self) {
  imagestream::construct_member(&self->state, self);
  // A live relay: frames go out as they arrive, and there is nothing to
  // preroll. Not async either: each camera's sink in one pipeline would wait
  // in PAUSED with its first frame until every other camera had sent one.
  gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
  gst_base_sink_set_async_enabled(GST_BASE_SINK(self), FALSE);
}

// The element's figures; the settings are sinksettings.cpp's table.
static void install_figures(GObjectClass *gobject_class) {
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  auto add = [gobject_class](guint id, GParamSpec *spec) { g_object_class_install_property(gobject_class, id, spec); };
  add(imagestream::PROP_CURRENT_PORT,
      g_param_spec_int("current-port", "Current port",
                       "The port actually listened on (notified once listening; 0 when not listening)", 0, 65535, 0,
                       ro));
  add(imagestream::PROP_NUM_VIEWERS, g_param_spec_uint("num-viewers", "Viewers", "Viewers connected now", 0, G_MAXUINT, 0, ro));
  add(imagestream::PROP_FRAMES_SENT, g_param_spec_uint64("frames-sent", "Frames sent",
                                            "Messages written to viewers, summed over viewers", 0, G_MAXUINT64, 0, ro));
  add(imagestream::PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames skipped for viewers that fell behind, summed over viewers", 0, G_MAXUINT64, 0, ro));
  add(imagestream::PROP_BYTES_SENT, g_param_spec_uint64("bytes-sent", "Bytes sent",
                                           "Bytes written to viewers (WebSocket headers included)", 0, G_MAXUINT64, 0,
                                           ro));
  add(imagestream::PROP_STATS, g_param_spec_boxed("stats", "Statistics",
                                     "num-viewers, frames-in, frames-sent, frames-dropped, bytes-sent, viewers-total, "
                                     "viewers-refused, and the port's (shared by the sinks on it) "
                                     "connections-refused (closed at once over max-pending-connections, "
                                     "max-pending-per-address or the file descriptor reserve), "
                                     "connections-timed-out (cut off at request-timeout or tls-handshake-timeout) "
                                     "and accept-errors",
                                     GST_TYPE_STRUCTURE, ro));
}

static void gst_websocket_sink_class_init(GstWebsocketSinkClass *klass) {
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *basesink_class = GST_BASE_SINK_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(websocketsink_debug, "websocketsink", 0, "WebSocket fan-out sink");

  gobject_class->set_property = gst_websocket_sink_set_property;
  gobject_class->get_property = gst_websocket_sink_get_property;
  gobject_class->finalize = gst_websocket_sink_finalize;
  imagestream::install_sink_settings(gobject_class);
  install_figures(gobject_class);

  /**
   * GstWebsocketSink::viewer-added:
   * @address: "host:port" of the viewer
   *
   * A viewer completed the WebSocket handshake, or an MJPEG client got its
   * response head. Emitted from the server thread.
   */
  signals[SIGNAL_VIEWER_ADDED] = g_signal_new("viewer-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                              nullptr, nullptr, nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GstWebsocketSink::viewer-removed:
   * @address: "host:port" of the viewer
   * @reason: closed (by the viewer), timeout (accepted no data for viewer-timeout),
   *   error, protocol-error, message-too-big, invalid-utf8 (a text message or
   *   close reason that is not UTF-8: closed with 1007), stopped (the stream
   *   stopped), or removed (by #websocketsink::disconnect-viewer)
   *
   * A viewer that #websocketsink::viewer-added announced is gone. Emitted
   * from the server thread.
   */
  signals[SIGNAL_VIEWER_REMOVED] =
      g_signal_new("viewer-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * GstWebsocketSink::viewer-refused:
   * @address: "host:port" of the client
   * @reason: why: "origin not allowed", "max-viewers reached", "too many open
   *   files" (fewer descriptors left than the reserve) or "stopping"
   *
   * A WebSocket upgrade or MJPEG request was refused; it never became a
   * viewer. Emitted from the server thread.
   */
  signals[SIGNAL_VIEWER_REFUSED] =
      g_signal_new("viewer-refused", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * GstWebsocketSink::get-stats:
   *
   * Takes no argument (unlike multisocketsink's get-stats, which takes a
   * handle) and returns a new #GstStructure "websocketsink-stats": the totals
   * of #websocketsink:stats plus `viewers`, a #GstValueArray with one
   * structure "viewer" per connected viewer: kind ("websocket" or "mjpeg"),
   * address, connect-time (guint64, real time in ns), frames-sent,
   * frames-dropped, bytes-sent (guint64), fps (gdouble, frames sent per
   * second over the last second), queued (guint, messages held), tls.
   */
  signals[SIGNAL_GET_STATS] = g_signal_new_class_handler(
      "get-stats", G_TYPE_FROM_CLASS(klass), static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_websocket_sink_get_stats), nullptr, nullptr, nullptr, GST_TYPE_STRUCTURE, 0);
  /**
   * GstWebsocketSink::disconnect-viewer:
   * @address: "host:port" of the viewer, as viewer-added and get-stats give it
   *
   * Closes that viewer (WebSocket code 1000; an MJPEG stream ends with its
   * closing delimiter); viewer-removed follows with reason "removed".
   * Returns FALSE when no such viewer is connected.
   */
  signals[SIGNAL_DISCONNECT_VIEWER] = g_signal_new_class_handler(
      "disconnect-viewer", G_TYPE_FROM_CLASS(klass), static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_websocket_sink_disconnect_viewer), nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 1, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(element_class, "WebSocket fan-out sink", "Sink/Network",
                                        "Sends every buffer to every connected WebSocket viewer as one binary "
                                        "message, and serves the viewer page over HTTP",
                                        "imagestream developers");

  element_class->change_state = gst_websocket_sink_change_state;
  basesink_class->render = gst_websocket_sink_render;
  basesink_class->set_caps = gst_websocket_sink_set_caps;
  basesink_class->stop = gst_websocket_sink_stop;
  basesink_class->event = gst_websocket_sink_event;
}
