/**
 * SECTION:element-natssink
 * @title: natssink
 *
 * Publishes every buffer as one message on a NATS subject, so that any
 * number of #natssrc elements on other machines (edges) receive the stream
 * through a NATS cluster. The caps and the buffer's delta-unit and header
 * flags travel in message headers (`Imagestream-Caps`, `Imagestream-Flags`,
 * plus `Imagestream-Origin`, `Imagestream-Sequence` and `Imagestream-Time`
 * to order and count frames), and the sink answers requests on `<subject>.latest` with its
 * newest frame, so that an edge started while the camera is still gets a
 * picture at once.
 *
 * The backbone never holds up or fails the pipeline: the sink connects in
 * the background and reconnects to the next server in #natssink:servers
 * when one dies or stops answering PINGs (#natssink:ping-interval,
 * #natssink:max-pings-out); meanwhile each frame is dropped and counted in
 * #natssink:frames-dropped, never queued. A frame larger than the server's
 * `max_payload` is dropped and counted too, with a warning naming the limit
 * (at most one every 10 s). Credentials or TLS settings that the server
 * refuses are an error (RESOURCE/NOT_AUTHORIZED for credentials), since no
 * retry can fix them.
 *
 * Connection changes are element messages on the bus: `natssink-connected`,
 * `natssink-disconnected` and `natssink-reconnected`, each with a `server`
 * field (the URL).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 lengthprefixsrc port=5000 ! natssink servers=nats://10.0.0.1:4222,nats://10.0.0.2:4222 subject=cameras.door
 * ]|
 */
#include "gstnatssink.h"

#include <atomic>
#include <cinttypes>
#include <mutex>
#include <string>

#include "gstimagestream.h"
#include "natsconnection.h"
#include "natsframe.h"

using imagestream::NatsConnection;
using imagestream::NatsSettings;
namespace natsframe = imagestream::natsframe;

GST_DEBUG_CATEGORY_STATIC(natssink_debug);
#define GST_CAT_DEFAULT natssink_debug

#define DEFAULT_SUBJECT "imagestream.camera"
// At most one max_payload warning per this long, not one per frame.
constexpr gint64 kOversizeWarningInterval = 10 * G_USEC_PER_SEC;

enum {
  PROP_0,
  PROP_SUBJECT,
  PROP_FRAMES_SENT,
  PROP_BYTES_SENT,
  PROP_FRAMES_DROPPED,
  PROP_STATS,
  PROP_NATS_FIRST,  // then the NATS_N_PROPERTIES shared connection properties
};

namespace {

struct Settings {
  NatsSettings nats;
  std::string subject = DEFAULT_SUBJECT;
};

// What travels with a frame besides its bytes.
struct FrameHeaders {
  std::string caps;
  std::string flags;
  uint64_t sequence = 0;
  gint64 time = 0;  // µs since the epoch
};

// The newest frame published, for requests on <subject>.latest.
struct Newest {
  GstBuffer *buffer = nullptr;  // a ref, or null before the first frame
  FrameHeaders headers;
};

struct State {
  explicit State(GstElement *owner) : connection(owner, "natssink") {}

  Settings settings;  // guarded by the object lock
  // Opened by start(), closed by stop(); its own lock guards it.
  NatsConnection connection;

  // Set by start() before the connection opens, then read-only until stop().
  std::string subject;
  std::string origin;
  // Used by the streaming thread only.
  std::string caps;       // of the buffers now, from set_caps
  uint64_t sequence = 0;  // frames published in this run
  gint64 last_oversize_warning = 0;

  std::mutex newest_lock;  // guards `newest`; never held while publishing
  Newest newest;

  std::atomic<guint64> frames_sent{0}, bytes_sent{0}, frames_dropped{0}, frames_oversized{0}, requests_answered{0};

