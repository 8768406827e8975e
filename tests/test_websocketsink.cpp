// websocketsink over real sockets on free ports: libsoup's WebSocket client
// for the well-behaved viewers, the raw WsClient for stuck and hostile ones.
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "clientframe.h"
#include "httpclient.h"
#include "sinkharness.h"
#include "soupviewers.h"
#include "testutil.h"
#include "wsclient.h"

using testutil::Bytes;
using testutil::HttpResponse;
using testutil::SinkHarness;
using testutil::SoupViewers;
using testutil::WsClient;

namespace {

// SO_RCVBUF of a stuck viewer: small, so that the server's backlog to it
// builds up at once.
constexpr int kStuckReceiveBuffer = 4096;

// Pushes every frame, never more than one ahead of the slowest viewer, so
// that "every frame" is what the viewers must get (the queue may not drop).
void push_paced(SinkHarness &sink, SoupViewers &viewers, const std::vector<Bytes> &frames,
                const std::function<void(size_t)> &after_each = nullptr) {
  for (size_t i = 0; i < frames.size(); i++) {
    if (i >= 2) g_assert_true(testutil::wait_until([&] { return viewers.min_received() >= i - 1; }));
    sink.push(frames[i]);
    if (after_each) after_each(i);
  }
}

void test_ten_viewers_receive_every_frame_bit_exact_in_order() {
  const auto frames = testutil::numbered_frames(1000, 200, 30000);
  SinkHarness sink(testutil::kPacedDelivery);
  SoupViewers viewers(frames);
  std::vector<SoupViewers::Viewer *> v;
  for (int i = 0; i < 10; i++) {
    v.push_back(&viewers.connect(sink.url()));
    g_assert_false(v.back()->failed.load());
  }
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 10; }));
  push_paced(sink, viewers, frames);
  g_assert_true(testutil::wait_until([&] { return viewers.min_received() == frames.size(); }, 20000));
  for (auto *x : v) {
    g_assert_cmpuint(x->received.load(), ==, frames.size());
    g_assert_cmpuint(x->mismatches.load(), ==, 0);
  }
  g_assert_cmpuint(sink.u64("frames-sent"), ==, 10 * frames.size());
  g_assert_cmpuint(sink.u64("frames-dropped"), ==, 0);
  guint64 payload = 0;
  for (auto &f : frames) payload += f.size();
  g_assert_cmpuint(sink.u64("bytes-sent"), >, 10 * payload);
  g_assert_cmpuint(sink.added(), ==, 10);
}

// A viewer that completes the handshake and never reads: memory stays bounded,
// the others get every frame, and it is closed after viewer-timeout.
void stuck_viewer_scenario(SinkHarness &sink, const std::string &scheme, WsClient &stuck) {
  const auto frames = testutil::numbered_frames(300, 150000, 250000);
  SoupViewers viewers(frames);
  for (int i = 0; i < 3; i++) g_assert_false(viewers.connect(sink.url(scheme)).failed.load());
  g_assert_cmpint(stuck.upgrade(sink.port, sink.path), ==, 101);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 4; }));

  long rss_before = testutil::rss_kib();
  long rss_max = rss_before;
  guint max_queued = 0;
  push_paced(sink, viewers, frames, [&](size_t) {
    for (const auto &v : sink.viewer_stats()) max_queued = std::max(max_queued, v.queued);
    rss_max = std::max(rss_max, testutil::rss_kib());
  });
  g_assert_true(testutil::wait_until([&] { return viewers.min_received() == frames.size(); }, 20000));
  // In flight + max-queued-frames (2), whatever the stuck viewer does.
  g_assert_cmpuint(max_queued, <=, 3);
  g_test_message("%s: RSS %ld kB before, max %ld kB while 300 frames (60 MB) went out", scheme.c_str(), rss_before,
                 rss_max);
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps freed memory resident
  g_assert_cmpint(rss_max - rss_before, <, 30 * 1024);
