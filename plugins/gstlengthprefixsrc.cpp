/**
 * SECTION:element-lengthprefixsrc
 * @title: lengthprefixsrc
 *
 * A live TCP server source for length-prefixed frames: every sender (camera)
 * connects and writes frames back to back, each an unsigned length (8 bytes,
 * big-endian by default) followed by that many payload bytes. Each complete
 * frame becomes one buffer, timestamped with the running time of its arrival.
 * Several senders may be connected at once; their frames interleave at frame
 * boundaries and a slow sender never holds up the others.
 *
 * The element listens from the READY state on, so senders may connect as soon
 * as the state change returns. Bad input never stops the stream: a frame cut
 * short by a disconnect is dropped, a zero-length frame is skipped, and a
 * sender announcing more than #lengthprefixsrc:max-frame-size is disconnected
 * with a warning naming its address and the length.
 *
 * Strangers on the network cannot starve the cameras:
 * #lengthprefixsrc:allowed-senders admits only the listed addresses and
 * networks; #lengthprefixsrc:max-senders-per-address keeps one address from
 * taking every slot; at #lengthprefixsrc:max-senders a newcomer replaces the
 * sender whose last complete frame is the oldest (connections that trickle
 * bytes or hold a partial frame go first, a camera that completes a frame
 * every few seconds keeps its place); #lengthprefixsrc:frame-timeout drops a
 * sender that began a frame and did not complete it; and
 * #lengthprefixsrc:max-pending-bytes bounds the memory of all partial frames
 * together (a frame's memory grows as its bytes arrive). Refusals and drops
 * are counted in #lengthprefixsrc:stats and warned about at most once a
 * second per reason, with the count of those held back.
 *
 * With #lengthprefixsrc:tls-certificate the ingest speaks TLS, and with
 * #lengthprefixsrc:tls-ca-file every sender must present a client
 * certificate signed by that CA (lengthprefixsink's tls-certificate). TLS
 * handshakes run beside the streaming thread and must end within 5 s.
 *
 * Senders are visible through the #lengthprefixsrc::sender-added and
 * #lengthprefixsrc::sender-removed signals and through element messages on the
 * bus named `lengthprefixsrc-sender-added` / `lengthprefixsrc-sender-removed`
 * (fields `address`, and `reason` for removals).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 lengthprefixsrc port=5000 ! jpegdec ! autovideosink
 * ]|
 * |[
 * gst-launch-1.0 lengthprefixsrc host=0.0.0.0 port=5000 allowed-senders=192.168.1.0/24 \
 *     tls-certificate=relay.pem tls-key=relay.key tls-ca-file=cameras-ca.pem ! jpegdec ! autovideosink
 * ]|
 */
#include "gstlengthprefixsrc.h"

#include <string>

#include "gstimagestream.h"
#include "glibptr.h"
#include "ingest.h"
#include "lengthprefix.h"
#include "lengthprefixtls.h"

using imagestream::Ingest;
using imagestream::IngestLimits;
using imagestream::IngestWarning;
using imagestream::PrefixFormat;
using imagestream::Refusal;
using imagestream::SenderExit;
using imagestream::TlsFiles;

GST_DEBUG_CATEGORY_STATIC(lengthprefixsrc_debug);
#define GST_CAT_DEFAULT lengthprefixsrc_debug

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 5000
#define DEFAULT_MAX_FRAME_SIZE (64 * 1024 * 1024)
#define DEFAULT_MAX_SENDERS 64
// One address may hold an eighth of the default slots: filling them takes
// eight addresses, while a site with a few cameras behind one NAT address
// still fits (raise it for more).
#define DEFAULT_MAX_SENDERS_PER_ADDRESS 8
// Seconds from a frame's first byte to its last. A 64 MiB frame needs 54 Mbit/s
// for that; a camera's JPEG of a few hundred KiB takes well under a second.
#define DEFAULT_FRAME_TIMEOUT 10
// All partial frames together: four frames of the default max-frame-size.
#define DEFAULT_MAX_PENDING_BYTES (G_GUINT64_CONSTANT(256) * 1024 * 1024)
#define DEFAULT_ALLOWED_SENDERS ""
#define DEFAULT_EOS_AFTER_LAST_SENDER FALSE
#define DEFAULT_CAPS "image/jpeg"

