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

#include <poll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "addressfilter.h"
#include "frameparser.h"
#include "gstimagestream.h"
#include "glibptr.h"
#include "lengthprefix.h"
#include "lengthprefixtls.h"
#include "tcp.h"
#include "tlshandshakes.h"
#include "warningthrottle.h"

using imagestream::AddressFilter;
using imagestream::ErrorPtr;
using imagestream::FrameParser;
using imagestream::GObjectPtr;
using imagestream::IpAddress;
using imagestream::MainContextPtr;
using imagestream::out;
using imagestream::PrefixFormat;
using imagestream::TlsCredentials;
using imagestream::TlsFiles;
using imagestream::TlsHandshakes;
using imagestream::WarningThrottle;

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

// Bytes read per recv() into the staging buffer; payloads with at least
// kDirectRead bytes still missing are read straight into their memory.
constexpr size_t kStagingSize = 64 * 1024;
constexpr size_t kDirectRead = 16 * 1024;
// A frame's memory starts at this much (or its size, if smaller: one
// allocation and no copy for a camera's frame, as before) and doubles as
// bytes arrive. A header alone pins no more; larger frames pay a copy of at
// most their size as they grow.
constexpr uint64_t kFirstPiece = 1024 * 1024;
// A sender that completed a frame (or connected) this recently is never
// replaced by a newcomer: longer than a slow camera's frame interval.
constexpr gint64 kEvictionGrace = 5 * G_USEC_PER_SEC;
// A TLS sender must have completed its handshake this long after connecting.
constexpr gint64 kHandshakeTimeout = 5 * G_USEC_PER_SEC;
// After an accept error other than "nothing to accept" (out of file
// descriptors, memory, buffers) the listener rests this long: it stays
// readable, and retrying at once would spin the streaming thread.
constexpr gint64 kAcceptBackoff = 100 * G_TIME_SPAN_MILLISECOND;
// Connections accepted per wake-up and listener, so that a connection flood
// and the senders' frames take turns.
constexpr int kAcceptsPerWakeup = 64;
// Connections the kernel completes before the streaming thread accepts them.
constexpr int kListenBacklog = 128;

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

