// websocketsink's clients without WebSocket, over real sockets on free ports:
// <path>/snapshot.jpg, <path>/stream.mjpeg (curl, a healthy and a stuck raw
// client), <path>/stats.json and <path>/metrics, and the 404s around them.
// The frames come from a real camera pipeline (the Relay) or, where the test
// must control each frame, from a harness.
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <json-glib/json-glib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "glibptr.h"
#include "httpclient.h"
#include "relay.h"
#include "sinkharness.h"
#include "testutil.h"
#include "wsclient.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

using imagestream::Endpoint;
using testutil::Bytes;
using testutil::HttpResponse;
using testutil::MjpegClient;
using testutil::Relay;
using testutil::SinkHarness;
using testutil::WsClient;

namespace {

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

// Decodes a JPEG with jpegdec; returns its size (0x0 if it does not decode).
std::pair<int, int> decoded_size(const Bytes &jpeg) {
  GstElement *p = testutil::parse("appsrc name=in caps=image/jpeg ! jpegdec ! appsink name=out sync=false");
  GstElement *in = gst_bin_get_by_name(GST_BIN(p), "in");
  GstElement *out = gst_bin_get_by_name(GST_BIN(p), "out");
  gst_element_set_state(p, GST_STATE_PLAYING);
  gst_app_src_push_buffer(GST_APP_SRC(in), gst_buffer_new_memdup(jpeg.data(), jpeg.size()));
  gst_app_src_end_of_stream(GST_APP_SRC(in));
  std::pair<int, int> size{0, 0};
  if (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 5 * GST_SECOND)) {
    const GstStructure *caps = gst_caps_get_structure(gst_sample_get_caps(s), 0);
    gst_structure_get_int(caps, "width", &size.first);
    gst_structure_get_int(caps, "height", &size.second);
    gst_sample_unref(s);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(in);
  gst_object_unref(out);
  gst_object_unref(p);
  return size;
}

// --- stats.json, read with json-glib: each accessor asserts that the member
// is there with the type asked for ---

// `text` as a JSON object, valid until `parser` loads again.
JsonObject *parse_object(JsonParser *parser, const std::string &text) {
  imagestream::ErrorPtr err;
  if (!json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), imagestream::out(err)))
    g_error("not JSON (%s): %s", err->message, text.c_str());
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) g_error("not a JSON object: %s", text.c_str());
  return json_node_get_object(root);
}

JsonNode *member(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n) g_error("JSON object has no member \"%s\"", name);
  return n;
}

GType value_type(JsonNode *n) { return JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID; }

double number_at(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  if (value_type(n) != G_TYPE_INT64 && value_type(n) != G_TYPE_DOUBLE) g_error("\"%s\" is not a number", name);
  return json_node_get_double(n);
}

std::string string_at(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  if (value_type(n) != G_TYPE_STRING) g_error("\"%s\" is not a string", name);
  return json_node_get_string(n);
}

JsonObject *object_at(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  if (!JSON_NODE_HOLDS_OBJECT(n)) g_error("\"%s\" is not an object", name);
  return json_node_get_object(n);
}

// The viewer of stats.json's "viewers" with `address`, or nullptr.
JsonObject *viewer_at(JsonObject *stats, const std::string &address) {
  JsonNode *viewers = member(stats, "viewers");
  if (!JSON_NODE_HOLDS_ARRAY(viewers)) g_error("\"viewers\" is not an array");
  JsonArray *list = json_node_get_array(viewers);
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonNode *v = json_array_get_element(list, i);
    if (!JSON_NODE_HOLDS_OBJECT(v)) g_error("a viewer is not an object");
    if (string_at(json_node_get_object(v), "address") == address) return json_node_get_object(v);
  }
  return nullptr;
}

// --- tests ---

