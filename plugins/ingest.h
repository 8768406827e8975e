// lengthprefixsrc's ingest: the listeners, the connected senders and what
// they may do. Admission (allowed-senders, max-senders-per-address, and at
// max-senders the eviction of the sender that made progress longest ago),
// the TLS handshakes of senders, their deadlines (frame-timeout, the 5 s
// handshake timeout), the memory of partial frames (max-pending-bytes),
// reading senders into frames with a FrameParser (a frame is read straight
// into its memory, which becomes the buffer's), the counters, and the
// warnings, at most one line a second per kind. The element is the GObject
// glue around it and learns what happens through IngestEvents.
//
// Lifetime and threads. The element constructs the ingest in instance_init
// and destroys it in finalize. The state changes configure it, listen and
// close the listeners (NULL->READY, READY->NULL) and stop() it (basesrc's
// stop), while the streaming thread is not running. Between those the
// streaming thread alone calls wait_and_read() and take_frame(), so the
// senders, frames and sockets need no lock. unlock() and unlock_stop() come
// from another thread (basesrc's unlock) and only wake or re-arm the poll;
// stats(), num_senders() and current_port() may be read from any thread.
#pragma once

#include <gst/gst.h>
#include <poll.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "addressfilter.h"
#include "frameparser.h"
#include "glibptr.h"
#include "lengthprefixtls.h"
#include "tlshandshakes.h"
#include "warningthrottle.h"

namespace imagestream {

// Why a sender left: the `reason` of sender-removed and of the bus message.
enum class SenderExit { Closed, ClosedMidFrame, Oversized, Error, Evicted, TimedOut, OverBudget, Stopped };
const char *exit_name(SenderExit exit);

// Why a connection was refused before it became a sender.
enum class Refusal { Full, PerAddress, NotAllowed, Tls, kCount };
constexpr size_t kRefusals = static_cast<size_t>(Refusal::kCount);

// Which warning a line is, for the element to post it as: a connection
// refused, and the summaries of the lines held back (RESOURCE, OPEN_READ);
// the listener failing to accept (RESOURCE, READ); a sender disconnected for
// what it sent or did not send (STREAM, DECODE).
enum class IngestWarning { Refused, AcceptFailed, Disconnected };

// The settings the streaming thread applies at one wake-up, copied under the
// object lock once.
struct IngestLimits {
  PrefixFormat format;
  guint64 max_frame_size;
  guint max_senders;
  guint max_senders_per_address;
  gint64 frame_timeout;  // µs, 0 = none
  guint64 max_pending_bytes;
};

// The counters, as read at one moment (each on its own: they are not a
// consistent set).
struct IngestStats {
  guint64 frames_received, bytes_received, frames_dropped, frames_empty;
  guint num_senders;
  guint64 senders_total, senders_refused;
  std::array<guint64, kRefusals> refused_by;  // by Refusal
  guint64 senders_evicted, senders_timed_out, senders_over_budget, pending_bytes, accept_errors;
};

// What the ingest tells its element, with no lock held: from the streaming
// thread, or from the thread calling stop() for senders removed as Stopped.
class IngestEvents {
 public:
  virtual ~IngestEvents() = default;
  // A warning line for the bus.
  virtual void warning(IngestWarning kind, const std::string &line) = 0;
  // A sender connected (a TLS sender: completed its handshake), or one that
  // was added is gone.
  virtual void sender_added(const std::string &address) = 0;
  virtual void sender_removed(const std::string &address, SenderExit exit) = 0;
  // The number of added senders changed (after sender_added/sender_removed).
  virtual void senders_changed(guint senders) = 0;
  // The element's running time now, or GST_CLOCK_TIME_NONE without a clock:
  // asked once a wake-up, the timestamp of the frames completed in it.
  virtual GstClockTime running_time() = 0;
};

class Ingest {
 public:
  // `log_object` and `log_category` are the element's, for log lines only.
  Ingest(IngestEvents &events, GstObject *log_object, GstDebugCategory *log_category);
  Ingest(const Ingest &) = delete;
  Ingest &operator=(const Ingest &) = delete;
  ~Ingest();

  // --- state changes (the streaming thread is not running) ---
  // Who may send and how: allowed-senders and the TLS files, before anything
  // listens. Returns "" or one line saying what is wrong.
  std::string configure(const std::string &allowed_senders, const TlsFiles &tls);
  // Binds every address `host` resolves to (for "localhost": IPv4 and IPv6)
  // on one port, so that senders reach the source however they spell the
  // host. Returns "" or one line naming the host, the port and the reason.
  std::string listen(const std::string &host, int port);
  void close_listeners();
  // Removes every sender (Stopped), waits a bounded time for the TLS
  // handshakes, and drops the frames not taken.
  void stop();