enum {
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_CURRENT_PORT,
  PROP_MAX_FRAME_SIZE,
  PROP_MAX_SENDERS,
  PROP_MAX_SENDERS_PER_ADDRESS,
  PROP_FRAME_TIMEOUT,
  PROP_MAX_PENDING_BYTES,
  PROP_ALLOWED_SENDERS,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_TLS_CA_FILE,
  PROP_CAPS,
  PROP_PREFIX_SIZE,
  PROP_BYTE_ORDER,
  PROP_EOS_AFTER_LAST_SENDER,
  PROP_FRAMES_RECEIVED,
  PROP_BYTES_RECEIVED,
  PROP_FRAMES_DROPPED,
  PROP_NUM_SENDERS,
  PROP_STATS,
};

enum { SIGNAL_SENDER_ADDED, SIGNAL_SENDER_REMOVED, LAST_SIGNAL };
static guint signals[LAST_SIGNAL];

static void post_sender_event(GstLengthPrefixSrc *self, const char *what, const std::string &address,
                              const char *reason) {
  GstStructure *s = gst_structure_new(what, "address", G_TYPE_STRING, address.c_str(), nullptr);
  if (reason) gst_structure_set(s, "reason", G_TYPE_STRING, reason, nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// Tells downstream (websocketsink) how many senders there are now.
static void announce_senders(GstLengthPrefixSrc *self, guint senders) {
  GstStructure *s = gst_structure_new(IMAGESTREAM_SENDERS_EVENT, "senders", G_TYPE_UINT, senders, nullptr);
  gst_pad_push_event(GST_BASE_SRC_PAD(self), gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM_OOB, s));
}

namespace {

struct Settings {
  std::string host = DEFAULT_HOST;
  int port = DEFAULT_PORT;
  guint64 max_frame_size = DEFAULT_MAX_FRAME_SIZE;
  guint max_senders = DEFAULT_MAX_SENDERS;
  guint max_senders_per_address = DEFAULT_MAX_SENDERS_PER_ADDRESS;
  guint frame_timeout = DEFAULT_FRAME_TIMEOUT;  // seconds
  guint64 max_pending_bytes = DEFAULT_MAX_PENDING_BYTES;
  std::string allowed_senders = DEFAULT_ALLOWED_SENDERS;
  TlsFiles tls;
  GstCaps *caps = nullptr;  // owned
  PrefixFormat format;
  bool eos_after_last_sender = DEFAULT_EOS_AFTER_LAST_SENDER;
};

// What the ingest tells the element: warnings on the bus, signals and bus
// messages for senders, the number of senders downstream, the running time.
class ElementEvents final : public imagestream::IngestEvents {
 public:
  explicit ElementEvents(GstLengthPrefixSrc *src) : src_(src) {}
  void warning(IngestWarning kind, const std::string &line) override {
    if (kind == IngestWarning::AcceptFailed)
      GST_ELEMENT_WARNING(src_, RESOURCE, READ, ("%s", line.c_str()), (nullptr));
    else if (kind == IngestWarning::Disconnected)
      GST_ELEMENT_WARNING(src_, STREAM, DECODE, ("%s", line.c_str()), (nullptr));
    else
      GST_ELEMENT_WARNING(src_, RESOURCE, OPEN_READ, ("%s", line.c_str()), (nullptr));
  }
  void sender_added(const std::string &address) override {
    g_signal_emit(src_, signals[SIGNAL_SENDER_ADDED], 0, address.c_str());
    post_sender_event(src_, "lengthprefixsrc-sender-added", address, nullptr);
  }
  void sender_removed(const std::string &address, SenderExit exit) override {
    const char *reason = imagestream::exit_name(exit);
    g_signal_emit(src_, signals[SIGNAL_SENDER_REMOVED], 0, address.c_str(), reason);
    post_sender_event(src_, "lengthprefixsrc-sender-removed", address, reason);
  }
  void senders_changed(guint senders) override { announce_senders(src_, senders); }
  GstClockTime running_time() override { return imagestream_running_time(GST_ELEMENT(src_)); }

 private:
  GstLengthPrefixSrc *src_;
};

// The element's C++ state, constructed in instance_init.
struct SrcState {
  explicit SrcState(GstLengthPrefixSrc *self) : events(self), ingest(events, GST_OBJECT(self), lengthprefixsrc_debug) {}
  Settings settings;  // guarded by the object lock
  ElementEvents events;
  Ingest ingest;
  bool senders_announced = false;  // downstream was told the number of senders once (streaming thread, stop())
};

}  // namespace

struct _GstLengthPrefixSrc {
  GstPushSrc parent;
  SrcState state;
};

G_DEFINE_TYPE(GstLengthPrefixSrc, gst_length_prefix_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE(lengthprefixsrc, "lengthprefixsrc", GST_RANK_NONE, GST_TYPE_LENGTH_PREFIX_SRC);

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static IngestLimits current_limits(GstLengthPrefixSrc *self) {
  GST_OBJECT_LOCK(self);
  const Settings &s = self->state.settings;
  IngestLimits l{s.format,
                 s.max_frame_size,
                 s.max_senders,
                 s.max_senders_per_address,
                 gint64{s.frame_timeout} * G_USEC_PER_SEC,
                 s.max_pending_bytes};
  GST_OBJECT_UNLOCK(self);
  return l;
}

static GstFlowReturn gst_length_prefix_src_create(GstPushSrc *psrc, GstBuffer **out) {
  auto *self = GST_LENGTH_PREFIX_SRC(psrc);
  Ingest &in = self->state.ingest;
  if (!self->state.senders_announced) {
    self->state.senders_announced = true;
    announce_senders(self, in.num_senders());
  }
  for (;;) {
    if (GstBuffer *frame = in.take_frame()) {
      *out = frame;
      return GST_FLOW_OK;
    }
    GST_OBJECT_LOCK(self);
    bool eos_when_empty = self->state.settings.eos_after_last_sender;
    GST_OBJECT_UNLOCK(self);
    if (eos_when_empty && in.had_sender() && in.num_senders() == 0) {
      GST_INFO_OBJECT(self, "last sender left: end of stream");
      return GST_FLOW_EOS;
    }
    if (!in.wait_and_read(current_limits(self))) return GST_FLOW_FLUSHING;
  }
}

// Who may send and how: allowed-senders and the TLS files, checked before
// anything listens, so that a mistake fails the state change with one line.
static bool load_admission(GstLengthPrefixSrc *self) {
  GST_OBJECT_LOCK(self);
  const std::string allowed = self->state.settings.allowed_senders;
  const TlsFiles files = self->state.settings.tls;
  GST_OBJECT_UNLOCK(self);
  const std::string error = self->state.ingest.configure(allowed, files);
  if (!error.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.c_str()), (nullptr));
    return false;
  }
  return true;
}

