/**
 * SECTION:element-natssrc
 * @title: natssrc
 *
 * The edge side of #natssink: a live source that subscribes to a NATS
 * subject and turns each message into one buffer, without copying it (the
 * buffer wraps the message). The buffer is timestamped with the running time
 * of its arrival; the caps and the delta-unit and header flags come from the
 * message's `Imagestream-Caps` and `Imagestream-Flags` headers (#natssrc:caps
 * for messages without them), and a change of caps mid-stream sets the new
 * caps before that buffer.
 *
 * When it connects (and after every reconnect) the source asks the sink for
 * its newest frame, so that an edge started while the camera is still shows
 * a picture at once, and a frame missed during a failover is fetched again.
 * `Imagestream-Origin`, `Imagestream-Sequence` and `Imagestream-Time` keep
 * the output in publishing order without duplicates, and no answer older
 * than the picture shown (from a backup sink) gets through; gaps count in
 * #natssrc:frames-lost.
 *
 * At most #natssrc:max-queued-frames wait for downstream; when one more
 * arrives the oldest is dropped (counted in #natssrc:frames-dropped), so a
 * slow consumer always gets the newest frames. The connection behaves as
 * natssink's: background connects, failover to the next server in
 * #natssrc:servers, and element messages `natssrc-connected`,
 * `natssrc-disconnected` and `natssrc-reconnected` with a `server` field.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 natssrc servers=nats://10.0.0.2:4222,nats://10.0.0.3:4222 subject=cameras.door ! jpegdec ! autovideosink
 * ]|
 */
#include "gstnatssrc.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#include "gstimagestream.h"
#include "natsconnection.h"
#include "natsframe.h"

using imagestream::NatsConnection;
using imagestream::NatsSettings;
namespace natsframe = imagestream::natsframe;

GST_DEBUG_CATEGORY_STATIC(natssrc_debug);
#define GST_CAT_DEFAULT natssrc_debug

#define DEFAULT_SUBJECT "imagestream.camera"
#define DEFAULT_CAPS "image/jpeg"
#define DEFAULT_MAX_QUEUED_FRAMES 2

enum {
  PROP_0,
  PROP_SUBJECT,
  PROP_CAPS,
  PROP_MAX_QUEUED_FRAMES,
  PROP_FRAMES_RECEIVED,
  PROP_BYTES_RECEIVED,
  PROP_FRAMES_DROPPED,
  PROP_FRAMES_LOST,
  PROP_STATS,
  PROP_NATS_FIRST,  // then the NATS_N_PROPERTIES shared connection properties
};

namespace {

struct Settings {
  NatsSettings nats;
  std::string subject = DEFAULT_SUBJECT;
  GstCaps *caps = nullptr;  // owned; for messages without Imagestream-Caps
};

struct Frame {
  GstBuffer *buffer = nullptr;  // wraps the natsMsg
  std::string caps;             // Imagestream-Caps, or empty
};

// Frames on their way from the libnats delivery threads to create().
struct Queue {
  std::mutex lock;  // guards everything below; never held while pushing or posting
  std::condition_variable ready;
  std::deque<Frame> frames;
  bool flushing = false;  // unlock() until unlock_stop(): create() returns at once
  bool discont = true;    // the next frame out follows a gap (start, drops, losses)
  natsframe::FrameSequence sequence;

  void clear() {
    std::deque<Frame> old;
    {
      std::lock_guard<std::mutex> l(lock);
      old.swap(frames);
      discont = true;
      sequence.reset();
    }
    for (Frame &f : old) gst_buffer_unref(f.buffer);
  }
};

struct State {
  explicit State(GstElement *owner) : connection(owner, "natssrc") {}

  Settings settings;            // guarded by the object lock
  GstCaps *pad_caps = nullptr;  // guarded by the object lock: set on the pad by create(), null before
  // Opened by start(), closed by stop(); its own lock guards it.
  NatsConnection connection;
  Queue queue;
  std::atomic<guint> max_queued{DEFAULT_MAX_QUEUED_FRAMES};