void test_snapshot_is_503_before_a_frame_then_a_jpeg_of_the_source_size() {
  Relay relay;
  const std::string snapshot = relay.endpoint(Endpoint::Snapshot);
  HttpResponse r = relay.get(snapshot);
  g_assert_cmpint(r.status, ==, 503);
  g_assert_true(g_str_has_prefix(r.content_type.c_str(), "text/plain"));
  g_assert_true(r.header("Cache-Control") == "no-store");
  g_assert_false(r.body.empty());

  relay.start_camera();
  r = relay.get(snapshot);
  g_assert_cmpint(r.status, ==, 200);
  g_assert_cmpstr(r.content_type.c_str(), ==, "image/jpeg");
  g_assert_true(r.header("Cache-Control") == "no-store");
  const Bytes jpeg(r.body.begin(), r.body.end());
  g_assert_true(testutil::is_full_jpeg(jpeg));
  const auto size = decoded_size(jpeg);
  g_assert_cmpint(size.first, ==, 320);
  g_assert_cmpint(size.second, ==, 240);
}

void test_mjpeg_with_curl_parses_into_full_jpegs_at_the_source_rate() {
  g_autofree gchar *curl = g_find_program_in_path("curl");
  if (!curl) {
    g_test_skip("curl is not installed");
    return;
  }
  // Counting what curl gets against what came in: no frame dropped for time.
  Relay relay(testutil::kPacedDelivery);
  relay.start_camera();
  const std::string url = "http://127.0.0.1:" + std::to_string(relay.web_port) + relay.endpoint(Endpoint::Mjpeg);
  constexpr int kSeconds = 3;
  GError *err = nullptr;
  g_autoptr(GSubprocess) proc =
      g_subprocess_new(static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE),
                       &err, curl, "-sN", "--max-time", "3", "-D", "/dev/stderr", url.c_str(), nullptr);
  g_assert_no_error(err);
  g_autoptr(GBytes) out = nullptr;
  g_autoptr(GBytes) head = nullptr;
  const guint64 in_before = relay.frames_in();
  g_assert_true(g_subprocess_communicate(proc, nullptr, nullptr, &out, &head, &err));
  g_assert_no_error(err);
  const guint64 frames_in = relay.frames_in() - in_before;

  gsize head_size = 0;
  const auto *head_data = static_cast<const char *>(g_bytes_get_data(head, &head_size));
  const std::string headers(head_data, head_size);
  g_assert_true(contains(headers, "HTTP/1.1 200"));
  g_assert_true(contains(headers, "Content-Type: multipart/x-mixed-replace; boundary="));
  // At least 128 random bits, so that no frame can know it.
  const std::string boundary = testutil::boundary_of(headers);
  g_assert_cmpuint(boundary.size(), >=, 32);
  g_assert_true(contains(headers, "Cache-Control: no-store"));

  size_t parts = 0, bad = 0;
  Bytes first;
  testutil::MjpegParser parser(boundary, [&](Bytes part) {
    if (!testutil::is_full_jpeg(part)) bad++;
    if (parts++ == 0) first = std::move(part);
  });
  gsize size = 0;
  const auto *data = static_cast<const uint8_t *>(g_bytes_get_data(out, &size));
  g_assert_true(parser.feed(data, size));
  const double fps = static_cast<double>(parts) / kSeconds;
  g_test_message("curl read %zu parts (%zu bytes) in %d s: %.1f fps; %" G_GUINT64_FORMAT " frames came in", parts,
                 static_cast<size_t>(size), kSeconds, fps, frames_in);
  g_assert_cmpuint(bad, ==, 0);
  // Close to every frame the source made meanwhile (curl's connecting takes a
  // little of the time), which is 30 fps unless valgrind slows the camera.
  g_assert_cmpfloat(parts, >=, 0.66 * frames_in);
  if (!RUNNING_ON_VALGRIND) g_assert_cmpfloat(fps, >=, 20);
  const auto decoded = decoded_size(first);
  g_assert_cmpint(decoded.first, ==, 320);
  g_assert_cmpint(decoded.second, ==, 240);
}

