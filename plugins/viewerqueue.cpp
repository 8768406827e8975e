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

int ViewerQueue::next(Span spans[kMaxSpans]) {
  if (!current_) {
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
      return 0;
    }
    const bool part = trailer_ && current_kind_ == Kind::Frame;
    current_header_ = part ? 0 : current_->header_size;
    current_tail_ = part ? trailer_size_ : 0;
  }
  const WireMessage &m = *current_;
  int n = 0;
  if (current_offset_ < current_header_)
    spans[n++] = {m.header + current_offset_, current_header_ - current_offset_};
  const size_t payload_offset = current_offset_ > current_header_ ? current_offset_ - current_header_ : 0;
  if (payload_offset < m.payload_size) spans[n++] = {m.payload + payload_offset, m.payload_size - payload_offset};
  const size_t body = current_header_ + m.payload_size;
  const size_t tail_offset = current_offset_ > body ? current_offset_ - body : 0;
  if (tail_offset < current_tail_) spans[n++] = {trailer_ + tail_offset, current_tail_ - tail_offset};
  return n;
}

void ViewerQueue::written(size_t n) {
  if (!current_) return;
  blocked_since_ = 0;
  current_offset_ += n;
  bytes_sent_ += n;
  if (current_offset_ < current_header_ + current_->payload_size + current_tail_) return;
  if (current_kind_ == Kind::Frame) frames_sent_++;
  if (current_kind_ == Kind::Close) close_written_ = true;
  current_.reset();
  current_offset_ = 0;
}

}  // namespace imagestream