  // --- the streaming thread ---
  // Waits for sockets and deadlines, and reads the sockets once each, under
  // `limits`. False when woken by unlock().
  bool wait_and_read(const IngestLimits &limits);
  // The oldest complete frame not yet taken (the caller's), or null.
  GstBuffer *take_frame() {
    if (ready_.empty()) return nullptr;
    GstBuffer *frame = ready_.front();
    ready_.pop_front();
    return frame;
  }
  // Some sender was added since the last stop().
  bool had_sender() const { return had_sender_; }

  // --- any thread ---
  // Wakes wait_and_read() (it returns false) until unlock_stop().
  void unlock() { g_cancellable_cancel(cancellable_.get()); }
  void unlock_stop() { g_cancellable_reset(cancellable_.get()); }
  IngestStats stats() const;
  guint num_senders() const { return num_senders_.load(); }
  // The port listened on; 0 when not listening.
  int current_port() const { return current_port_.load(); }

 private:
  struct Sender;

  // What the element warns about, each kind rate-limited on its own. The
  // summary of those held back reads "<count> more <what> in the last 1.0 s:
  // <why>".
  enum class Notice { RefusedFull, RefusedPerAddress, RefusedNotAllowed, RefusedTls, Oversized, TimedOut, OverBudget,
                      AcceptFailed, kCount };
  static constexpr size_t kNotices = static_cast<size_t>(Notice::kCount);
  struct NoticeSummary {
    const char *what;
    const char *why;
  };
  static NoticeSummary notice_summary(Notice n);
  static Notice refusal_notice(Refusal r);

  // Counters written by the streaming thread only, read from any thread.
  struct Counter {
    std::atomic<guint64> value{0};
    void add(guint64 n) { value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void sub(guint64 n) { value.store(value.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    guint64 get() const { return value.load(std::memory_order_relaxed); }
  };

  template <typename Text>
  void warn(Notice kind, const Text &text);
  void warn_held_back();
  gint64 next_held_back_due() const;
  void announce_added(Sender &sender);
  template <typename Text>
  void count_refusal(Refusal why, const Text &text);
  static void close_connection(Sender &sender);
  void remove_sender(size_t index, SenderExit exit);
  void remove_doomed();
  void finish_handshakes();
  bool evict_for_newcomer();
  void admit(GObjectPtr<GSocket> socket, const IngestLimits &limits);
  void accept_senders(size_t index, const IngestLimits &limits);
  void check_hello(Sender &sender, short revents);
  void start_handshakes();
  void finish_completed_handshakes();
  void enforce_pending_budget(const IngestLimits &limits);
  std::optional<SenderExit> read_sender(Sender &sender);
  void enforce_deadlines(const IngestLimits &limits);
  void clear_ready();
  void count_added();

  IngestEvents &events_;
  GstObject *const log_object_;
  GstDebugCategory *const log_category_;

  // The sockets and frames; touched by the streaming thread, and by state
  // changes while that thread is stopped, so they need no lock.
  std::vector<GObjectPtr<GSocket>> listeners_;
  std::vector<gint64> listener_rests_until_;  // per listener: not polled before (accept errors)
  std::vector<std::unique_ptr<Sender>> senders_;
  std::deque<GstBuffer *> ready_;  // complete frames not yet pushed
  std::vector<pollfd> pollfds_;
  std::vector<size_t> polled_senders_;  // index in `senders_` of each sender's fd in `pollfds_`
  std::unique_ptr<uint8_t[]> staging_;
  GstClockTime arrival_ = GST_CLOCK_TIME_NONE;  // running time of the current wake-up
  gint64 now_ = 0;                              // monotonic µs of the current wake-up
  bool had_sender_ = false;

  // Set going from NULL to READY, from allowed-senders and the TLS files.
  AddressFilter allowed_;
  TlsCredentials tls_;
  TlsHandshakes handshakes_;

  GObjectPtr<GCancellable> cancellable_{g_cancellable_new()};  // cancelled by unlock() to wake wait_and_read()
  GPollFD cancel_fd_;  // of `cancellable_`, polled with the sockets

  std::array<WarningThrottle, kNotices> throttles_;  // one a second per kind
  std::array<gint64, kNotices> last_warned_{};  // when each kind last gave a line

  Counter frames_received_, bytes_received_, frames_dropped_, frames_empty_;
  Counter senders_total_, senders_refused_, senders_evicted_, senders_timed_out_, senders_over_budget_,
      accept_errors_;
  std::array<Counter, kRefusals> refused_by_;
  Counter pending_bytes_;  // memory of all partial frames (Sender::frame_capacity summed)
  std::atomic<guint> num_senders_{0};  // added senders
  std::atomic<int> current_port_{0};
};

}  // namespace imagestream