void test_stuck_mjpeg_client_is_bounded_and_timed_out_while_the_healthy_one_gets_every_frame() {
  const auto frames = testutil::numbered_frames(300, 150000, 250000);
  SinkHarness sink("viewer-timeout=1 " + testutil::kPacedDelivery);
  const std::string mjpeg = sink.endpoint(Endpoint::Mjpeg);
  MjpegClient healthy, stuck;
  g_assert_cmpint(healthy.open(sink.port, mjpeg), ==, 200);
  healthy.read_parts([&](size_t n, const Bytes &part) { return n < frames.size() && part == frames[n]; });
  g_assert_cmpint(stuck.open(sink.port, mjpeg, 4096), ==, 200);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 2; }));

  const long rss_before = testutil::rss_kib();
  long rss_max = rss_before;
  guint max_queued = 0;
  for (size_t i = 0; i < frames.size(); i++) {
    // Never more than one frame ahead of the healthy client: it must get every one.
    if (i >= 2) g_assert_true(testutil::wait_until([&] { return healthy.parts >= i - 1; }));
    sink.push(frames[i]);
    for (const auto &v : sink.viewer_stats()) max_queued = std::max(max_queued, v.queued);
    rss_max = std::max(rss_max, testutil::rss_kib());
  }
  // The last part is complete once the next part's headers follow it: no frame waits for another.
  g_assert_true(testutil::wait_until([&] { return healthy.parts == frames.size(); }, 20000));
  g_assert_cmpuint(healthy.bad_parts, ==, 0);
  g_assert_false(healthy.malformed);
  // The one being written plus max-queued-frames (2), whatever the stuck client does.
  g_assert_cmpuint(max_queued, <=, 3);
  g_test_message("RSS %ld KiB before, max %ld KiB while 300 frames (60 MB) went out", rss_before, rss_max);
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps freed memory resident
  g_assert_cmpint(rss_max - rss_before, <, 30 * 1024);
#endif
  g_assert_true(testutil::wait_until([&] { return sink.removed_with("timeout") == 1; }, 5000));
  g_assert_cmpuint(sink.viewers(), ==, 1);
  g_assert_cmpuint(sink.u64("frames-dropped"), >, 0);
}

void test_stopping_ends_the_mjpeg_stream_with_its_closing_delimiter() {
  auto sink = std::make_unique<SinkHarness>();
  const auto frames = testutil::numbered_frames(3, 150000, 250000);
  sink->push(frames[0]);
  MjpegClient client;
  g_assert_cmpint(client.open(sink->port, sink->endpoint(Endpoint::Mjpeg)), ==, 200);
  // The newest frame comes first, without waiting for the next. The part the
  // last frame's trailer opened is closed empty by the delimiter.
  client.read_parts([&](size_t n, const Bytes &part) { return n < 2 ? part == frames[n] : part.empty(); });
  g_assert_true(testutil::wait_until([&] { return client.parts == 1; }));
  sink->push(frames[1]);
  g_assert_true(testutil::wait_until([&] { return client.parts == 2; }));
  sink.reset();
  g_assert_true(testutil::wait_until([&] { return client.eof.load(); }));
  g_assert_cmpuint(client.parts, ==, 3);
  g_assert_cmpuint(client.bad_parts, ==, 0);
  g_assert_false(client.malformed);
  const Bytes last = client.last_bytes();
  const std::string delimiter = "\r\n--" + client.boundary + "--\r\n";
  g_assert_cmpuint(last.size(), >=, delimiter.size());
  const std::string end(last.end() - delimiter.size(), last.end());
  g_assert_cmpstr(end.c_str(), ==, delimiter.c_str());
}