#endif
  g_assert_true(testutil::wait_until([&] { return sink.removed_with("timeout") == 1; }, 5000));
  g_assert_cmpuint(sink.viewers(), ==, 3);
  g_assert_cmpuint(sink.u64("frames-dropped"), >, 0);
}

void test_stuck_viewer_is_bounded_costs_the_others_nothing_and_is_closed_after_timeout() {
  SinkHarness sink("viewer-timeout=1 " + testutil::kPacedDelivery);
  WsClient stuck(WsClient::Transport::Plain, kStuckReceiveBuffer);
  stuck_viewer_scenario(sink, "ws", stuck);
}

void test_wss_viewers_receive_every_frame_and_stuck_one_is_bounded_and_closed_after_timeout() {
  testutil::TempDir dir;
  std::string cert, key;
  if (!testutil::make_certificate(dir.path, cert, key)) {
    g_test_skip("openssl not found");
    return;
  }
  SinkHarness sink("viewer-timeout=1 " + testutil::kPacedDelivery + " tls-certificate=" + cert + " tls-key=" + key);
  WsClient stuck(WsClient::Transport::Tls, kStuckReceiveBuffer);
  stuck_viewer_scenario(sink, "wss", stuck);
}

// A viewer that stops reading for a while then resumes skips frames but always
// ends on the newest one, in order, and is not disconnected.
void test_viewer_that_falls_behind_skips_to_the_newest_frame_and_stays_connected() {
  SinkHarness sink("viewer-timeout=0");
  WsClient slow(WsClient::Transport::Plain, kStuckReceiveBuffer);
  g_assert_cmpint(slow.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 1; }));
  const auto frames = testutil::numbered_frames(200, 50000, 60000);
  for (const auto &f : frames) sink.push(f);
  int last = -1, got = 0;
  WsClient::Message m;
  while (last != 199 && slow.read_message(m)) {
    const int id = testutil::frame_number(m.payload);
    g_assert_cmpint(id, >, last);
    g_assert_true(m.payload == frames[id]);
    last = id;
    got++;
  }
  g_assert_cmpint(last, ==, 199);
  g_assert_cmpint(got, <, 200);
  g_assert_cmpuint(sink.u64("frames-dropped"), ==, 200 - got);
  g_assert_cmpuint(sink.viewers(), ==, 1);
}