  void forget_newest() {
    GstBuffer *old;
    {
      std::lock_guard<std::mutex> lock(newest_lock);
      old = newest.buffer;
      newest = Newest();
    }
    if (old) gst_buffer_unref(old);
  }
};

}  // namespace

struct _GstNatsSink {
  GstBaseSink parent;
  State state;  // constructed in init, destroyed in finalize
};

G_DEFINE_TYPE(GstNatsSink, gst_nats_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE(natssink, "natssink", GST_RANK_NONE, GST_TYPE_NATS_SINK);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

// One frame as a message on `subject`. natsMsg_Create copies the payload
// once (a natsMsg owns its data; it is the only way to send headers), and
// libnats writes most of that copy straight to the socket.
static natsStatus publish(natsConnection *nc, const char *subject, const std::string &origin, const GstMapInfo &map,
                          const FrameHeaders &h) {
  natsMsg *msg = nullptr;
  natsStatus s =
      natsMsg_Create(&msg, subject, nullptr, reinterpret_cast<const char *>(map.data), static_cast<int>(map.size));
  if (s == NATS_OK && !h.caps.empty()) s = natsMsgHeader_Set(msg, natsframe::kCapsHeader, h.caps.c_str());
  if (s == NATS_OK && !h.flags.empty()) s = natsMsgHeader_Set(msg, natsframe::kFlagsHeader, h.flags.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, natsframe::kOriginHeader, origin.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, natsframe::kSequenceHeader, std::to_string(h.sequence).c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, natsframe::kTimeHeader, std::to_string(h.time).c_str());
  if (s == NATS_OK) s = natsConnection_PublishMsg(nc, msg);
  natsMsg_Destroy(msg);
  return s;
}

static void drop_oversized(GstNatsSink *self, gsize size, int64_t max_payload) {
  State &st = self->state;
  st.frames_dropped++;
  guint64 oversized = ++st.frames_oversized;
  gint64 now = g_get_monotonic_time();
  if (st.last_oversize_warning && now - st.last_oversize_warning < kOversizeWarningInterval) return;
  st.last_oversize_warning = now;
  GST_ELEMENT_WARNING(self, RESOURCE, WRITE,
                      ("Dropped a frame of %" G_GSIZE_FORMAT " bytes: with its headers it exceeds the NATS server's "
                       "max_payload of %" PRId64 " bytes (%" G_GUINT64_FORMAT
                       " frames dropped for this so far; raise max_payload in the server's configuration)",
                       size, max_payload, oversized),
                      (nullptr));
}

static GstFlowReturn gst_nats_sink_render(GstBaseSink *bsink, GstBuffer *buffer) {
  auto *self = GST_NATS_SINK(bsink);
  State &st = self->state;
  natsConnection *nc = st.connection.connection();
  // Checked first so that no payload is copied for a publish that would fail.
  if (!nc || natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
    st.frames_dropped++;
    return GST_FLOW_OK;
  }
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Cannot read the buffer's memory"), (nullptr));
    return GST_FLOW_ERROR;
  }
  FrameHeaders headers{st.caps, natsframe::flags_header(static_cast<GstBufferFlags>(GST_BUFFER_FLAGS(buffer))),
                       st.sequence + 1, g_get_real_time()};
  const int64_t max_payload = natsConnection_GetMaxPayload(nc);
  const gsize size = map.size;
  natsStatus s = static_cast<int64_t>(size) > max_payload ? NATS_MAX_PAYLOAD
                                                          : publish(nc, st.subject.c_str(), st.origin, map, headers);
  gst_buffer_unmap(buffer, &map);

  if (s == NATS_MAX_PAYLOAD) {
    drop_oversized(self, size, max_payload);
  } else if (s != NATS_OK) {
    // Disconnected after the check, or a write gave up on a hung server.
    GST_DEBUG_OBJECT(self, "publish failed: %s", natsStatus_GetText(s));
    st.frames_dropped++;
  } else {
    st.sequence++;
    st.bytes_sent += size;
    st.frames_sent++;  // last: a reader that sees the frame sent sees its bytes too
    GstBuffer *old;
    {
      std::lock_guard<std::mutex> lock(st.newest_lock);
      old = st.newest.buffer;
      st.newest.buffer = gst_buffer_ref(buffer);
      st.newest.headers = std::move(headers);
    }
    if (old) gst_buffer_unref(old);
  }
  return GST_FLOW_OK;
}