void test_stats_and_metrics_count_one_viewer_of_each_kind() {
  Relay relay;
  relay.start_camera();
  testutil::WsClient ws;
  g_assert_cmpint(ws.upgrade(relay.web_port, relay.path), ==, 101);
  std::atomic<bool> ws_reading{true};
  std::thread ws_reader([&] {
    Bytes message;
    while (ws_reading && ws.read_data(message, 500)) {
    }
  });
  MjpegClient mjpeg;
  g_assert_cmpint(mjpeg.open(relay.web_port, relay.endpoint(Endpoint::Mjpeg)), ==, 200);
  mjpeg.read_parts([](size_t, const Bytes &part) { return testutil::is_full_jpeg(part); });
  const std::string ws_address = ws.address();
  const std::string mjpeg_address = mjpeg.address();
  const std::pair<std::string, const char *> viewers_by_kind[] = {{ws_address, "websocket"}, {mjpeg_address, "mjpeg"}};

  // Until each viewer has a rate: the first window is a second long.
  imagestream::GObjectPtr<JsonParser> parser(json_parser_new());
  JsonObject *stats = nullptr;
  g_assert_true(testutil::wait_until([&] {
    const HttpResponse r = relay.get(relay.endpoint(Endpoint::Stats));
    if (r.status != 200) return false;
    g_assert_cmpstr(r.content_type.c_str(), ==, "application/json");
    g_assert_true(r.header("Cache-Control") == "no-store");
    stats = parse_object(parser.get(), r.body);
    JsonObject *w = viewer_at(stats, ws_address);
    JsonObject *m = viewer_at(stats, mjpeg_address);
    return w && m && number_at(w, "fps") > 0 && number_at(m, "fps") > 0;
  }));
  JsonObject *totals = object_at(stats, "totals");
  g_assert_cmpfloat(number_at(totals, "viewers"), ==, 2);
  g_assert_cmpfloat(number_at(totals, "websocket_viewers"), ==, 1);
  g_assert_cmpfloat(number_at(totals, "mjpeg_viewers"), ==, 1);
  g_assert_cmpfloat(number_at(totals, "frames_in"), >, 0);
  g_assert_cmpfloat(number_at(totals, "frames_sent"), >, 0);
  g_assert_cmpfloat(number_at(totals, "bytes_sent"), >, 0);
  g_assert_cmpfloat(number_at(totals, "frames_dropped"), >=, 0);
  for (const auto &[address, kind] : viewers_by_kind) {
    JsonObject *v = viewer_at(stats, address);
    const std::string v_kind = string_at(v, "kind");
    g_assert_cmpstr(v_kind.c_str(), ==, kind);
    g_assert_cmpfloat(number_at(v, "frames_sent"), >, 0);
    g_assert_cmpfloat(number_at(v, "bytes_sent"), >, 0);
    g_assert_cmpfloat(number_at(v, "fps"), <=, 60);
    g_assert_cmpfloat(number_at(v, "frames_dropped"), >=, 0);
    g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$",
                                       string_at(v, "connected_since").c_str(), G_REGEX_DEFAULT,
                                       G_REGEX_MATCH_DEFAULT));
  }

  // get-stats tells the kinds apart too.
  std::vector<std::string> kinds;
  for (const auto &v : testutil::viewer_stats(relay.sink)) kinds.push_back(v.kind);
  std::sort(kinds.begin(), kinds.end());
  g_assert_true((kinds == std::vector<std::string>{"mjpeg", "websocket"}));

  const HttpResponse metrics = relay.get(relay.endpoint(Endpoint::Metrics));
  g_assert_cmpint(metrics.status, ==, 200);
  g_assert_true(g_str_has_prefix(metrics.content_type.c_str(), "text/plain; version=0.0.4"));
  g_assert_true(metrics.header("Cache-Control") == "no-store");
  // Every sample is `name{labels} value` of a family declared by # TYPE.
  g_autoptr(GRegex) sample = g_regex_new(
      "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\""
      "(,[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\")*\\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$",
      G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT, nullptr);
  std::vector<std::string> families;
  std::map<std::string, std::string> values;  // "name{labels}" -> value
  g_auto(GStrv) lines = g_strsplit(metrics.body.c_str(), "\n", -1);
  for (char **line = lines; *line; line++) {
    if (!**line) continue;
    if (g_str_has_prefix(*line, "# HELP imagestream_")) continue;
    if (g_str_has_prefix(*line, "# TYPE imagestream_")) {
      g_auto(GStrv) words = g_strsplit(*line, " ", -1);
      g_assert_cmpuint(g_strv_length(words), ==, 4);
      g_assert_true(strcmp(words[3], "counter") == 0 || strcmp(words[3], "gauge") == 0);
      if (strcmp(words[3], "counter") == 0) g_assert_true(g_str_has_suffix(words[2], "_total"));
      families.push_back(words[2]);
      continue;
    }
    g_autoptr(GMatchInfo) match = nullptr;
    if (!g_regex_match(sample, *line, G_REGEX_MATCH_DEFAULT, &match)) g_error("not a Prometheus sample: %s", *line);
    g_autofree gchar *name = g_match_info_fetch(match, 1);
    g_assert_true(g_str_has_prefix(name, "imagestream_"));
    g_assert_true(std::find(families.begin(), families.end(), name) != families.end());
    const std::string text(*line);
    values[text.substr(0, text.rfind(' '))] = text.substr(text.rfind(' ') + 1);
  }
  g_assert_cmpstr(values["imagestream_viewers{kind=\"websocket\"}"].c_str(), ==, "1");
  g_assert_cmpstr(values["imagestream_viewers{kind=\"mjpeg\"}"].c_str(), ==, "1");
  g_assert_cmpint(std::stoll(values["imagestream_frames_in_total"]), >, 0);
  for (const auto &[address, kind] : viewers_by_kind) {
    const std::string labels = std::string("{kind=\"") + kind + "\",address=\"" + address + "\"}";
    g_assert_true(values.count("imagestream_viewer_frames_sent_total" + labels));
    g_assert_cmpint(std::stoll(values["imagestream_viewer_frames_sent_total" + labels]), >, 0);
    g_assert_cmpint(std::stoll(values[std::string("imagestream_frames_sent_total{kind=\"") + kind + "\"}"]), >, 0);
  }

  ws_reading = false;
  ws_reader.join();
}