namespace {

// Why a sender left: the `reason` of sender-removed and of the bus message.
enum class SenderExit { Closed, ClosedMidFrame, Oversized, Error, Evicted, TimedOut, OverBudget, Stopped };
const char *exit_name(SenderExit exit) {
  static const char *const names[] = {"closed",  "closed-mid-frame", "oversized",   "error",
                                      "evicted", "timed-out",        "over-budget", "stopped"};
  return names[static_cast<int>(exit)];
}

// Why a connection was refused before it became a sender.
enum class Refusal { Full, PerAddress, NotAllowed, Tls, kCount };

// What the element warns about, each kind rate-limited on its own. The
// summary of those held back reads "<count> more <what> in the last 1.0 s:
// <why>".
enum class Notice { RefusedFull, RefusedPerAddress, RefusedNotAllowed, RefusedTls, Oversized, TimedOut, OverBudget,
                    AcceptFailed, kCount };
constexpr size_t kNotices = static_cast<size_t>(Notice::kCount);
struct NoticeSummary {
  const char *what;
  const char *why;
};
NoticeSummary notice_summary(Notice n) {
  static const NoticeSummary summaries[] = {
      {"senders refused", "max-senders were connected, each with a frame or its connection in the last 5 s"},
      {"senders refused", "max-senders-per-address were connected from their address"},
      {"senders refused", "not in allowed-senders"},
      {"senders refused", "no TLS handshake"},
      {"senders disconnected", "they announced a frame above max-frame-size"},
      {"senders disconnected", "they did not complete a frame within frame-timeout"},
      {"senders disconnected", "partial frames exceeded max-pending-bytes"},
      {"accepts failed", "the listener rests 100 ms after each"},
  };
  return summaries[static_cast<size_t>(n)];
}
Notice refusal_notice(Refusal r) {
  static const Notice notices[] = {Notice::RefusedFull, Notice::RefusedPerAddress, Notice::RefusedNotAllowed,
                                   Notice::RefusedTls};
  return notices[static_cast<size_t>(r)];
}

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

// The settings the streaming thread applies at one wake-up, copied under the
// object lock once.
struct Limits {
  PrefixFormat format;
  guint64 max_frame_size;
  guint max_senders;
  guint max_senders_per_address;
  gint64 frame_timeout;  // µs, 0 = none
  guint64 max_pending_bytes;
};

// Counters written by the streaming thread only, read from any thread.
struct Counter {
  std::atomic<guint64> value{0};
  void add(guint64 n) { value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(guint64 n) { value.store(value.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  guint64 get() const { return value.load(std::memory_order_relaxed); }
};

struct Ingest;

// How far a sender is: a TLS sender waits for its whole ClientHello, then
// for a handshake slot, then handshakes (see TlsHandshakes); then frames flow.
enum class Phase { AwaitingHello, AwaitingSlot, Handshaking, Open };

// One connected sender: its socket and the frame it is in the middle of.
struct Sender final : FrameParser::Receiver {
  Sender(GSocket *s, const IpAddress &ip, Ingest &in, const Limits &limits, gint64 now)
      : socket(s), address(imagestream::peer_address(s)), group(ip.sender_group()),
        parser(limits.format, limits.max_frame_size), ingest(in), connected_at(now), last_frame_at(now) {}
  ~Sender() override { release_frame(); }

  void frame_begin(uint64_t size) override;
  uint8_t *frame_room(uint64_t offset, uint64_t *room) override;
  void frame_complete() override;
  void frame_empty() override;
  void release_frame();
  gssize receive(uint8_t *buffer, size_t size, GError **error);
  // When it must have done what it is doing: the handshake, or the frame it began.
  gint64 deadline(gint64 frame_timeout) const;

  GObjectPtr<GSocket> socket;
  GObjectPtr<GIOStream> tls;  // over `socket`, once its handshake started; null for plain TCP
  std::shared_ptr<TlsHandshakes::Handshake> handshake;  // while Handshaking
  Phase phase = Phase::Open;
  std::string address;  // "host:port", as logs and signals name it
  IpAddress group;      // what max-senders-per-address counts it under
  FrameParser parser;
  Ingest &ingest;
  // The payload being received, in memory that grows as its bytes arrive
  // (never past its size): a header alone pins little memory.
  uint8_t *frame = nullptr;  // g_malloc'd; becomes the buffer's memory when complete
  uint64_t frame_size = 0;
  uint64_t frame_capacity = 0;  // bytes of `frame`, counted in Ingest::pending_bytes
  bool added = false;     // announced by sender-added (TLS senders once their handshake succeeded)
  bool discont = true;    // the next frame is this sender's first
  bool tls_buffered = false;  // the TLS layer may hold read bytes the socket no longer shows
  bool was_readable = false;  // in this wake-up (its deadline waits for what it sent)
  std::optional<SenderExit> doomed;  // to be removed at the end of this wake-up, for this reason
  gint64 connected_at;               // monotonic µs
  gint64 last_frame_at;              // of its last complete frame; its connection before the first
  gint64 frame_started_at = 0;       // of the first byte of the frame it is in
  guint64 frames_completed = 0;
};

// The sockets and frames; touched by the streaming thread, and by state
// changes while that thread is stopped, so it needs no lock.
struct Ingest {
  std::vector<GObjectPtr<GSocket>> listeners;
  std::vector<gint64> listener_rests_until;  // per listener: not polled before (accept errors)
  std::vector<std::unique_ptr<Sender>> senders;
  std::deque<GstBuffer *> ready;  // complete frames not yet pushed
  std::vector<pollfd> pollfds;
  std::vector<size_t> polled_senders;  // index in `senders` of each sender's fd in `pollfds`
  std::unique_ptr<uint8_t[]> staging = std::make_unique<uint8_t[]>(kStagingSize);
  bool senders_announced = false;  // downstream was told the number of senders once
  GstClockTime arrival = GST_CLOCK_TIME_NONE;  // running time of the current wake-up
  gint64 now = 0;                              // monotonic µs of the current wake-up
  bool had_sender = false;

  // Set going from NULL to READY, from allowed-senders and the TLS files.
  AddressFilter allowed;
  TlsCredentials tls;
  TlsHandshakes handshakes;

  std::array<WarningThrottle, kNotices> throttles;  // one a second per kind
  std::array<gint64, kNotices> last_warned{};  // when each kind last gave a line

  Counter frames_received, bytes_received, frames_dropped, frames_empty;
  Counter senders_total, senders_refused, senders_evicted, senders_timed_out, senders_over_budget, accept_errors;
  std::array<Counter, static_cast<size_t>(Refusal::kCount)> refused_by;
  Counter pending_bytes;  // memory of all partial frames (Sender::frame_capacity summed)
  std::atomic<guint> num_senders{0};  // added senders
  std::atomic<int> current_port{0};

  void clear_ready() {
    for (GstBuffer *b : ready) gst_buffer_unref(b);
    ready.clear();
  }
  void count_added() {
    guint n = 0;
    for (auto &s : senders) n += s->added;
    num_senders.store(n);
  }
};

void Sender::frame_begin(uint64_t size) {
  frame_size = size;
  frame_capacity = std::min(size, kFirstPiece);
  frame = static_cast<uint8_t *>(g_malloc(frame_capacity));
  ingest.pending_bytes.add(frame_capacity);
}

uint8_t *Sender::frame_room(uint64_t offset, uint64_t *room) {
  if (offset == frame_capacity) {
    const uint64_t grown = std::min(frame_size, frame_capacity * 2);
    frame = static_cast<uint8_t *>(g_realloc(frame, grown));
    ingest.pending_bytes.add(grown - frame_capacity);
    frame_capacity = grown;
  }
  *room = frame_capacity - offset;
  return frame + offset;
}

void Sender::frame_complete() {
  // The room handed out reached the frame's size: capacity == size.
  GstBuffer *buffer = gst_buffer_new_wrapped(frame, frame_size);
  ingest.pending_bytes.sub(frame_capacity);
  frame = nullptr;
  frame_capacity = 0;
  GST_BUFFER_PTS(buffer) = ingest.arrival;
  GST_BUFFER_OFFSET(buffer) = ingest.frames_received.get();
  if (discont) {
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
    discont = false;
  }
  ingest.frames_received.add(1);
  ingest.bytes_received.add(frame_size);
  ingest.ready.push_back(buffer);
  frames_completed++;
  last_frame_at = ingest.now;
}

void Sender::frame_empty() { ingest.frames_empty.add(1); }

void Sender::release_frame() {
  if (!frame) return;
  g_free(frame);
  ingest.pending_bytes.sub(frame_capacity);
  frame = nullptr;
  frame_capacity = 0;
}

gssize Sender::receive(uint8_t *buffer, size_t size, GError **error) {
  if (!tls)
    return g_socket_receive_with_blocking(socket.get(), reinterpret_cast<gchar *>(buffer), size, FALSE, nullptr,
                                          error);
  GInputStream *in = g_io_stream_get_input_stream(tls.get());
  gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), buffer, size, nullptr, error);
  // The TLS layer decrypts a record at a time; what did not fit stays there,
  // out of the socket's sight.
  tls_buffered = n > 0 && static_cast<size_t>(n) == size;
  return n;
}

gint64 Sender::deadline(gint64 frame_timeout) const {
  if (phase != Phase::Open) return connected_at + kHandshakeTimeout;
  if (frame_timeout && parser.mid_frame()) return frame_started_at + frame_timeout;
  return G_MAXINT64;
}

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

static Limits current_limits(GstLengthPrefixSrc *self) {
  GST_OBJECT_LOCK(self);
  const Settings &s = self->state.settings;
  Limits l{s.format,
           s.max_frame_size,
           s.max_senders,
           s.max_senders_per_address,
           gint64{s.frame_timeout} * G_USEC_PER_SEC,
           s.max_pending_bytes};
  GST_OBJECT_UNLOCK(self);
  return l;
}

// A warning on the bus, unless one of its kind was given in the last second:
// then it is counted, and warn_held_back() sums those up when that second
// ends. `text` makes the line, only when it is given.
template <typename Text>
static void warn(GstLengthPrefixSrc *self, Notice kind, const Text &text) {
  Ingest &in = self->state.ingest;
  const size_t k = static_cast<size_t>(kind);
  const gint64 now = g_get_monotonic_time();
  if (!in.throttles[k].admit(now)) return;
  in.last_warned[k] = now;
  const std::string line = text();
  if (kind == Notice::AcceptFailed)
    GST_ELEMENT_WARNING(self, RESOURCE, READ, ("%s", line.c_str()), (nullptr));
  else if (kind == Notice::Oversized || kind == Notice::TimedOut || kind == Notice::OverBudget)
    GST_ELEMENT_WARNING(self, STREAM, DECODE, ("%s", line.c_str()), (nullptr));
  else
    GST_ELEMENT_WARNING(self, RESOURCE, OPEN_READ, ("%s", line.c_str()), (nullptr));
}

static void warn_held_back(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  const gint64 now = g_get_monotonic_time();
  for (size_t k = 0; k < kNotices; k++) {
    const guint64 n = in.throttles[k].take_due(now);
    if (!n) continue;
    const double since = (now - in.last_warned[k]) / 1e6;
    in.last_warned[k] = now;
    const NoticeSummary summary = notice_summary(static_cast<Notice>(k));
    GST_ELEMENT_WARNING(self, RESOURCE, OPEN_READ,
                        ("%" G_GUINT64_FORMAT " more %s in the last %.1f s: %s", n, summary.what, since, summary.why),
                        (nullptr));
  }
}

static gint64 next_held_back_due(Ingest &in) {
  gint64 due = G_MAXINT64;
  for (const WarningThrottle &t : in.throttles) due = std::min<gint64>(due, t.due());
  return due;
}

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

static void announce_added(GstLengthPrefixSrc *self, Sender &sender) {
  Ingest &in = self->state.ingest;
  sender.added = true;
  in.count_added();
  in.senders_total.add(1);
  in.had_sender = true;
  GST_INFO_OBJECT(self, "sender %s connected%s", sender.address.c_str(), sender.tls ? " (TLS)" : "");
  g_signal_emit(self, signals[SIGNAL_SENDER_ADDED], 0, sender.address.c_str());
  post_sender_event(self, "lengthprefixsrc-sender-added", sender.address, nullptr);
  announce_senders(self);
}

template <typename Text>
static void count_refusal(GstLengthPrefixSrc *self, Refusal why, const Text &text) {
  Ingest &in = self->state.ingest;
  in.senders_refused.add(1);
  in.refused_by[static_cast<size_t>(why)].add(1);
  warn(self, refusal_notice(why), text);
}

// Closes a sender's connection. A running handshake reads the socket in
// another thread: it is cancelled, and its completion closes the socket.
static void close_connection(Sender &sender) {
  if (sender.handshake && !sender.handshake->done) {
    TlsHandshakes::abandon(*sender.handshake);
    return;
  }
  g_socket_close(sender.socket.get(), nullptr);
}

// Removes a sender and closes its connection. One never added (a TLS sender
// before its handshake succeeded) leaves without signals: it was counted as
// refused, if at all.
static void remove_sender(GstLengthPrefixSrc *self, size_t index, SenderExit exit) {
  const char *reason = exit_name(exit);
  Ingest &in = self->state.ingest;
  std::unique_ptr<Sender> sender = std::move(in.senders[index]);
  in.senders.erase(in.senders.begin() + index);
  close_connection(*sender);
  if (!sender->added) return;
  in.count_added();
  if (sender->parser.mid_frame()) {
    in.frames_dropped.add(1);
    GST_INFO_OBJECT(self, "sender %s left mid-frame; partial frame dropped", sender->address.c_str());
  }
  GST_INFO_OBJECT(self, "sender %s removed: %s", sender->address.c_str(), reason);
  g_signal_emit(self, signals[SIGNAL_SENDER_REMOVED], 0, sender->address.c_str(), reason);
  post_sender_event(self, "lengthprefixsrc-sender-removed", sender->address, reason);
  announce_senders(self);
}

// Removes the senders marked doomed during this wake-up.
static void remove_doomed(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  for (size_t i = in.senders.size(); i-- > 0;)
    if (in.senders[i]->doomed) remove_sender(self, i, *in.senders[i]->doomed);
}

// Waits (a bounded time) for cancelled handshakes to end, so that none holds
// the element's sockets after stop().
static void finish_handshakes(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  if (!in.handshakes.finish(2 * G_USEC_PER_SEC))
    GST_WARNING_OBJECT(self, "%d TLS handshakes did not stop", in.handshakes.running());
}

static void close_all(GstLengthPrefixSrc *self, SenderExit exit) {
  Ingest &in = self->state.ingest;
  while (!in.senders.empty()) remove_sender(self, in.senders.size() - 1, exit);
  finish_handshakes(self);
  in.clear_ready();
  in.had_sender = false;
  in.senders_announced = false;
}

// At max-senders, a newcomer replaces the sender that made progress longest
// ago: whose last complete frame (or, before its first, its connection) is
// the oldest, if that was at least kEvictionGrace ago. A camera that sends a
// frame every few seconds keeps its place however many connections trickle
// bytes or hold partial frames: they complete nothing, so they go first.
static bool evict_for_newcomer(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  if (in.senders.empty()) return false;
  size_t stalest = 0;
  for (size_t i = 1; i < in.senders.size(); i++)
    if (in.senders[i]->last_frame_at < in.senders[stalest]->last_frame_at) stalest = i;
  if (in.now - in.senders[stalest]->last_frame_at < kEvictionGrace) return false;
  GST_INFO_OBJECT(self, "sender %s makes room for a newcomer: no frame for %.1f s",
                  in.senders[stalest]->address.c_str(), (in.now - in.senders[stalest]->last_frame_at) / 1e6);
  in.senders_evicted.add(1);
  remove_sender(self, stalest, SenderExit::Evicted);
  return true;
}

static std::optional<IpAddress> peer_ip(GSocket *socket) {
  GObjectPtr<GSocketAddress> address(g_socket_get_remote_address(socket, nullptr));
  if (!address || !G_IS_INET_SOCKET_ADDRESS(address.get())) return std::nullopt;
  GInetAddress *ip = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address.get()));
  return IpAddress::from_bytes(g_inet_address_to_bytes(ip), g_inet_address_get_native_size(ip));
}

