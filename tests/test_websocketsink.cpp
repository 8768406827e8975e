// websocketsink over real sockets on port 0: libsoup's own WebSocket client for
// the well-behaved viewers, a raw-socket client for stuck and hostile ones.
#include <arpa/inet.h>
#include <dirent.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testutil.h"

using testutil::Bytes;

namespace {

std::string read_text(const std::string &file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --- the element under test ---

// websocketsink driven by a harness: push() runs render() in this thread.
struct Sink {
  GstHarness *h;
  GstElement *element;
  int port = 0;
  std::mutex lock;
  std::vector<std::string> added;
  std::vector<std::pair<std::string, std::string>> removed;  // address, reason

  explicit Sink(const std::string &props = "", const char *caps = "application/x-test") {
    h = gst_harness_new_parse(("websocketsink name=ws port=0 " + props).c_str());
    element = gst_harness_find_element(h, "websocketsink");
    g_signal_connect(element, "viewer-added", G_CALLBACK(+[](GstElement *, const char *address, Sink *self) {
                       std::lock_guard<std::mutex> l(self->lock);
                       self->added.emplace_back(address);
                     }),
                     this);
    g_signal_connect(element, "viewer-removed",
                     G_CALLBACK(+[](GstElement *, const char *address, const char *reason, Sink *self) {
                       std::lock_guard<std::mutex> l(self->lock);
                       self->removed.emplace_back(address, reason);
                     }),
                     this);
    g_object_get(element, "current-port", &port, nullptr);
    g_assert_cmpint(port, >, 0);
    gst_harness_set_src_caps_str(h, caps);
  }
  ~Sink() {
    gst_object_unref(element);
    gst_harness_teardown(h);
  }
  void push(const Bytes &payload) {
    GstBuffer *b = gst_buffer_new_memdup(payload.data(), payload.size());
    g_assert_cmpint(gst_harness_push(h, b), ==, GST_FLOW_OK);
  }
  guint viewers() {
    guint n = 0;
    g_object_get(element, "num-viewers", &n, nullptr);
    return n;
  }
  guint64 u64(const char *property) { return testutil::get_u64(element, property); }
  size_t removed_with(const std::string &reason) {
    std::lock_guard<std::mutex> l(lock);
    size_t n = 0;
    for (auto &r : removed) n += r.second == reason;
    return n;
  }
  // `queued` of every viewer, from get-stats.
  std::vector<guint> queued() {
    GstStructure *stats = nullptr;
    g_signal_emit_by_name(element, "get-stats", &stats);
    g_assert_nonnull(stats);
    const GValue *viewers = gst_structure_get_value(stats, "viewers");
    std::vector<guint> out;
    for (guint i = 0; i < gst_value_array_get_size(viewers); i++) {
      const GstStructure *v = gst_value_get_structure(gst_value_array_get_value(viewers, i));
      guint q = 0;
      g_assert_true(gst_structure_get_uint(v, "queued", &q));
      g_assert_true(gst_structure_has_field(v, "address"));
      g_assert_true(gst_structure_has_field(v, "connect-time"));
      out.push_back(q);
    }
    gst_structure_free(stats);
    return out;
  }
};

// --- a raw WebSocket client ---

struct Message {
  uint8_t opcode = 0;
  Bytes payload;
};

// A blocking socket speaking just enough HTTP and WebSocket by hand to be
// stuck (never reads) or hostile (sends what it likes).
struct RawViewer {
  int fd = -1;
  Bytes buffered;  // read past what was consumed
  int status = 0;
  std::string headers;

  ~RawViewer() {
    if (fd >= 0) close(fd);
  }

  void connect_to(int port, int rcvbuf = 0) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), ==, 0);
  }

  // Reads at least one more byte into `buffered`; false on EOF, error or timeout.
  bool fill(int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    uint8_t buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffered.insert(buffered.end(), buf, buf + n);
    return true;
  }

  // Sends an upgrade request and reads the response head; returns the status.
  int upgrade(int port, const std::string &path, const std::string &origin = "", int rcvbuf = 0) {
    connect_to(port, rcvbuf);
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    if (!origin.empty()) req += "Origin: " + origin + "\r\n";
    req += "\r\n";
    g_assert_true(testutil::send_all(fd, req.data(), req.size()));
    return read_head();
  }

  int read_head() {
    for (;;) {
      std::string text(buffered.begin(), buffered.end());
      size_t end = text.find("\r\n\r\n");
      if (end != std::string::npos) {
        headers = text.substr(0, end);
        buffered.erase(buffered.begin(), buffered.begin() + end + 4);
        status = std::stoi(headers.substr(9, 3));
        return status;
      }
      if (!fill(5000)) return 0;
    }
  }

  // The next server message; false on timeout or EOF.
  bool read_message(Message &m, int timeout_ms = 5000) {
    gint64 deadline = g_get_monotonic_time() + gint64{timeout_ms} * 1000;
    for (;;) {
      if (buffered.size() >= 2) {
        g_assert_cmpuint(buffered[1] & 0x80, ==, 0);  // servers never mask
        size_t len = buffered[1] & 0x7F, head = 2;
        if (len == 126 && buffered.size() >= 4) {
          len = (buffered[2] << 8) | buffered[3];
          head = 4;
        } else if (len == 127 && buffered.size() >= 10) {
          len = 0;
          for (int i = 0; i < 8; i++) len = (len << 8) | buffered[2 + i];
          head = 10;
        }
        if ((buffered[1] & 0x7F) < 126 || head > 2) {
          if (buffered.size() >= head + len) {
            g_assert_cmpuint(buffered[0] & 0x80, !=, 0);  // FIN: one frame per message
            m.opcode = buffered[0] & 0x0F;
            m.payload.assign(buffered.begin() + head, buffered.begin() + head + len);
            buffered.erase(buffered.begin(), buffered.begin() + head + len);
            return true;
          }
        }
      }
      int left = static_cast<int>((deadline - g_get_monotonic_time()) / 1000);
      if (left <= 0 || !fill(left)) return false;
    }
  }

  // A masked client frame.
  void send_frame(uint8_t first_byte, const Bytes &payload) {
    Bytes f{first_byte};
    if (payload.size() < 126) {
      f.push_back(0x80 | payload.size());
    } else {
      f.push_back(0x80 | 127);
      for (int i = 7; i >= 0; i--) f.push_back(static_cast<uint8_t>(uint64_t{payload.size()} >> (8 * i)));
    }
    const uint8_t mask[4] = {1, 2, 3, 4};
    f.insert(f.end(), mask, mask + 4);
    for (size_t i = 0; i < payload.size(); i++) f.push_back(payload[i] ^ mask[i & 3]);
    g_assert_true(testutil::send_all(fd, f.data(), f.size()));
  }

  // Reads messages until a close frame; returns its code (0 if none came).
  // With `answer`, replies with a close frame as a browser does.
  int read_close_code(bool answer = false, int timeout_ms = 5000) {
    Message m;
    while (read_message(m, timeout_ms)) {
      if (m.opcode != 0x8) continue;
      if (answer) send_frame(0x88, m.payload);
      return m.payload.size() >= 2 ? (m.payload[0] << 8) | m.payload[1] : 1005;
    }
    return 0;
  }
};

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string content_type;
  std::string body;
};