  // Set by start() before the connection opens, then read-only until stop().
  std::string subject;
  std::string inbox;         // where answers to "newest frame?" arrive
  std::string default_caps;  // settings.caps as text
  // Used by the streaming thread only.
  std::string pad_caps_text;  // "" before the first frame
  bool warned_bad_caps = false;

  std::atomic<guint64> frames_received{0}, bytes_received{0}, frames_dropped{0}, frames_lost{0};
};

}  // namespace

struct _GstNatsSrc {
  GstPushSrc parent;
  State state;  // constructed in init, destroyed in finalize
};

G_DEFINE_TYPE(GstNatsSrc, gst_nats_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE(natssrc, "natssrc", GST_RANK_NONE, GST_TYPE_NATS_SRC);

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void destroy_message(gpointer msg) { natsMsg_Destroy(static_cast<natsMsg *>(msg)); }

static const char *header(natsMsg *msg, const char *key) {
  const char *value = nullptr;
  return natsMsgHeader_Get(msg, key, &value) == NATS_OK ? value : nullptr;
}

// On a libnats delivery thread: a frame, live or the `answer` to a request.
static void receive(GstNatsSrc *self, natsMsg *msg, bool answer) {
  State &st = self->state;
  // Requests for the newest frame (a wildcard subject sees them) and "no
  // responders" notices are not frames.
  if (natsMsg_GetReply(msg) || natsMsg_GetDataLength(msg) == 0) {
    natsMsg_Destroy(msg);
    return;
  }
  const char *caps = header(msg, natsframe::kCapsHeader);
  const char *origin = header(msg, natsframe::kOriginHeader);
  std::string caps_text = caps ? caps : "";
  natsframe::FrameSequence::Arrival arrival{origin ? origin : "",
                                            natsframe::number_from_header(header(msg, natsframe::kSequenceHeader)),
                                            natsframe::number_from_header(header(msg, natsframe::kTimeHeader)), answer};
  GstBufferFlags flags = natsframe::flags_from_header(header(msg, natsframe::kFlagsHeader));
  const gsize size = natsMsg_GetDataLength(msg);
  GstBuffer *buffer = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, const_cast<char *>(natsMsg_GetData(msg)),
                                                  size, 0, size, msg, destroy_message);
  GST_BUFFER_PTS(buffer) = imagestream_running_time(GST_ELEMENT(self));
  GST_BUFFER_FLAG_SET(buffer, flags);

  GstBuffer *unwanted = nullptr;
  Queue &q = st.queue;
  {
    std::lock_guard<std::mutex> lock(q.lock);
    natsframe::FrameSequence::Verdict verdict = q.sequence.judge(arrival);
    GST_LOG_OBJECT(self, "%s frame %s/%" G_GUINT64_FORMAT ": %s, %" G_GUINT64_FORMAT " skipped",
                   answer ? "newest" : "live", arrival.origin.c_str(), arrival.sequence,
                   verdict.deliver ? "new" : "seen or older", verdict.skipped);
    if (!verdict.deliver) {
      unwanted = buffer;  // had it already, or a newer one
    } else {
      if (verdict.skipped) {
        st.frames_lost += verdict.skipped;
        q.discont = true;
      }
      if (q.frames.size() >= st.max_queued.load()) {
        unwanted = q.frames.front().buffer;
        q.frames.pop_front();
        st.frames_dropped++;
        q.discont = true;
      }
      // After frames-dropped: a reader that sees this frame received sees its drop too.
      st.bytes_received += size;
      st.frames_received++;
      q.frames.push_back({buffer, std::move(caps_text)});
      q.ready.notify_one();
    }
  }
  if (unwanted) gst_buffer_unref(unwanted);
}

static bool has_wildcard(const std::string &subject) { return subject.find_first_of("*>") != std::string::npos; }

// After every connect and reconnect: ask the sink for its newest frame.
static void ask_for_newest(GstNatsSrc *self, natsConnection *nc) {
  State &st = self->state;
  if (has_wildcard(st.subject)) return;  // no single sink to ask
  std::string subject = st.subject + natsframe::kLatestSuffix;
  natsStatus s = natsConnection_PublishRequest(nc, subject.c_str(), st.inbox.c_str(), nullptr, 0);
  if (s != NATS_OK) GST_DEBUG_OBJECT(self, "asking %s failed: %s", subject.c_str(), natsStatus_GetText(s));
}