// Decides on a connection just accepted: refused (closed at once, counted) or
// a new sender.
static void admit(GstLengthPrefixSrc *self, GObjectPtr<GSocket> socket, const Limits &limits) {
  Ingest &in = self->state.ingest;
  g_socket_set_blocking(socket.get(), FALSE);
  std::optional<IpAddress> ip = peer_ip(socket.get());
  if (!ip) {  // gone already
    g_socket_close(socket.get(), nullptr);
    return;
  }
  // The line is made only if it is printed: refusals come in floods.
  auto refuse = [&](Refusal why, const std::string &reason) {
    count_refusal(self, why, [&] { return "Refused sender " + imagestream::peer_address(socket.get()) + ": " + reason; });
    g_socket_close(socket.get(), nullptr);
  };
  if (!in.allowed.admits(*ip)) {
    refuse(Refusal::NotAllowed, "not in allowed-senders");
    return;
  }
  if (limits.max_senders_per_address) {
    const IpAddress group = ip->sender_group();
    guint same = 0;
    for (auto &s : in.senders) same += s->group == group;
    if (same >= limits.max_senders_per_address) {
      refuse(Refusal::PerAddress,
             "max-senders-per-address (" + std::to_string(limits.max_senders_per_address) +
                 ") are connected from its address");
      return;
    }
  }
  if (limits.max_senders && in.senders.size() >= limits.max_senders && !evict_for_newcomer(self)) {
    refuse(Refusal::Full, "max-senders (" + std::to_string(limits.max_senders) +
                              ") are connected, and each completed a frame or connected in the last 5 s");
    return;
  }
  auto sender = std::make_unique<Sender>(socket.release(), *ip, in, limits, in.now);
  Sender &s = *sender;
  in.senders.push_back(std::move(sender));
  if (in.tls.enabled) {
    s.phase = Phase::AwaitingHello;
    GST_DEBUG_OBJECT(self, "sender %s connected; waiting for its TLS handshake", s.address.c_str());
    return;
  }
  announce_added(self, s);
}

