// The delivery policy for one viewer, written once: what may wait for a viewer
// and what it skips when it falls behind, the message being written (never
// cut short or interleaved), control frames slipped in between messages, and
// the counters. No sockets, no GObject, no lock: the owner serialises access.
//
// "Falls behind" is decided here and nowhere else, in three allowances that
// add up:
//   1. the kernel's: each viewer's socket holds at most kKernelAllowance bytes
//      not yet sent (TCP_NOTSENT_LOWAT, set by the viewer's connection) on top
//      of what is in flight; past that, writes would block and frames wait here;
//   2. frames waiting here, bounded by DeliveryLimits in frames, bytes and
//      time (the stream time between the oldest and the newest waiting frame);
//   3. time without progress: a viewer whose socket has taken nothing for a
//      timeout while bytes wait for it is closed (its owner asks stalled()).
// When a frame arrives and the waiting frames exceed a limit, the oldest are
// dropped, so a viewer that falls behind skips ahead and ends on the newest
// frame. A frame that depends on the one before it (a delta frame of encoded
// video) is never sent after a frame it needs was dropped: dropping a frame
// drops the deltas behind it up to the next key frame, and deltas arriving
// then are dropped until a key frame comes. A key frame replaces any frames
// waiting in a stream that has delta frames (the newest group of pictures
// wins). JPEG streams have no delta frames: there every frame is a key frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace imagestream {

// Bytes the kernel may hold unsent per viewer (TCP_NOTSENT_LOWAT): bounds the
// latency a viewer's socket adds, and the memory a stuck viewer pins there.
constexpr int kKernelAllowance = 128 * 1024;

// One message as it goes on the wire: a header (a WebSocket frame header;
// may be empty) and the payload. Whoever makes it keeps the bytes alive; one
// message is shared by every viewer it is queued for, WebSocket and MJPEG.
struct WireMessage {
  const uint8_t *header = nullptr;
  size_t header_size = 0;
  const uint8_t *payload = nullptr;
  size_t payload_size = 0;
  int64_t arrival_us = 0;  // when the frame reached the stream (monotonic), for the time limit
  bool delta = false;      // decodable only after the frames before it (encoded video)
  size_t size() const { return header_size + payload_size; }
};
using WireMessageRef = std::shared_ptr<const WireMessage>;

// A message that owns its bytes, all payload: control frames (pong, close)
// and the text around MJPEG parts.
class OwnedMessage : public WireMessage {
 public:
  explicit OwnedMessage(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {
    payload = bytes_.data();
    payload_size = bytes_.size();
  }
  explicit OwnedMessage(const std::string &text) : OwnedMessage(std::vector<uint8_t>(text.begin(), text.end())) {}

 private:
  std::vector<uint8_t> bytes_;
};

// The most spans next() fills: up to 16 messages of header or trailer, and
// payload, for one writev.
constexpr int kMaxSpans = 32;
struct Span {
  const uint8_t *data;
  size_t size;
};

// What may wait for one viewer before the oldest waiting frames are dropped;
// 0 = no limit of that kind. The newest frame is never dropped for a limit.
struct DeliveryLimits {
  size_t max_frames = 0;
  size_t max_bytes = 0;
  int64_t max_delay_us = 0;  // between the oldest and the newest waiting frame's arrival
};

class ViewerQueue {
 public:
  explicit ViewerQueue(DeliveryLimits limits);

  // Frames (not control messages) go out as their payload followed by
  // `trailer` instead of header and payload: an MJPEG part and the next
  // part's boundary. The bytes must outlive the queue.
  void set_part_trailer(const uint8_t *trailer, size_t size) {
    trailer_ = trailer;
    trailer_size_ = size;
  }

  // Queues a frame at the back, then drops waiting frames as the policy above
  // says. Returns how many frames were dropped (this one included, if it
  // was). Refused (returns 0) once closing.
  size_t push_frame(WireMessageRef frame);
  // A frame that is never dropped and goes before the waiting frames (caps
  // stream headers for a new viewer).
  void push_header(WireMessageRef frame);
  // A new decoder configuration (encoded video): the frames waiting were for
  // the old one and are dropped; `config` goes next, never dropped, and then
  // only from a key frame on.
  void push_config(WireMessageRef config);
  // The stream has delta frames (encoded video): key frames replace waiting
  // frames. With `need_key`, nothing but a key frame may start this viewer's
  // stream (it joined with no key frame to give it yet).
  void set_video(bool need_key) {
    seen_delta_ = true;
    need_key_ = need_key;
  }
  // A control frame (pong): next after the message being written. Only the
  // newest waits, so a viewer that pings without reading holds one at most.
  void push_control(WireMessageRef frame);
  // Drops the waiting frames and makes `close_frame` the last message.
  void close(WireMessageRef close_frame);