// One raw HTTP/1.1 GET, the path sent exactly as given (no client-side normalising).
HttpResponse http_get(int port, const std::string &path) {
  RawViewer c;
  c.connect_to(port);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  g_assert_true(testutil::send_all(c.fd, req.data(), req.size()));
  HttpResponse r;
  r.status = c.read_head();
  r.headers = c.headers;
  while (c.fill(5000)) {
  }
  r.body.assign(c.buffered.begin(), c.buffered.end());
  g_autofree gchar *lowered = g_ascii_strdown(c.headers.c_str(), -1);
  std::string h(lowered);
  size_t at = h.find("content-type: ");
  if (at != std::string::npos) r.content_type = h.substr(at + 14, h.find("\r\n", at) - at - 14);
  return r;
}

// --- libsoup's WebSocket client, on a thread of its own ---

// Viewers that check every message against the frames pushed, in order.
class SoupViewers {
 public:
  struct Viewer {
    SoupWebsocketConnection *conn = nullptr;  // client thread only
    std::atomic<size_t> received{0};
    std::atomic<size_t> mismatches{0};
    std::atomic<bool> failed{false};
    std::atomic<int> close_code{0};
    std::mutex lock;
    std::vector<Bytes> kept;  // when not checking against `expected`
  };

  // `expected`: frames in push order; a viewer's n-th message must be expected[n].
  explicit SoupViewers(const std::vector<Bytes> *expected = nullptr) : expected_(expected) {
    thread_ = std::thread([this] {
      g_main_context_push_thread_default(context_);
      session_ = soup_session_new_with_options("max-conns", 256, "max-conns-per-host", 256, nullptr);
      g_main_loop_run(loop_);
      for (auto &v : viewers_) {
        if (v->conn) {
          g_signal_handlers_disconnect_matched(v->conn, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, v.get());
          g_object_unref(v->conn);
        }
      }
      g_object_unref(session_);
      while (g_main_context_iteration(context_, FALSE)) {
      }
      g_main_context_pop_thread_default(context_);
    });
  }
  ~SoupViewers() {
    invoke([this] { g_main_loop_quit(loop_); });
    thread_.join();
    g_main_loop_unref(loop_);
    g_main_context_unref(context_);
  }