void test_page_and_files_only_under_the_path_and_never_outside_the_root() {
  testutil::TempDir dir;
  dir.write("secret.txt", "outside the root");
  dir.write("root/index.html", "<html>seed page</html>");
  dir.write("root/worker.js", "onmessage = () => {};");
  dir.write("root/sub/style.css", "body {}");
  dir.write("root/sub/pic.png", "\x89PNG");
  dir.write("root/camera/app.js", "// under the path's own name");
  SinkHarness sink("document-root=" + dir.path + "/root");

  // The root's page lives at <path>/, so that its relative URLs stay under the path.
  HttpResponse r = testutil::http_get(sink.port, "/camera?x=1");
  g_assert_cmpint(r.status, ==, 301);
  g_assert_true(g_str_has_suffix(r.header("Location").c_str(), "/camera/?x=1"));
  r = testutil::http_get(sink.port, "/camera/");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_cmpstr(r.content_type.c_str(), ==, "text/html; charset=utf-8");
  g_assert_cmpstr(r.body.c_str(), ==, "<html>seed page</html>");
  r = testutil::http_get(sink.port, "/camera/worker.js");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_true(g_str_has_prefix(r.content_type.c_str(), "text/javascript"));
  g_assert_cmpstr(r.body.c_str(), ==, "onmessage = () => {};");
  r = testutil::http_get(sink.port, "/camera/sub/style.css");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_true(g_str_has_prefix(r.content_type.c_str(), "text/css"));
  r = testutil::http_get(sink.port, "/camera/sub/pic.png");
  g_assert_cmpstr(r.content_type.c_str(), ==, "image/png");
  r = testutil::http_get(sink.port, "/camera/sub/%73tyle.css");
  g_assert_cmpint(r.status, ==, 200);
  r = testutil::http_get(sink.port, "/camera/camera/app.js");
  g_assert_cmpint(r.status, ==, 200);

  // Nothing of the root without the stream's path (its secret).
  for (const char *bad :
       {"/nope", "/worker.js", "/index.html", "/sub/style.css", "/camera/x", "/camera/../secret.txt",
        "/camera/../../../../etc/passwd", "/camera/%2e%2e/secret.txt", "/camera/..%2fsecret.txt",
        "/camera/%2e%2e%2fsecret.txt", "/camera/sub/..%2f..%2fsecret.txt", "/camera/sub/%2e%2e/%2e%2e/secret.txt",
        "/camera/sub", "/camera/%00", "/camera/sub/style.css%00.js"}) {
    r = testutil::http_get(sink.port, bad);
    g_test_message("GET %s: %d", bad, r.status);
    // libsoup answers some malformed paths with 400 before the element sees them.
    if (r.status != 404 && r.status != 400) g_error("GET %s gave %d", bad, r.status);
    g_assert_true(r.body.find("outside the root") == std::string::npos);
  }

  // The stream only at exactly `path`.
  WsClient wrong;
  g_assert_cmpint(wrong.upgrade(sink.port, "/cameraX"), ==, 404);
  WsClient wrong2;
  g_assert_cmpint(wrong2.upgrade(sink.port, "/worker.js"), !=, 101);
  g_assert_cmpuint(sink.viewers(), ==, 0);

  // A keep-alive request still gets its connection closed by the server once
  // answered (libsoup 3.2 would otherwise hold idle connections forever).
  for (const char *keepalive : {"GET /camera/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    r = testutil::http_request(sink.port, keepalive);
    g_assert_true(r.header("Connection") == "close");
    g_assert_true(r.closed);  // by the server, not a timeout
  }

  // Without document-root: the built-in page, from web/index.html.
  SinkHarness builtin;
  r = testutil::http_get(builtin.port, "/camera");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_cmpstr(r.content_type.c_str(), ==, "text/html; charset=utf-8");
  if (const char *root = g_getenv("IMAGESTREAM_SOURCE_ROOT")) {
    const std::string page = std::string(root) + "/web/index.html";
    g_autofree gchar *text = nullptr;
    gsize size = 0;
    g_assert_true(g_file_get_contents(page.c_str(), &text, &size, nullptr));
    g_assert_true(r.body == std::string(text, size));
  }
  g_assert_cmpint(testutil::http_get(builtin.port, "/index.html").status, ==, 404);
}

void test_viewers_over_max_viewers_get_503_and_are_closed_until_one_leaves() {
  SinkHarness sink("max-viewers=2");
  WsClient a, b, c, d;
  g_assert_cmpint(a.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_cmpint(b.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_cmpint(c.upgrade(sink.port, "/camera"), ==, 503);
  g_assert_cmpuint(sink.refused_with("max-viewers reached"), ==, 1);
  g_assert_true(c.wait_for_close());  // the refused connection is closed
  a.close();
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 1; }));
  g_assert_cmpint(d.upgrade(sink.port, "/camera"), ==, 101);
}

void test_only_allowed_origins_may_upgrade_and_any_when_unset() {
  SinkHarness sink("allowed-origins=\"http://good.example, https://also.example\" require-origin=true");
  WsClient evil, none, good, also;
  g_assert_cmpint(evil.upgrade(sink.port, "/camera", "Origin: http://evil.example\r\n"), ==, 403);
  g_assert_cmpint(none.upgrade(sink.port, "/camera"), ==, 403);
  g_assert_cmpint(good.upgrade(sink.port, "/camera", "Origin: http://good.example\r\n"), ==, 101);
  g_assert_cmpint(also.upgrade(sink.port, "/camera", "Origin: https://also.example\r\n"), ==, 101);
  g_assert_cmpuint(sink.refused_with("origin not allowed"), ==, 2);
  // Any origin when unset, as the original.
  SinkHarness open;
  WsClient any;
  g_assert_cmpint(any.upgrade(open.port, "/camera", "Origin: http://evil.example\r\n"), ==, 101);
}

