// The resources under a stream's path besides the page and the WebSocket,
// named once: the router, the launcher's start-up lines and the tests all read
// this table. No sockets, no GStreamer, no libsoup.
#pragma once

#include <cstring>

namespace imagestream {

enum class Endpoint { Snapshot, Mjpeg, Stats, Metrics };

struct EndpointInfo {
  Endpoint id;
  const char *name;   // the URL's last segment: <path>/<name>
  const char *label;  // how the launcher's start-up lines call it
};

inline constexpr EndpointInfo kEndpoints[] = {
    {Endpoint::Snapshot, "snapshot.jpg", "snapshot"},
    {Endpoint::Mjpeg, "stream.mjpeg", "mjpeg"},
    {Endpoint::Stats, "stats.json", "stats"},
    {Endpoint::Metrics, "metrics", "metrics"},
};

inline const EndpointInfo *find_endpoint(const char *name) {
  for (const auto &e : kEndpoints)
    if (strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

inline const char *endpoint_name(Endpoint id) { return kEndpoints[static_cast<int>(id)].name; }

}  // namespace imagestream