static bool open_listeners(GstLengthPrefixSrc *self) {
  GST_OBJECT_LOCK(self);
  std::string host = self->state.settings.host;
  int port = self->state.settings.port;
  GST_OBJECT_UNLOCK(self);

  const std::string error = self->state.ingest.listen(host, port);
  if (!error.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("%s", error.c_str()), (nullptr));
    return false;
  }
  g_object_notify(G_OBJECT(self), "current-port");
  return true;
}

static GstStateChangeReturn gst_length_prefix_src_change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_LENGTH_PREFIX_SRC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !(load_admission(self) && open_listeners(self)))
    return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_length_prefix_src_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE))
    self->state.ingest.close_listeners();
  return ret;
}

static gboolean gst_length_prefix_src_stop(GstBaseSrc *bsrc) {
  auto *self = GST_LENGTH_PREFIX_SRC(bsrc);
  self->state.ingest.stop();
  self->state.senders_announced = false;
  return TRUE;
}

static gboolean gst_length_prefix_src_unlock(GstBaseSrc *bsrc) {
  GST_LENGTH_PREFIX_SRC(bsrc)->state.ingest.unlock();
  return TRUE;
}

static gboolean gst_length_prefix_src_unlock_stop(GstBaseSrc *bsrc) {
  GST_LENGTH_PREFIX_SRC(bsrc)->state.ingest.unlock_stop();
  return TRUE;
}

static GstCaps *gst_length_prefix_src_get_caps(GstBaseSrc *bsrc, GstCaps *filter) {
  auto *self = GST_LENGTH_PREFIX_SRC(bsrc);
  GST_OBJECT_LOCK(self);
  GstCaps *caps = gst_caps_ref(self->state.settings.caps);
  GST_OBJECT_UNLOCK(self);
  if (filter) {
    GstCaps *i = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = i;
  }
  return caps;
}