void test_late_viewer_gets_stream_headers_then_latest_frame_uncompressed() {
  SinkHarness sink("", "application/x-test,streamheader=(buffer)<0a0b,0c>");
  for (uint8_t i = 1; i <= 5; i++) sink.push(Bytes(100, i));
  WsClient v;
  // Offered as browsers do; refused, since frames are JPEG already.
  g_assert_cmpint(
      v.upgrade(sink.port, "/camera", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"), ==,
      101);
  g_assert_true(v.response().header("Sec-WebSocket-Extensions").empty());
  WsClient::Message m;
  g_assert_true(v.read_message(m));
  g_assert_cmpuint(m.opcode, ==, WsClient::kBinary);
  g_assert_true(m.payload == (Bytes{0x0a, 0x0b}));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == (Bytes{0x0c}));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == Bytes(100, 5));
  sink.push(Bytes(70000, 6));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == Bytes(70000, 6));
}

void test_viewer_ping_gets_pong_close_1000_oversized_1009_and_unmasked_1002() {
  SinkHarness sink("max-message-size=1000");
  WsClient v;
  g_assert_cmpint(v.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(v.send_frame(WsClient::kPing, {'h', 'i'}));
  WsClient::Message m;
  g_assert_true(v.read_message(m));
  g_assert_cmpuint(m.opcode, ==, WsClient::kPong);
  g_assert_true(m.payload == (Bytes{'h', 'i'}));
  g_assert_true(v.send_frame(WsClient::kBinary, Bytes(500, 1)));  // ignored
  g_assert_true(v.send_frame(WsClient::kText, Bytes(5, 'x')));    // ignored
  sink.push(Bytes(10, 9));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == Bytes(10, 9));
  g_assert_true(v.send_frame(WsClient::kBinary, Bytes(1001, 1)));
  g_assert_cmpint(v.read_close_code(), ==, 1009);
  g_assert_true(testutil::wait_until([&] { return sink.removed_with("message-too-big") == 1; }));

  WsClient closing;
  g_assert_cmpint(closing.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(closing.send_frame(WsClient::kClose, {0x03, 0xE8}));
  g_assert_cmpint(closing.read_close_code(), ==, 1000);
  g_assert_true(testutil::wait_until([&] { return sink.removed_with("closed") == 1; }));

  WsClient unmasked;
  g_assert_cmpint(unmasked.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(unmasked.send_raw(testutil::client_frame(0x82, {0x00}, false)));
  g_assert_cmpint(unmasked.read_close_code(), ==, 1002);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 0; }));
}

// Regression: bytes that arrive with the upgrade request used to leave the
// viewer's read source spinning the server thread at 100% CPU.
void test_bytes_sent_with_the_upgrade_do_not_spin_the_server() {
  SinkHarness sink;
  WsClient v;
  v.connect(sink.port);
  std::string req =
      "GET /camera HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const Bytes ping = testutil::client_frame(0x80 | WsClient::kPing, {'h', 'i'});
  req.append(ping.begin(), ping.end());
  g_assert_true(v.send_raw(req.data(), req.size()));
  g_assert_cmpint(v.read_head(), ==, 101);
  WsClient::Message m;
  g_assert_true(v.read_message(m));
  g_assert_cmpuint(m.opcode, ==, WsClient::kPong);
  // Nothing to await here: the property is that the process stays idle, so
  // it is measured over a window (a spinning server thread burns all of it).
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const gint64 t0 = g_get_monotonic_time();
  g_usleep(G_USEC_PER_SEC / 2);
  getrusage(RUSAGE_SELF, &after);
  const double wall = (g_get_monotonic_time() - t0) / 1e6;
  auto secs = [](const rusage &r) {
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  g_assert_cmpfloat(secs(after) - secs(before), <, wall / 4);
  sink.push(Bytes(10, 7));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == Bytes(10, 7));
}