  // Connects one viewer; returns it once connected (failed set if not).
  Viewer &connect(const std::string &url) {
    viewers_.push_back(std::make_unique<Viewer>());
    Viewer *v = viewers_.back().get();
    std::atomic<bool> done{false};
    invoke([this, v, url, &done] {
      SoupMessage *msg = soup_message_new("GET", url.c_str());
      g_signal_connect(msg, "accept-certificate", G_CALLBACK(+[](SoupMessage *, GTlsCertificate *,
                                                                   GTlsCertificateFlags) -> gboolean { return TRUE; }),
                       nullptr);
      struct Pending {
        SoupViewers *self;
        Viewer *v;
        std::atomic<bool> *done;
      };
      soup_session_websocket_connect_async(
          session_, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
          [](GObject *session, GAsyncResult *res, gpointer data) {
            std::unique_ptr<Pending> p(static_cast<Pending *>(data));
            GError *err = nullptr;
            p->v->conn = soup_session_websocket_connect_finish(SOUP_SESSION(session), res, &err);
            if (!p->v->conn) {
              g_printerr("# websocket connect failed: %s\n", err->message);
              g_error_free(err);
              p->v->failed = true;
            } else {
              soup_websocket_connection_set_max_incoming_payload_size(p->v->conn, 0);
              soup_websocket_connection_set_keepalive_interval(p->v->conn, 0);
              g_signal_connect(p->v->conn, "message", G_CALLBACK(on_message), p->v);
              g_signal_connect(p->v->conn, "closed", G_CALLBACK(on_closed), p->v);
              g_object_set_data(G_OBJECT(p->v->conn), "viewers", p->self);
            }
            *p->done = true;
          },
          new Pending{this, v, &done});
      g_object_unref(msg);
    });
    g_assert_true(testutil::wait_until([&] { return done.load(); }));
    return *v;
  }

