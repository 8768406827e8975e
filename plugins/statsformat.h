// A stream's figures as plain numbers, and the two texts made of them:
// stats.json and Prometheus' text format (version 0.0.4). No sockets, no
// GStreamer, no libsoup.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace imagestream {

// How a viewer receives the frames: WebSocket messages, or MJPEG parts over
// plain HTTP.
enum class ViewerKind { WebSocket, Mjpeg };
constexpr size_t kViewerKinds = 2;
const char *kind_name(ViewerKind kind);

struct Totals {
  uint64_t frames_sent = 0;
  uint64_t frames_dropped = 0;
  uint64_t bytes_sent = 0;
  void add(const Totals &t) {
    frames_sent += t.frames_sent;
    frames_dropped += t.frames_dropped;
    bytes_sent += t.bytes_sent;
  }
};

struct ViewerFigures {
  ViewerKind kind;
  std::string address;
  int64_t connect_time_us;  // real time
  Totals totals;
  double fps;               // frames sent per second over the last second
  unsigned queued;          // messages held, the one being written included
  bool tls;
};

struct StreamFigures {
  std::array<Totals, kViewerKinds> by_kind;       // viewers gone and connected
  std::array<unsigned, kViewerKinds> viewers{};   // connected now
  uint64_t frames_in = 0;
  double fps_in = 0;
  uint64_t viewers_total = 0;
  uint64_t viewers_refused = 0;
  // The camera: senders connected to the source upstream (-1 = unknown: no
  // element upstream tells), and the age of the newest frame (-1 = none yet).
  int senders = -1;
  double last_frame_age_s = -1;
  std::vector<ViewerFigures> each;  // connected viewers, when asked for

  Totals total() const {
    Totals t;
    for (const auto &k : by_kind) t.add(k);
    return t;
  }
  unsigned num_viewers() const { return viewers[0] + viewers[1]; }
};

std::string stats_json(const StreamFigures &figures);
std::string stats_metrics(const StreamFigures &figures);

}  // namespace imagestream