// Regression: libsoup keeps a whole request body in memory unless told not to.
void test_request_body_is_refused_without_being_kept() {
  SinkHarness sink;
  [[maybe_unused]] const long rss_before = testutil::rss_kib();
  int fd = testutil::tcp_connect(sink.port);
  const size_t body = 64 << 20;
  std::string head = "POST /camera HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body) + "\r\n\r\n";
  g_assert_true(testutil::send_all(fd, head.data(), head.size()));
  Bytes chunk(1 << 20, 'x');
  for (size_t sent = 0; sent < body; sent += chunk.size())
    if (!testutil::send_all(fd, chunk.data(), chunk.size())) break;  // the server may answer and close first
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, n);
  close(fd);
  g_assert_true(g_str_has_prefix(response.c_str(), "HTTP/1.1 413"));
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps the freed read buffers resident
  g_assert_cmpint(testutil::rss_kib() - rss_before, <, 16 * 1024);
#endif
}

// Regression: a client that sends half a request is cut off after request-timeout.
void test_half_request_is_closed_after_request_timeout_leaking_no_fds() {
  SinkHarness sink("request-timeout=1");
  const int baseline = testutil::open_fds();
  int fd = testutil::tcp_connect(sink.port);
  g_assert_true(testutil::send_all(fd, "GET /camera HTTP/1.1\r\nHo", 24));
  char byte;
  g_assert_cmpint(recv(fd, &byte, 1, 0), <=, 0);  // blocks until the server hangs up
  close(fd);
  g_assert_true(testutil::wait_until([&] { return testutil::open_fds() <= baseline; }));
}

// RFC 6455 7.4: codes a viewer sends that may not be sent get 1002 (1005
// on the wire too: only a close frame without a code means "no code").
void test_unsendable_close_code_gets_1002_and_others_are_echoed() {
  SinkHarness sink;
  for (uint16_t code : {1005, 1006, 1015, 999, 5000}) {
    WsClient v;
    g_assert_cmpint(v.upgrade(sink.port, "/camera"), ==, 101);
    g_assert_true(v.send_frame(WsClient::kClose, {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code)}));
    g_assert_cmpint(v.read_close_code(), ==, 1002);
  }
  WsClient none;
  g_assert_cmpint(none.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(none.send_frame(WsClient::kClose, {}));
  g_assert_cmpint(none.read_close_code(), ==, 1000);
  WsClient ok;
  g_assert_cmpint(ok.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(ok.send_frame(WsClient::kClose, {0x0F, 0xA0}));  // 4000, an application's own code
  g_assert_cmpint(ok.read_close_code(), ==, 4000);
}

// RFC 6455 8.1: a text message that is not UTF-8 fails the connection with
// 1007, checked as its bytes arrive (a sequence may span fragments); so does
// a close reason that is not UTF-8. Valid text is measured and ignored.
void test_text_or_close_reason_that_is_not_utf8_gets_1007() {
  SinkHarness sink;
  const Bytes euro = {0xE2, 0x82, 0xAC};
  WsClient fine;
  g_assert_cmpint(fine.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(fine.send_raw(testutil::client_frame(0x01, {'a', euro[0]})));  // text, cut inside the sequence
  g_assert_true(fine.send_raw(testutil::client_frame(0x80, {euro[1], euro[2], 'b'})));
  sink.push(Bytes(10, 3));
  Bytes payload;
  g_assert_true(fine.read_data(payload));  // still a viewer
  g_assert_true(payload == Bytes(10, 3));

  const std::vector<Bytes> bad_frames = {
      testutil::client_frame(0x81, {'o', 'k', 0xC0, 0x80}),        // overlong
      testutil::client_frame(0x81, {0xED, 0xA0, 0x80}),            // a surrogate
      testutil::client_frame(0x81, {0xF4, 0x90, 0x80, 0x80}),      // past U+10FFFF
      testutil::client_frame(0x81, {'a', 0xE2, 0x82}),             // ends inside a sequence
      testutil::client_frame(0x88, {0x03, 0xE8, 'b', 'y', 0xFF}),  // close reason
  };
  size_t refused = 0;
  for (const Bytes &frame : bad_frames) {
    WsClient v;
    g_assert_cmpint(v.upgrade(sink.port, "/camera"), ==, 101);
    g_assert_true(v.send_raw(frame));
    g_assert_cmpint(v.read_close_code(), ==, 1007);
    v.close();  // as a browser does once the server half-closed: a failed reader reads no answer
    refused++;
    g_assert_true(testutil::wait_until([&] { return sink.removed_with("invalid-utf8") == refused; }));
  }
}

// max-viewers (1024 by default) may be more than the process can open: the
// viewers past what the open files limit leaves room for get 503 ("too many
// open files") while descriptors remain for cameras and requests, instead of
// the server running into EMFILE. Here the limit is lowered to a few hundred
// above what is open (each viewer holds two: the test's end and the sink's).
void test_viewers_past_the_open_files_limit_get_503_before_accept_fails() {
  rlimit saved{};
  g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &saved), ==, 0);
  rlimit low = saved;
  low.rlim_cur = testutil::open_fds() + 400;
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &low), ==, 0);
  {
    SinkHarness sink;
    std::vector<std::unique_ptr<WsClient>> viewers;
    int status = 101;
    while (status == 101) {
      g_assert_cmpuint(viewers.size(), <, 400);
      viewers.push_back(std::make_unique<WsClient>());
      status = viewers.back()->upgrade(sink.port, "/camera");
    }
    g_assert_cmpint(status, ==, 503);
    g_test_message("%zu viewers admitted with %d descriptors free at the start", viewers.size() - 1, 400);
    g_assert_cmpuint(sink.refused_with("too many open files"), ==, 1);
    GstStructure *stats = nullptr;
    g_object_get(sink.element, "stats", &stats, nullptr);
    guint64 accept_errors = 1;
    g_assert_true(gst_structure_get_uint64(stats, "accept-errors", &accept_errors));
    gst_structure_free(stats);
    g_assert_cmpuint(accept_errors, ==, 0);
    // Plain requests are still answered.
    g_assert_cmpint(testutil::http_get(sink.port, "/camera").status, ==, 200);
    viewers.clear();
    g_assert_true(testutil::wait_until([&] { return sink.viewers() == 0; }));
  }
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &saved), ==, 0);
}