static void accept_senders(GstLengthPrefixSrc *self, size_t index, const Limits &limits) {
  Ingest &in = self->state.ingest;
  GSocket *listener = in.listeners[index].get();
  for (int i = 0; i < kAcceptsPerWakeup; i++) {
    ErrorPtr err;
    GObjectPtr<GSocket> socket(g_socket_accept(listener, nullptr, out(err)));
    if (socket) {
      admit(self, std::move(socket), limits);
      continue;
    }
    if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return;
    in.accept_errors.add(1);
    in.listener_rests_until[index] = in.now + kAcceptBackoff;
    warn(self, Notice::AcceptFailed, [&] {
      return "Cannot accept senders on port " + std::to_string(in.current_port.load()) + ": " + err->message +
             "; trying again in 100 ms";
    });
    return;
  }
}

// A TLS sender whose first bytes arrived (or that hung up): waits for its
// whole ClientHello, then for a handshake slot.
static void check_hello(GstLengthPrefixSrc *self, Sender &sender, short revents) {
  // Part of a hello and then a hang-up would keep the socket readable.
  if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
    sender.doomed = SenderExit::Closed;
    count_refusal(self, Refusal::Tls, [&] { return "Refused sender " + sender.address + ": it hung up before its TLS handshake"; });
    return;
  }
  switch (TlsHandshakes::hello(sender.socket.get())) {
    case TlsHandshakes::Hello::Incomplete:
      return;
    case TlsHandshakes::Hello::NotTls:
      sender.doomed = SenderExit::Error;
      count_refusal(self, Refusal::Tls, [&] {
        return "Refused sender " + sender.address + ": it does not speak TLS (tls-certificate is set)";
      });
      return;
    case TlsHandshakes::Hello::Complete:
      sender.phase = Phase::AwaitingSlot;
  }
}

