#include "ingest.h"

#include <algorithm>
#include <cerrno>

#include "tcp.h"

namespace imagestream {

namespace {

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

// How far a sender is: a TLS sender waits for its whole ClientHello, then
// for a handshake slot, then handshakes (see TlsHandshakes); then frames flow.
enum class Phase { AwaitingHello, AwaitingSlot, Handshaking, Open };

std::optional<IpAddress> peer_ip(GSocket *socket) {
  GObjectPtr<GSocketAddress> address(g_socket_get_remote_address(socket, nullptr));
  if (!address || !G_IS_INET_SOCKET_ADDRESS(address.get())) return std::nullopt;
  GInetAddress *ip = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address.get()));
  return IpAddress::from_bytes(g_inet_address_to_bytes(ip), g_inet_address_get_native_size(ip));
}

// Milliseconds from `now` to `when` for poll(), rounded up; -1 for never.
int poll_timeout(gint64 now, gint64 when) {
  if (when == G_MAXINT64) return -1;
  if (when <= now) return 0;
  return static_cast<int>(std::min<gint64>((when - now + 999) / 1000, G_MAXINT));
}

}  // namespace

const char *exit_name(SenderExit exit) {
  static const char *const names[] = {"closed",  "closed-mid-frame", "oversized",   "error",
                                      "evicted", "timed-out",        "over-budget", "stopped"};
  return names[static_cast<int>(exit)];
}