  void close_all() {
    invoke([this] {
      for (auto &v : viewers_) {
        if (v->conn && soup_websocket_connection_get_state(v->conn) == SOUP_WEBSOCKET_STATE_OPEN)
          soup_websocket_connection_close(v->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
      }
    });
  }

  size_t min_received() {
    size_t m = SIZE_MAX;
    for (auto &v : viewers_) m = std::min(m, v->received.load());
    return m;
  }

 private:
  static void on_message(SoupWebsocketConnection *conn, SoupWebsocketDataType type, GBytes *message, Viewer *v) {
    auto *self = static_cast<SoupViewers *>(g_object_get_data(G_OBJECT(conn), "viewers"));
    gsize size = 0;
    auto *data = static_cast<const uint8_t *>(g_bytes_get_data(message, &size));
    size_t n = v->received.load();
    if (type != SOUP_WEBSOCKET_DATA_BINARY) {
      v->mismatches++;
    } else if (self->expected_) {
      if (n >= self->expected_->size() || (*self->expected_)[n].size() != size ||
          memcmp((*self->expected_)[n].data(), data, size) != 0)
        v->mismatches++;
    } else {
      std::lock_guard<std::mutex> l(v->lock);
      v->kept.emplace_back(data, data + size);
    }
    v->received = n + 1;
  }
  static void on_closed(SoupWebsocketConnection *conn, Viewer *v) {
    v->close_code = soup_websocket_connection_get_close_code(conn);
    if (!v->close_code) v->close_code = -1;
  }

  void invoke(std::function<void()> f) {
    auto *task = new std::function<void()>(std::move(f));
    g_main_context_invoke_full(
        context_, G_PRIORITY_DEFAULT,
        [](gpointer data) -> gboolean {
          (*static_cast<std::function<void()> *>(data))();
          return G_SOURCE_REMOVE;
        },
        task, [](gpointer data) { delete static_cast<std::function<void()> *>(data); });
  }

  const std::vector<Bytes> *expected_;
  GMainContext *context_ = g_main_context_new();
  GMainLoop *loop_ = g_main_loop_new(context_, FALSE);
  SoupSession *session_ = nullptr;
  std::thread thread_;
  std::vector<std::unique_ptr<Viewer>> viewers_;
};

std::vector<Bytes> numbered_frames(int count, size_t min_size, size_t max_size) {
  std::vector<Bytes> frames;
  for (int i = 0; i < count; i++) {
    size_t size = min_size + (static_cast<size_t>(i) * 7919) % (max_size - min_size + 1);
    Bytes b = testutil::random_bytes(size, i + 1);
    std::memcpy(b.data(), &i, sizeof i);
    frames.push_back(std::move(b));
  }
  return frames;
}

// Pushes every frame, never more than one ahead of the slowest viewer, so
// that "every frame" is what the viewers must get (the queue may not drop).
void push_paced(Sink &sink, SoupViewers &viewers, const std::vector<Bytes> &frames,
                const std::function<void(size_t)> &after_each = nullptr) {
  for (size_t i = 0; i < frames.size(); i++) {
    if (i >= 2) g_assert_true(testutil::wait_until([&] { return viewers.min_received() >= i - 1; }));
    sink.push(frames[i]);
    if (after_each) after_each(i);
  }
}

// --- tests ---

void test_ten_viewers_receive_every_frame_bit_exact_in_order() {
  const auto frames = numbered_frames(1000, 200, 30000);
  Sink sink;
  SoupViewers viewers(&frames);
  std::vector<SoupViewers::Viewer *> v;
  for (int i = 0; i < 10; i++) {
    v.push_back(&viewers.connect("ws://127.0.0.1:" + std::to_string(sink.port) + "/camera"));
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
  std::lock_guard<std::mutex> l(sink.lock);
  g_assert_cmpuint(sink.added.size(), ==, 10);
}

// A viewer that completes the handshake and never reads: memory stays bounded,
// the others get every frame, and it is closed after viewer-timeout.
void stuck_viewer_scenario(Sink &sink, const std::string &scheme, const std::function<void()> &connect_stuck) {
  const auto frames = numbered_frames(300, 150000, 250000);
  SoupViewers viewers(&frames);
  for (int i = 0; i < 3; i++)
    g_assert_false(viewers.connect(scheme + "://127.0.0.1:" + std::to_string(sink.port) + "/camera").failed.load());
  connect_stuck();
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 4; }));

  long rss_before = testutil::rss_kib();
  long rss_max = rss_before;
  guint max_queued = 0;
  push_paced(sink, viewers, frames, [&](size_t) {
    for (guint q : sink.queued()) max_queued = std::max(max_queued, q);
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

void test_stuck_viewer_is_bounded_and_closed_after_timeout() {
  Sink sink("viewer-timeout=1");
  RawViewer stuck;
  stuck_viewer_scenario(sink, "ws", [&] { g_assert_cmpint(stuck.upgrade(sink.port, "/camera", "", 4096), ==, 101); });
}

// PEM certificate and key for CN=localhost in `dir`; false without openssl.
bool make_certificate(const std::string &dir, std::string &cert, std::string &key) {
  g_autofree gchar *openssl = g_find_program_in_path("openssl");
  if (!openssl) return false;
  cert = dir + "/cert.pem";
  key = dir + "/key.pem";
  const char *argv[] = {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key.c_str(), "-out", cert.c_str(), "-days", "2", "-subj",
                        "/CN=localhost", nullptr};
  gint status = -1;
  gboolean ok = g_spawn_sync(nullptr, const_cast<char **>(argv), nullptr,
                             static_cast<GSpawnFlags>(G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL), nullptr,
                             nullptr, nullptr, nullptr, &status, nullptr);
  return ok && g_spawn_check_wait_status(status, nullptr);
}

struct TempDir {
  std::string path;
  TempDir() {
    g_autofree gchar *p = g_dir_make_tmp("websocketsink-XXXXXX", nullptr);
    path = p;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    g_assert_cmpint(system(cmd.c_str()), ==, 0);
  }
  void write(const std::string &rel, const std::string &content) {
    std::string file = path + "/" + rel;
    g_autofree gchar *dir = g_path_get_dirname(file.c_str());
    g_mkdir_with_parents(dir, 0755);
    g_assert_true(g_file_set_contents(file.c_str(), content.data(), content.size(), nullptr));
  }
};

// The TLS stuck viewer: GIO's TLS client over a socket with a small receive buffer.
struct TlsStuckViewer {
  GSocketConnection *tcp = nullptr;
  GIOStream *tls = nullptr;
  ~TlsStuckViewer() {
    if (tls) {
      g_io_stream_close(tls, nullptr, nullptr);
      g_object_unref(tls);
    }
    if (tcp) g_object_unref(tcp);
  }
  void connect(int port) {
    GError *err = nullptr;
    GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &err);
    g_assert_no_error(err);
    g_socket_set_option(s, SOL_SOCKET, SO_RCVBUF, 4096, nullptr);
    GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress *a = g_inet_socket_address_new(lo, port);
    g_assert_true(g_socket_connect(s, a, nullptr, &err));
    g_object_unref(a);
    g_object_unref(lo);
    tcp = g_socket_connection_factory_create_connection(s);
    g_object_unref(s);
    tls = g_tls_client_connection_new(G_IO_STREAM(tcp), nullptr, &err);
    g_assert_no_error(err);
    g_signal_connect(tls, "accept-certificate",
                     G_CALLBACK(+[](GTlsConnection *, GTlsCertificate *, GTlsCertificateFlags) -> gboolean {
                       return TRUE;
                     }),
                     nullptr);
    g_assert_true(g_tls_connection_handshake(G_TLS_CONNECTION(tls), nullptr, &err));
    std::string req = "GET /camera HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(tls), req.data(), req.size(), nullptr,
                                            nullptr, &err));
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos &&
           g_input_stream_read(g_io_stream_get_input_stream(tls), &c, 1, nullptr, &err) == 1)
      head += c;
    g_assert_true(head.rfind("HTTP/1.1 101", 0) == 0);
  }
};