static GstStructure *make_stats(GstLengthPrefixSrc *self) {
  const imagestream::IngestStats in = self->state.ingest.stats();
  auto refused = [&](Refusal r) { return in.refused_by[static_cast<size_t>(r)]; };
  return gst_structure_new(
      "lengthprefixsrc-stats", "frames-received", G_TYPE_UINT64, in.frames_received, "bytes-received",
      G_TYPE_UINT64, in.bytes_received, "frames-dropped", G_TYPE_UINT64, in.frames_dropped,
      "frames-empty", G_TYPE_UINT64, in.frames_empty, "num-senders", G_TYPE_UINT, in.num_senders,
      "senders-total", G_TYPE_UINT64, in.senders_total, "senders-refused", G_TYPE_UINT64,
      in.senders_refused, "senders-refused-full", G_TYPE_UINT64, refused(Refusal::Full),
      "senders-refused-per-address", G_TYPE_UINT64, refused(Refusal::PerAddress), "senders-refused-not-allowed",
      G_TYPE_UINT64, refused(Refusal::NotAllowed), "senders-refused-tls", G_TYPE_UINT64, refused(Refusal::Tls),
      "senders-evicted", G_TYPE_UINT64, in.senders_evicted, "senders-timed-out", G_TYPE_UINT64,
      in.senders_timed_out, "senders-over-budget", G_TYPE_UINT64, in.senders_over_budget,
      "pending-bytes", G_TYPE_UINT64, in.pending_bytes, "accept-errors", G_TYPE_UINT64,
      in.accept_errors, nullptr);
}

static void set_string(std::string &field, const GValue *value) {
  const char *v = g_value_get_string(value);
  field = v ? v : "";
}

static void get_optional_string(GValue *value, const std::string &field) {
  g_value_set_string(value, field.empty() ? nullptr : field.c_str());
}

static void gst_length_prefix_src_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_LENGTH_PREFIX_SRC(object);
  Settings &s = self->state.settings;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_HOST:
      s.host = g_value_get_string(value) ? g_value_get_string(value) : DEFAULT_HOST;
      break;
    case PROP_PORT:
      s.port = g_value_get_int(value);
      break;
    case PROP_MAX_FRAME_SIZE:
      s.max_frame_size = g_value_get_uint64(value);
      break;
    case PROP_MAX_SENDERS:
      s.max_senders = g_value_get_uint(value);
      break;
    case PROP_MAX_SENDERS_PER_ADDRESS:
      s.max_senders_per_address = g_value_get_uint(value);
      break;
    case PROP_FRAME_TIMEOUT:
      s.frame_timeout = g_value_get_uint(value);
      break;
    case PROP_MAX_PENDING_BYTES:
      s.max_pending_bytes = g_value_get_uint64(value);
      break;
    case PROP_ALLOWED_SENDERS:
      set_string(s.allowed_senders, value);
      break;
    case PROP_TLS_CERTIFICATE:
      set_string(s.tls.certificate, value);
      break;
    case PROP_TLS_KEY:
      set_string(s.tls.key, value);
      break;
    case PROP_TLS_CA_FILE:
      set_string(s.tls.ca_file, value);
      break;
    case PROP_CAPS: {
      const GstCaps *caps = gst_value_get_caps(value);
      gst_caps_replace(&s.caps, caps ? const_cast<GstCaps *>(caps) : nullptr);
      if (!s.caps) s.caps = gst_caps_new_any();
      break;
    }
    case PROP_EOS_AFTER_LAST_SENDER:
      s.eos_after_last_sender = g_value_get_boolean(value);
      break;
    default:
      if (!imagestream::set_prefix_property(s.format, id, value, PROP_PREFIX_SIZE, PROP_BYTE_ORDER))
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_length_prefix_src_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_LENGTH_PREFIX_SRC(object);
  Settings &s = self->state.settings;
  const Ingest &in = self->state.ingest;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_HOST:
      g_value_set_string(value, s.host.c_str());
      break;
    case PROP_PORT:
      g_value_set_int(value, s.port);
      break;
    case PROP_CURRENT_PORT:
      g_value_set_int(value, in.current_port());
      break;
    case PROP_MAX_FRAME_SIZE:
      g_value_set_uint64(value, s.max_frame_size);
      break;
    case PROP_MAX_SENDERS:
      g_value_set_uint(value, s.max_senders);
      break;
    case PROP_MAX_SENDERS_PER_ADDRESS:
      g_value_set_uint(value, s.max_senders_per_address);
      break;
    case PROP_FRAME_TIMEOUT:
      g_value_set_uint(value, s.frame_timeout);
      break;
    case PROP_MAX_PENDING_BYTES:
      g_value_set_uint64(value, s.max_pending_bytes);
      break;
    case PROP_ALLOWED_SENDERS:
      g_value_set_string(value, s.allowed_senders.c_str());
      break;
    case PROP_TLS_CERTIFICATE:
      get_optional_string(value, s.tls.certificate);
      break;
    case PROP_TLS_KEY:
      get_optional_string(value, s.tls.key);
      break;
    case PROP_TLS_CA_FILE:
      get_optional_string(value, s.tls.ca_file);
      break;
    case PROP_CAPS:
      gst_value_set_caps(value, s.caps);
      break;
    case PROP_EOS_AFTER_LAST_SENDER:
      g_value_set_boolean(value, s.eos_after_last_sender);
      break;
    case PROP_FRAMES_RECEIVED:
      g_value_set_uint64(value, in.stats().frames_received);
      break;
    case PROP_BYTES_RECEIVED:
      g_value_set_uint64(value, in.stats().bytes_received);
      break;
    case PROP_FRAMES_DROPPED:
      g_value_set_uint64(value, in.stats().frames_dropped);
      break;
    case PROP_NUM_SENDERS:
      g_value_set_uint(value, in.num_senders());
      break;
    case PROP_STATS:
      g_value_take_boxed(value, make_stats(self));
      break;
    default:
      if (!imagestream::get_prefix_property(s.format, id, value, PROP_PREFIX_SIZE, PROP_BYTE_ORDER))
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_length_prefix_src_finalize(GObject *object) {
  auto *self = GST_LENGTH_PREFIX_SRC(object);
  gst_caps_unref(self->state.settings.caps);
  imagestream::destroy_member(&self->state);
  G_OBJECT_CLASS(gst_length_prefix_src_parent_class)->finalize(object);
}

