// One frame as a NATS message, as natssink writes it and natssrc reads it:
// the payload is the buffer's bytes, the headers carry what the receiving
// pipeline needs.
//
//   Imagestream-Caps      the caps (gst_caps_to_string), on every message
//   Imagestream-Flags     "delta" (GST_BUFFER_FLAG_DELTA_UNIT), "header"
//                         (GST_BUFFER_FLAG_HEADER), both comma-separated, or
//                         absent
//   Imagestream-Origin    random id of one natssink run (start to stop)
//   Imagestream-Sequence  1, 2, 3... the frames that run published
//
// A natssink also answers requests on `<subject>.latest` with its newest
// frame, same headers; natssrc asks when it connects and reconnects.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <string>

namespace imagestream {
namespace natsframe {

constexpr const char *kCapsHeader = "Imagestream-Caps";
constexpr const char *kFlagsHeader = "Imagestream-Flags";
constexpr const char *kOriginHeader = "Imagestream-Origin";
constexpr const char *kSequenceHeader = "Imagestream-Sequence";
constexpr const char *kLatestSuffix = ".latest";

// The Imagestream-Flags value of a buffer's flags ("" when none applies).
std::string flags_header(GstBufferFlags flags);
// The buffer flags an Imagestream-Flags value names (null: none).
GstBufferFlags flags_from_header(const char *value);
// Parses Imagestream-Sequence; 0 for absent or malformed.
uint64_t sequence_from_header(const char *value);

// Keeps natssrc's output in publishing order although a frame may arrive
// twice (live, and as the answer to a request for the newest frame) and two
// subscriptions deliver on two threads. Remembers the newest frame delivered
// of the publisher seen last and judges each arrival. Not thread-safe.
class FrameSequence {
 public:
  struct Verdict {
    bool deliver;
    uint64_t skipped;  // that publisher's frames between the last one delivered and this one
  };
  // `origin` empty or `sequence` 0: a frame without these headers, always
  // delivered.
  Verdict judge(const std::string &origin, uint64_t sequence);
  void reset();

 private:
  std::string origin_;
  uint64_t newest_ = 0;
};

}  // namespace natsframe
}  // namespace imagestream