// Starts the handshakes of senders waiting for a slot, oldest first.
static void start_handshakes(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  for (auto &s : in.senders) {
    if (!in.handshakes.can_start()) return;
    if (s->phase != Phase::AwaitingSlot || s->doomed) continue;
    GObjectPtr<GIOStream> tcp(G_IO_STREAM(g_socket_connection_factory_create_connection(s->socket.get())));
    ErrorPtr err;
    s->tls.reset(imagestream::tls_server_connection(tcp.get(), in.tls, out(err)));
    if (!s->tls) {
      s->doomed = SenderExit::Error;
      count_refusal(self, Refusal::Tls, [&] { return "Refused sender " + s->address + ": " + err->message; });
      continue;
    }
    s->phase = Phase::Handshaking;
    s->handshake = in.handshakes.start(G_TLS_CONNECTION(s->tls.get()), s->socket.get());
  }
}

// Senders whose handshake completed: added, or refused with the reason.
static void finish_completed_handshakes(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  for (auto &s : in.senders) {
    if (s->phase != Phase::Handshaking || !s->handshake->done || s->doomed) continue;
    std::shared_ptr<TlsHandshakes::Handshake> h = std::move(s->handshake);
    if (!h->error.empty()) {
      s->doomed = SenderExit::Error;
      count_refusal(self, Refusal::Tls,
                    [&] { return "Refused sender " + s->address + ": TLS handshake failed: " + h->error; });
      continue;
    }
    s->phase = Phase::Open;
    // The handshake may have read application data the socket no longer shows.
    s->tls_buffered = true;
    announce_added(self, *s);
  }
}