enum class CapsResult { Set, Unreadable, Refused };

// Sets the caps a frame names before it goes out.
static CapsResult apply_caps(GstNatsSrc *self, const std::string &caps_text) {
  State &st = self->state;
  if (caps_text == st.pad_caps_text) return CapsResult::Set;
  GstCaps *caps = gst_caps_from_string(caps_text.c_str());
  if (!caps) {
    if (!st.warned_bad_caps)
      GST_ELEMENT_WARNING(
          self, STREAM, FORMAT,
          ("Frames with unreadable caps \"%s\" in %s; dropping them", caps_text.c_str(), natsframe::kCapsHeader),
          (nullptr));
    st.warned_bad_caps = true;
    return CapsResult::Unreadable;
  }
  GST_INFO_OBJECT(self, "caps now %s", caps_text.c_str());
  GST_OBJECT_LOCK(self);
  gst_caps_replace(&st.pad_caps, caps);
  GST_OBJECT_UNLOCK(self);
  bool ok = gst_base_src_set_caps(GST_BASE_SRC(self), caps);
  gst_caps_unref(caps);
  if (!ok) return CapsResult::Refused;
  st.pad_caps_text = caps_text;
  return CapsResult::Set;
}

static GstFlowReturn gst_nats_src_create(GstPushSrc *psrc, GstBuffer **out) {
  auto *self = GST_NATS_SRC(psrc);
  State &st = self->state;
  Queue &q = st.queue;
  for (;;) {
    Frame frame;
    bool discont;
    {
      std::unique_lock<std::mutex> lock(q.lock);
      q.ready.wait(lock, [&q] { return q.flushing || !q.frames.empty(); });
      if (q.flushing) return GST_FLOW_FLUSHING;
      frame = std::move(q.frames.front());
      q.frames.pop_front();
      discont = q.discont;
      q.discont = false;
    }
    const std::string &caps = frame.caps.empty() ? st.default_caps : frame.caps;
    CapsResult r = apply_caps(self, caps);
    if (r != CapsResult::Set) {
      gst_buffer_unref(frame.buffer);
      if (r == CapsResult::Unreadable) {
        st.frames_dropped++;
        continue;
      }
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Downstream refused the caps %s", caps.c_str()), (nullptr));
      return GST_FLOW_NOT_NEGOTIATED;
    }
    if (discont) GST_BUFFER_FLAG_SET(frame.buffer, GST_BUFFER_FLAG_DISCONT);
    // Arrived before the pipeline had a clock (in PAUSED).
    if (!GST_BUFFER_PTS_IS_VALID(frame.buffer)) GST_BUFFER_PTS(frame.buffer) = imagestream_running_time(GST_ELEMENT(self));
    *out = frame.buffer;
    return GST_FLOW_OK;
  }
}

static bool valid_subscribe_subject(const std::string &subject) {
  if (subject.empty() || subject.front() == '.' || subject.back() == '.') return false;
  for (char c : subject)
    if (g_ascii_isspace(c)) return false;
  return subject.find("..") == std::string::npos;
}

