// websocketsink driven by a GstHarness: push() runs render() in the test's
// thread, so the test decides each frame and when it goes. The sink listens
// on localhost (127.0.0.1 and ::1) on a free port unless the properties say
// otherwise ("port=N path=/front": a second sink on that port shares the
// first one's server). The viewer-added, viewer-removed and viewer-refused
// signals are recorded as they come (from the server thread) and read by the
// accessors.
#pragma once

#include <gst/check/gstharness.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "endpoints.h"
#include "testutil.h"

namespace testutil {

// One viewer as websocketsink's get-stats reports it.
struct ViewerStats {
  std::string address;  // "127.0.0.1:port" of the viewer's end
  std::string kind;     // "websocket" or "mjpeg"
  guint queued = 0;     // messages waiting, the one being written included
};

// A delivery policy under which a viewer that stays within a frame of the
// sink never loses one, however the machine schedules the threads: at most 2
// frames waiting, no byte or time limit (websocketsink's defaults also drop by
// stream time, which a loaded machine trips). For tests that count every frame.
inline const std::string kPacedDelivery = "max-queued-frames=2 max-queued-bytes=0 max-queued-time=0";

// A websocketsink's viewers, from get-stats; asserts that each has an
// address, a kind, queued and connect-time.
std::vector<ViewerStats> viewer_stats(GstElement *websocketsink);
// `path` (a sink's path property) and an endpoint's name: the URL path of
// that endpoint of the stream.
std::string endpoint_path(const std::string &path, imagestream::Endpoint endpoint);

class SinkHarness {
 public:
  // `props` go after "port=0" and so override it; `caps` are the input's.
  explicit SinkHarness(const std::string &props = "", const std::string &caps = "image/jpeg");
  SinkHarness(const SinkHarness &) = delete;
  SinkHarness &operator=(const SinkHarness &) = delete;
  ~SinkHarness();

  // One buffer into render(); asserts GST_FLOW_OK.
  void push(const Bytes &payload);

  guint viewers() const { return get_uint(element, "num-viewers"); }
  guint64 u64(const char *property) const { return get_u64(element, property); }
  int current_port() const { return get_int(element, "current-port"); }
  std::vector<ViewerStats> viewer_stats() const { return testutil::viewer_stats(element); }
  // "/camera/stream.mjpeg" and the like, under this sink's path.
  std::string endpoint(imagestream::Endpoint e) const { return endpoint_path(path, e); }
  // "ws://127.0.0.1:port/camera" (with "wss" for TLS).
  std::string url(const std::string &scheme = "ws") const;

  // The viewer-added signals so far.
  size_t added() const;
  // The viewer-removed signals so far with `reason` ("timeout", "closed", ...).
  size_t removed_with(const std::string &reason) const;
  // The viewer-refused signals so far with `reason` ("max-viewers reached", ...).
  size_t refused_with(const std::string &reason) const;

  GstHarness *const harness;
  GstElement *const element;  // the websocketsink
  const int port;             // current-port once the harness has started it
  const std::string path;     // the path property

 private:
  mutable std::mutex lock_;         // guards the records below: the signals come from the server thread
  std::vector<std::string> added_;  // addresses
  std::vector<std::pair<std::string, std::string>> removed_;  // address, reason
  std::vector<std::pair<std::string, std::string>> refused_;  // address, reason
};

}  // namespace testutil