// On a libnats delivery thread: a request on <subject>.latest.
static void answer_latest(GstNatsSink *self, natsConnection *nc, natsMsg *request) {
  State &st = self->state;
  const char *reply = natsMsg_GetReply(request);
  Newest newest;
  if (reply) {
    std::lock_guard<std::mutex> lock(st.newest_lock);
    newest = st.newest;
    if (newest.buffer) gst_buffer_ref(newest.buffer);
  }
  if (newest.buffer) {
    GstMapInfo map;
    if (gst_buffer_map(newest.buffer, &map, GST_MAP_READ)) {
      natsStatus s = publish(nc, reply, st.origin, map, newest.headers);
      gst_buffer_unmap(newest.buffer, &map);
      if (s == NATS_OK)
        st.requests_answered++;
      else
        GST_DEBUG_OBJECT(self, "answering %s failed: %s", reply, natsStatus_GetText(s));
    }
    gst_buffer_unref(newest.buffer);
  }
  natsMsg_Destroy(request);
}

static bool valid_publish_subject(const std::string &subject) {
  if (subject.empty() || subject.front() == '.' || subject.back() == '.') return false;
  for (char c : subject)
    if (c == '*' || c == '>' || g_ascii_isspace(c)) return false;
  return subject.find("..") == std::string::npos;
}

static gboolean gst_nats_sink_start(GstBaseSink *bsink) {
  auto *self = GST_NATS_SINK(bsink);
  State &st = self->state;
  GST_OBJECT_LOCK(self);
  Settings settings = st.settings;
  GST_OBJECT_UNLOCK(self);
  if (!valid_publish_subject(settings.subject)) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Invalid subject \"%s\": natssink needs a NATS subject without wildcards or spaces, "
                       "e.g. cameras.door",
                       settings.subject.c_str()),
                      (nullptr));
    return FALSE;
  }
  st.subject = settings.subject;
  g_autofree gchar *origin = g_strdup_printf("%08x%08x", g_random_int(), g_random_int());
  st.origin = origin;
  st.sequence = 0;
  st.last_oversize_warning = 0;
  std::vector<NatsConnection::Subscribe> subscriptions;
  subscriptions.push_back({st.subject + natsframe::kLatestSuffix,
                           [self](natsConnection *nc, natsMsg *msg) { answer_latest(self, nc, msg); }});
  std::string error;
  if (!st.connection.open(settings.nats, std::move(subscriptions), nullptr, &error)) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.c_str()), (nullptr));
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_nats_sink_stop(GstBaseSink *bsink) {
  auto *self = GST_NATS_SINK(bsink);
  self->state.connection.close();
  self->state.forget_newest();
  return TRUE;
}

static gboolean gst_nats_sink_set_caps(GstBaseSink *bsink, GstCaps *caps) {
  g_autofree gchar *text = gst_caps_to_string(caps);
  GST_NATS_SINK(bsink)->state.caps = text;
  return TRUE;
}

static GstStructure *make_stats(GstNatsSink *self) {
  State &st = self->state;
  std::string server = st.connection.current_server();
  return gst_structure_new("natssink-stats", "frames-sent", G_TYPE_UINT64, st.frames_sent.load(), "bytes-sent",
                           G_TYPE_UINT64, st.bytes_sent.load(), "frames-dropped", G_TYPE_UINT64,
                           st.frames_dropped.load(), "frames-oversized", G_TYPE_UINT64, st.frames_oversized.load(),
                           "requests-answered", G_TYPE_UINT64, st.requests_answered.load(), "reconnects", G_TYPE_UINT64,
                           st.connection.reconnects(), "connected", G_TYPE_BOOLEAN, st.connection.connected(),
                           "current-server", G_TYPE_STRING, server.c_str(), nullptr);
}