static gboolean gst_nats_src_start(GstBaseSrc *bsrc) {
  auto *self = GST_NATS_SRC(bsrc);
  State &st = self->state;
  GST_OBJECT_LOCK(self);
  NatsSettings nats = st.settings.nats;
  std::string subject = st.settings.subject;
  g_autofree gchar *caps = gst_caps_to_string(st.settings.caps);
  gst_caps_replace(&st.pad_caps, nullptr);
  GST_OBJECT_UNLOCK(self);
  if (!valid_subscribe_subject(subject)) {
    GST_ELEMENT_ERROR(
        self, RESOURCE, SETTINGS,
        ("Invalid subject \"%s\": natssrc needs a NATS subject without spaces, e.g. cameras.door", subject.c_str()),
        (nullptr));
    return FALSE;
  }
  st.subject = subject;
  st.default_caps = caps;
  st.pad_caps_text.clear();
  st.warned_bad_caps = false;
  natsInbox *inbox = nullptr;
  natsInbox_Create(&inbox);
  st.inbox = inbox ? inbox : "";
  natsInbox_Destroy(inbox);

  std::vector<NatsConnection::Subscribe> subscriptions{
      {st.subject, [self](natsConnection *, natsMsg *msg) { receive(self, msg, false); }},
      {st.inbox, [self](natsConnection *, natsMsg *msg) { receive(self, msg, true); }}};
  std::string error;
  if (!st.connection.open(
          nats, std::move(subscriptions), [self](natsConnection *nc) { ask_for_newest(self, nc); }, &error)) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.c_str()), (nullptr));
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_nats_src_stop(GstBaseSrc *bsrc) {
  auto *self = GST_NATS_SRC(bsrc);
  self->state.connection.close();
  self->state.queue.clear();
  return TRUE;
}

static gboolean gst_nats_src_unlock(GstBaseSrc *bsrc) {
  Queue &q = GST_NATS_SRC(bsrc)->state.queue;
  std::lock_guard<std::mutex> lock(q.lock);
  q.flushing = true;
  q.ready.notify_all();
  return TRUE;
}

static gboolean gst_nats_src_unlock_stop(GstBaseSrc *bsrc) {
  Queue &q = GST_NATS_SRC(bsrc)->state.queue;
  std::lock_guard<std::mutex> lock(q.lock);
  q.flushing = false;
  return TRUE;
}

static GstCaps *gst_nats_src_get_caps(GstBaseSrc *bsrc, GstCaps *filter) {
  auto *self = GST_NATS_SRC(bsrc);
  GST_OBJECT_LOCK(self);
  GstCaps *caps = gst_caps_ref(self->state.pad_caps ? self->state.pad_caps : self->state.settings.caps);
  GST_OBJECT_UNLOCK(self);
  if (filter) {
    GstCaps *i = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = i;
  }
  return caps;
}

static GstStructure *make_stats(GstNatsSrc *self) {
  State &st = self->state;
  std::string server = st.connection.current_server();
  return gst_structure_new("natssrc-stats", "frames-received", G_TYPE_UINT64, st.frames_received.load(),
                           "bytes-received", G_TYPE_UINT64, st.bytes_received.load(), "frames-dropped", G_TYPE_UINT64,
                           st.frames_dropped.load(), "frames-lost", G_TYPE_UINT64, st.frames_lost.load(), "reconnects",
                           G_TYPE_UINT64, st.connection.reconnects(), "connected", G_TYPE_BOOLEAN,
                           st.connection.connected(), "current-server", G_TYPE_STRING, server.c_str(), nullptr);
}

static void gst_nats_src_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_NATS_SRC(object);
  Settings &s = self->state.settings;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_SUBJECT:
      s.subject = g_value_get_string(value) ? g_value_get_string(value) : "";
      break;
    case PROP_CAPS: {
      const GstCaps *caps = gst_value_get_caps(value);
      gst_caps_replace(&s.caps, caps ? const_cast<GstCaps *>(caps) : nullptr);
      if (!s.caps) s.caps = gst_caps_from_string(DEFAULT_CAPS);
      break;
    }
    case PROP_MAX_QUEUED_FRAMES:
      self->state.max_queued = g_value_get_uint(value);
      break;
    default:
      if (!imagestream::set_nats_property(s.nats, id, value, PROP_NATS_FIRST))
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_nats_src_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_NATS_SRC(object);
  State &st = self->state;
  switch (id) {
    case PROP_MAX_QUEUED_FRAMES:
      g_value_set_uint(value, st.max_queued.load());
      return;
    case PROP_FRAMES_RECEIVED:
      g_value_set_uint64(value, st.frames_received.load());
      return;
    case PROP_BYTES_RECEIVED:
      g_value_set_uint64(value, st.bytes_received.load());
      return;
    case PROP_FRAMES_DROPPED:
      g_value_set_uint64(value, st.frames_dropped.load());
      return;
    case PROP_FRAMES_LOST:
      g_value_set_uint64(value, st.frames_lost.load());
      return;
    case PROP_STATS:
      g_value_take_boxed(value, make_stats(self));
      return;
  }
  GST_OBJECT_LOCK(self);
  if (id == PROP_SUBJECT)
    g_value_set_string(value, st.settings.subject.c_str());
  else if (id == PROP_CAPS)
    gst_value_set_caps(value, st.settings.caps);
  else if (!imagestream::get_nats_property(st.settings.nats, st.connection, id, value, PROP_NATS_FIRST))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  GST_OBJECT_UNLOCK(self);
}