// A viewer that stops reading for a while then resumes skips frames but always
// ends on the newest one, in order, and is not disconnected.
void test_viewer_that_falls_behind_skips_to_newest_frame() {
  Sink sink("viewer-timeout=0");
  RawViewer slow;
  g_assert_cmpint(slow.upgrade(sink.port, "/camera", "", 4096), ==, 101);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 1; }));
  const auto frames = numbered_frames(200, 50000, 60000);
  for (const auto &f : frames) sink.push(f);
  int last = -1, got = 0;
  Message m;
  while (last != 199 && slow.read_message(m)) {
    int id;
    std::memcpy(&id, m.payload.data(), sizeof id);
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

void test_wss_viewers_receive_every_frame_and_stuck_one_is_bounded() {
  TempDir dir;
  std::string cert, key;
  if (!make_certificate(dir.path, cert, key)) {
    g_test_skip("openssl not found");
    return;
  }
  Sink sink("viewer-timeout=1 tls-certificate=" + cert + " tls-key=" + key);
  TlsStuckViewer stuck;
  stuck_viewer_scenario(sink, "wss", [&] { stuck.connect(sink.port); });
}

void test_http_page_static_files_and_404s() {
  TempDir dir;
  dir.write("secret.txt", "outside the root");
  dir.write("root/index.html", "<html>seed page</html>");
  dir.write("root/worker.js", "onmessage = () => {};");
  dir.write("root/sub/style.css", "body {}");
  dir.write("root/sub/pic.png", "\x89PNG");
  dir.write("root/camera/app.js", "// under the path's own name");
  Sink sink("document-root=" + dir.path + "/root");

  // The root's page lives at <path>/, so that its relative URLs stay under the path.
  HttpResponse r = http_get(sink.port, "/camera?x=1");
  g_assert_cmpint(r.status, ==, 301);
  g_assert_true(r.headers.find("/camera/?x=1\r\n") != std::string::npos);
  r = http_get(sink.port, "/camera/");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_cmpstr(r.content_type.c_str(), ==, "text/html; charset=utf-8");
  g_assert_cmpstr(r.body.c_str(), ==, "<html>seed page</html>");
  r = http_get(sink.port, "/camera/worker.js");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_true(g_str_has_prefix(r.content_type.c_str(), "text/javascript"));
  g_assert_cmpstr(r.body.c_str(), ==, "onmessage = () => {};");
  r = http_get(sink.port, "/camera/sub/style.css");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_true(g_str_has_prefix(r.content_type.c_str(), "text/css"));
  r = http_get(sink.port, "/camera/sub/pic.png");
  g_assert_cmpstr(r.content_type.c_str(), ==, "image/png");
  r = http_get(sink.port, "/camera/sub/%73tyle.css");
  g_assert_cmpint(r.status, ==, 200);
  r = http_get(sink.port, "/camera/camera/app.js");
  g_assert_cmpint(r.status, ==, 200);

  // Nothing of the root without the stream's path (its secret).
  for (const char *bad : {"/nope", "/worker.js", "/index.html", "/sub/style.css", "/camera/x", "/camera/../secret.txt",
                          "/camera/../../../../etc/passwd", "/camera/%2e%2e/secret.txt", "/camera/..%2fsecret.txt",
                          "/camera/%2e%2e%2fsecret.txt", "/camera/sub/..%2f..%2fsecret.txt",
                          "/camera/sub/%2e%2e/%2e%2e/secret.txt", "/camera/sub", "/camera/%00",
                          "/camera/sub/style.css%00.js"}) {
    r = http_get(sink.port, bad);
    g_test_message("GET %s: %d", bad, r.status);
    // libsoup answers some malformed paths with 400 before the element sees them.
    if (r.status != 404 && r.status != 400) g_error("GET %s gave %d", bad, r.status);
    g_assert_true(r.body.find("outside the root") == std::string::npos);
  }

  // The stream only at exactly `path`.
  RawViewer wrong;
  g_assert_cmpint(wrong.upgrade(sink.port, "/cameraX"), ==, 404);
  RawViewer wrong2;
  g_assert_cmpint(wrong2.upgrade(sink.port, "/worker.js"), !=, 101);
  g_assert_cmpuint(sink.viewers(), ==, 0);

  // A keep-alive request still gets its connection closed by the server once
  // answered (libsoup 3.2 would otherwise hold idle connections forever).
  for (const std::string &req : {std::string("GET /camera/ HTTP/1.1\r\nHost: x\r\n\r\n"),
                                 std::string("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    RawViewer keepalive;
    keepalive.connect_to(sink.port);
    g_assert_true(testutil::send_all(keepalive.fd, req.data(), req.size()));
    keepalive.read_head();
    g_assert_true(keepalive.headers.find("Connection: close") != std::string::npos);
    while (keepalive.fill(5000)) {
    }
    uint8_t byte;
    g_assert_cmpint(recv(keepalive.fd, &byte, 1, MSG_DONTWAIT), ==, 0);  // EOF, not a timeout
  }

  // Without document-root: the built-in page, from web/index.html.
  Sink builtin;
  r = http_get(builtin.port, "/camera");
  g_assert_cmpint(r.status, ==, 200);
  g_assert_cmpstr(r.content_type.c_str(), ==, "text/html; charset=utf-8");
  const char *root = g_getenv("IMAGESTREAM_SOURCE_ROOT");
  if (root) g_assert_true(r.body == read_text(std::string(root) + "/web/index.html"));
  g_assert_cmpint(http_get(builtin.port, "/index.html").status, ==, 404);
}

void test_max_viewers_enforced() {
  Sink sink("max-viewers=2");
  RawViewer a, b, c, d;
  g_assert_cmpint(a.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_cmpint(b.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_cmpint(c.upgrade(sink.port, "/camera"), ==, 503);
  g_assert_cmpuint(sink.removed_with("refused"), ==, 1);
  while (c.fill(5000)) {
  }
  uint8_t byte;
  g_assert_cmpint(recv(c.fd, &byte, 1, MSG_DONTWAIT), ==, 0);  // the refused connection is closed
  close(a.fd);
  a.fd = -1;
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 1; }));
  g_assert_cmpint(d.upgrade(sink.port, "/camera"), ==, 101);
}

void test_disallowed_origin_refused() {
  Sink sink("allowed-origins=\"http://good.example, https://also.example\"");
  RawViewer evil, none, good, also;
  g_assert_cmpint(evil.upgrade(sink.port, "/camera", "http://evil.example"), ==, 403);
  g_assert_cmpint(none.upgrade(sink.port, "/camera"), ==, 403);
  g_assert_cmpint(good.upgrade(sink.port, "/camera", "http://good.example"), ==, 101);
  g_assert_cmpint(also.upgrade(sink.port, "/camera", "https://also.example"), ==, 101);
  g_assert_cmpuint(sink.removed_with("refused"), ==, 2);
  // Any origin when unset, as the original.
  Sink open;
  RawViewer any;
  g_assert_cmpint(any.upgrade(open.port, "/camera", "http://evil.example"), ==, 101);
}

void test_late_viewer_gets_stream_headers_then_latest_frame() {
  Sink sink("", "application/x-test,streamheader=(buffer)<0a0b,0c>");
  for (uint8_t i = 1; i <= 5; i++) sink.push(Bytes(100, i));
  RawViewer v;
  g_assert_cmpint(v.upgrade(sink.port, "/camera"), ==, 101);
  g_assert_true(v.headers.find("Sec-WebSocket-Extensions") == std::string::npos);  // no deflate
  Message m;
  g_assert_true(v.read_message(m));
  g_assert_cmpuint(m.opcode, ==, 2);
  g_assert_true(m.payload == (Bytes{0x0a, 0x0b}));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == (Bytes{0x0c}));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == Bytes(100, 5));
  sink.push(Bytes(70000, 6));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == Bytes(70000, 6));
}

