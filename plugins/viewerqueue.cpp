#include "viewerqueue.h"

#include <algorithm>

namespace imagestream {

ViewerQueue::ViewerQueue(size_t max_waiting) : frames_(std::max<size_t>(max_waiting, 1)) {}

void ViewerQueue::pop_front_frame() {
  frames_[frames_head_].reset();
  frames_head_ = (frames_head_ + 1) % frames_.size();
  frames_count_--;
}

size_t ViewerQueue::push_frame(WireMessageRef frame) {
  if (closing_) return 0;
  size_t dropped = 0;
  if (frames_count_ == frames_.size()) {
    pop_front_frame();
    dropped = 1;
  }
  frames_[(frames_head_ + frames_count_) % frames_.size()] = std::move(frame);
  frames_count_++;
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
  frames_dropped_ += frames_count_ + headers_.size();
  while (frames_count_) pop_front_frame();
  headers_.clear();
  close_frame_ = std::move(close_frame);
}

void ViewerQueue::set_max_waiting(size_t max_waiting) {
  max_waiting = std::max<size_t>(max_waiting, 1);
  if (max_waiting == frames_.size()) return;
  while (frames_count_ > max_waiting) {
    pop_front_frame();
    frames_dropped_++;
  }
  std::vector<WireMessageRef> ring(max_waiting);
  for (size_t i = 0; i < frames_count_; i++) ring[i] = std::move(frames_[(frames_head_ + i) % frames_.size()]);
  frames_ = std::move(ring);
  frames_head_ = 0;
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
      current_ = std::move(frames_[frames_head_]);
      pop_front_frame();
      current_kind_ = Kind::Frame;
    } else if (close_frame_) {
      current_ = std::move(close_frame_);
      current_kind_ = Kind::Close;
    } else {
      return 0;
    }
  }
  const WireMessage &m = *current_;
  int n = 0;
  if (current_offset_ < m.header_size)
    spans[n++] = {m.header + current_offset_, m.header_size - current_offset_};
  const size_t payload_offset = current_offset_ > m.header_size ? current_offset_ - m.header_size : 0;
  if (payload_offset < m.payload_size) spans[n++] = {m.payload + payload_offset, m.payload_size - payload_offset};
  const size_t body_size = m.header_size + m.payload_size;
  const size_t trailer_offset = current_offset_ > body_size ? current_offset_ - body_size : 0;
  if (trailer_offset < m.trailer_size) spans[n++] = {m.trailer + trailer_offset, m.trailer_size - trailer_offset};
  return n;
}

void ViewerQueue::written(size_t n) {
  if (!current_) return;
  current_offset_ += n;
  bytes_sent_ += n;
  if (current_offset_ < current_->size()) return;
  if (current_kind_ == Kind::Frame) frames_sent_++;
  if (current_kind_ == Kind::Close) close_written_ = true;
  current_.reset();
  current_offset_ = 0;
}

}  // namespace imagestream
