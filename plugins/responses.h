// The answers under a stream's path that are not a WebSocket: the viewer
// page, the document root's files, snapshot.jpg, stats.json and metrics, and
// the head of an MJPEG response (its parts are a viewer's, see Viewer).
// Server thread only; the routing to these is Server::request().
#pragma once

#include <libsoup/soup.h>

#include <string>

#include "endpoints.h"
#include "stream.h"

namespace imagestream {

// Every answer but a successful upgrade or MJPEG stream ends its connection:
// libsoup 3.2 never notices when a client closes an idle keep-alive
// connection, and would keep its file descriptor until the server stops.
void close_after_response(SoupServerMessage *msg);

// CORS for the endpoints (stats, metrics, snapshot, MJPEG), when the stream's
// cors-origins admits the request's Origin: the headers on the answer, and
// for a preflight (OPTIONS) the whole answer, in which case it returns true.
bool allow_cors(Stream &stream, SoupServerMessage *msg, bool preflight);

// GET <path>: the document root's index.html, else the built-in page.
void serve_page(Stream &stream, SoupServerMessage *msg);
// GET <path>/<relative> from the document root; false when there is no such file.
bool serve_file(Stream &stream, SoupServerMessage *msg, const std::string &relative);
// The most recent frame, or 503 until there is one.
void serve_snapshot(Stream &stream, SoupServerMessage *msg);
// 404 for snapshot.jpg and stream.mjpeg of a video stream without a JPEG stream beside it.
void serve_no_jpeg(Stream &stream, SoupServerMessage *msg);
// stats.json or metrics.
void serve_stats(Stream &stream, SoupServerMessage *msg, Endpoint which);
// Sets the 200 head of an MJPEG stream; returns its boundary, random per response.
std::string start_mjpeg_response(Stream &stream, SoupServerMessage *msg);

}  // namespace imagestream