// Over max-pending-bytes, the sender holding the largest partial frame goes
// (its memory at once) until the partial frames fit: neither one sender nor
// many together pin more than the budget.
static void enforce_pending_budget(GstLengthPrefixSrc *self, const Limits &limits) {
  Ingest &in = self->state.ingest;
  while (limits.max_pending_bytes && in.pending_bytes.get() > limits.max_pending_bytes) {
    Sender *largest = nullptr;
    for (auto &s : in.senders)
      if (!s->doomed && s->frame_capacity > (largest ? largest->frame_capacity : 0)) largest = s.get();
    if (!largest) return;
    warn(self, Notice::OverBudget, [&] {
      return "Sender " + largest->address + " holds the largest partial frame (" +
             std::to_string(largest->frame_capacity) + " bytes of " + std::to_string(largest->frame_size) +
             ") while partial frames take " + std::to_string(in.pending_bytes.get()) +
             " bytes, above max-pending-bytes (" + std::to_string(limits.max_pending_bytes) + "); disconnecting it";
    });
    in.senders_over_budget.add(1);
    largest->doomed = SenderExit::OverBudget;
    largest->release_frame();
  }
}

// Reads what one sender has; returns why it must go, or nothing to keep it.
static std::optional<SenderExit> read_sender(GstLengthPrefixSrc *self, Sender &sender) {
  Ingest &in = self->state.ingest;
  FrameParser &parser = sender.parser;
  const bool was_mid_frame = parser.mid_frame();
  const guint64 completed = sender.frames_completed;
  ErrorPtr err;
  gssize n;
  if (parser.payload_missing() >= kDirectRead) {
    uint64_t room = 0;
    uint8_t *at = parser.payload_room(sender, &room);
    n = sender.receive(at, static_cast<size_t>(std::min<uint64_t>(room, G_MAXSSIZE)), out(err));
    if (n > 0) parser.payload_written(n, sender);
  } else {
    n = sender.receive(in.staging.get(), kStagingSize, out(err));
    if (n > 0 && parser.feed(in.staging.get(), n, sender) == FrameParser::Status::Oversized) {
      warn(self, Notice::Oversized, [&] {
        return "Sender " + sender.address + " announced a frame of " + std::to_string(parser.announced_size()) +
               " bytes, above max-frame-size; disconnecting it";
      });
      // The header was consumed, so the frame counts as lost.
      in.frames_dropped.add(1);
      return SenderExit::Oversized;
    }
  }
  if (n > 0) {
    if (parser.mid_frame() && (!was_mid_frame || sender.frames_completed != completed))
      sender.frame_started_at = in.now;
    return std::nullopt;
  }
  if (n == 0) return parser.mid_frame() ? SenderExit::ClosedMidFrame : SenderExit::Closed;
  if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return std::nullopt;
  GST_INFO_OBJECT(self, "sender %s: %s", sender.address.c_str(), err->message);
  return SenderExit::Error;
}