Ingest::NoticeSummary Ingest::notice_summary(Notice n) {
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

Ingest::Notice Ingest::refusal_notice(Refusal r) {
  static const Notice notices[] = {Notice::RefusedFull, Notice::RefusedPerAddress, Notice::RefusedNotAllowed,
                                   Notice::RefusedTls};
  return notices[static_cast<size_t>(r)];
}

// One connected sender: its socket and the frame it is in the middle of.
struct Ingest::Sender final : FrameParser::Receiver {
  Sender(GSocket *s, const IpAddress &ip, Ingest &in, const IngestLimits &limits, gint64 now)
      : socket(s), address(peer_address(s)), group(ip.sender_group()),
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
  uint64_t frame_capacity = 0;  // bytes of `frame`, counted in Ingest::pending_bytes_
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

void Ingest::Sender::frame_begin(uint64_t size) {
  frame_size = size;
  frame_capacity = std::min(size, kFirstPiece);
  frame = static_cast<uint8_t *>(g_malloc(frame_capacity));
  ingest.pending_bytes_.add(frame_capacity);
}

uint8_t *Ingest::Sender::frame_room(uint64_t offset, uint64_t *room) {
  if (offset == frame_capacity) {
    const uint64_t grown = std::min(frame_size, frame_capacity * 2);
    frame = static_cast<uint8_t *>(g_realloc(frame, grown));
    ingest.pending_bytes_.add(grown - frame_capacity);
    frame_capacity = grown;
  }
  *room = frame_capacity - offset;
  return frame + offset;
}

void Ingest::Sender::frame_complete() {
  // The room handed out reached the frame's size: capacity == size.
  GstBuffer *buffer = gst_buffer_new_wrapped(frame, frame_size);
  ingest.pending_bytes_.sub(frame_capacity);
  frame = nullptr;
  frame_capacity = 0;
  GST_BUFFER_PTS(buffer) = ingest.arrival_;
  GST_BUFFER_OFFSET(buffer) = ingest.frames_received_.get();
  if (discont) {
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
    discont = false;
  }
  ingest.frames_received_.add(1);
  ingest.bytes_received_.add(frame_size);
  ingest.ready_.push_back(buffer);
  frames_completed++;
  last_frame_at = ingest.now_;
}

void Ingest::Sender::frame_empty() { ingest.frames_empty_.add(1); }

void Ingest::Sender::release_frame() {
  if (!frame) return;
  g_free(frame);
  ingest.pending_bytes_.sub(frame_capacity);
  frame = nullptr;
  frame_capacity = 0;
}

gssize Ingest::Sender::receive(uint8_t *buffer, size_t size, GError **error) {
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

gint64 Ingest::Sender::deadline(gint64 frame_timeout) const {
  if (phase != Phase::Open) return connected_at + kHandshakeTimeout;
  if (frame_timeout && parser.mid_frame()) return frame_started_at + frame_timeout;
  return G_MAXINT64;
}

Ingest::Ingest(IngestEvents &events, GstObject *log_object, GstDebugCategory *log_category)
    : events_(events), log_object_(log_object), log_category_(log_category),
      staging_(std::make_unique<uint8_t[]>(kStagingSize)) {
  g_cancellable_make_pollfd(cancellable_.get(), &cancel_fd_);
}

Ingest::~Ingest() {
  // Their frames are counted in pending_bytes_, which goes before them.
  senders_.clear();
  g_cancellable_release_fd(cancellable_.get());
}

void Ingest::clear_ready() {
  for (GstBuffer *b : ready_) gst_buffer_unref(b);
  ready_.clear();
}

void Ingest::count_added() {
  guint n = 0;
  for (auto &s : senders_) n += s->added;
  num_senders_.store(n);
}

IngestStats Ingest::stats() const {
  IngestStats s;
  s.frames_received = frames_received_.get();
  s.bytes_received = bytes_received_.get();
  s.frames_dropped = frames_dropped_.get();
  s.frames_empty = frames_empty_.get();
  s.num_senders = num_senders_.load();
  s.senders_total = senders_total_.get();
  s.senders_refused = senders_refused_.get();
  for (size_t r = 0; r < kRefusals; r++) s.refused_by[r] = refused_by_[r].get();
  s.senders_evicted = senders_evicted_.get();
  s.senders_timed_out = senders_timed_out_.get();
  s.senders_over_budget = senders_over_budget_.get();
  s.pending_bytes = pending_bytes_.get();
  s.accept_errors = accept_errors_.get();
  return s;
}

// A warning on the bus, unless one of its kind was given in the last second:
// then it is counted, and warn_held_back() sums those up when that second
// ends. `text` makes the line, only when it is given.
template <typename Text>
void Ingest::warn(Notice kind, const Text &text) {
  const size_t k = static_cast<size_t>(kind);
  const gint64 now = g_get_monotonic_time();
  if (!throttles_[k].admit(now)) return;
  last_warned_[k] = now;
  const std::string line = text();
  if (kind == Notice::AcceptFailed)
    events_.warning(IngestWarning::AcceptFailed, line);
  else if (kind == Notice::Oversized || kind == Notice::TimedOut || kind == Notice::OverBudget)
    events_.warning(IngestWarning::Disconnected, line);
  else
    events_.warning(IngestWarning::Refused, line);
}

void Ingest::warn_held_back() {
  const gint64 now = g_get_monotonic_time();
  for (size_t k = 0; k < kNotices; k++) {
    const guint64 n = throttles_[k].take_due(now);
    if (!n) continue;
    const double since = (now - last_warned_[k]) / 1e6;
    last_warned_[k] = now;
    const NoticeSummary summary = notice_summary(static_cast<Notice>(k));
    char *line = g_strdup_printf("%" G_GUINT64_FORMAT " more %s in the last %.1f s: %s", n, summary.what, since,
                                 summary.why);
    events_.warning(IngestWarning::Refused, line);
    g_free(line);
  }
}

gint64 Ingest::next_held_back_due() const {
  gint64 due = G_MAXINT64;
  for (const WarningThrottle &t : throttles_) due = std::min<gint64>(due, t.due());
  return due;
}

void Ingest::announce_added(Sender &sender) {
  sender.added = true;
  count_added();
  senders_total_.add(1);
  had_sender_ = true;
  GST_CAT_INFO_OBJECT(log_category_, log_object_, "sender %s connected%s", sender.address.c_str(),
                      sender.tls ? " (TLS)" : "");
  events_.sender_added(sender.address);
  events_.senders_changed(num_senders_.load());
}

template <typename Text>
void Ingest::count_refusal(Refusal why, const Text &text) {
  senders_refused_.add(1);
  refused_by_[static_cast<size_t>(why)].add(1);
  warn(refusal_notice(why), text);
}

// Closes a sender's connection. A running handshake reads the socket in
// another thread: it is cancelled, and its completion closes the socket.
void Ingest::close_connection(Sender &sender) {
  if (sender.handshake && !sender.handshake->done) {
    TlsHandshakes::abandon(*sender.handshake);
    return;
  }
  g_socket_close(sender.socket.get(), nullptr);
}

// Removes a sender and closes its connection. One never added (a TLS sender
// before its handshake succeeded) leaves without signals: it was counted as
// refused, if at all.
void Ingest::remove_sender(size_t index, SenderExit exit) {
  const char *reason = exit_name(exit);
  std::unique_ptr<Sender> sender = std::move(senders_[index]);
  senders_.erase(senders_.begin() + index);
  close_connection(*sender);
  if (!sender->added) return;
  count_added();
  if (sender->parser.mid_frame()) {
    frames_dropped_.add(1);
    GST_CAT_INFO_OBJECT(log_category_, log_object_, "sender %s left mid-frame; partial frame dropped",
                        sender->address.c_str());
  }
  GST_CAT_INFO_OBJECT(log_category_, log_object_, "sender %s removed: %s", sender->address.c_str(), reason);
  events_.sender_removed(sender->address, exit);
  events_.senders_changed(num_senders_.load());
}

// Removes the senders marked doomed during this wake-up.
void Ingest::remove_doomed() {
  for (size_t i = senders_.size(); i-- > 0;)
    if (senders_[i]->doomed) remove_sender(i, *senders_[i]->doomed);
}

// Waits (a bounded time) for cancelled handshakes to end, so that none holds
// the element's sockets after stop().
void Ingest::finish_handshakes() {
  if (!handshakes_.finish(2 * G_USEC_PER_SEC))
    GST_CAT_WARNING_OBJECT(log_category_, log_object_, "%d TLS handshakes did not stop", handshakes_.running());
}

void Ingest::stop() {
  while (!senders_.empty()) remove_sender(senders_.size() - 1, SenderExit::Stopped);
  finish_handshakes();
  clear_ready();
  had_sender_ = false;
}

// At max-senders, a newcomer replaces the sender that made progress longest
// ago: whose last complete frame (or, before its first, its connection) is
// the oldest, if that was at least kEvictionGrace ago. A camera that sends a
// frame every few seconds keeps its place however many connections trickle
// bytes or hold partial frames: they complete nothing, so they go first.
bool Ingest::evict_for_newcomer() {
  if (senders_.empty()) return false;
  size_t stalest = 0;
  for (size_t i = 1; i < senders_.size(); i++)
    if (senders_[i]->last_frame_at < senders_[stalest]->last_frame_at) stalest = i;
  if (now_ - senders_[stalest]->last_frame_at < kEvictionGrace) return false;
  GST_CAT_INFO_OBJECT(log_category_, log_object_, "sender %s makes room for a newcomer: no frame for %.1f s",
                      senders_[stalest]->address.c_str(), (now_ - senders_[stalest]->last_frame_at) / 1e6);
  senders_evicted_.add(1);
  remove_sender(stalest, SenderExit::Evicted);
  return true;
}

// Decides on a connection just accepted: refused (closed at once, counted) or
// a new sender.
void Ingest::admit(GObjectPtr<GSocket> socket, const IngestLimits &limits) {
  g_socket_set_blocking(socket.get(), FALSE);
  std::optional<IpAddress> ip = peer_ip(socket.get());
  if (!ip) {  // gone already
    g_socket_close(socket.get(), nullptr);
    return;
  }
  // The line is made only if it is printed: refusals come in floods.
  auto refuse = [&](Refusal why, const std::string &reason) {
    count_refusal(why, [&] { return "Refused sender " + peer_address(socket.get()) + ": " + reason; });
    g_socket_close(socket.get(), nullptr);
  };
  if (!allowed_.admits(*ip)) {
    refuse(Refusal::NotAllowed, "not in allowed-senders");
    return;
  }
  if (limits.max_senders_per_address) {
    const IpAddress group = ip->sender_group();
    guint same = 0;
    for (auto &s : senders_) same += s->group == group;
    if (same >= limits.max_senders_per_address) {
      refuse(Refusal::PerAddress,
             "max-senders-per-address (" + std::to_string(limits.max_senders_per_address) +
                 ") are connected from its address");
      return;
    }
  }
  if (limits.max_senders && senders_.size() >= limits.max_senders && !evict_for_newcomer()) {
    refuse(Refusal::Full, "max-senders (" + std::to_string(limits.max_senders) +
                              ") are connected, and each completed a frame or connected in the last 5 s");
    return;
  }
  auto sender = std::make_unique<Sender>(socket.release(), *ip, *this, limits, now_);
  Sender &s = *sender;
  senders_.push_back(std::move(sender));
  if (tls_.enabled) {
    s.phase = Phase::AwaitingHello;
    GST_CAT_DEBUG_OBJECT(log_category_, log_object_, "sender %s connected; waiting for its TLS handshake",
                         s.address.c_str());
    return;
  }
  announce_added(s);
}

void Ingest::accept_senders(size_t index, const IngestLimits &limits) {
  GSocket *listener = listeners_[index].get();
  for (int i = 0; i < kAcceptsPerWakeup; i++) {
    ErrorPtr err;
    GObjectPtr<GSocket> socket(g_socket_accept(listener, nullptr, out(err)));
    if (socket) {
      admit(std::move(socket), limits);
      continue;
    }
    if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return;
    accept_errors_.add(1);
    listener_rests_until_[index] = now_ + kAcceptBackoff;
    warn(Notice::AcceptFailed, [&] {
      return "Cannot accept senders on port " + std::to_string(current_port_.load()) + ": " + err->message +
             "; trying again in 100 ms";
    });
    return;
  }
}

// A TLS sender whose first bytes arrived (or that hung up): waits for its
// whole ClientHello, then for a handshake slot.
void Ingest::check_hello(Sender &sender, short revents) {
  // Part of a hello and then a hang-up would keep the socket readable.
  if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
    sender.doomed = SenderExit::Closed;
    count_refusal(Refusal::Tls,
                  [&] { return "Refused sender " + sender.address + ": it hung up before its TLS handshake"; });
    return;
  }
  switch (TlsHandshakes::hello(sender.socket.get())) {
    case TlsHandshakes::Hello::Incomplete:
      return;
    case TlsHandshakes::Hello::NotTls:
      sender.doomed = SenderExit::Error;
      count_refusal(Refusal::Tls, [&] {
        return "Refused sender " + sender.address + ": it does not speak TLS (tls-certificate is set)";
      });
      return;
    case TlsHandshakes::Hello::Complete:
      sender.phase = Phase::AwaitingSlot;
  }
}

// Starts the handshakes of senders waiting for a slot, oldest first.
void Ingest::start_handshakes() {
  for (auto &s : senders_) {
    if (!handshakes_.can_start()) return;
    if (s->phase != Phase::AwaitingSlot || s->doomed) continue;
    GObjectPtr<GIOStream> tcp(G_IO_STREAM(g_socket_connection_factory_create_connection(s->socket.get())));
    ErrorPtr err;
    s->tls.reset(tls_server_connection(tcp.get(), tls_, out(err)));
    if (!s->tls) {
      s->doomed = SenderExit::Error;
      count_refusal(Refusal::Tls, [&] { return "Refused sender " + s->address + ": " + err->message; });
      continue;
    }
    s->phase = Phase::Handshaking;
    s->handshake = handshakes_.start(G_TLS_CONNECTION(s->tls.get()), s->socket.get());
  }
}

// Senders whose handshake completed: added, or refused with the reason.
void Ingest::finish_completed_handshakes() {
  for (auto &s : senders_) {
    if (s->phase != Phase::Handshaking || !s->handshake->done || s->doomed) continue;
    std::shared_ptr<TlsHandshakes::Handshake> h = std::move(s->handshake);
    if (!h->error.empty()) {
      s->doomed = SenderExit::Error;
      count_refusal(Refusal::Tls,
                    [&] { return "Refused sender " + s->address + ": TLS handshake failed: " + h->error; });
      continue;
    }
    s->phase = Phase::Open;
    // The handshake may have read application data the socket no longer shows.
    s->tls_buffered = true;
    announce_added(*s);
  }
}

// Over max-pending-bytes, the sender holding the largest partial frame goes
// (its memory at once) until the partial frames fit: neither one sender nor
// many together pin more than the budget.
void Ingest::enforce_pending_budget(const IngestLimits &limits) {
  while (limits.max_pending_bytes && pending_bytes_.get() > limits.max_pending_bytes) {
    Sender *largest = nullptr;
    for (auto &s : senders_)
      if (!s->doomed && s->frame_capacity > (largest ? largest->frame_capacity : 0)) largest = s.get();
    if (!largest) return;
    warn(Notice::OverBudget, [&] {
      return "Sender " + largest->address + " holds the largest partial frame (" +
             std::to_string(largest->frame_capacity) + " bytes of " + std::to_string(largest->frame_size) +
             ") while partial frames take " + std::to_string(pending_bytes_.get()) +
             " bytes, above max-pending-bytes (" + std::to_string(limits.max_pending_bytes) + "); disconnecting it";
    });
    senders_over_budget_.add(1);
    largest->doomed = SenderExit::OverBudget;
    largest->release_frame();
  }
}

// Reads what one sender has; returns why it must go, or nothing to keep it.
std::optional<SenderExit> Ingest::read_sender(Sender &sender) {
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
    n = sender.receive(staging_.get(), kStagingSize, out(err));
    if (n > 0 && parser.feed(staging_.get(), n, sender) == FrameParser::Status::Oversized) {
      warn(Notice::Oversized, [&] {
        return "Sender " + sender.address + " announced a frame of " + std::to_string(parser.announced_size()) +
               " bytes, above max-frame-size; disconnecting it";
      });
      // The header was consumed, so the frame counts as lost.
      frames_dropped_.add(1);
      return SenderExit::Oversized;
    }
  }
  if (n > 0) {
    if (parser.mid_frame() && (!was_mid_frame || sender.frames_completed != completed))
      sender.frame_started_at = now_;
    return std::nullopt;
  }
  if (n == 0) return parser.mid_frame() ? SenderExit::ClosedMidFrame : SenderExit::Closed;
  if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return std::nullopt;
  GST_CAT_INFO_OBJECT(log_category_, log_object_, "sender %s: %s", sender.address.c_str(), err->message);
  return SenderExit::Error;
}

// Senders past their deadline: a frame begun frame-timeout ago and not
// complete (once its socket has nothing more for us), or a TLS handshake not
// done 5 s after connecting.
void Ingest::enforce_deadlines(const IngestLimits &limits) {
  for (size_t i = 0; i < senders_.size(); i++) {
    Sender &s = *senders_[i];
    if (s.doomed || now_ < s.deadline(limits.frame_timeout)) continue;
    // A frame's bytes that were waiting for us were just read: judge it next time.
    if (s.phase == Phase::Open && s.was_readable) continue;
    if (s.phase != Phase::Open) {
      s.doomed = SenderExit::TimedOut;
      count_refusal(Refusal::Tls, [&] { return "Refused sender " + s.address + ": no TLS handshake within 5 s"; });
      continue;
    }
    warn(Notice::TimedOut, [&] {
      return "Sender " + s.address + " began a frame and did not complete it within frame-timeout (" +
             std::to_string(limits.frame_timeout / G_USEC_PER_SEC) + " s); disconnecting it";
    });
    senders_timed_out_.add(1);
    s.doomed = SenderExit::TimedOut;
  }
}

bool Ingest::wait_and_read(const IngestLimits &limits) {
  const gint64 before = g_get_monotonic_time();
  gint64 wake = next_held_back_due();
  pollfds_.clear();
  polled_senders_.clear();
  pollfds_.push_back({cancel_fd_.fd, POLLIN, 0});
  for (size_t i = 0; i < senders_.size(); i++) {
    Sender &s = *senders_[i];
    wake = std::min(wake, s.deadline(limits.frame_timeout));
    if (s.tls_buffered) wake = before;
    // A handshake's socket is its thread's; one waiting for a slot is readable.
    if (s.phase == Phase::Handshaking || s.phase == Phase::AwaitingSlot) continue;
    const short events = s.phase == Phase::AwaitingHello ? POLLIN | POLLRDHUP : POLLIN;
    pollfds_.push_back({g_socket_get_fd(s.socket.get()), events, 0});
    polled_senders_.push_back(i);
  }
  const size_t first_listener = pollfds_.size();
  for (size_t i = 0; i < listeners_.size(); i++) {
    if (listener_rests_until_[i] > before) {
      wake = std::min(wake, listener_rests_until_[i]);
      pollfds_.push_back({-1, 0, 0});  // poll() ignores negative fds
    } else {
      pollfds_.push_back({g_socket_get_fd(listeners_[i].get()), POLLIN, 0});
    }
  }
  int timeout = poll_timeout(before, wake);
  const bool tls = tls_.enabled;
  if (tls) handshakes_.before_poll(pollfds_, timeout);

  int r;
  do {
    r = poll(pollfds_.data(), pollfds_.size(), timeout);
  } while (r < 0 && errno == EINTR);
  if (pollfds_[0].revents) {
    if (tls) handshakes_.after_poll(pollfds_);
    return false;
  }
  arrival_ = events_.running_time();
  now_ = g_get_monotonic_time();

  for (auto &s : senders_) s->was_readable = false;
  for (size_t k = 0; k < polled_senders_.size(); k++) {
    const size_t i = polled_senders_[k];
    Sender &s = *senders_[i];
    if (!pollfds_[1 + k].revents && !s.tls_buffered) continue;
    s.was_readable = true;
    if (s.doomed) continue;  // its memory went to the budget
    if (s.phase == Phase::AwaitingHello) {
      check_hello(s, pollfds_[1 + k].revents);
      continue;
    }
    if (auto exit = read_sender(s)) s.doomed = exit;
    enforce_pending_budget(limits);
  }
  if (tls) {
    handshakes_.after_poll(pollfds_);
    finish_completed_handshakes();
    start_handshakes();
  }
  enforce_deadlines(limits);
  remove_doomed();
  for (size_t i = 0; i < listeners_.size(); i++) {
    if (pollfds_[first_listener + i].revents) accept_senders(i, limits);
  }
  warn_held_back();
  return true;
}

std::string Ingest::configure(const std::string &allowed_senders, const TlsFiles &tls) {
  std::string error;
  std::optional<AddressFilter> filter = AddressFilter::parse(allowed_senders, error);
  if (!filter) return error;
  allowed_ = std::move(*filter);
  return load_tls_credentials(tls, true, tls_);
}

std::string Ingest::listen(const std::string &host, int port) {
  Listeners listeners;
  const std::string error = listen_tcp(host, port, kListenBacklog, listeners);
  if (!error.empty()) return error;
  listeners_ = std::move(listeners.sockets);
  listener_rests_until_.assign(listeners_.size(), 0);
  current_port_.store(listeners.port);
  GST_CAT_INFO_OBJECT(log_category_, log_object_, "listening on %s port %d%s", host.c_str(), listeners.port,
                      tls_.enabled ? " (TLS)" : "");
  return "";
}

void Ingest::close_listeners() {
  for (auto &l : listeners_) g_socket_close(l.get(), nullptr);
  listeners_.clear();
  listener_rests_until_.clear();
  current_port_.store(0);
}

}  // namespace imagestream
