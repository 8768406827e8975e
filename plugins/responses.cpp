#include "responses.h"

#include <memory>

#include "paths.h"
#include "randombytes.h"
#include "staticfiles.h"
#include "statsformat.h"

namespace imagestream {

namespace {

constexpr char kPageResource[] = "/org/imagestream/web/index.html";

void no_store(SoupServerMessage *msg) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control", "no-store");
}

void serve_text(SoupServerMessage *msg, const char *content_type, const std::string &text) {
  no_store(msg);
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, text.data(), text.size());
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
}

bool serve_file_at(SoupServerMessage *msg, const std::string &file) {
  gchar *contents = nullptr;
  gsize size = 0;
  if (file.empty() || !g_file_get_contents(file.c_str(), &contents, &size, nullptr)) return false;
  soup_server_message_set_response(msg, content_type_for(file).c_str(), SOUP_MEMORY_TAKE, contents, size);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  return true;
}

// 128 random bits as hex: a frame cannot know the boundary it would have to
// contain to end its part early and inject one of its own.
std::string random_boundary() {
  uint8_t bytes[16];
  random_bytes(bytes, sizeof bytes);
  static const char hex[] = "0123456789abcdef";
  std::string out = "imagestream-";
  for (uint8_t b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

}  // namespace

void close_after_response(SoupServerMessage *msg) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
}

bool allow_cors(Stream &stream, SoupServerMessage *msg, bool preflight) {
  const char *origin = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Origin");
  const std::string allow = cors_allow_origin(stream.settings().cors_origins, origin);
  if (allow.empty()) return false;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Access-Control-Allow-Origin", allow.c_str());
  if (allow != "*") soup_message_headers_append(headers, "Vary", "Origin");
  soup_message_headers_replace(headers, "Access-Control-Expose-Headers",
                               "Last-Modified, X-Frame-Time-Ms, X-Frame-Age-Ms");
  if (!preflight) return false;
  soup_message_headers_replace(headers, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
  soup_message_headers_replace(headers, "Access-Control-Max-Age", "600");
  soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
  return true;
}

void serve_page(Stream &stream, SoupServerMessage *msg) {
  if (!stream.document_root().empty()) {
    // The root's page loads its files relative to its own URL: they resolve
    // under the stream's path only if that URL ends with '/'.
    GUri *uri = soup_server_message_get_uri(msg);
    const std::string path = g_uri_get_path(uri);
    if (path.back() != '/') {
      const char *query = g_uri_get_query(uri);
      const std::string location = path + "/" + (query ? std::string("?") + query : "");
      soup_server_message_set_redirect(msg, SOUP_STATUS_MOVED_PERMANENTLY, location.c_str());
      return;
    }
    if (serve_file_at(msg, resolve_static_file(stream.document_root(), "index.html"))) return;
  }
  BytesPtr page(g_resources_lookup_data(kPageResource, G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr));
  if (!page) {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
    return;
  }
  soup_message_headers_set_content_type(soup_server_message_get_response_headers(msg), "text/html; charset=utf-8",
                                        nullptr);
  soup_message_body_append_bytes(soup_server_message_get_response_body(msg), page.get());
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
}

bool serve_file(Stream &stream, SoupServerMessage *msg, const std::string &relative) {
  if (stream.document_root().empty()) return false;
  return serve_file_at(msg, resolve_static_file(stream.document_root(), relative));
}

void serve_snapshot(Stream &stream, SoupServerMessage *msg) {
  WireMessageRef frame = stream.latest();
  no_store(msg);
  if (!frame) {
    static const char kNoFrame[] = "No frame has arrived yet: try again once the camera sends.\n";
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "1");
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC, kNoFrame,
                                     sizeof kNoFrame - 1);
    soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
    return;
  }
  // When the frame came, as the real time that long ago.
  const int64_t arrived = g_get_real_time() - (g_get_monotonic_time() - frame->arrival_us);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc(arrived / G_USEC_PER_SEC);
  g_autofree char *date = soup_date_time_to_string(when, SOUP_DATE_HTTP);
  soup_message_headers_replace(headers, "Last-Modified", date);
  soup_message_headers_replace(headers, "X-Frame-Time-Ms", std::to_string(arrived / 1000).c_str());
  soup_message_headers_replace(headers, "X-Frame-Age-Ms",
                               std::to_string((g_get_monotonic_time() - frame->arrival_us) / 1000).c_str());
  // The frame's own bytes, kept alive until libsoup has written them.
  auto owner = std::make_unique<WireMessageRef>(frame);
  BytesPtr bytes(g_bytes_new_with_free_func(frame->payload, frame->payload_size,
                                            [](gpointer ref) { delete static_cast<WireMessageRef *>(ref); },
                                            owner.release()));
  soup_message_headers_set_content_type(headers, stream.content_type().c_str(), nullptr);
  soup_message_body_append_bytes(soup_server_message_get_response_body(msg), bytes.get());
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
}

void serve_no_jpeg(Stream &stream, SoupServerMessage *msg) {
  const std::string text = "This stream is encoded video, not JPEG: its snapshot and MJPEG stream come from a JPEG "
                           "stream of the same camera on this port, which websocketsink's jpeg-stream names (" +
                           (stream.settings().jpeg_stream.empty() ? std::string("not set")
                                                                  : "set to " + stream.settings().jpeg_stream +
                                                                        ", which is not served") +
                           ").\n";
  soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text.data(), text.size());
  soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
}

void serve_stats(Stream &stream, SoupServerMessage *msg, Endpoint which) {
  const StreamFigures figures = stream.figures(true);
  if (which == Endpoint::Metrics)
    serve_text(msg, "text/plain; version=0.0.4; charset=utf-8", stats_metrics(figures));
  else
    serve_text(msg, "application/json", stats_json(figures));
}

std::string start_mjpeg_response(Stream &, SoupServerMessage *msg) {
  const std::string boundary = random_boundary();
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Content-Type", ("multipart/x-mixed-replace; boundary=" + boundary).c_str());
  no_store(msg);
  soup_message_headers_set_encoding(headers, SOUP_ENCODING_EOF);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  return boundary;
}

}  // namespace imagestream