void test_viewer_ping_close_and_oversized_message() {
  Sink sink("max-message-size=1000");
  RawViewer v;
  g_assert_cmpint(v.upgrade(sink.port, "/camera"), ==, 101);
  v.send_frame(0x89, {'h', 'i'});
  Message m;
  g_assert_true(v.read_message(m));
  g_assert_cmpuint(m.opcode, ==, 0xA);
  g_assert_true(m.payload == (Bytes{'h', 'i'}));
  v.send_frame(0x82, Bytes(500, 1));  // ignored
  v.send_frame(0x81, Bytes(5, 'x'));  // ignored
  sink.push(Bytes(10, 9));
  g_assert_true(v.read_message(m));
  g_assert_true(m.payload == Bytes(10, 9));
  v.send_frame(0x82, Bytes(1001, 1));
  g_assert_cmpint(v.read_close_code(), ==, 1009);
  g_assert_true(testutil::wait_until([&] { return sink.removed_with("message-too-big") == 1; }));

  RawViewer closing;
  g_assert_cmpint(closing.upgrade(sink.port, "/camera"), ==, 101);
  closing.send_frame(0x88, {0x03, 0xE8});
  g_assert_cmpint(closing.read_close_code(), ==, 1000);
  g_assert_true(testutil::wait_until([&] { return sink.removed_with("closed") == 1; }));

  RawViewer unmasked;
  g_assert_cmpint(unmasked.upgrade(sink.port, "/camera"), ==, 101);
  const uint8_t raw[] = {0x82, 0x01, 0x00};
  g_assert_true(testutil::send_all(unmasked.fd, raw, sizeof raw));
  g_assert_cmpint(unmasked.read_close_code(), ==, 1002);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 0; }));
}