  // The bytes to write next, in order: the rest of the message being
  // written, then the messages after it, as far as `max_spans` spans go.
  // Returns how many spans were filled (0: nothing to write).
  int next(Span spans[], int max_spans = kMaxSpans);
  // `n` bytes of what next() returned were written.
  void written(size_t n);

  // When to write: a write starts at most once per `interval_us` of stream
  // time, so that frames arriving faster than that (hundreds per second) go
  // out together in one write, as one packet rather than one each, for at
  // most the interval of latency. A frame after a pause goes at once.
  void set_write_interval(int64_t interval_us) { write_interval_us_ = interval_us; }
  bool write_due(int64_t now_us) const { return now_us - last_write_us_ >= write_interval_us_; }
  int64_t next_write_us() const { return last_write_us_ + write_interval_us_; }
  void writing(int64_t now_us) { last_write_us_ = now_us; }
  // The socket took nothing now (at monotonic `now_us`) with bytes waiting.
  void blocked(int64_t now_us) {
    if (!blocked_since_) blocked_since_ = now_us;
  }
  // Nothing was written for more than `timeout_us` (> 0) since the socket first blocked.
  bool stalled(int64_t now_us, int64_t timeout_us) const {
    return blocked_since_ && now_us - blocked_since_ > timeout_us;
  }

  // Nothing being written and nothing waiting.
  bool empty() const { return !current_ && !control_ && headers_.empty() && !frames_count_ && !close_frame_; }
  bool closing() const { return closing_; }
  bool close_written() const { return close_written_; }
  size_t waiting_frames() const { return headers_.size() + frames_count_; }
  size_t waiting_bytes() const { return waiting_bytes_; }
  // Messages held, counting the one being written.
  size_t held_messages() const {
    return waiting_frames() + (control_ ? 1 : 0) + (current_ ? 1 : 0) + (close_frame_ ? 1 : 0);
  }
  const DeliveryLimits &limits() const { return limits_; }

  uint64_t frames_sent() const { return frames_sent_; }
  uint64_t frames_dropped() const { return frames_dropped_; }
  uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  enum class Kind { Frame, Control, Close };
  // Makes the next message, in delivery order, the one being written; false if there is none.
  bool start_next();
  // The spans of `m` from `offset` on, as a message of `kind`; returns how many were added.
  int spans_of(const WireMessage &m, Kind kind, size_t offset, Span *spans, int room) const;
  size_t wire_size(const WireMessage &m, Kind kind) const;
  bool over_limits() const;
  const WireMessage &oldest() const { return *frames_[head_]; }
  const WireMessage &newest() const { return *frames_[(head_ + frames_count_ - 1) % frames_.size()]; }
  void push_back_frame(WireMessageRef frame);
  WireMessageRef pop_front_frame();
  // Drops the oldest waiting frame and the deltas that needed it.
  size_t drop_oldest();
  size_t drop_waiting();

  DeliveryLimits limits_;
  // Waiting frames, oldest first, in a ring that grows to the most that ever
  // waited and no further: queueing a frame does not allocate.
  std::vector<WireMessageRef> frames_;
  size_t head_ = 0;
  size_t frames_count_ = 0;
  size_t waiting_bytes_ = 0;  // of frames_
  bool need_key_ = false;     // a frame was dropped: deltas are useless until the next key frame
  bool seen_delta_ = false;   // the stream has delta frames
  std::deque<WireMessageRef> headers_;
  WireMessageRef control_;
  WireMessageRef close_frame_;

  const uint8_t *trailer_ = nullptr;
  size_t trailer_size_ = 0;

  WireMessageRef current_;
  Kind current_kind_ = Kind::Frame;
  size_t current_offset_ = 0;
  int64_t blocked_since_ = 0;  // monotonic µs the socket first took nothing, 0 while writes progress
  int64_t write_interval_us_ = 0;
  int64_t last_write_us_ = INT64_MIN / 2;

  bool closing_ = false;
  bool close_written_ = false;
  uint64_t frames_sent_ = 0;
  uint64_t frames_dropped_ = 0;
  uint64_t bytes_sent_ = 0;
};

}  // namespace imagestream