// The first message a raw viewer gets from a running pipeline's websocketsink;
// `after_connect` runs once the viewer is connected.
Bytes first_message_from(GstElement *pipeline, const std::function<void()> &after_connect = nullptr) {
  GstElement *ws = gst_bin_get_by_name(GST_BIN(pipeline), "ws");
  const int port = testutil::get_int(ws, "current-port");
  g_assert_cmpint(port, >, 0);
  WsClient v;
  g_assert_cmpint(v.upgrade(port, "/camera"), ==, 101);
  g_assert_true(testutil::wait_until([&] { return testutil::get_uint(ws, "num-viewers") == 1; }));
  if (after_connect) after_connect();
  WsClient::Message m;
  g_assert_true(v.read_message(m));
  g_assert_cmpuint(m.opcode, ==, WsClient::kBinary);
  gst_object_unref(ws);
  return m.payload;
}

void test_videotestsrc_jpegenc_pipeline_delivers_a_whole_jpeg() {
  GstElement *p = testutil::parse(
      "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! jpegenc ! "
      "websocketsink name=ws port=0");
  g_assert_cmpint(testutil::set_state_sync(p, GST_STATE_PLAYING), ==, GST_STATE_CHANGE_SUCCESS);
  g_assert_true(testutil::is_full_jpeg(first_message_from(p)));
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

void test_lengthprefixsrc_pipeline_delivers_the_camera_frame_bit_exact() {
  GstElement *p = testutil::parse("lengthprefixsrc name=src port=0 ! websocketsink name=ws port=0");
  // Not waiting: the sink prerolls only on the first frame, sent below.
  g_assert_cmpint(gst_element_set_state(p, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), "src");
  const int ingest_port = testutil::get_int(src, "current-port");
  const auto frames = testutil::jpeg_frames(3);
  int camera = -1;
  Bytes got = first_message_from(p, [&] {
    camera = testutil::tcp_connect(ingest_port);
    g_assert_true(testutil::send_frame(camera, frames[0]));
  });
  g_assert_true(got == frames[0]);
  close(camera);
  gst_object_unref(src);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

void test_start_stop_cycles_close_viewers_with_1001_and_leak_no_fds() {
  GstElement *sink = gst_element_factory_make("websocketsink", nullptr);
  g_object_set(sink, "port", 0, nullptr);
  // Warm up GLib/GIO singletons so they don't count as leaks.
  g_assert_cmpint(gst_element_set_state(sink, GST_STATE_READY), ==, GST_STATE_CHANGE_SUCCESS);
  gst_element_set_state(sink, GST_STATE_NULL);
  const int baseline = testutil::open_fds();
  int removed_stopped = 0;
  g_signal_connect(sink, "viewer-removed", G_CALLBACK(+[](GstElement *, const char *, const char *reason, int *n) {
                     if (strcmp(reason, "stopped") == 0) g_atomic_int_inc(n);
                   }),
                   &removed_stopped);
  for (int cycle = 0; cycle < 20; cycle++) {
    g_assert_cmpint(gst_element_set_state(sink, GST_STATE_READY), ==, GST_STATE_CHANGE_SUCCESS);
    const int port = testutil::get_int(sink, "current-port");
    WsClient a, b;
    g_assert_cmpint(a.upgrade(port, "/camera"), ==, 101);
    g_assert_cmpint(b.upgrade(port, "/camera"), ==, 101);
    g_assert_true(testutil::wait_until([&] { return testutil::get_uint(sink, "num-viewers") == 2; }));
    // In the first cycle b does not answer the close: stopping still returns.
    const bool b_answers = cycle > 0;
    gint64 t0 = g_get_monotonic_time();
    int code_a = 0, code_b = 0;
    std::thread answer_a([&] { code_a = a.read_close_code(true); });
    std::thread answer_b([&] {
      if (b_answers) code_b = b.read_close_code(true);
    });
    g_assert_cmpint(gst_element_set_state(sink, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
    answer_a.join();
    answer_b.join();
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
    if (!b_answers) code_b = b.read_close_code();
    g_assert_cmpint(code_a, ==, 1001);
    g_assert_cmpint(code_b, ==, 1001);
  }
  g_assert_cmpint(g_atomic_int_get(&removed_stopped), ==, 40);
  g_assert_true(testutil::wait_until([&] { return testutil::open_fds() <= baseline; }));
  gst_object_unref(sink);
}

void test_port_in_use_fails_with_error_naming_it() {
  // A plain socket, not another websocketsink: sinks on one port share its server.
  int port = 0;
  const int taken = testutil::tcp_listen(&port);
  GstElement *p = testutil::parse("fakesrc ! websocketsink host=127.0.0.1 port=" + std::to_string(port));
  const std::string error = testutil::state_change_error(p, GST_STATE_READY, GST_RESOURCE_ERROR);
  g_assert_true(error.find(std::to_string(port)) != std::string::npos);
  g_assert_true(error.find("in use") != std::string::npos);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  close(taken);
}

// The sink with `props` fails to start with a RESOURCE error naming `needle`.
void expect_open_error(const std::string &props, const std::string &needle) {
  GstElement *p = testutil::parse("fakesrc ! websocketsink port=0 " + props);
  const std::string error = testutil::state_change_error(p, GST_STATE_READY, GST_RESOURCE_ERROR);
  g_assert_true(error.find(needle) != std::string::npos);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

void test_missing_document_root_and_bad_certificate_fail_naming_the_file() {
  testutil::TempDir dir;
  expect_open_error("document-root=" + dir.path + "/missing", dir.path + "/missing");
  dir.write("bad.pem", "not a certificate");
  expect_open_error("tls-certificate=" + dir.path + "/bad.pem", dir.path + "/bad.pem");
  expect_open_error("tls-certificate=" + dir.path + "/none.pem tls-key=" + dir.path + "/none.key",
                    dir.path + "/none.pem");
}

}  // namespace

int main(int argc, char **argv) {
  testutil::init(&argc, &argv);
  g_test_add_func("/websocketsink/ten-viewers-receive-every-frame-bit-exact-in-order",
                  test_ten_viewers_receive_every_frame_bit_exact_in_order);
  g_test_add_func("/websocketsink/stuck-viewer-is-bounded-costs-the-others-nothing-and-is-closed-after-timeout",
                  test_stuck_viewer_is_bounded_costs_the_others_nothing_and_is_closed_after_timeout);
  g_test_add_func("/websocketsink/viewer-that-falls-behind-skips-to-the-newest-frame-and-stays-connected",
                  test_viewer_that_falls_behind_skips_to_the_newest_frame_and_stays_connected);
  g_test_add_func("/websocketsink/wss-viewers-receive-every-frame-and-stuck-one-is-bounded-and-closed-after-timeout",
                  test_wss_viewers_receive_every_frame_and_stuck_one_is_bounded_and_closed_after_timeout);
  g_test_add_func("/websocketsink/page-and-files-only-under-the-path-and-never-outside-the-root",
                  test_page_and_files_only_under_the_path_and_never_outside_the_root);
  g_test_add_func("/websocketsink/viewers-over-max-viewers-get-503-and-are-closed-until-one-leaves",
                  test_viewers_over_max_viewers_get_503_and_are_closed_until_one_leaves);
  g_test_add_func("/websocketsink/only-allowed-origins-may-upgrade-and-any-when-unset",
                  test_only_allowed_origins_may_upgrade_and_any_when_unset);
  g_test_add_func("/websocketsink/late-viewer-gets-stream-headers-then-latest-frame-uncompressed",
                  test_late_viewer_gets_stream_headers_then_latest_frame_uncompressed);
  g_test_add_func("/websocketsink/viewer-ping-gets-pong-close-1000-oversized-1009-and-unmasked-1002",
                  test_viewer_ping_gets_pong_close_1000_oversized_1009_and_unmasked_1002);
  g_test_add_func("/websocketsink/videotestsrc-jpegenc-pipeline-delivers-a-whole-jpeg",
                  test_videotestsrc_jpegenc_pipeline_delivers_a_whole_jpeg);
  g_test_add_func("/websocketsink/lengthprefixsrc-pipeline-delivers-the-camera-frame-bit-exact",
                  test_lengthprefixsrc_pipeline_delivers_the_camera_frame_bit_exact);
  g_test_add_func("/websocketsink/start-stop-cycles-close-viewers-with-1001-and-leak-no-fds",
                  test_start_stop_cycles_close_viewers_with_1001_and_leak_no_fds);
  g_test_add_func("/websocketsink/bytes-sent-with-the-upgrade-do-not-spin-the-server",
                  test_bytes_sent_with_the_upgrade_do_not_spin_the_server);
  g_test_add_func("/websocketsink/request-body-is-refused-without-being-kept",
                  test_request_body_is_refused_without_being_kept);
  g_test_add_func("/websocketsink/half-request-is-closed-after-request-timeout-leaking-no-fds",
                  test_half_request_is_closed_after_request_timeout_leaking_no_fds);
  g_test_add_func("/websocketsink/unsendable-close-code-gets-1002-and-others-are-echoed",
                  test_unsendable_close_code_gets_1002_and_others_are_echoed);
  g_test_add_func("/websocketsink/text-or-close-reason-that-is-not-utf8-gets-1007",
                  test_text_or_close_reason_that_is_not_utf8_gets_1007);
  g_test_add_func("/websocketsink/viewers-past-the-open-files-limit-get-503-before-accept-fails",
                  test_viewers_past_the_open_files_limit_get_503_before_accept_fails);
  g_test_add_func("/websocketsink/port-in-use-fails-with-error-naming-it", test_port_in_use_fails_with_error_naming_it);
  g_test_add_func("/websocketsink/missing-document-root-and-bad-certificate-fail-naming-the-file",
                  test_missing_document_root_and_bad_certificate_fail_naming_the_file);
  return g_test_run();
}