static void gst_length_prefix_src_init(GstLengthPrefixSrc *self) {
  imagestream::construct_member(&self->state, self);
  self->state.settings.caps = gst_caps_from_string(DEFAULT_CAPS);
  gst_base_src_set_live(GST_BASE_SRC(self), TRUE);
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
}

static void gst_length_prefix_src_class_init(GstLengthPrefixSrcClass *klass) {
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *basesrc_class = GST_BASE_SRC_CLASS(klass);
  auto *pushsrc_class = GST_PUSH_SRC_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(lengthprefixsrc_debug, "lengthprefixsrc", 0, "Length-prefixed TCP frame source");

  gobject_class->set_property = gst_length_prefix_src_set_property;
  gobject_class->get_property = gst_length_prefix_src_get_property;
  gobject_class->finalize = gst_length_prefix_src_finalize;

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto rw_ready = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_READY));
  const auto rw_playing = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_PLAYING));
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_property(
      gobject_class, PROP_HOST,
      g_param_spec_string("host", "Host",
                          "Address to listen on (a name listens on every address it resolves to; "
                          "0.0.0.0 for all IPv4 interfaces). Used when going from NULL to READY",
                          DEFAULT_HOST, rw));
  g_object_class_install_property(
      gobject_class, PROP_PORT,
      g_param_spec_int("port", "Port", "TCP port to listen on (0 = any free port; see current-port)", 0, 65535,
                       DEFAULT_PORT, rw));
  g_object_class_install_property(
      gobject_class, PROP_CURRENT_PORT,
      g_param_spec_int("current-port", "Current port",
                       "The port actually listened on (notified once listening; 0 when not listening)", 0,
                       65535, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_MAX_FRAME_SIZE,
      g_param_spec_uint64("max-frame-size", "Max frame size",
                          "Largest frame accepted, in bytes; a sender announcing more is disconnected", 1,
                          G_MAXUINT64, DEFAULT_MAX_FRAME_SIZE, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_MAX_SENDERS,
      g_param_spec_uint("max-senders", "Max senders",
                        "Most senders connected at once (0 = no limit); a newcomer replaces the sender whose last "
                        "complete frame (or, before its first, its connection) is the oldest, if that was 5 s ago "
                        "or more, else it is refused",
                        0, G_MAXUINT, DEFAULT_MAX_SENDERS, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_MAX_SENDERS_PER_ADDRESS,
      g_param_spec_uint("max-senders-per-address", "Max senders per address",
                        "Most senders connected at once from one IPv4 address or IPv6 /64 (0 = no limit); more "
                        "are refused",
                        0, G_MAXUINT, DEFAULT_MAX_SENDERS_PER_ADDRESS, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_FRAME_TIMEOUT,
      g_param_spec_uint("frame-timeout", "Frame timeout",
                        "Seconds a sender may take from a frame's first byte to its last before it is "
                        "disconnected (0 = no limit)",
                        0, G_MAXUINT, DEFAULT_FRAME_TIMEOUT, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_MAX_PENDING_BYTES,
      g_param_spec_uint64("max-pending-bytes", "Max pending bytes",
                          "Memory for the partial frames of all senders together, in bytes (0 = no limit); above "
                          "it the sender holding the largest partial frame is disconnected",
                          0, G_MAXUINT64, DEFAULT_MAX_PENDING_BYTES, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_ALLOWED_SENDERS,
      g_param_spec_string("allowed-senders", "Allowed senders",
                          "Comma-separated addresses and networks that may send, IPv4 and IPv6, e.g. "
                          "\"127.0.0.1,192.168.1.0/24,::1\" (empty = anyone); other connections are closed at once",
                          DEFAULT_ALLOWED_SENDERS, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM file of the server certificate (and key, unless tls-key): senders must speak TLS "
                          "(unset = plain TCP, the original protocol)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_TLS_KEY,
      g_param_spec_string("tls-key", "TLS key",
                          "PEM file of the private key of tls-certificate (unset = in the certificate file)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string("tls-ca-file", "TLS CA file",
                          "PEM file of the CA(s) that sign the senders' certificates: every sender must present "
                          "one (unset = senders are not asked for a certificate)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_CAPS,
      g_param_spec_boxed("caps", "Caps", "Caps of the payload (the bytes are passed on as they arrive)",
                         GST_TYPE_CAPS, rw_ready));
  imagestream::install_prefix_properties(gobject_class, PROP_PREFIX_SIZE, PROP_BYTE_ORDER,
                                         static_cast<GParamFlags>(GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_EOS_AFTER_LAST_SENDER,
      g_param_spec_boolean("eos-after-last-sender", "EOS after last sender",
                           "End the stream when the last connected sender leaves (for finite runs)",
                           DEFAULT_EOS_AFTER_LAST_SENDER, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_RECEIVED,
      g_param_spec_uint64("frames-received", "Frames received", "Complete frames received from all senders", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_BYTES_RECEIVED,
      g_param_spec_uint64("bytes-received", "Bytes received", "Payload bytes of the complete frames received", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames lost to a sender leaving (or being disconnected) mid-frame or announcing an "
                          "oversized frame",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_NUM_SENDERS,
      g_param_spec_uint("num-senders", "Senders", "Senders connected now (TLS senders once their handshake is done)",
                        0, G_MAXUINT, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "frames-received, bytes-received, frames-dropped, frames-empty (zero-length, skipped), "
                         "num-senders, senders-total, senders-refused (all refusals) and by reason "
                         "senders-refused-full, -per-address, -not-allowed, -tls; senders-evicted, "
                         "senders-timed-out, senders-over-budget, pending-bytes (memory of partial frames now), "
                         "accept-errors",
                         GST_TYPE_STRUCTURE, ro));

  /**
   * GstLengthPrefixSrc::sender-added:
   * @address: "host:port" of the sender
   *
   * A sender connected (a TLS sender: completed its handshake). Emitted from
   * the streaming thread.
   */
  signals[SIGNAL_SENDER_ADDED] = g_signal_new("sender-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                              nullptr, nullptr, nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GstLengthPrefixSrc::sender-removed:
   * @address: "host:port" of the sender
   * @reason: closed, closed-mid-frame, oversized, error, evicted (replaced
   *   by a newcomer while max-senders were connected), timed-out (a frame not
   *   completed within frame-timeout), over-budget (the largest partial frame
   *   while max-pending-bytes were exceeded) or stopped
   *
   * A sender is gone. Emitted from the streaming thread, or from the thread
   * changing the state for "stopped".
   */
  signals[SIGNAL_SENDER_REMOVED] =
      g_signal_new("sender-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(element_class, "Length-prefixed TCP frame source", "Source/Network",
                                        "Receives length-prefixed frames (e.g. JPEG) from TCP senders, "
                                        "one buffer per frame",
                                        "imagestream developers");

  element_class->change_state = gst_length_prefix_src_change_state;
  basesrc_class->stop = gst_length_prefix_src_stop;
  basesrc_class->unlock = gst_length_prefix_src_unlock;
  basesrc_class->unlock_stop = gst_length_prefix_src_unlock_stop;
  basesrc_class->get_caps = gst_length_prefix_src_get_caps;
  pushsrc_class->create = gst_length_prefix_src_create;

  imagestream::mark_prefix_types_as_plugin_api();
}