// Regression: bytes that arrive with the upgrade request used to leave the
// viewer's read source spinning the server thread at 100% CPU.
void test_bytes_sent_with_the_upgrade_do_not_spin_the_server() {
  Sink sink;
  RawViewer v;
  v.connect_to(sink.port);
  const uint8_t ping[] = {0x89, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};  // masked ping "hi"
  std::string req = "GET /camera HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  req.append(reinterpret_cast<const char *>(ping), sizeof ping);
  g_assert_true(testutil::send_all(v.fd, req.data(), req.size()));
  g_assert_cmpint(v.read_head(), ==, 101);
  Message m;
  g_assert_true(v.read_message(m));
  g_assert_cmpuint(m.opcode, ==, 0xA);
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
  Sink sink;
  const long rss_before = testutil::rss_kib();
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
void test_half_request_is_closed_after_timeout() {
  Sink sink("request-timeout=1");
  const int baseline = testutil::open_fds();
  int fd = testutil::tcp_connect(sink.port);
  g_assert_true(testutil::send_all(fd, "GET /camera HTTP/1.1\r\nHo", 24));
  char byte;
  g_assert_cmpint(recv(fd, &byte, 1, 0), <=, 0);  // blocks until the server hangs up
  close(fd);
  g_assert_true(testutil::wait_until([&] { return testutil::open_fds() <= baseline; }));
}

// RFC 6455 7.4: codes a viewer sends that may not be sent back get 1002.
void test_invalid_close_code_is_answered_with_protocol_error() {
  Sink sink;
  for (uint16_t code : {1005, 1006, 1015, 999, 5000}) {
    RawViewer v;
    g_assert_cmpint(v.upgrade(sink.port, "/camera"), ==, 101);
    v.send_frame(0x88, {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code)});
    g_assert_cmpint(v.read_close_code(), ==, code == 1005 ? 1000 : 1002);
  }
  RawViewer ok;
  g_assert_cmpint(ok.upgrade(sink.port, "/camera"), ==, 101);
  ok.send_frame(0x88, {0x0F, 0xA0});  // 4000, an application's own code
  g_assert_cmpint(ok.read_close_code(), ==, 4000);
}

// The first message a raw viewer gets from a running pipeline's websocketsink;
// `after_connect` runs once the viewer is connected.
Bytes first_message_from(GstElement *pipeline, const std::function<void()> &after_connect = nullptr) {
  GstElement *ws = gst_bin_get_by_name(GST_BIN(pipeline), "ws");
  int port = 0;
  g_object_get(ws, "current-port", &port, nullptr);
  g_assert_cmpint(port, >, 0);
  RawViewer v;
  g_assert_cmpint(v.upgrade(port, "/camera"), ==, 101);
  g_assert_true(testutil::wait_until([&] {
    guint n = 0;
    g_object_get(ws, "num-viewers", &n, nullptr);
    return n == 1;
  }));
  if (after_connect) after_connect();
  Message m;
  g_assert_true(v.read_message(m, 10000));
  g_assert_cmpuint(m.opcode, ==, 2);
  gst_object_unref(ws);
  return m.payload;
}

