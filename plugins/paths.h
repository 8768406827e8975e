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

// Whether a WebSocket request's Origin may open the stream: any when
// `allowed` (comma-separated origins) is empty; else a listed one, the
// relay's own (same origin: `own_origin`, e.g. "https://host:8090"), or none
// at all (clients that are not browsers) unless `require_origin`.
bool origin_allowed(const std::string &allowed, const char *origin, const std::string &own_origin,
                    bool require_origin);

// The Access-Control-Allow-Origin answer for a request from `origin` given
// `cors` (comma-separated origins, "*" for any, empty = no CORS): "" for none.
std::string cors_allow_origin(const std::string &cors, const char *origin);

}  // namespace imagestream