void test_requests_outside_path_and_switched_off_endpoints_get_404() {
  SinkHarness sink;
  for (const char *outside :
       {"/snapshot.jpg", "/stream.mjpeg", "/stats.json", "/metrics", "/other/stream.mjpeg", "/camerax/snapshot.jpg",
        "/camer/snapshot.jpg", "/camera/nothing", "/camera/snapshot.jpg/x", "/camera/sub/metrics", "/CAMERA/metrics"}) {
    const int status = testutil::http_get(sink.port, outside).status;
    if (status != 404) g_error("GET %s gave %d, not 404", outside, status);
  }
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/").status, ==, 200);              // the page, as at /camera
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/snapshot.jpg").status, ==, 503);  // no frame yet
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/stats.json").status, ==, 200);
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/metrics").status, ==, 200);
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/snapshot.jpg?t=1").status, ==, 503);

  SinkHarness off("enable-snapshot=false enable-mjpeg=false enable-stats=false");
  off.push(testutil::jpeg_frames(1)[0]);
  for (const char *endpoint :
       {"/camera/snapshot.jpg", "/camera/stream.mjpeg", "/camera/stats.json", "/camera/metrics"}) {
    const int status = testutil::http_get(off.port, endpoint).status;
    if (status != 404) g_error("GET %s switched off gave %d, not 404", endpoint, status);
  }
  g_assert_cmpint(testutil::http_get(off.port, "/camera").status, ==, 200);  // the page stays
  g_assert_cmpuint(off.viewers(), ==, 0);

  // A secret path with more than one segment keeps its endpoints under it.
  SinkHarness deep("path=/a/b/");
  g_assert_cmpint(testutil::http_get(deep.port, "/a/b/stats.json").status, ==, 200);
  g_assert_cmpint(testutil::http_get(deep.port, "/a/stats.json").status, ==, 404);
  g_assert_cmpint(testutil::http_get(deep.port, "/b/stats.json").status, ==, 404);
}

