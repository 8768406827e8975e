#include "viewerqueue.h"

#include <utility>

namespace imagestream {

namespace {
constexpr size_t kInitialRing = 4;
}

ViewerQueue::ViewerQueue(DeliveryLimits limits) : limits_(limits), frames_(kInitialRing) {}

void ViewerQueue::push_back_frame(WireMessageRef frame) {
  if (frames_count_ == frames_.size()) {
    std::vector<WireMessageRef> ring(frames_.size() * 2);
    for (size_t i = 0; i < frames_count_; i++) ring[i] = std::move(frames_[(head_ + i) % frames_.size()]);
    frames_ = std::move(ring);
    head_ = 0;
  }
  waiting_bytes_ += frame->size();
  frames_[(head_ + frames_count_) % frames_.size()] = std::move(frame);
  frames_count_++;
}

WireMessageRef ViewerQueue::pop_front_frame() {
  WireMessageRef frame = std::move(frames_[head_]);
  head_ = (head_ + 1) % frames_.size();
  frames_count_--;
  waiting_bytes_ -= frame->size();
  return frame;
}

bool ViewerQueue::over_limits() const {
  if (limits_.max_frames && frames_count_ > limits_.max_frames) return true;
  if (limits_.max_bytes && waiting_bytes_ > limits_.max_bytes) return true;
  return limits_.max_delay_us && newest().arrival_us - oldest().arrival_us > limits_.max_delay_us;
}

size_t ViewerQueue::drop_oldest() {
  pop_front_frame();
  size_t dropped = 1;
  while (frames_count_ && oldest().delta) {
    pop_front_frame();
    dropped++;
  }
  // Nothing left that a decoder could start from.
  if (!frames_count_ && seen_delta_) need_key_ = true;
  return dropped;
}

size_t ViewerQueue::drop_waiting() {
  const size_t dropped = frames_count_;
  while (frames_count_) pop_front_frame();
  return dropped;
}

size_t ViewerQueue::push_frame(WireMessageRef frame) {
  if (closing_) return 0;
  size_t dropped = 0;
  if (frame->delta) {
    seen_delta_ = true;
    if (need_key_) {
      frames_dropped_++;
      return 1;
    }
  } else {
    need_key_ = false;
    // The newest group of pictures wins: nothing waiting is needed any more.
    if (seen_delta_) dropped += drop_waiting();
  }
  push_back_frame(std::move(frame));
  while (frames_count_ > 1 && over_limits()) dropped += drop_oldest();
  frames_dropped_ += dropped;
  return dropped;
}

void ViewerQueue::push_header(WireMessageRef frame) {
  if (!closing_) headers_.push_back(std::move(frame));
}

void ViewerQueue::push_config(WireMessageRef config) {
  if (closing_) return;
  frames_dropped_ += drop_waiting();
  set_video(true);
  headers_.push_back(std::move(config));
}

void ViewerQueue::push_control(WireMessageRef frame) {
  if (!closing_) control_ = std::move(frame);
}

void ViewerQueue::close(WireMessageRef close_frame) {
  if (closing_) return;
  closing_ = true;
  frames_dropped_ += drop_waiting() + headers_.size();
  headers_.clear();
  close_frame_ = std::move(close_frame);
}

bool ViewerQueue::start_next() {
  current_offset_ = 0;
  if (control_) {
    current_ = std::move(control_);
    current_kind_ = Kind::Control;
  } else if (!headers_.empty()) {
    current_ = std::move(headers_.front());
    headers_.pop_front();
    current_kind_ = Kind::Frame;
  } else if (frames_count_) {
    current_ = pop_front_frame();
    current_kind_ = Kind::Frame;
  } else if (close_frame_) {
    current_ = std::move(close_frame_);
    current_kind_ = Kind::Close;
  } else {
    return false;
  }
  return true;
}

// A frame of an MJPEG queue (one with a part trailer) is its payload and the
// trailer; anything else is its header and payload.
size_t ViewerQueue::wire_size(const WireMessage &m, Kind kind) const {
  const bool part = trailer_ && kind == Kind::Frame;
  return (part ? trailer_size_ : m.header_size) + m.payload_size;
}

int ViewerQueue::spans_of(const WireMessage &m, Kind kind, size_t offset, Span *spans, int room) const {
  const bool part = trailer_ && kind == Kind::Frame;
  const size_t head = part ? 0 : m.header_size;
  const size_t tail = part ? trailer_size_ : 0;
  int n = 0;
  if (offset < head && n < room) spans[n++] = {m.header + offset, head - offset};
  const size_t payload_offset = offset > head ? offset - head : 0;
  if (payload_offset < m.payload_size && n < room)
    spans[n++] = {m.payload + payload_offset, m.payload_size - payload_offset};
  const size_t tail_offset = offset > head + m.payload_size ? offset - head - m.payload_size : 0;
  if (tail_offset < tail && n < room) spans[n++] = {trailer_ + tail_offset, tail - tail_offset};
  return n;
}

int ViewerQueue::next(Span spans[], int max_spans) {
  if (!current_ && !start_next()) return 0;
  int n = spans_of(*current_, current_kind_, current_offset_, spans, max_spans);
  // Then whole messages in the order start_next() takes them, as long as
  // each fits: control, headers, frames, close.
  auto add = [&](const WireMessageRef &m, Kind kind) {
    if (n + 2 > max_spans) return false;
    n += spans_of(*m, kind, 0, spans + n, max_spans - n);
    return true;
  };
  if (control_ && !add(control_, Kind::Control)) return n;
  for (const auto &h : headers_)
    if (!add(h, Kind::Frame)) return n;
  for (size_t i = 0; i < frames_count_; i++)
    if (!add(frames_[(head_ + i) % frames_.size()], Kind::Frame)) return n;
  if (close_frame_) add(close_frame_, Kind::Close);
  return n;
}

void ViewerQueue::written(size_t n) {
  if (n) blocked_since_ = 0;
  bytes_sent_ += n;
  while (n && (current_ || start_next())) {
    const size_t rest = wire_size(*current_, current_kind_) - current_offset_;
    if (n < rest) {
      current_offset_ += n;
      return;
    }
    n -= rest;
    if (current_kind_ == Kind::Frame) frames_sent_++;
    if (current_kind_ == Kind::Close) close_written_ = true;
    current_.reset();
    current_offset_ = 0;
  }
}

}  // namespace imagestream