static void gst_nats_src_finalize(GObject *object) {
  auto *self = GST_NATS_SRC(object);
  gst_caps_replace(&self->state.settings.caps, nullptr);
  gst_caps_replace(&self->state.pad_caps, nullptr);
  self->state.~State();
  G_OBJECT_CLASS(gst_nats_src_parent_class)->finalize(object);
}

static void gst_nats_src_init(GstNatsSrc *self) {
  new (&self->state) State(GST_ELEMENT(self));
  self->state.settings.caps = gst_caps_from_string(DEFAULT_CAPS);
  gst_base_src_set_live(GST_BASE_SRC(self), TRUE);
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
}

static void gst_nats_src_class_init(GstNatsSrcClass *klass) {
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *basesrc_class = GST_BASE_SRC_CLASS(klass);
  auto *pushsrc_class = GST_PUSH_SRC_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(natssrc_debug, "natssrc", 0, "NATS frame source");

  gobject_class->set_property = gst_nats_src_set_property;
  gobject_class->get_property = gst_nats_src_get_property;
  gobject_class->finalize = gst_nats_src_finalize;

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto rw_ready = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_READY));
  const auto rw_playing = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_PLAYING));
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_property(
      gobject_class, PROP_SUBJECT,
      g_param_spec_string("subject", "Subject",
                          "NATS subject to receive frames from (wildcards allowed; then no newest frame is asked "
                          "for)",
                          DEFAULT_SUBJECT, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_CAPS,
      g_param_spec_boxed("caps", "Caps",
                         "Caps of frames whose message has no Imagestream-Caps header (the header wins)", GST_TYPE_CAPS,
                         rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_QUEUED_FRAMES,
      g_param_spec_uint("max-queued-frames", "Max queued frames",
                        "Frames that may wait for downstream; one more drops the oldest (newest frame wins)", 1,
                        G_MAXINT, DEFAULT_MAX_QUEUED_FRAMES, rw_playing));
  imagestream::install_nats_properties(gobject_class, PROP_NATS_FIRST);
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_RECEIVED,
      g_param_spec_uint64("frames-received", "Frames received",
                          "Frames received (duplicates not counted), including those dropped later", 0, G_MAXUINT64, 0,
                          ro));
  g_object_class_install_property(gobject_class, PROP_BYTES_RECEIVED,
                                  g_param_spec_uint64("bytes-received", "Bytes received",
                                                      "Payload bytes of the frames received", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames received but dropped: max-queued-frames were waiting for downstream, or the caps "
                          "were unreadable",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_LOST,
      g_param_spec_uint64("frames-lost", "Frames lost",
                          "Frames the sink published that never arrived (gaps in Imagestream-Sequence)", 0, G_MAXUINT64,
                          0, ro));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "frames-received, bytes-received, frames-dropped, frames-lost, reconnects, connected, "
                         "current-server",
                         GST_TYPE_STRUCTURE, ro));

  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(element_class, "NATS frame source", "Source/Network",
                                        "Receives frames published by natssink on a NATS subject, one buffer per "
                                        "message",
                                        "imagestream developers");

  basesrc_class->start = gst_nats_src_start;
  basesrc_class->stop = gst_nats_src_stop;
  basesrc_class->unlock = gst_nats_src_unlock;
  basesrc_class->unlock_stop = gst_nats_src_unlock_stop;
  basesrc_class->get_caps = gst_nats_src_get_caps;
  pushsrc_class->create = gst_nats_src_create;
}
