// The delivery policy for one viewer, written once: a bounded queue of shared
// frames where the newest frame wins, the message being written (never cut
// short or interleaved), control frames slipped in between messages, and the
// counters. No sockets, no GObject, no lock: the owner serialises access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace imagestream {

// One message as it goes on the wire: header, payload, trailer, each possibly
// empty. Whoever makes it keeps the bytes alive; one message is shared by
// every viewer it is queued for. The trailer lets a payload shared with
// another kind of message be followed by bytes of this kind (an MJPEG part's
// next boundary) without copying it.
struct WireMessage {
  const uint8_t *header = nullptr;
  size_t header_size = 0;
  const uint8_t *payload = nullptr;
  size_t payload_size = 0;
  const uint8_t *trailer = nullptr;
  size_t trailer_size = 0;
  size_t size() const { return header_size + payload_size + trailer_size; }
};
using WireMessageRef = std::shared_ptr<const WireMessage>;

// The most spans next() fills: header, payload, trailer.
constexpr int kMaxSpans = 3;
struct Span {
  const uint8_t *data;
  size_t size;
};

class ViewerQueue {
 public:
  // At most `max_waiting` frames (at least 1) wait behind the one being written.
  explicit ViewerQueue(size_t max_waiting);

  // Queues a frame at the back. When more than max_waiting frames would wait,
  // the oldest waiting frame is dropped, so a viewer that falls behind skips
  // ahead and always ends on the newest frame. Returns how many were dropped.
  // Refused (returns 0) once closing.
  size_t push_frame(WireMessageRef frame);
  // A frame that is never dropped and goes before the waiting frames (caps
  // stream headers for a new viewer).
  void push_header(WireMessageRef frame);
  // A control frame (pong): next after the message being written. Only the
  // newest waits, so a viewer that pings without reading holds one at most.
  void push_control(WireMessageRef frame);
  // Drops the waiting frames and makes `close_frame` the last message.
  void close(WireMessageRef close_frame);

  // The bytes to write next: the rest of the message being written, starting
  // the next one if none is. Returns how many spans were filled (0: nothing to write).
  int next(Span spans[kMaxSpans]);
  // `n` bytes of what next() returned were written.
  void written(size_t n);

  // Nothing being written and nothing waiting.
  bool empty() const {
    return !current_ && !control_ && headers_.empty() && frames_count_ == 0 && !close_frame_;
  }
  bool closing() const { return closing_; }
  bool close_written() const { return close_written_; }
  size_t waiting_frames() const { return headers_.size() + frames_count_; }
  // Messages held, counting the one being written.
  size_t held_messages() const {
    return waiting_frames() + (control_ ? 1 : 0) + (current_ ? 1 : 0) + (close_frame_ ? 1 : 0);
  }

  void set_max_waiting(size_t max_waiting);
  size_t max_waiting() const { return frames_.size(); }

  uint64_t frames_sent() const { return frames_sent_; }
  uint64_t frames_dropped() const { return frames_dropped_; }
  uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  enum class Kind { Frame, Control, Close };
  void pop_front_frame();

  // Waiting frames: a ring of max_waiting slots, so that queueing never allocates.
  std::vector<WireMessageRef> frames_;
  size_t frames_head_ = 0;
  size_t frames_count_ = 0;
  std::deque<WireMessageRef> headers_;
  WireMessageRef control_;
  WireMessageRef close_frame_;

  WireMessageRef current_;
  Kind current_kind_ = Kind::Frame;
  size_t current_offset_ = 0;

  bool closing_ = false;
  bool close_written_ = false;
  uint64_t frames_sent_ = 0;
  uint64_t frames_dropped_ = 0;
  uint64_t bytes_sent_ = 0;
};

}  // namespace imagestream