void test_mjpeg_clients_and_websocket_viewers_count_against_max_viewers_alike() {
  SinkHarness sink("max-viewers=1");
  const std::string mjpeg = sink.endpoint(Endpoint::Mjpeg);
  MjpegClient first, second;
  g_assert_cmpint(first.open(sink.port, mjpeg), ==, 200);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 1; }));
  g_assert_cmpint(second.open(sink.port, mjpeg), ==, 503);
  testutil::WsClient ws;
  g_assert_cmpint(ws.upgrade(sink.port, sink.path), ==, 503);
  g_assert_cmpuint(sink.refused_with("max-viewers reached"), ==, 2);
}

// Every answer tells browsers not to guess a content type (a frame or a file
// taken for HTML would run as the relay's own page): the page, files, the
// snapshot (with and without a frame), stats, metrics, the MJPEG head, a
// redirect, CORS preflights and every error.
void test_every_answer_carries_nosniff() {
  testutil::TempDir root;
  root.write("index.html", "<!DOCTYPE html><title>own page</title>");
  root.write("worker.js", "postMessage(1);");
  SinkHarness sink("document-root=" + root.path + " max-viewers=1 cors-origins=*");
  std::vector<std::pair<std::string, std::string>> requests = {
      {"GET /camera/ HTTP/1.1\r\nHost: x\r\n\r\n", "200 page"},
      {"GET /camera HTTP/1.1\r\nHost: x\r\n\r\n", "301 redirect to the page"},
      {"GET /camera/worker.js HTTP/1.1\r\nHost: x\r\n\r\n", "200 file"},
      {"GET /camera/snapshot.jpg HTTP/1.1\r\nHost: x\r\n\r\n", "503 snapshot before a frame"},
      {"GET /camera/stats.json HTTP/1.1\r\nHost: x\r\n\r\n", "200 stats"},
      {"GET /camera/metrics HTTP/1.1\r\nHost: x\r\n\r\n", "200 metrics"},
      {"OPTIONS /camera/stats.json HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\r\n", "204 preflight"},
      {"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
      {"DELETE /camera HTTP/1.1\r\nHost: x\r\n\r\n", "405"},
      {"POST /camera HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "413"},
      {"GET /camera HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "400 bad handshake"},
      {"GET /camera HTTP/1.1\r\nno colon\r\n\r\n", "400 from libsoup's parser"},
      {"GET /camera HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: bogus\r\n\r\n", "501 from libsoup's parser"},
  };
  auto expect_nosniff = [](const HttpResponse &r, const std::string &what) {
    if (r.status == 0) g_error("%s: no answer", what.c_str());
    if (r.header("X-Content-Type-Options") != "nosniff")
      g_error("%s (status %d) has no X-Content-Type-Options: nosniff:\n%s", what.c_str(), r.status, r.head.c_str());
  };
  for (const auto &[request, what] : requests) expect_nosniff(testutil::http_request(sink.port, request), what);
  sink.push(testutil::jpeg_frames(1)[0]);
  expect_nosniff(testutil::http_get(sink.port, sink.endpoint(Endpoint::Snapshot)), "200 snapshot");
  MjpegClient mjpeg;
  g_assert_cmpint(mjpeg.open(sink.port, sink.endpoint(Endpoint::Mjpeg)), ==, 200);
  expect_nosniff(mjpeg.response, "200 MJPEG head");
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 1; }));
  MjpegClient refused;
  g_assert_cmpint(refused.open(sink.port, sink.endpoint(Endpoint::Mjpeg)), ==, 503);
  expect_nosniff(refused.response, "503 max-viewers");
}

// "Basic" credentials for an Authorization header.
std::string basic(const std::string &user_and_password) {
  g_autofree gchar *encoded =
      g_base64_encode(reinterpret_cast<const guchar *>(user_and_password.data()), user_and_password.size());
  return std::string("Basic ") + encoded;
}

// A response head without its Date line, to compare two answers.
std::string without_date(const std::string &head) {
  const size_t at = head.find("\r\nDate: ");
  if (at == std::string::npos) return head;
  return head.substr(0, at) + head.substr(head.find("\r\n", at + 2));
}

