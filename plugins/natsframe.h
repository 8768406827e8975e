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
//   Imagestream-Time      when the sink published it: microseconds since
//                         the Unix epoch, by the sink's clock
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
constexpr const char *kTimeHeader = "Imagestream-Time";
constexpr const char *kLatestSuffix = ".latest";

// The Imagestream-Flags value of a buffer's flags ("" when none applies).
std::string flags_header(GstBufferFlags flags);
// The buffer flags an Imagestream-Flags value names (null: none).
GstBufferFlags flags_from_header(const char *value);
// Parses Imagestream-Sequence or Imagestream-Time; 0 for absent or
// malformed.
uint64_t number_from_header(const char *value);

// Keeps natssrc's output in publishing order although a frame may arrive
// twice (live, and as the answer to a request for the newest frame), two
// subscriptions deliver on two threads, and more than one sink may answer
// (a backup origin keeps its last frame). Judges each arrival:
//  - a live frame is new unless its publisher (origin) already had one with
//    this sequence number or a later one delivered;
//  - an answer must be new by that rule and also published later than any
//    frame delivered so far, so that no answer turns the picture back.
// Not thread-safe.
class FrameSequence {
 public:
  struct Arrival {
    std::string origin;     // empty: a frame without the headers, always delivered
    uint64_t sequence = 0;  // 0: unknown
    uint64_t time = 0;      // Imagestream-Time; 0: unknown
    bool answer = false;    // the answer to a request for the newest frame
  };
  struct Verdict {
    bool deliver;
    uint64_t skipped;  // that publisher's frames between the last one delivered and this one
  };
  Verdict judge(const Arrival &frame);
  void reset();

 private:
  std::string origin_;        // of the publisher delivered last
  uint64_t newest_ = 0;       // its newest sequence number delivered
  uint64_t newest_time_ = 0;  // the latest Imagestream-Time delivered, any publisher
};

}  // namespace natsframe
}  // namespace imagestream