static void gst_nats_sink_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_NATS_SINK(object);
  Settings &s = self->state.settings;
  GST_OBJECT_LOCK(self);
  if (id == PROP_SUBJECT)
    s.subject = g_value_get_string(value) ? g_value_get_string(value) : "";
  else if (!imagestream::set_nats_property(s.nats, id, value, PROP_NATS_FIRST))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  GST_OBJECT_UNLOCK(self);
}

static void gst_nats_sink_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_NATS_SINK(object);
  State &st = self->state;
  switch (id) {
    case PROP_FRAMES_SENT:
      g_value_set_uint64(value, st.frames_sent.load());
      return;
    case PROP_BYTES_SENT:
      g_value_set_uint64(value, st.bytes_sent.load());
      return;
    case PROP_FRAMES_DROPPED:
      g_value_set_uint64(value, st.frames_dropped.load());
      return;
    case PROP_STATS:
      g_value_take_boxed(value, make_stats(self));
      return;
  }
  GST_OBJECT_LOCK(self);
  if (id == PROP_SUBJECT)
    g_value_set_string(value, st.settings.subject.c_str());
  else if (!imagestream::get_nats_property(st.settings.nats, st.connection, id, value, PROP_NATS_FIRST))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  GST_OBJECT_UNLOCK(self);
}

static void gst_nats_sink_finalize(GObject *object) {
  auto *self = GST_NATS_SINK(object);
  self->state.~State();
  G_OBJECT_CLASS(gst_nats_sink_parent_class)->finalize(object);
}

static void gst_nats_sink_init(GstNatsSink *self) {
  new (&self->state) State(GST_ELEMENT(self));
  // A relay: each frame goes out as soon as it arrives.
  gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
}

static void gst_nats_sink_class_init(GstNatsSinkClass *klass) {
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *basesink_class = GST_BASE_SINK_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(natssink_debug, "natssink", 0, "NATS frame sink");

  gobject_class->set_property = gst_nats_sink_set_property;
  gobject_class->get_property = gst_nats_sink_get_property;
  gobject_class->finalize = gst_nats_sink_finalize;

  const auto rw_ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                 static_cast<GParamFlags>(GST_PARAM_MUTABLE_READY));
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_property(
      gobject_class, PROP_SUBJECT,
      g_param_spec_string("subject", "Subject",
                          "NATS subject to publish the frames on (no wildcards); requests for the newest frame are "
                          "answered on <subject>.latest",
                          DEFAULT_SUBJECT, rw_ready));
  imagestream::install_nats_properties(gobject_class, PROP_NATS_FIRST);
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_SENT,
      g_param_spec_uint64("frames-sent", "Frames sent", "Frames handed to the NATS connection", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_BYTES_SENT,
      g_param_spec_uint64("bytes-sent", "Bytes sent", "Payload bytes of the frames sent (headers not counted)", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames not sent: no server connected, larger than the server's max_payload, or a write "
                          "that gave up",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "frames-sent, bytes-sent, frames-dropped, frames-oversized (of those dropped), "
                         "requests-answered (for the newest frame), reconnects, connected, current-server",
                         GST_TYPE_STRUCTURE, ro));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(element_class, "NATS frame sink", "Sink/Network",
                                        "Publishes each buffer as one NATS message, with its caps and flags in "
                                        "headers, and answers requests for the newest one",
                                        "imagestream developers");

  basesink_class->render = gst_nats_sink_render;
  basesink_class->start = gst_nats_sink_start;
  basesink_class->stop = gst_nats_sink_stop;
  basesink_class->set_caps = gst_nats_sink_set_caps;
}