// `openssl passwd -6 -salt imagestream builder`
constexpr char kBuilderHash[] =
    "$6$imagestream$FuPobr9swYwLCFy8D63gshpRi2Pi01SGOsk69HyZ4MIXGOf69jwVp21N9fFO/Rb/AwFzFj8ITgChbhJ6VKgSJ0";

// auth-users: HTTP Basic logins (a plain password and a crypt(3) hash) for
// the page and everything under the stream's path. Without a login of the
// file everything is 401, the same answer for every path, those that exist
// and those that do not, so a stranger learns nothing; with one, each
// answers as it would without logins. A stream without logins on the same
// port stays public.
void test_logins_guard_the_page_and_every_endpoint_and_tell_strangers_nothing() {
  testutil::TempDir dir;
  dir.write("users", std::string("# who may watch\nalice:wonder:land\n\nbob:") + kBuilderHash + "\n");
  const std::string users = dir.path + "/users";
  g_assert_cmpint(g_chmod(users.c_str(), 0600), ==, 0);
  SinkHarness sink("auth-users=" + users);
  SinkHarness open("port=" + std::to_string(sink.port) + " path=/open");
  sink.push(testutil::jpeg_frames(1)[0]);
  auto get = [&](const std::string &path, const std::string &login) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n";
    if (!login.empty()) request += "Authorization: " + basic(login) + "\r\n";
    return testutil::http_request(sink.port, request + "\r\n");
  };
  const std::pair<const char *, int> paths[] = {
      {"/camera", 200},  {"/camera/", 200},     {"/camera/snapshot.jpg", 200}, {"/camera/stats.json", 200},
      {"/camera/metrics", 200}, {"/camera/nothing", 404}, {"/nowhere", 404},           {"/", 404},
  };
  std::string refusal;  // the one 401 every stranger gets
  for (const auto &[path, status] : paths) {
    for (const char *wrong : {"", "alice:wrong", "alice:wonder", "bob:wrong", "carol:wonder:land", "bob"}) {
      const HttpResponse r = get(path, wrong);
      if (r.status != 401) g_error("GET %s with \"%s\" gave %d, not 401", path, wrong, r.status);
      const std::string challenge = r.header("WWW-Authenticate"), head = without_date(r.head);
      g_assert_cmpstr(challenge.c_str(), ==, "Basic realm=\"imagestream\", charset=\"UTF-8\"");
      g_assert_cmpstr(r.body.c_str(), ==, "");
      if (refusal.empty()) refusal = head;
      g_assert_cmpstr(head.c_str(), ==, refusal.c_str());
    }
    for (const char *login : {"alice:wonder:land", "bob:builder"}) {
      const int got = get(path, login).status;
      if (got != status) g_error("GET %s as %s gave %d, not %d", path, login, got, status);
    }
  }
  // The WebSocket upgrade and MJPEG need a login too.
  WsClient stranger, wrong, viewer;
  g_assert_cmpint(stranger.upgrade(sink.port, "/camera"), ==, 401);
  g_assert_cmpint(wrong.upgrade(sink.port, "/camera", "Authorization: " + basic("alice:x") + "\r\n"), ==, 401);
  g_assert_cmpint(viewer.upgrade(sink.port, "/camera", "Authorization: " + basic("bob:builder") + "\r\n"), ==, 101);
  Bytes frame;
  g_assert_true(viewer.read_data(frame));
  g_assert_true(testutil::is_full_jpeg(frame));
  const std::string mjpeg = "GET " + sink.endpoint(Endpoint::Mjpeg) + " HTTP/1.1\r\nHost: x\r\n";
  g_assert_cmpint(testutil::http_request(sink.port, mjpeg + "\r\n").status, ==, 401);
  const int fd = testutil::tcp_connect(sink.port);
  const std::string request = mjpeg + "Authorization: " + basic("alice:wonder:land") + "\r\n\r\n";
  g_assert_true(testutil::send_all(fd, request.data(), request.size()));
  HttpResponse head;
  g_assert_true(testutil::read_response_head(fd, head));
  g_assert_cmpint(head.status, ==, 200);
  g_assert_true(g_str_has_prefix(head.content_type.c_str(), "multipart/x-mixed-replace"));
  close(fd);
  g_assert_cmpuint(sink.refused_with("max-viewers reached"), ==, 0);
  // The other stream on the port has no logins.
  g_assert_cmpint(testutil::http_get(sink.port, "/open").status, ==, 200);
  g_assert_cmpint(testutil::http_get(sink.port, "/open/stats.json").status, ==, 200);
}

