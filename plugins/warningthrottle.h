// At most one warning line per kind and interval: a flood of refused senders
// must not turn into a flood of log lines. What is held back is counted and
// summed up in one line when the interval ends. Plain C++, times in µs.
#pragma once

#include <cstdint>
#include <limits>

namespace imagestream {

class WarningThrottle {
 public:
  static constexpr int64_t kSecond = 1000000;
  explicit WarningThrottle(int64_t interval = kSecond) : interval_(interval) {}

  // True if this warning may be printed now; otherwise it is counted.
  bool admit(int64_t now) {
    if (now >= quiet_until_ && held_ == 0) {
      quiet_until_ = now + interval_;
      return true;
    }
    held_++;
    return false;
  }
  // When the warnings held back are due to be summed up; never if none are.
  int64_t due() const { return held_ ? quiet_until_ : std::numeric_limits<int64_t>::max(); }
  // The number held back, once due (0 before); the summary line counts as a
  // warning, so the next interval starts with it.
  uint64_t take_due(int64_t now) {
    if (held_ == 0 || now < quiet_until_) return 0;
    const uint64_t n = held_;
    held_ = 0;
    quiet_until_ = now + interval_;
    return n;
  }

 private:
  const int64_t interval_;
  int64_t quiet_until_ = std::numeric_limits<int64_t>::min();  // no line before this
  uint64_t held_ = 0;                                          // warnings not printed since the last line
};

}  // namespace imagestream
