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
 * Senders are visible through the #lengthprefixsrc::sender-added and
 * #lengthprefixsrc::sender-removed signals and through element messages on the
 * bus named `lengthprefixsrc-sender-added` / `lengthprefixsrc-sender-removed`
 * (fields `address`, and `reason` for removals).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 lengthprefixsrc port=5000 ! jpegdec ! autovideosink
 * ]|
 */
#include "gstlengthprefixsrc.h"

#include <poll.h>

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frameparser.h"
#include "gstimagestream.h"
#include "glibptr.h"
#include "lengthprefix.h"
#include "tcp.h"

using imagestream::FrameParser;
using imagestream::ErrorPtr;
using imagestream::GObjectPtr;
using imagestream::out;
using imagestream::PrefixFormat;

GST_DEBUG_CATEGORY_STATIC(lengthprefixsrc_debug);
#define GST_CAT_DEFAULT lengthprefixsrc_debug

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 5000
#define DEFAULT_MAX_FRAME_SIZE (64 * 1024 * 1024)
#define DEFAULT_MAX_SENDERS 64
#define DEFAULT_EOS_AFTER_LAST_SENDER FALSE
#define DEFAULT_CAPS "image/jpeg"

// Bytes read per recv() into the staging buffer; payloads with at least
// kDirectRead bytes still missing are read straight into their buffer.
constexpr size_t kStagingSize = 64 * 1024;
constexpr size_t kDirectRead = 16 * 1024;
// How long a sender must have been silent before a newcomer may replace it
// when max-senders are connected.
constexpr gint64 kEvictAfter = 2 * G_USEC_PER_SEC;
// Connections the kernel completes before the streaming thread accepts them.
constexpr int kListenBacklog = 128;

enum {
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_CURRENT_PORT,
  PROP_MAX_FRAME_SIZE,
  PROP_MAX_SENDERS,
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

namespace {

// Why a sender left: the `reason` of sender-removed and of the bus message.
enum class SenderExit { Closed, ClosedMidFrame, Oversized, Error, Evicted, Stopped };
const char *exit_name(SenderExit exit) {
  static const char *const names[] = {"closed", "closed-mid-frame", "oversized", "error", "evicted", "stopped"};
  return names[static_cast<int>(exit)];
}

struct Settings {
  std::string host = DEFAULT_HOST;
  int port = DEFAULT_PORT;
  guint64 max_frame_size = DEFAULT_MAX_FRAME_SIZE;
  guint max_senders = DEFAULT_MAX_SENDERS;
  GstCaps *caps = nullptr;  // owned
  PrefixFormat format;
  bool eos_after_last_sender = DEFAULT_EOS_AFTER_LAST_SENDER;
};

// Counters written by the streaming thread only, read from any thread.
struct Counter {
  std::atomic<guint64> value{0};
  void add(guint64 n) { value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  guint64 get() const { return value.load(std::memory_order_relaxed); }
};

struct Ingest;

// One connected sender: its socket and the frame it is in the middle of.
struct Sender final : FrameParser::Receiver {
  Sender(GSocket *s, Ingest &in, PrefixFormat format, guint64 max_frame_size)
      : socket(s), address(imagestream::peer_address(s)), parser(format, max_frame_size), ingest(in) {}
  ~Sender() override { release_frame(); }

  uint8_t *frame_begin(uint64_t size) override;
  void frame_complete() override;
  void frame_empty() override;
  void release_frame() {
    if (!frame) return;
    gst_buffer_unmap(frame, &map);
    gst_buffer_unref(frame);
    frame = nullptr;
  }

  GObjectPtr<GSocket> socket;
  std::string address;
  FrameParser parser;
  Ingest &ingest;
  GstBuffer *frame = nullptr;  // being filled, mapped writable in `map`
  GstMapInfo map{};
  bool discont = true;     // the next frame is this sender's first
  gint64 last_active = 0;  // monotonic µs of the last byte received
};

// The sockets and frames; touched by the streaming thread, and by state
// changes while that thread is stopped, so it needs no lock.
struct Ingest {
  std::vector<GObjectPtr<GSocket>> listeners;
  std::vector<std::unique_ptr<Sender>> senders;
  std::deque<GstBuffer *> ready;  // complete frames not yet pushed
  std::vector<pollfd> pollfds;
  std::unique_ptr<uint8_t[]> staging = std::make_unique<uint8_t[]>(kStagingSize);
  bool senders_announced = false;  // downstream was told the number of senders once
  GstClockTime arrival = GST_CLOCK_TIME_NONE;  // running time of the current wake-up
  gint64 now = 0;                              // monotonic µs of the current wake-up
  bool had_sender = false;

