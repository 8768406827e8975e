// Which stream and which of its resources a request path names, and whether
// a page's Origin may open the stream. The stream path is its secret, so it
// is compared in time that depends on the request's length only. No sockets,
// no GStreamer, no libsoup.
#pragma once

#include <string>

namespace imagestream {

// A stream's path as websocketsink's `path` property gives it, normalised.
struct StreamPath {
  explicit StreamPath(const std::string &path);
  std::string path;  // begins with '/'
  std::string base;  // `path` without a trailing '/': resources are <base>/<name>
};

// What a request path (still percent-encoded) is to one stream.
struct PathMatch {
  enum Kind {
    None,      // not this stream's
    Stream,    // the stream path itself (or <base>/): the viewer page, or the WebSocket
    Resource,  // <base>/<rest>: an endpoint, or a file of the document root
  } kind = None;
  std::string rest;  // for Resource: what follows "<base>/", never empty
};
PathMatch match_stream_path(const StreamPath &stream, const std::string &request_path);

// True when `allowed` (comma-separated origins, empty = any) admits `origin`
// (nullptr when the request carried none).
bool origin_allowed(const std::string &allowed, const char *origin);

}  // namespace imagestream