void test_videotestsrc_jpegenc_pipeline_delivers_jpeg() {
  GstElement *p = testutil::parse(
      "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! jpegenc ! "
      "websocketsink name=ws port=0");
  g_assert_cmpint(testutil::set_state_sync(p, GST_STATE_PLAYING), ==, GST_STATE_CHANGE_SUCCESS);
  Bytes jpeg = first_message_from(p);
  g_assert_cmpuint(jpeg.size(), >, 4);
  g_assert_cmpuint(jpeg[0], ==, 0xFF);
  g_assert_cmpuint(jpeg[1], ==, 0xD8);
  g_assert_cmpuint(jpeg[jpeg.size() - 2], ==, 0xFF);
  g_assert_cmpuint(jpeg[jpeg.size() - 1], ==, 0xD9);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

void test_lengthprefixsrc_pipeline_delivers_frames_bit_exact() {
  GstElement *p = testutil::parse("lengthprefixsrc name=src port=0 ! websocketsink name=ws port=0");
  // Not waiting: the sink prerolls only on the first frame, sent below.
  g_assert_cmpint(gst_element_set_state(p, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), "src");
  int ingest_port = 0;
  g_object_get(src, "current-port", &ingest_port, nullptr);
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
    int port = 0;
    g_object_get(sink, "current-port", &port, nullptr);
    RawViewer a, b;
    g_assert_cmpint(a.upgrade(port, "/camera"), ==, 101);
    g_assert_cmpint(b.upgrade(port, "/camera"), ==, 101);
    g_assert_true(testutil::wait_until([&] {
      guint n = 0;
      g_object_get(sink, "num-viewers", &n, nullptr);
      return n == 2;
    }));
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
  Sink first("host=127.0.0.1");
  const std::string port = std::to_string(first.port);
  GstElement *p = testutil::parse("fakesrc ! websocketsink host=127.0.0.1 port=" + port);
  g_assert_cmpint(gst_element_set_state(p, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  g_assert_nonnull(msg);
  GError *err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  g_test_message("error: %s", err->message);
  g_assert_true(strstr(err->message, port.c_str()) != nullptr);
  g_assert_true(err->domain == GST_RESOURCE_ERROR);
  g_error_free(err);
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

// The state change fails with a RESOURCE error whose message contains `needle`.
void expect_open_error(const std::string &props, const std::string &needle) {
  GstElement *p = testutil::parse("fakesrc ! websocketsink port=0 " + props);
  g_assert_cmpint(gst_element_set_state(p, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  g_assert_nonnull(msg);
  GError *err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  g_test_message("error: %s", err->message);
  g_assert_true(err->domain == GST_RESOURCE_ERROR);
  g_assert_true(strstr(err->message, needle.c_str()) != nullptr);
  g_error_free(err);
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

void test_missing_document_root_and_bad_certificate_fail_naming_the_file() {
  TempDir dir;
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
  g_test_add_func("/websocketsink/stuck-viewer-is-bounded-and-closed-after-timeout",
                  test_stuck_viewer_is_bounded_and_closed_after_timeout);
  g_test_add_func("/websocketsink/viewer-that-falls-behind-skips-to-newest-frame",
                  test_viewer_that_falls_behind_skips_to_newest_frame);
  g_test_add_func("/websocketsink/wss-viewers-receive-every-frame-and-stuck-one-is-bounded",
                  test_wss_viewers_receive_every_frame_and_stuck_one_is_bounded);
  g_test_add_func("/websocketsink/http-page-static-files-and-404s", test_http_page_static_files_and_404s);
  g_test_add_func("/websocketsink/max-viewers-enforced", test_max_viewers_enforced);
  g_test_add_func("/websocketsink/disallowed-origin-refused", test_disallowed_origin_refused);
  g_test_add_func("/websocketsink/late-viewer-gets-stream-headers-then-latest-frame",
                  test_late_viewer_gets_stream_headers_then_latest_frame);
  g_test_add_func("/websocketsink/viewer-ping-close-and-oversized-message",
                  test_viewer_ping_close_and_oversized_message);
  g_test_add_func("/websocketsink/videotestsrc-jpegenc-pipeline-delivers-jpeg",
                  test_videotestsrc_jpegenc_pipeline_delivers_jpeg);
  g_test_add_func("/websocketsink/lengthprefixsrc-pipeline-delivers-frames-bit-exact",
                  test_lengthprefixsrc_pipeline_delivers_frames_bit_exact);
  g_test_add_func("/websocketsink/start-stop-cycles-close-viewers-with-1001-and-leak-no-fds",
                  test_start_stop_cycles_close_viewers_with_1001_and_leak_no_fds);
  g_test_add_func("/websocketsink/bytes-sent-with-the-upgrade-do-not-spin-the-server",
                  test_bytes_sent_with_the_upgrade_do_not_spin_the_server);
  g_test_add_func("/websocketsink/request-body-is-refused-without-being-kept",
                  test_request_body_is_refused_without_being_kept);
  g_test_add_func("/websocketsink/half-request-is-closed-after-timeout", test_half_request_is_closed_after_timeout);
  g_test_add_func("/websocketsink/invalid-close-code-is-answered-with-protocol-error",
                  test_invalid_close_code_is_answered_with_protocol_error);
  g_test_add_func("/websocketsink/port-in-use-fails-with-error-naming-it",
                  test_port_in_use_fails_with_error_naming_it);
  g_test_add_func("/websocketsink/missing-document-root-and-bad-certificate-fail-naming-the-file",
                  test_missing_document_root_and_bad_certificate_fail_naming_the_file);
  return g_test_run();
}