// An auth-users file that cannot be used stops the stream from starting,
// with one line naming the file (and the line), rather than serving the
// stream without logins.
void test_auth_users_file_that_cannot_be_used_fails_the_state_change_naming_it() {
  testutil::TempDir dir;
  dir.write("no-colon", "alice\n");
  dir.write("bad-hash", "alice:$6\n");
  dir.write("twice", "alice:a\nbob:b\nalice:c\n");
  dir.write("empty", "# nobody yet\n\n");
  const std::pair<std::string, std::string> cases[] = {
      {dir.path + "/missing", dir.path + "/missing"},
      {dir.path + "/no-colon", "no-colon line 1: expected user:password"},
      {dir.path + "/bad-hash", "bad-hash line 1: not a crypt(3) hash"},
      {dir.path + "/twice", "twice line 3: user alice is listed twice"},
      {dir.path + "/empty", "empty names no user"},
  };
  for (const auto &[file, expected] : cases) {
    GstElement *pipeline = testutil::parse("fakesrc ! websocketsink port=0 auth-users=" + file);
    const std::string error = testutil::state_change_error(pipeline, GST_STATE_READY, GST_RESOURCE_ERROR);
    if (error.find(expected) == std::string::npos)
      g_error("auth-users %s: \"%s\" does not say \"%s\"", file.c_str(), error.c_str(), expected.c_str());
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
}

}  // namespace

int main(int argc, char **argv) {
  testutil::init(&argc, &argv);
  g_test_add_func("/httpclients/snapshot-is-503-before-a-frame-then-a-jpeg-of-the-source-size",
                  test_snapshot_is_503_before_a_frame_then_a_jpeg_of_the_source_size);
  g_test_add_func("/httpclients/mjpeg-with-curl-parses-into-full-jpegs-at-the-source-rate",
                  test_mjpeg_with_curl_parses_into_full_jpegs_at_the_source_rate);
  g_test_add_func("/httpclients/stuck-mjpeg-client-is-bounded-and-timed-out-while-the-healthy-one-gets-every-frame",
                  test_stuck_mjpeg_client_is_bounded_and_timed_out_while_the_healthy_one_gets_every_frame);
  g_test_add_func("/httpclients/stopping-ends-the-mjpeg-stream-with-its-closing-delimiter",
                  test_stopping_ends_the_mjpeg_stream_with_its_closing_delimiter);
  g_test_add_func("/httpclients/stats-and-metrics-count-one-viewer-of-each-kind",
                  test_stats_and_metrics_count_one_viewer_of_each_kind);
  g_test_add_func("/httpclients/requests-outside-path-and-switched-off-endpoints-get-404",
                  test_requests_outside_path_and_switched_off_endpoints_get_404);
  g_test_add_func("/httpclients/mjpeg-clients-and-websocket-viewers-count-against-max-viewers-alike",
                  test_mjpeg_clients_and_websocket_viewers_count_against_max_viewers_alike);
  g_test_add_func("/httpclients/every-answer-carries-nosniff", test_every_answer_carries_nosniff);
  g_test_add_func("/httpclients/logins-guard-the-page-and-every-endpoint-and-tell-strangers-nothing",
                  test_logins_guard_the_page_and_every_endpoint_and_tell_strangers_nothing);
  g_test_add_func("/httpclients/auth-users-file-that-cannot-be-used-fails-the-state-change-naming-it",
                  test_auth_users_file_that_cannot_be_used_fails_the_state_change_naming_it);
  return g_test_run();
}