// Senders past their deadline: a frame begun frame-timeout ago and not
// complete (once its socket has nothing more for us), or a TLS handshake not
// done 5 s after connecting.
static void enforce_deadlines(GstLengthPrefixSrc *self, const Limits &limits) {
  Ingest &in = self->state.ingest;
  for (size_t i = 0; i < in.senders.size(); i++) {
    Sender &s = *in.senders[i];
    if (s.doomed || in.now < s.deadline(limits.frame_timeout)) continue;
    // A frame's bytes that were waiting for us were just read: judge it next time.
    if (s.phase == Phase::Open && s.was_readable) continue;
    if (s.phase != Phase::Open) {
      s.doomed = SenderExit::TimedOut;
      count_refusal(self, Refusal::Tls, [&] { return "Refused sender " + s.address + ": no TLS handshake within 5 s"; });
      continue;
    }
    warn(self, Notice::TimedOut, [&] {
      return "Sender " + s.address + " began a frame and did not complete it within frame-timeout (" +
             std::to_string(limits.frame_timeout / G_USEC_PER_SEC) + " s); disconnecting it";
    });
    in.senders_timed_out.add(1);
    s.doomed = SenderExit::TimedOut;
  }
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

// Milliseconds from `now` to `when` for poll(), rounded up; -1 for never.
static int poll_timeout(gint64 now, gint64 when) {
  if (when == G_MAXINT64) return -1;
  if (when <= now) return 0;
  return static_cast<int>(std::min<gint64>((when - now + 999) / 1000, G_MAXINT));
}

// Waits for sockets and deadlines, and reads the sockets once each. False
// when woken by unlock().
static bool wait_and_read(GstLengthPrefixSrc *self) {
  Ingest &in = self->state.ingest;
  const Limits limits = current_limits(self);
  const gint64 before = g_get_monotonic_time();
  gint64 wake = next_held_back_due(in);
  in.pollfds.clear();
  in.polled_senders.clear();
  in.pollfds.push_back({self->state.cancel_fd.fd, POLLIN, 0});
  for (size_t i = 0; i < in.senders.size(); i++) {
    Sender &s = *in.senders[i];
    wake = std::min(wake, s.deadline(limits.frame_timeout));
    if (s.tls_buffered) wake = before;
    // A handshake's socket is its thread's; one waiting for a slot is readable.
    if (s.phase == Phase::Handshaking || s.phase == Phase::AwaitingSlot) continue;
    const short events = s.phase == Phase::AwaitingHello ? POLLIN | POLLRDHUP : POLLIN;
    in.pollfds.push_back({g_socket_get_fd(s.socket.get()), events, 0});
    in.polled_senders.push_back(i);
  }
  const size_t first_listener = in.pollfds.size();
  for (size_t i = 0; i < in.listeners.size(); i++) {
    if (in.listener_rests_until[i] > before) {
      wake = std::min(wake, in.listener_rests_until[i]);
      in.pollfds.push_back({-1, 0, 0});  // poll() ignores negative fds
    } else {
      in.pollfds.push_back({g_socket_get_fd(in.listeners[i].get()), POLLIN, 0});
    }
  }
  int timeout = poll_timeout(before, wake);
  const bool tls = in.tls.enabled;
  if (tls) in.handshakes.before_poll(in.pollfds, timeout);

  int r;
  do {
    r = poll(in.pollfds.data(), in.pollfds.size(), timeout);
  } while (r < 0 && errno == EINTR);
  if (in.pollfds[0].revents) {
    if (tls) in.handshakes.after_poll(in.pollfds);
    return false;
  }
  in.arrival = running_time_now(self);
  in.now = g_get_monotonic_time();

  for (auto &s : in.senders) s->was_readable = false;
  for (size_t k = 0; k < in.polled_senders.size(); k++) {
    const size_t i = in.polled_senders[k];
    Sender &s = *in.senders[i];
    if (!in.pollfds[1 + k].revents && !s.tls_buffered) continue;
    s.was_readable = true;
    if (s.doomed) continue;  // its memory went to the budget
    if (s.phase == Phase::AwaitingHello) {
      check_hello(self, s, in.pollfds[1 + k].revents);
      continue;
    }
    if (auto exit = read_sender(self, s)) s.doomed = exit;
    enforce_pending_budget(self, limits);
  }
  if (tls) {
    in.handshakes.after_poll(in.pollfds);
    finish_completed_handshakes(self);
    start_handshakes(self);
  }
  enforce_deadlines(self, limits);
  remove_doomed(self);
  for (size_t i = 0; i < in.listeners.size(); i++) {
    if (in.pollfds[first_listener + i].revents) accept_senders(self, i, limits);
  }
  warn_held_back(self);
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
    if (eos_when_empty && in.had_sender && in.num_senders.load() == 0) {
      GST_INFO_OBJECT(self, "last sender left: end of stream");
      return GST_FLOW_EOS;
    }
    if (!wait_and_read(self)) return GST_FLOW_FLUSHING;
  }
}