  Counter frames_received, bytes_received, frames_dropped, frames_empty;
  Counter senders_total, senders_refused;
  std::atomic<guint> num_senders{0};
  std::atomic<int> current_port{0};

  void clear_ready() {
    for (GstBuffer *b : ready) gst_buffer_unref(b);
    ready.clear();
  }
};

uint8_t *Sender::frame_begin(uint64_t size) {
  frame = gst_buffer_new_allocate(nullptr, size, nullptr);
  gst_buffer_map(frame, &map, GST_MAP_WRITE);
  return map.data;
}

void Sender::frame_complete() {
  gst_buffer_unmap(frame, &map);
  GST_BUFFER_PTS(frame) = ingest.arrival;
  GST_BUFFER_OFFSET(frame) = ingest.frames_received.get();
  if (discont) {
    GST_BUFFER_FLAG_SET(frame, GST_BUFFER_FLAG_DISCONT);
    discont = false;
  }
  ingest.frames_received.add(1);
  ingest.bytes_received.add(gst_buffer_get_size(frame));
  ingest.ready.push_back(frame);
  frame = nullptr;
}

void Sender::frame_empty() { ingest.frames_empty.add(1); }

// The element's C++ state, constructed in instance_init.
struct SrcState {
  SrcState() { g_cancellable_make_pollfd(cancellable.get(), &cancel_fd); }
  ~SrcState() { g_cancellable_release_fd(cancellable.get()); }
  Settings settings;  // guarded by the object lock
  Ingest ingest;
  GObjectPtr<GCancellable> cancellable{g_cancellable_new()};  // cancelled by unlock() to wake create()
  GPollFD cancel_fd;  // of `cancellable`, polled with the sockets
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

static void post_sender_event(GstLengthPrefixSrc *self, const char *what, const std::string &address,
                              const char *reason) {
  GstStructure *s = gst_structure_new(what, "address", G_TYPE_STRING, address.c_str(), nullptr);
  if (reason) gst_structure_set(s, "reason", G_TYPE_STRING, reason, nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// Tells downstream (websocketsink) how many senders there are now.
static void announce_senders(GstLengthPrefixSrc *self) {
  GstStructure *s = gst_structure_new(IMAGESTREAM_SENDERS_EVENT, "senders", G_TYPE_UINT,
                                      self->state.ingest.num_senders.load(), nullptr);
  gst_pad_push_event(GST_BASE_SRC_PAD(self), gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM_OOB, s));
}

static void remove_sender(GstLengthPrefixSrc *self, size_t index, SenderExit exit) {
  const char *reason = exit_name(exit);
  Ingest &in = self->state.ingest;
  std::unique_ptr<Sender> sender = std::move(in.senders[index]);
  in.senders.erase(in.senders.begin() + index);
  in.num_senders.store(in.senders.size());
  if (sender->parser.mid_frame()) {
    in.frames_dropped.add(1);
    GST_INFO_OBJECT(self, "sender %s left mid-frame; partial frame dropped", sender->address.c_str());
  }
  g_socket_close(sender->socket.get(), nullptr);
  GST_INFO_OBJECT(self, "sender %s removed: %s", sender->address.c_str(), reason);
  g_signal_emit(self, signals[SIGNAL_SENDER_REMOVED], 0, sender->address.c_str(), reason);
  post_sender_event(self, "lengthprefixsrc-sender-removed", sender->address, reason);
  announce_senders(self);
}

static void close_all(GstLengthPrefixSrc *self, SenderExit exit) {
  Ingest &in = self->state.ingest;
  while (!in.senders.empty()) remove_sender(self, in.senders.size() - 1, exit);
  in.clear_ready();
  in.had_sender = false;
  in.senders_announced = false;
}

// At the sender limit, a newcomer replaces the sender that has been silent
// longest, if that one sent nothing for kEvictAfter: connections held open
// without sending can't lock a camera out.
static bool evict_idlest(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  size_t idlest = 0;
  for (size_t i = 1; i < in.senders.size(); i++)
    if (in.senders[i]->last_active < in.senders[idlest]->last_active) idlest = i;
  if (in.senders.empty() || in.now - in.senders[idlest]->last_active < kEvictAfter) return false;
  remove_sender(self, idlest, SenderExit::Evicted);
  return true;
}

static void accept_senders(GstLengthPrefixSrc *self, GSocket *listener) {
  Ingest &in = self->state.ingest;
  for (;;) {
    ErrorPtr err;
    GSocket *s = g_socket_accept(listener, nullptr, out(err));
    if (!s) {
      if (!g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        GST_WARNING_OBJECT(self, "accept failed: %s", err->message);
      return;
    }
    g_socket_set_blocking(s, FALSE);
    GST_OBJECT_LOCK(self);
    PrefixFormat format = self->state.settings.format;
    guint64 max_frame_size = self->state.settings.max_frame_size;
    guint max_senders = self->state.settings.max_senders;
    GST_OBJECT_UNLOCK(self);
    if (max_senders && in.senders.size() >= max_senders && !evict_idlest(self)) {
      std::string address = imagestream::peer_address(s);
      in.senders_refused.add(1);
      GST_ELEMENT_WARNING(self, RESOURCE, OPEN_READ,
                          ("Refused sender %s: max-senders (%u) are connected and all of them are sending",
                           address.c_str(), max_senders),
                          (nullptr));
      g_socket_close(s, nullptr);
      g_object_unref(s);
      continue;
    }
    auto sender = std::make_unique<Sender>(s, in, format, max_frame_size);
    sender->last_active = in.now;
    std::string address = sender->address;
    in.senders.push_back(std::move(sender));
    in.num_senders.store(in.senders.size());
    in.senders_total.add(1);
    in.had_sender = true;
    GST_INFO_OBJECT(self, "sender %s connected", address.c_str());
    g_signal_emit(self, signals[SIGNAL_SENDER_ADDED], 0, address.c_str());
    post_sender_event(self, "lengthprefixsrc-sender-added", address, nullptr);
    announce_senders(self);
  }
}

// Reads what one sender has; returns why it must go, or nothing to keep it.
static std::optional<SenderExit> read_sender(GstLengthPrefixSrc *self, Sender &sender) {
  Ingest &in = self->state.ingest;
  FrameParser &parser = sender.parser;
  ErrorPtr err;
  gssize n;
  if (parser.payload_missing() >= kDirectRead) {
    n = g_socket_receive_with_blocking(sender.socket.get(), reinterpret_cast<gchar *>(parser.payload_cursor()),
                                       parser.payload_missing(), FALSE, nullptr, out(err));
    if (n > 0) parser.payload_written(n, sender);
  } else {
    n = g_socket_receive_with_blocking(sender.socket.get(), reinterpret_cast<gchar *>(in.staging.get()),
                                       kStagingSize, FALSE, nullptr, out(err));
    if (n > 0 && parser.feed(in.staging.get(), n, sender) == FrameParser::Status::Oversized) {
      GST_ELEMENT_WARNING(self, STREAM, DECODE,
                          ("Sender %s announced a frame of %" G_GUINT64_FORMAT
                           " bytes, above max-frame-size; disconnecting it",
                           sender.address.c_str(), parser.announced_size()),
                          (nullptr));
      // The header was consumed, so the frame counts as lost.
      in.frames_dropped.add(1);
      return SenderExit::Oversized;
    }
  }
  if (n > 0) {
    sender.last_active = in.now;
    return std::nullopt;
  }
  if (n == 0) return parser.mid_frame() ? SenderExit::ClosedMidFrame : SenderExit::Closed;
  if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return std::nullopt;
  GST_INFO_OBJECT(self, "sender %s: %s", sender.address.c_str(), err->message);
  return SenderExit::Error;
}

static GstClockTime running_time_now(GstLengthPrefixSrc *self) {
  GstClock *clock = nullptr;
  GstClockTime base = 0;
  GST_OBJECT_LOCK(self);
  if (GST_ELEMENT_CLOCK(self)) {
    clock = GST_ELEMENT_CLOCK(self);
    gst_object_ref(clock);
    base = GST_ELEMENT_CAST(self)->base_time;
  }
  GST_OBJECT_UNLOCK(self);
  if (!clock) return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  return now > base ? now - base : 0;
}

// Waits for sockets and reads them once each. False when woken by unlock().
static bool wait_and_read(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  const size_t nsenders = in.senders.size();
  in.pollfds.clear();
  in.pollfds.push_back({self->state.cancel_fd.fd, POLLIN, 0});
  for (auto &s : in.senders) in.pollfds.push_back({g_socket_get_fd(s->socket.get()), POLLIN, 0});
  for (auto &l : in.listeners) in.pollfds.push_back({g_socket_get_fd(l.get()), POLLIN, 0});

  int r;
  do {
    r = poll(in.pollfds.data(), in.pollfds.size(), -1);
  } while (r < 0 && errno == EINTR);
  if (in.pollfds[0].revents) return false;
  in.arrival = running_time_now(self);
  in.now = g_get_monotonic_time();

  // Back to front, so that removing a sender keeps the lower indices valid.
  for (size_t i = nsenders; i-- > 0;) {
    if (!in.pollfds[1 + i].revents) continue;
    if (auto exit = read_sender(self, *in.senders[i])) remove_sender(self, i, *exit);
  }
  for (size_t i = 0; i < in.listeners.size(); i++) {
    if (in.pollfds[1 + nsenders + i].revents) accept_senders(self, in.listeners[i].get());
  }
  return true;
}

static GstFlowReturn gst_length_prefix_src_create(GstPushSrc *psrc, GstBuffer **out) {
  auto *self = GST_LENGTH_PREFIX_SRC(psrc);
  Ingest &in = self->state.ingest;
  if (!in.senders_announced) {
    in.senders_announced = true;
    announce_senders(self);
  }
  for (;;) {
    if (!in.ready.empty()) {
      *out = in.ready.front();
      in.ready.pop_front();
      return GST_FLOW_OK;
    }
    GST_OBJECT_LOCK(self);
    bool eos_when_empty = self->state.settings.eos_after_last_sender;
    GST_OBJECT_UNLOCK(self);
    if (eos_when_empty && in.had_sender && in.senders.empty()) {
      GST_INFO_OBJECT(self, "last sender left: end of stream");
      return GST_FLOW_EOS;
    }
    if (!wait_and_read(self)) return GST_FLOW_FLUSHING;
  }
}

// Binds every address `host` resolves to (for "localhost": IPv4 and IPv6) on
// one port, so that senders reach the source however they spell the host.
static bool open_listeners(GstLengthPrefixSrc *self) {
  GST_OBJECT_LOCK(self);
  std::string host = self->state.settings.host;
  int port = self->state.settings.port;
  GST_OBJECT_UNLOCK(self);

  imagestream::Listeners listeners;
  const std::string error = imagestream::listen_tcp(host, port, kListenBacklog, listeners);
  if (!error.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("%s", error.c_str()), (nullptr));
    return false;
  }
  Ingest &in = self->state.ingest;
  in.listeners = std::move(listeners.sockets);
  in.current_port.store(listeners.port);
  GST_INFO_OBJECT(self, "listening on %s port %d", host.c_str(), listeners.port);
  g_object_notify(G_OBJECT(self), "current-port");
  return true;
}

static void close_listeners(GstLengthPrefixSrc *self) {
  for (auto &l : self->state.ingest.listeners) g_socket_close(l.get(), nullptr);
  self->state.ingest.listeners.clear();
  self->state.ingest.current_port.store(0);
}

static GstStateChangeReturn gst_length_prefix_src_change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_LENGTH_PREFIX_SRC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !open_listeners(self)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_length_prefix_src_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE))
    close_listeners(self);
  return ret;
}

static gboolean gst_length_prefix_src_stop(GstBaseSrc *bsrc) {
  close_all(GST_LENGTH_PREFIX_SRC(bsrc), SenderExit::Stopped);
  return TRUE;
}

static gboolean gst_length_prefix_src_unlock(GstBaseSrc *bsrc) {
  g_cancellable_cancel(GST_LENGTH_PREFIX_SRC(bsrc)->state.cancellable.get());
  return TRUE;
}

static gboolean gst_length_prefix_src_unlock_stop(GstBaseSrc *bsrc) {
  g_cancellable_reset(GST_LENGTH_PREFIX_SRC(bsrc)->state.cancellable.get());
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
  Ingest &in = self->state.ingest;
  return gst_structure_new("lengthprefixsrc-stats", "frames-received", G_TYPE_UINT64, in.frames_received.get(),
                           "bytes-received", G_TYPE_UINT64, in.bytes_received.get(), "frames-dropped",
                           G_TYPE_UINT64, in.frames_dropped.get(), "frames-empty", G_TYPE_UINT64,
                           in.frames_empty.get(), "num-senders", G_TYPE_UINT, in.num_senders.load(),
                           "senders-total", G_TYPE_UINT64, in.senders_total.get(), "senders-refused",
                           G_TYPE_UINT64, in.senders_refused.get(), nullptr);
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
  Ingest &in = self->state.ingest;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_HOST:
      g_value_set_string(value, s.host.c_str());
      break;
    case PROP_PORT:
      g_value_set_int(value, s.port);
      break;
    case PROP_CURRENT_PORT:
      g_value_set_int(value, in.current_port.load());
      break;
    case PROP_MAX_FRAME_SIZE:
      g_value_set_uint64(value, s.max_frame_size);
      break;
    case PROP_MAX_SENDERS:
      g_value_set_uint(value, s.max_senders);
      break;
    case PROP_CAPS:
      gst_value_set_caps(value, s.caps);
      break;
    case PROP_EOS_AFTER_LAST_SENDER:
      g_value_set_boolean(value, s.eos_after_last_sender);
      break;
    case PROP_FRAMES_RECEIVED:
      g_value_set_uint64(value, in.frames_received.get());
      break;
    case PROP_BYTES_RECEIVED:
      g_value_set_uint64(value, in.bytes_received.get());
      break;
    case PROP_FRAMES_DROPPED:
      g_value_set_uint64(value, in.frames_dropped.get());
      break;
    case PROP_NUM_SENDERS:
      g_value_set_uint(value, in.num_senders.load());
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
  imagestream::construct_member(&self->state);
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
                        "Most senders connected at once (0 = no limit); a newcomer replaces the sender silent longest "
                        "if that one sent nothing for 2 s, else it is refused", 0,
                        G_MAXUINT, DEFAULT_MAX_SENDERS, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_CAPS,
      g_param_spec_boxed("caps", "Caps", "Caps of the payload (the bytes are passed on as they arrive)",
                         GST_TYPE_CAPS, rw_ready));
  imagestream::install_prefix_properties(gobject_class, PROP_PREFIX_SIZE, PROP_BYTE_ORDER, static_cast<GParamFlags>(GST_PARAM_MUTABLE_PLAYING));
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
                          "Frames lost to a sender leaving mid-frame or announcing an oversized frame", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_NUM_SENDERS,
      g_param_spec_uint("num-senders", "Senders", "Senders connected now", 0, G_MAXUINT, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "frames-received, bytes-received, frames-dropped, frames-empty (zero-length, skipped), "
                         "num-senders, senders-total, senders-refused",
                         GST_TYPE_STRUCTURE, ro));

  /**
   * GstLengthPrefixSrc::sender-added:
   * @address: "host:port" of the sender
   *
   * A sender connected. Emitted from the streaming thread.
   */
  signals[SIGNAL_SENDER_ADDED] = g_signal_new("sender-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                              nullptr, nullptr, nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GstLengthPrefixSrc::sender-removed:
   * @address: "host:port" of the sender
   * @reason: closed, closed-mid-frame, oversized, error, evicted (silent
   *   while max-senders were connected and another wanted in) or stopped
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