// Who may send and how: allowed-senders and the TLS files, checked before
// anything listens, so that a mistake fails the state change with one line.
static bool load_admission(GstLengthPrefixSrc *self) {
  GST_OBJECT_LOCK(self);
  const std::string allowed = self->state.settings.allowed_senders;
  const TlsFiles files = self->state.settings.tls;
  GST_OBJECT_UNLOCK(self);
  Ingest &in = self->state.ingest;
  std::string error;
  std::optional<AddressFilter> filter = AddressFilter::parse(allowed, error);
  if (!filter) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.c_str()), (nullptr));
    return false;
  }
  in.allowed = std::move(*filter);
  error = imagestream::load_tls_credentials(files, true, in.tls);
  if (!error.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.c_str()), (nullptr));
    return false;
  }
  return true;
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
  in.listener_rests_until.assign(in.listeners.size(), 0);
  in.current_port.store(listeners.port);
  GST_INFO_OBJECT(self, "listening on %s port %d%s", host.c_str(), listeners.port, in.tls.enabled ? " (TLS)" : "");
  g_object_notify(G_OBJECT(self), "current-port");
  return true;
}

static void close_listeners(GstLengthPrefixSrc *self) {
  for (auto &l : self->state.ingest.listeners) g_socket_close(l.get(), nullptr);
  self->state.ingest.listeners.clear();
  self->state.ingest.listener_rests_until.clear();
  self->state.ingest.current_port.store(0);
}

static GstStateChangeReturn gst_length_prefix_src_change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_LENGTH_PREFIX_SRC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !(load_admission(self) && open_listeners(self)))
    return GST_STATE_CHANGE_FAILURE;
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
  auto refused = [&](Refusal r) { return in.refused_by[static_cast<size_t>(r)].get(); };
  return gst_structure_new(
      "lengthprefixsrc-stats", "frames-received", G_TYPE_UINT64, in.frames_received.get(), "bytes-received",
      G_TYPE_UINT64, in.bytes_received.get(), "frames-dropped", G_TYPE_UINT64, in.frames_dropped.get(),
      "frames-empty", G_TYPE_UINT64, in.frames_empty.get(), "num-senders", G_TYPE_UINT, in.num_senders.load(),
      "senders-total", G_TYPE_UINT64, in.senders_total.get(), "senders-refused", G_TYPE_UINT64,
      in.senders_refused.get(), "senders-refused-full", G_TYPE_UINT64, refused(Refusal::Full),
      "senders-refused-per-address", G_TYPE_UINT64, refused(Refusal::PerAddress), "senders-refused-not-allowed",
      G_TYPE_UINT64, refused(Refusal::NotAllowed), "senders-refused-tls", G_TYPE_UINT64, refused(Refusal::Tls),
      "senders-evicted", G_TYPE_UINT64, in.senders_evicted.get(), "senders-timed-out", G_TYPE_UINT64,
      in.senders_timed_out.get(), "senders-over-budget", G_TYPE_UINT64, in.senders_over_budget.get(),
      "pending-bytes", G_TYPE_UINT64, in.pending_bytes.get(), "accept-errors", G_TYPE_UINT64,
      in.accept_errors.get(), nullptr);
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
