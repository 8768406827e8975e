// Fault and hostile-traffic tests: a healthy camera and a healthy viewer run
// through `lengthprefixsrc ! websocketsink` while bad peers hit both ports;
// the viewer must get every frame, and file descriptors and memory must come
// back to their baseline. Loopback only; every loop is bounded.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "glibptr.h"
#include "relay.h"
#include "testutil.h"
#include "wsclient.h"

using imagestream::ErrorPtr;
using imagestream::GObjectPtr;
using imagestream::out;
using testutil::Bytes;
using testutil::Relay;
using testutil::WsClient;

namespace {

Bytes tagged(uint32_t seq) {
  Bytes b = testutil::random_bytes(2000 + seq % 3000, seq + 1);
  std::memcpy(b.data(), &seq, 4);
  return b;
}

// The relay under attack: room for a few senders and large frames, a deep
// viewer queue bounded in frames only (the healthy viewer must get every
// frame, however late the machine schedules it) and a short viewer-timeout
// (stuck peers go soon).
constexpr const char *kSinkProps = "viewer-timeout=3 max-queued-frames=64 max-queued-bytes=0 max-queued-time=0";
constexpr const char *kSrcProps = "max-senders=8 max-frame-size=1048576";

// A camera sending tagged frames every 2 ms and a viewer checking that they
// all arrive, in order, whole.
struct HealthyFlow {
  Relay &relay;
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> sent{0}, received{0}, bad{0};
  std::thread camera, viewer;

  explicit HealthyFlow(Relay &r) : relay(r) {
    auto client = std::make_shared<WsClient>();
    g_assert_cmpint(client->upgrade(relay.web_port, relay.path), ==, 101);
    g_assert_true(testutil::wait_until([&] { return relay.viewers() >= 1; }));
    viewer = std::thread([this, client] {
      Bytes msg;
      gint64 give_up = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
      while (!(stop && received == sent) && g_get_monotonic_time() < give_up) {
        if (!client->read_data(msg, 100)) continue;
        uint32_t seq = 0;
        if (msg.size() >= 4) std::memcpy(&seq, msg.data(), 4);
        if (seq != received.load() || msg != tagged(seq)) bad++;
        received++;
      }
    });
    // The camera is in before any hostile peer: a flood of silent senders
    // that fills max-senders first would get it refused (a real camera
    // retries, see lengthprefixsink; this one does not).
    int fd = testutil::tcp_connect(relay.ingest_port);
    g_assert_true(testutil::wait_until([&] { return relay.senders() == 1; }));
    camera = std::thread([this, fd] {
      while (!stop) {
        g_assert_true(testutil::send_frame(fd, tagged(sent)));
        sent++;
        g_usleep(2000);
      }
      close(fd);
    });
  }
  // Stops the camera and checks that the viewer got everything it sent.
  void finish() {
    g_assert_true(testutil::wait_until([&] { return sent > 200; }, 30000));
    stop = true;
    camera.join();
    g_assert_true(testutil::wait_until([&] { return received == sent; }, 20000));
    viewer.join();
    g_assert_cmpuint(bad.load(), ==, 0);
    g_assert_cmpuint(received.load(), ==, sent.load());
  }
};

void expect_back_to_baseline(Relay &relay, int fds, long rss) {
  g_assert_true(testutil::wait_until([&] { return relay.viewers() == 0; }, 15000));
  if (!testutil::wait_until([&] { return testutil::open_fds() <= fds; }, 15000)) {
    g_printerr("fds: %d, baseline %d\n", testutil::open_fds(), fds);
    std::string cmd = "ss -tanp | grep pid=" + std::to_string(getpid()) +
                      " | awk '{print $1, $4, $5}' | sort | uniq -c | sort -rn | head -20 >&2";
    g_assert_cmpint(system(cmd.c_str()), ==, 0);
    g_assert_not_reached();
  }
  g_assert_cmpint(testutil::open_fds(), ==, fds);
  // Allocator caches may keep some; growth per hostile peer would show as much
  // more. ASan holds freed memory in quarantine, so there RSS tells little.
#if defined(__SANITIZE_ADDRESS__)
  constexpr long kSlackKib = 512 * 1024;
#else
  constexpr long kSlackKib = 32 * 1024;
#endif
  g_assert_cmpint(testutil::rss_kib() - rss, <, kSlackKib);
}

void test_hostile_senders_cost_the_healthy_viewer_no_frame_and_leak_no_fds_or_memory() {
  Relay relay(kSinkProps, kSrcProps);
  int fds = testutil::open_fds();
  long rss = testutil::rss_kib();
  {
    HealthyFlow flow(relay);
    std::vector<int> held;
    for (int i = 0; i < 400; i++) {
      int fd = testutil::tcp_connect(relay.ingest_port);
      switch (i % 5) {
        case 0: {  // half a frame, then gone
          Bytes h = testutil::be64(100000);
          testutil::send_all(fd, h.data(), 8);
          testutil::send_all(fd, h.data(), 8);
          close(fd);
          break;
        }
        case 1: {  // an absurd length
          Bytes h = testutil::be64(uint64_t{1} << 50);
          testutil::send_all(fd, h.data(), 8);
          close(fd);
          break;
        }
        case 2: {  // random bytes
          Bytes junk = testutil::random_bytes(20000, i);
          testutil::send_all(fd, junk.data(), junk.size());
          close(fd);
          break;
        }
        case 3:  // nothing at all, connection held open (more than max-senders)
          if (held.size() < 30)
            held.push_back(fd);
          else
            testutil::reset_close(fd);
          break;
        case 4:  // connect and reset
          testutil::reset_close(fd);
          break;
      }
    }
    flow.finish();
    for (int fd : held) close(fd);
  }
  guint64 dropped = testutil::get_u64(relay.sink, "frames-dropped");
  g_assert_cmpuint(dropped, ==, 0);
  g_assert_true(testutil::wait_until([&] { return relay.senders() == 0; }));
  expect_back_to_baseline(relay, fds, rss);
}

void test_hostile_viewers_cost_the_healthy_viewer_no_frame_and_leak_no_fds_or_memory() {
  Relay relay(std::string(kSinkProps) + " max-viewers=16", kSrcProps);
  int fds = testutil::open_fds();
  long rss = testutil::rss_kib();
  {
    HealthyFlow flow(relay);
    // Churn: connect and close, connect and reset.
    for (int i = 0; i < 1500; i++) {
      WsClient c;
      c.upgrade(relay.web_port, relay.path);
      if (i % 2) c.reset();
    }
    std::vector<int> held;
    // Half an HTTP request, kept open.
    for (int i = 0; i < 20; i++) {
      int fd = testutil::tcp_connect(relay.web_port);
      testutil::send_all(fd, "GET /camera HTTP/1.1\r\nHost: x\r\n", 30);
      held.push_back(fd);
    }
    // Random bytes.
    for (int i = 0; i < 100; i++) {
      int fd = testutil::tcp_connect(relay.web_port);
      Bytes junk = testutil::random_bytes(4096, i + 7);
      testutil::send_all(fd, junk.data(), junk.size());
      testutil::reset_close(fd);
    }
    // A viewer announcing a 1 GiB message is closed, not fed.
    {
      WsClient big;
      g_assert_cmpint(big.upgrade(relay.web_port, relay.path), ==, 101);
      Bytes header = {0x82, 0x80 | 127};
      Bytes len = testutil::be64(uint64_t{1} << 30);
      header.insert(header.end(), len.begin(), len.end());
      header.insert(header.end(), {1, 2, 3, 4});
      big.send_raw(header);
      big.send_raw(testutil::random_bytes(65536, 3));
      g_assert_cmpint(big.read_close_code(), ==, 1009);  // message too big
    }
    // More viewers than max-viewers: the extra ones are refused.
    std::vector<std::unique_ptr<WsClient>> crowd;
    int refused = 0;
    for (int i = 0; i < 20; i++) {
      auto c = std::make_unique<WsClient>();
      if (c->upgrade(relay.web_port, relay.path) != 101) refused++;
      crowd.push_back(std::move(c));
    }
    g_assert_cmpint(refused, >=, 5);  // the healthy viewer holds one of the 16
    crowd.clear();
    g_assert_true(testutil::wait_until([&] { return relay.viewers() == 1; }));
    // Viewers killed mid-frame.
    for (int i = 0; i < 50; i++) {
      WsClient c;
      g_assert_cmpint(c.upgrade(relay.web_port, relay.path), ==, 101);
      uint8_t some[100];
      recv(c.fd(), some, sizeof some, 0);
      c.reset();
    }
    flow.finish();
    for (int fd : held) close(fd);
  }
  expect_back_to_baseline(relay, fds, rss);
}

void test_state_changes_under_traffic_succeed_and_leak_no_fds() {
  Relay relay;
  g_assert_cmpint(gst_element_set_state(relay.pipeline, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  int fds = testutil::open_fds();
  for (int cycle = 0; cycle < 15; cycle++) {
    g_assert_cmpint(gst_element_set_state(relay.pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    WsClient viewer;
    g_assert_cmpint(viewer.upgrade(testutil::get_int(relay.sink, "current-port"), relay.path), ==, 101);
    int camera = testutil::tcp_connect(testutil::get_int(relay.src, "current-port"));
    for (uint32_t i = 0; i < 20; i++) testutil::send_frame(camera, tagged(i));
    Bytes msg;
    g_assert_true(viewer.read_data(msg));
    // Stop while frames are in flight in both directions.
    for (uint32_t i = 0; i < 20; i++) testutil::send_frame(camera, tagged(i));
    g_assert_cmpint(gst_element_set_state(relay.pipeline, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
    close(camera);
  }
  g_assert_cmpint(testutil::open_fds(), ==, fds);
}

// --- the web port against strangers: TLS, floods of connections, descriptors ---

// A TCP connection to 127.0.0.1:port from `source`: every 127.x.y.z is this
// host, so one test stands for clients at many addresses.
int connect_from(const std::string &source, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint(fd, >=, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  g_assert_cmpint(inet_pton(AF_INET, source.c_str(), &from.sin_addr), ==, 1);
  g_assert_cmpint(bind(fd, reinterpret_cast<sockaddr *>(&from), sizeof from), ==, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&to), sizeof to) != 0)
    g_error("connect from %s to port %d: %s", source.c_str(), port, g_strerror(errno));
  return fd;
}

// The i-th address of the crowd: 127.0.1.1, 127.0.1.2, ...
std::string crowd_address(int i) { return "127.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250); }

// The server closed (or reset) `fd` within `timeout_ms`; what it sent
// before (a TLS server's first flight) is read and dropped.
bool closed_by_server(int fd, int timeout_ms) {
  const gint64 deadline = g_get_monotonic_time() + gint64{timeout_ms} * 1000;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int left = static_cast<int>(std::max<gint64>(0, (deadline - g_get_monotonic_time()) / 1000));
    if (poll(&p, 1, left) <= 0) return false;
    char buf[4096];
    if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) return true;
  }
}

double cpu_seconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

guint64 stat_of(GstElement *sink, const char *field) {
  GstStructure *stats = nullptr;
  g_object_get(sink, "stats", &stats, nullptr);
  guint64 v = 0;
  g_assert_true(gst_structure_get_uint64(stats, field, &v));
  gst_structure_free(stats);
  return v;
}

// websocketsink's warnings while it lives (printed as usual too).
class WarningLog {
 public:
  WarningLog() {
    gst_debug_set_threshold_for_name("websocketsink", GST_LEVEL_WARNING);
    gst_debug_add_log_function(&WarningLog::log, this, nullptr);
  }
  ~WarningLog() { gst_debug_remove_log_function_by_data(this); }
  WarningLog(const WarningLog &) = delete;
  WarningLog &operator=(const WarningLog &) = delete;
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> l(lock_);
    return lines_;
  }
  // The sum of the first number after `prefix` in every line that has it.
  uint64_t sum_after(const std::string &prefix) {
    uint64_t sum = 0;
    for (const auto &line : lines()) {
      const size_t at = line.find(prefix);
      if (at != std::string::npos) sum += g_ascii_strtoull(line.c_str() + at + prefix.size(), nullptr, 10);
    }
    return sum;
  }
  size_t count(const std::string &part) {
    size_t n = 0;
    for (const auto &line : lines()) n += line.find(part) != std::string::npos;
    return n;
  }

 private:
  static void log(GstDebugCategory *category, GstDebugLevel level, const gchar *, const gchar *, gint, GObject *,
                  GstDebugMessage *message, gpointer self) {
    if (level > GST_LEVEL_WARNING || strcmp(gst_debug_category_get_name(category), "websocketsink") != 0) return;
    auto *w = static_cast<WarningLog *>(self);
    std::lock_guard<std::mutex> l(w->lock_);
    w->lines_.emplace_back(gst_debug_message_get(message));
  }
  std::mutex lock_;
  std::vector<std::string> lines_;
};

// A self-signed certificate for the relay's https/wss, in a directory of its own.
struct TestCertificate {
  testutil::TempDir dir;
  std::string cert, key;
  bool made = testutil::make_certificate(dir.path, cert, key);
  std::string props() const { return "tls-certificate=" + cert + " tls-key=" + key; }
};

// A TLS client session over `fd`, established, with no trust database (so
// that what this process's memory shows is the relay's side), accepting any
// certificate; nullptr if the handshake fails.
GObjectPtr<GIOStream> tls_session(int fd) {
  GObjectPtr<GSocket> socket(g_socket_new_from_fd(fd, nullptr));
  GObjectPtr<GSocketConnection> tcp(g_socket_connection_factory_create_connection(socket.get()));
  ErrorPtr err;
  GObjectPtr<GIOStream> tls(static_cast<GIOStream *>(
      g_initable_new(g_tls_backend_get_client_connection_type(g_tls_backend_get_default()), nullptr, out(err),
                     "base-io-stream", tcp.get(), "database", static_cast<GTlsDatabase *>(nullptr), nullptr)));
  g_assert_nonnull(tls);
  g_signal_connect(tls.get(), "accept-certificate",
                   G_CALLBACK(+[](GTlsConnection *, GTlsCertificate *, GTlsCertificateFlags) -> gboolean {
                     return TRUE;
                   }),
                   nullptr);
  if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls.get()), nullptr, out(err))) return nullptr;
  return tls;
}

// The first record a GnuTLS client sends, its ClientHello: sent again on
// connections that then go quiet, as a client stalled in its handshake.
Bytes client_hello() {
  int pair[2];
  g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
  std::thread client([fd = pair[0]] {
    GObjectPtr<GSocket> socket(g_socket_new_from_fd(fd, nullptr));
    GObjectPtr<GSocketConnection> stream(g_socket_connection_factory_create_connection(socket.get()));
    GObjectPtr<GIOStream> tls(g_tls_client_connection_new(G_IO_STREAM(stream.get()), nullptr, nullptr));
    g_tls_connection_handshake(G_TLS_CONNECTION(tls.get()), nullptr, nullptr);  // fails: the other end closes
    g_io_stream_close(tls.get(), nullptr, nullptr);
  });
  Bytes hello;
  uint8_t buf[4096];
  while (hello.size() < 5 || hello.size() < 5 + size_t((hello[3] << 8) | hello[4])) {
    const ssize_t n = recv(pair[1], buf, sizeof buf, 0);
    g_assert_cmpint(n, >, 0);
    hello.insert(hello.end(), buf, buf + n);
  }
  close(pair[1]);
  client.join();
  g_assert_cmpuint(hello[0], ==, 0x16);  // a handshake record
  return hello;
}

// glib-networking 2.74 with GnuTLS copies the system's CA store into every
// TLS connection made with the default trust database: 3.8 MiB each, never
// given back while the connection lives. The relay's connections have none.
void test_established_tls_connections_cost_the_relay_kilobytes_each_not_megabytes() {
  TestCertificate certificate;
  g_assert_true(certificate.made);  // openssl, which setup.sh installs
  Relay relay(certificate.props() + " request-timeout=120 max-pending-connections=0 max-pending-per-address=0");
  // What is made once per process (the TLS backend, the certificate's
  // credentials, the pool's threads) goes into the baseline.
  for (int i = 0; i < 5; i++) g_assert_nonnull(tls_session(testutil::tcp_connect(relay.web_port)));
  const long before = testutil::rss_kib();
  constexpr int kConnections = 200;
  std::vector<GObjectPtr<GIOStream>> sessions;
  for (int i = 0; i < kConnections; i++) {
    sessions.push_back(tls_session(testutil::tcp_connect(relay.web_port)));
    g_assert_nonnull(sessions.back());
  }
  const long per_connection = (testutil::rss_kib() - before) / kConnections;
  g_test_message("resident memory per established idle TLS connection, both ends in this process: %ld KiB",
                 per_connection);
#if defined(__SANITIZE_ADDRESS__)
  g_assert_cmpint(per_connection, <, 1024);
#else
  g_assert_cmpint(per_connection, <, 256);
#endif
  for (auto &s : sessions) g_io_stream_close(s.get(), nullptr, nullptr);
}

// A handshake holds a thread of GLib's pool (10 threads, growing slowly)
// until it ends. Connections that send nothing or part of a ClientHello
// hold none, and those stalled after a whole ClientHello hold at most
// max-tls-handshakes-per-address each, max-tls-handshakes in all, until
// tls-handshake-timeout: a new viewer's handshake takes no longer with 300
// of them open, and when stalled handshakes take every slot it gets the
// first that frees, at their deadline.
void test_stalled_tls_handshakes_hold_up_a_new_viewer_at_most_until_their_deadline() {
  TestCertificate certificate;
  g_assert_true(certificate.made);  // openssl, which setup.sh installs
  const unsigned kDeadline = 3;
  // Room for all of them (the pending cap is another test's).
  Relay relay(certificate.props() + " max-pending-connections=400 tls-handshake-timeout=" + std::to_string(kDeadline));
  const Bytes hello = client_hello();
  auto time_a_new_viewer = [&] {
    const gint64 t0 = g_get_monotonic_time();
    WsClient viewer(WsClient::Transport::Tls);
    g_assert_cmpint(viewer.upgrade(relay.web_port, relay.path), ==, 101);
    return (g_get_monotonic_time() - t0) / 1e6;
  };

  const double alone = time_a_new_viewer();
  g_test_message("a new wss viewer with no stalled handshakes: %.3f s", alone);

  // 300 from 20 addresses (15 each, within max-pending-per-address): silent,
  // 10 bytes of a ClientHello, or a whole one and then nothing; the whole
  // ones from 3 addresses, 2 handshakes each at most (the default
  // max-tls-handshakes-per-address): 6 of the 8 slots.
  std::vector<int> stalled;
  for (int a = 0; a < 20; a++) {
    for (int j = 0; j < 15; j++) {
      const int fd = connect_from(crowd_address(a), relay.web_port);
      if (a < 3 && j < 5)
        testutil::send_all(fd, hello.data(), hello.size());
      else if (j % 2)
        testutil::send_all(fd, hello.data(), 10);
      stalled.push_back(fd);
    }
  }
  const double alongside = time_a_new_viewer();
  g_test_message("a new wss viewer with 300 stalled handshakes open: %.3f s", alongside);
  g_assert_cmpfloat(alongside, <, alone + 1.0);
  // And they are cut off at their deadline, not at request-timeout or never.
  for (int fd : stalled) {
    g_assert_true(closed_by_server(fd, (2 * kDeadline + 2) * 1000));  // a step each: a queued one waits one out
    close(fd);
  }
  stalled.clear();

  // Whole ClientHellos from 8 addresses, 4 each: every slot taken, and more waiting.
  for (int a = 0; a < 8; a++) {
    for (int j = 0; j < 4; j++) {
      const int fd = connect_from(crowd_address(100 + a), relay.web_port);
      testutil::send_all(fd, hello.data(), hello.size());
      stalled.push_back(fd);
    }
  }
  const double behind = time_a_new_viewer();
  g_test_message("a new wss viewer with every handshake slot stalled: %.3f s (tls-handshake-timeout %u s)", behind,
                 kDeadline);
  g_assert_cmpfloat(behind, <, kDeadline + 1.5);
  for (int fd : stalled) close(fd);
  g_assert_cmpuint(stat_of(relay.sink, "connections-timed-out"), >=, 300);
}

// Connections that are not viewers are capped in total: past
// max-pending-connections (256) a newcomer is closed at once and counted,
// unless an address holds more than max-pending-per-address (32): then that
// address's oldest goes instead, so that one address may fill an idle port
// (a proxy, a crowd behind a NAT) but never keep others out. One warning
// line and a count per second, not one line each; the ones waiting go at
// request-timeout (5 s).
void test_pending_connections_are_capped_in_total_and_an_address_over_its_share_gives_way() {
  Relay relay(kSinkProps);
  g_assert_cmpuint(testutil::get_uint(relay.sink, "request-timeout"), ==, 5);
  WarningLog log;
  std::vector<int> waiting;
  // 40 from one address while the port has room: all kept.
  for (int i = 0; i < 40; i++) waiting.push_back(connect_from("127.0.0.2", relay.web_port));
  g_assert_cmpint(relay.get(relay.path).status, ==, 200);  // served after them: all 40 are in
  for (int i = 0; i < 40; i++)
    if (closed_by_server(waiting[i], 0)) g_error("connection %d of 40 from one address closed on a port with room", i);
  g_assert_cmpuint(stat_of(relay.sink, "connections-refused"), ==, 0);

  // 300 more from 30 addresses (10 each): 216 fill the port to 256; of the
  // 84 after them, 8 take the places of 127.0.0.2's oldest 8 (its share is
  // 32) and 76 are closed at once.
  const gint64 flood_start = g_get_monotonic_time();
  for (int i = 0; i < 300; i++) waiting.push_back(connect_from(crowd_address(i % 30), relay.web_port));
  g_assert_true(testutil::wait_until([&] { return stat_of(relay.sink, "connections-refused") == 84; }, 5000));
  for (int i = 0; i < 40; i++) {
    const bool closed = closed_by_server(waiting[i], i < 8 ? 2000 : 0);
    if (closed != (i < 8)) g_error("connection %d from the heavy address %s", i, closed ? "closed" : "kept");
  }
  g_assert_cmpint(relay.get(relay.path).status, ==, 0);  // every address within its share now: no room for anyone
  // 85 refused (84 and that last request): one line for the first, the
  // other 84 in lines once a second.
  g_assert_true(testutil::wait_until([&] { return log.sum_after("refused ") == 84; }, 3000));
  const double seconds = (g_get_monotonic_time() - flood_start) / 1e6;
  const size_t lines = log.lines().size();
  g_test_message("%zu warning lines for 85 refused connections", lines);
  g_assert_cmpuint(lines, <=, 2 + 2 * static_cast<size_t>(seconds + 1));

  // Those waiting, and sending nothing, go at request-timeout.
  for (int fd : waiting) {
    g_assert_true(closed_by_server(fd, 8000));
    close(fd);
  }
  g_assert_cmpint(relay.get(relay.path).status, ==, 200);
  g_assert_cmpuint(stat_of(relay.sink, "connections-timed-out"), >=, 256);
}

// With no file descriptor left, accept() fails at once for as long as a
// connection waits in the backlog. The listener rests 200 ms after each
// failure: the server thread does not spin, the log gets a line a second,
// the viewer already connected keeps getting frames, and new ones are
// served once descriptors are free again.
void test_running_out_of_file_descriptors_neither_spins_the_server_nor_floods_the_log() {
  Relay relay(std::string(kSinkProps) + " max-pending-connections=0 max-pending-per-address=0 request-timeout=30");
  relay.start_camera();
  WsClient viewer;
  g_assert_cmpint(viewer.upgrade(relay.web_port, relay.path), ==, 101);
  Bytes frame;
  g_assert_true(viewer.read_data(frame));
  // A process of its own connects once this one has no descriptor left (its
  // table is filled with copies of /dev/null, which nothing here closes): its
  // connections wait in the relay's backlog, where accept() cannot take them.
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(relay.web_port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int go[2];
  g_assert_cmpint(pipe(go), ==, 0);
  const pid_t child = fork();
  g_assert_cmpint(child, >=, 0);
  if (child == 0) {  // only async-signal-safe calls from here on
    close(go[1]);
    char byte;
    if (read(go[0], &byte, 1) == 1) {
      for (int i = 0; i < 4; i++) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) connect(fd, reinterpret_cast<const sockaddr *>(&to), sizeof to);
      }
    }
    while (read(go[0], &byte, 1) > 0) {
    }
    _exit(0);
  }
  close(go[0]);
  const int null = open("/dev/null", O_RDONLY);
  g_assert_cmpint(null, >=, 0);
  const int baseline = testutil::open_fds();
  rlimit saved{};
  g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &saved), ==, 0);
  rlimit low = saved;
  low.rlim_cur = baseline + 300;
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &low), ==, 0);
  WarningLog log;
  std::vector<int> taken;
  for (int fd; (fd = dup(null)) >= 0;) taken.push_back(fd);
  g_assert_cmpint(errno, ==, EMFILE);
  g_assert_cmpint(write(go[1], "x", 1), ==, 1);
  g_assert_true(testutil::wait_until([&] { return stat_of(relay.sink, "accept-errors") > 0; }));
  // The property is that the process stays nearly idle: measured over a window.
  const guint64 errors_before = stat_of(relay.sink, "accept-errors");
  const double cpu0 = cpu_seconds();
  const gint64 t0 = g_get_monotonic_time();
  size_t frames = 0;
  while (g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC)
    if (viewer.read_data(frame, 100)) frames++;
  const double wall = (g_get_monotonic_time() - t0) / 1e6;
  const double cpu = cpu_seconds() - cpu0;
  const guint64 errors = stat_of(relay.sink, "accept-errors") - errors_before;
  g_test_message("no descriptor left for %.1f s: %.2f s of CPU, %" G_GUINT64_FORMAT
                 " failed accepts, %zu warning lines, %zu frames to the viewer",
                 wall, cpu, errors, log.lines().size(), frames);
  g_assert_cmpfloat(cpu, <, wall * 0.25);  // the camera and viewer go on meanwhile
  g_assert_cmpuint(errors, <=, static_cast<guint64>(wall * 1000 / 200) + 2);
  g_assert_cmpuint(log.lines().size(), <=, static_cast<size_t>(wall) + 3);
  g_assert_cmpuint(frames, >, 10);

  for (int fd : taken) close(fd);
  close(null);
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &saved), ==, 0);
  close(go[1]);  // the other process ends, and its connections with it
  int status = 0;
  g_assert_cmpint(waitpid(child, &status, 0), ==, child);
  const gint64 t1 = g_get_monotonic_time();
  WsClient later;
  g_assert_cmpint(later.upgrade(relay.web_port, relay.path), ==, 101);
  g_assert_cmpfloat((g_get_monotonic_time() - t1) / 1e6, <, 1.0);
}

// A crowd refused by max-viewers: one warning line, then a count a second.
void test_refused_viewers_are_logged_once_then_counted_once_a_second() {
  Relay relay("max-viewers=1");
  WarningLog log;
  WsClient first;
  g_assert_cmpint(first.upgrade(relay.web_port, relay.path), ==, 101);
  const gint64 t0 = g_get_monotonic_time();
  for (int i = 0; i < 200; i++) {
    WsClient c;
    g_assert_cmpint(c.upgrade(relay.web_port, relay.path), ==, 503);
  }
  // One line for the first, and the other 199 in lines once a second.
  g_assert_true(testutil::wait_until([&] { return log.sum_after("refused ") == 199; }, 3000));
  const double seconds = (g_get_monotonic_time() - t0) / 1e6;
  g_assert_cmpuint(log.count("refused viewer"), ==, 1);
  g_assert_cmpuint(log.lines().size(), <=, 2 + static_cast<size_t>(seconds));
}

// --- the ingest against strangers: trickles, partial frames, fd exhaustion ---

guint64 src_stat(GstElement *src, const char *field) {
  GstStructure *st = nullptr;
  g_object_get(src, "stats", &st, nullptr);
  guint64 v = 0;
  const gboolean found = gst_structure_get_uint64(st, field, &v);
  gst_structure_free(st);
  if (!found) g_error("lengthprefixsrc stats have no %s", field);
  return v;
}

// `slots` connections to the ingest, each sending one byte a second of a
// frame it never finishes (a header announcing 1 MB, then payload); one that
// the relay closes (refused, replaced or timed out) is opened again, at most
// every 200 ms per slot. Bounded: stops after `seconds` or when told.
struct Trickle {
  std::atomic<bool> stop{false};
  std::atomic<int> connections{0}, closed_by_relay{0};
  std::thread thread;

  Trickle(int port, int slots, int seconds) {
    thread = std::thread([=] {
      struct Slot {
        int fd = -1;
        size_t sent = 0;       // bytes of the frame sent so far
        gint64 opened = 0;     // monotonic µs
      };
      std::vector<Slot> s(slots);
      const Bytes header = testutil::be64(1000000);
      const gint64 end = g_get_monotonic_time() + gint64{seconds} * G_USEC_PER_SEC;
      gint64 next_byte = 0;
      while (!stop && g_get_monotonic_time() < end) {
        const gint64 now = g_get_monotonic_time();
        for (Slot &slot : s) {
          if (slot.fd < 0 && now - slot.opened >= 200 * G_TIME_SPAN_MILLISECOND) {
            slot.fd = testutil::tcp_connect(port);
            slot.sent = 0;
            slot.opened = now;
            connections++;
          }
        }
        if (now >= next_byte) {
          for (Slot &slot : s) {
            if (slot.fd < 0) continue;
            const uint8_t byte = slot.sent < 8 ? header[slot.sent] : 0x55;
            if (send(slot.fd, &byte, 1, MSG_NOSIGNAL) == 1) slot.sent++;
          }
          next_byte = now + G_USEC_PER_SEC;
        }
        // Wait for the relay closing one, or for the next thing to do.
        std::vector<pollfd> fds;
        for (Slot &slot : s)
          if (slot.fd >= 0) fds.push_back({slot.fd, POLLIN, 0});
        poll(fds.data(), fds.size(), 50);
        for (const pollfd &p : fds) {
          if (!p.revents) continue;
          for (Slot &slot : s) {
            if (slot.fd != p.fd) continue;
            close(slot.fd);
            slot.fd = -1;
            closed_by_relay++;
          }
        }
      }
      for (Slot &slot : s)
        if (slot.fd >= 0) close(slot.fd);
    });
  }
  ~Trickle() {
    stop = true;
    thread.join();
  }
};

void test_trickling_connections_neither_evict_nor_lock_out_a_camera_sending_every_2_5_s() {
  // Every connection comes from 127.0.0.1: the per-address limit, which
  // would refuse the trickles outright, is off to test the eviction order.
  Relay relay(kSinkProps, "max-senders-per-address=0");
  WsClient viewer;
  g_assert_cmpint(viewer.upgrade(relay.web_port, relay.path), ==, 101);
  g_assert_true(testutil::wait_until([&] { return relay.viewers() == 1; }));
  int camera = testutil::tcp_connect(relay.ingest_port);
  const std::string camera_address = testutil::local_address(camera);
  g_assert_true(testutil::wait_until([&] { return relay.senders() == 1; }));
  struct Removed {
    std::mutex lock;
    std::vector<std::string> reasons;  // of the camera's removals
    std::string address;
  } removed;
  removed.address = camera_address;
  g_signal_connect(relay.src, "sender-removed",
                   G_CALLBACK(+[](GstElement *, const char *address, const char *reason, Removed *r) {
                     std::lock_guard<std::mutex> l(r->lock);
                     if (r->address == address) r->reasons.push_back(reason);
                   }),
                   &removed);

  // 64 trickles against max-senders=64 (the default): the table stays full.
  constexpr int kFrames = 5;
  constexpr gint64 kInterval = 2500 * G_TIME_SPAN_MILLISECOND;
  Trickle trickle(relay.ingest_port, 64, 20);
  g_assert_true(testutil::wait_until([&] { return relay.senders() == 64; }));
  const gint64 start = g_get_monotonic_time();
  gint64 worst_latency = 0;
  for (uint32_t i = 0; i < kFrames; i++) {
    // The camera's pace: one frame every 2.5 s, more than the 2 s of silence
    // after which the relay used to let a newcomer replace it.
    const gint64 due = start + i * kInterval;
    if (g_get_monotonic_time() < due) g_usleep(due - g_get_monotonic_time());
    const gint64 sent = g_get_monotonic_time();
    g_assert_true(testutil::send_frame(camera, tagged(i)));
    Bytes got;
    g_assert_true(viewer.read_data(got));
    worst_latency = std::max(worst_latency, g_get_monotonic_time() - sent);
    g_assert_true(got == tagged(i));
  }
  const guint64 evicted = src_stat(relay.src, "senders-evicted");
  const guint64 refused = src_stat(relay.src, "senders-refused-full");
  g_test_message("camera: %d frames at 2.5 s intervals, worst latency %.1f ms; trickles: %d connections, %d closed "
                 "by the relay (%" G_GUINT64_FORMAT " replaced by newcomers, %" G_GUINT64_FORMAT " refused, %"
                 G_GUINT64_FORMAT " timed out)",
                 kFrames, worst_latency / 1000.0, trickle.connections.load(), trickle.closed_by_relay.load(), evicted,
                 refused, src_stat(relay.src, "senders-timed-out"));
  {
    std::lock_guard<std::mutex> l(removed.lock);
    for (const std::string &r : removed.reasons) g_test_message("camera removed: %s", r.c_str());
    g_assert_true(removed.reasons.empty());
  }
  // The camera's connection is the one it opened: never closed by the relay.
  uint8_t byte;
  g_assert_cmpint(recv(camera, &byte, 1, MSG_DONTWAIT), ==, -1);
  g_assert_cmpint(errno, ==, EAGAIN);
  // The trickles did fill the table: newcomers replaced trickles (the oldest
  // without a frame) and were refused while all were within their grace.
  g_assert_cmpuint(evicted, >, 0);
  g_assert_cmpuint(refused, >, 0);
  g_assert_cmpint(worst_latency, <, G_USEC_PER_SEC);
  close(camera);
}

// A healthy camera and viewer run while 8 senders each announce 16 MiB and
// send all but the last byte, then hold their connection open: without a
// budget that is 128 MiB held until they leave.
void test_partial_frames_are_held_within_max_pending_bytes() {
  constexpr guint64 kBudget = 32 * 1024 * 1024;
  constexpr size_t kAnnounced = 16 * 1024 * 1024;
  constexpr int kSenders = 8;
  Relay relay(kSinkProps, "max-senders-per-address=0 max-pending-bytes=" + std::to_string(kBudget));
  HealthyFlow flow(relay);
  g_assert_true(testutil::wait_until([&] { return flow.received > 20; }));
  const long rss_before = testutil::rss_kib();
  std::atomic<int> done{0}, cut_off{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; i++) {
    senders.emplace_back([&] {
      int fd = testutil::tcp_connect(relay.ingest_port);
      Bytes header = testutil::be64(kAnnounced);
      static const Bytes chunk = testutil::random_bytes(64 * 1024, 5);
      bool ok = testutil::send_all(fd, header.data(), 8);
      for (size_t sent = 0; ok && sent < kAnnounced - 1; sent += chunk.size())
        ok = testutil::send_all(fd, chunk.data(), std::min(chunk.size(), kAnnounced - 1 - sent));
      if (!ok) cut_off++;
      done++;
      testutil::wait_until([&] { return release.load(); }, 30000);
      close(fd);
    });
  }
  // Every sender sent its partial frame or was cut off; the relay has read
  // what the survivors sent (the pending bytes stop changing).
  g_assert_true(testutil::wait_until([&] { return done == kSenders; }, 60000));
  guint64 pending = 0;
  g_assert_true(testutil::wait_until([&] {
    const guint64 now = src_stat(relay.src, "pending-bytes");
    const bool settled = now == pending;
    pending = now;
    return settled && src_stat(relay.src, "senders-over-budget") + relay.senders() - 1 == kSenders;
  }, 30000));
  const long rss_held = testutil::rss_kib();
  const guint64 over = src_stat(relay.src, "senders-over-budget");
  g_test_message("8 x 16 MiB partial frames against max-pending-bytes=32 MiB: %" G_GUINT64_FORMAT
                 " senders dropped, %" G_GUINT64_FORMAT " bytes pending, RSS +%ld KiB",
                 over, pending, rss_held - rss_before);
  g_assert_cmpuint(pending, <=, kBudget);
  g_assert_cmpuint(over, >=, kSenders - kBudget / kAnnounced);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed memory resident
  g_assert_cmpint(rss_held - rss_before, <, static_cast<long>((kBudget + 16 * 1024 * 1024) / 1024));
#endif
  release = true;
  for (auto &t : senders) t.join();
  flow.finish();
}

// Threads of this process named `name` (a GstTask names its thread
// "element:pad").
std::vector<int> threads_named(const std::string &name) {
  std::vector<int> tids;
  DIR *d = opendir("/proc/self/task");
  while (dirent *e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    gchar *comm = nullptr;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
    if (g_file_get_contents(path.c_str(), &comm, nullptr, nullptr)) {
      if (g_strstrip(comm) == name) tids.push_back(atoi(e->d_name));
      g_free(comm);
    }
  }
  closedir(d);
  return tids;
}

// CPU seconds (user + system) of a thread, read through an fd opened before,
// so that it works while no fd can be opened.
double thread_cpu_seconds(int stat_fd) {
  char buf[1024];
  ssize_t n = pread(stat_fd, buf, sizeof buf - 1, 0);
  g_assert_cmpint(n, >, 0);
  buf[n] = 0;
  const char *p = strrchr(buf, ')');  // fields after the command name
  g_assert_nonnull(p);
  unsigned long utime = 0, stime = 0;
  // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  g_assert_cmpint(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), ==, 2);
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

void test_fd_exhaustion_neither_spins_the_ingest_nor_keeps_a_camera_out_once_fds_are_back() {
  GstElement *pipeline = testutil::parse(
      "lengthprefixsrc name=src host=127.0.0.1 port=0 max-senders-per-address=0 ! appsink name=out sync=false");
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  const int port = testutil::get_int(src, "current-port");
  g_assert_true(testutil::wait_until([&] { return !threads_named("src:src").empty(); }));
  const std::vector<int> tids = threads_named("src:src");
  g_assert_cmpuint(tids.size(), ==, 1);
  const std::string stat_path = "/proc/self/task/" + std::to_string(tids[0]) + "/stat";
  const int stat_fd = open(stat_path.c_str(), O_RDONLY);
  g_assert_cmpint(stat_fd, >=, 0);

  // Sockets made while fds can still be had; connected once they cannot.
  constexpr int kClients = 8;
  sockaddr_in relay{};
  relay.sin_family = AF_INET;
  relay.sin_port = htons(port);
  relay.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> clients;
  for (int i = 0; i < kClients + 1; i++) clients.push_back(socket(AF_INET, SOCK_STREAM, 0));
  const int camera = clients.back();
  clients.pop_back();

  // No new fd from here: the limit is the lowest free fd number.
  const int lowest_free = dup(0);
  close(lowest_free);
  rlimit saved{};
  g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &saved), ==, 0);
  rlimit low = saved;
  low.rlim_cur = lowest_free;
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &low), ==, 0);
  for (int fd : clients) g_assert_cmpint(connect(fd, reinterpret_cast<sockaddr *>(&relay), sizeof relay), ==, 0);
  g_assert_true(testutil::wait_until([&] { return src_stat(src, "accept-errors") > 0; }));

  // One second of the streaming thread's CPU with the listener readable and
  // every accept failing.
  const double cpu0 = thread_cpu_seconds(stat_fd);
  const guint64 errors0 = src_stat(src, "accept-errors");
  const gint64 t0 = g_get_monotonic_time();
  g_usleep(G_USEC_PER_SEC);  // the window measured, not a wait for the element
  const double window = (g_get_monotonic_time() - t0) / 1e6;
  const double cpu = thread_cpu_seconds(stat_fd) - cpu0;
  const guint64 errors = src_stat(src, "accept-errors") - errors0;

  // The camera connects while fds are still out, with a frame ready.
  g_assert_cmpint(connect(camera, reinterpret_cast<sockaddr *>(&relay), sizeof relay), ==, 0);
  Bytes frame = tagged(1);
  g_assert_true(testutil::send_frame(camera, frame));
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &saved), ==, 0);
  const gint64 restored = g_get_monotonic_time();
  GstSample *sample = nullptr;
  // The clients connected earlier come first; they send nothing.
  sample = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 5 * GST_SECOND);
  const double to_camera = (g_get_monotonic_time() - restored) / 1e6;
  g_assert_nonnull(sample);
  GstMapInfo map;
  gst_buffer_map(gst_sample_get_buffer(sample), &map, GST_MAP_READ);
  g_assert_true(Bytes(map.data, map.data + map.size) == frame);
  gst_buffer_unmap(gst_sample_get_buffer(sample), &map);
  gst_sample_unref(sample);

  g_test_message("fds exhausted for %.2f s: streaming thread used %.3f s of CPU (%.1f%%), %" G_GUINT64_FORMAT
                 " failed accepts; the camera's frame arrived %.0f ms after fds were back",
                 window, cpu, 100 * cpu / window, errors, to_camera * 1000);
  g_assert_cmpfloat(cpu / window, <, 0.1);
  g_assert_cmpuint(errors, <=, 2 * window * 10 + 2);  // one accept per 100 ms of rest
  g_assert_cmpfloat(to_camera, <, 0.5);
  g_assert_true(testutil::wait_until([&] { return testutil::get_uint(src, "num-senders") == kClients + 1; }));

  for (int fd : clients) close(fd);
  close(camera);
  close(stat_fd);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(out);
  gst_object_unref(pipeline);
}

// A TLS client of the ingest with the camera's certificate, built as
// lengthprefixsink builds it (the CA given up front, no system store).
GObjectPtr<GIOStream> tls_camera_session(int port, const testutil::Pki &pki) {
  ErrorPtr err;
  GObjectPtr<GSocketClient> client(g_socket_client_new());
  GObjectPtr<GSocketConnection> tcp(g_socket_client_connect_to_host(client.get(), "127.0.0.1", port, nullptr, out(err)));
  g_assert_nonnull(tcp);
  GObjectPtr<GTlsDatabase> ca(g_tls_file_database_new(pki.ca.c_str(), out(err)));
  GObjectPtr<GTlsCertificate> cert(
      g_tls_certificate_new_from_files(pki.camera_cert.c_str(), pki.camera_key.c_str(), out(err)));
  GObjectPtr<GSocketConnectable> identity(g_network_address_new("127.0.0.1", port));
  GObjectPtr<GIOStream> tls(G_IO_STREAM(g_initable_new(
      g_tls_backend_get_client_connection_type(g_tls_backend_get_default()), nullptr, out(err), "base-io-stream",
      tcp.get(), "server-identity", identity.get(), "database", ca.get(), "certificate", cert.get(), nullptr)));
  g_assert_nonnull(tls);
  if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls.get()), nullptr, out(err)))
    g_error("TLS handshake with the ingest: %s", err->message);
  return tls;
}

// The server side of each TLS sender is built with the CA database given up
// front: otherwise glib-networking copies the system CA store into it as it
// is made (about 3.8 MiB and 30 ms of CPU), on the streaming thread.
void test_tls_senders_cost_the_ingest_kilobytes_and_no_system_ca_store_each() {
  testutil::TempDir dir;
  testutil::Pki pki;
  g_assert_true(testutil::make_pki(dir.path, pki));  // openssl, which setup.sh installs
  GstElement *pipeline = testutil::parse("lengthprefixsrc name=src host=127.0.0.1 port=0 max-senders-per-address=0 "
                                         "tls-certificate=" + pki.server_cert + " tls-key=" + pki.server_key +
                                         " tls-ca-file=" + pki.ca + " ! fakesink");
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  const int port = testutil::get_int(src, "current-port");
  std::vector<GObjectPtr<GIOStream>> sessions;
  // What is made once (the TLS backend, the pool's threads) goes into the baseline.
  for (int i = 0; i < 3; i++) sessions.push_back(tls_camera_session(port, pki));
  g_assert_true(testutil::wait_until([&] { return testutil::get_uint(src, "num-senders") == 3; }));
  const std::vector<int> tids = threads_named("src:src");
  g_assert_cmpuint(tids.size(), ==, 1);
  const std::string stat_path = "/proc/self/task/" + std::to_string(tids[0]) + "/stat";
  const int stat_fd = open(stat_path.c_str(), O_RDONLY);
  const long rss_before = testutil::rss_kib();
  const double cpu_before = thread_cpu_seconds(stat_fd);
  constexpr int kSenders = 40;
  for (int i = 0; i < kSenders; i++) sessions.push_back(tls_camera_session(port, pki));
  g_assert_true(testutil::wait_until([&] { return testutil::get_uint(src, "num-senders") == 3 + kSenders; }));
  const long per_sender = (testutil::rss_kib() - rss_before) / kSenders;
  const double cpu_ms = (thread_cpu_seconds(stat_fd) - cpu_before) * 1000 / kSenders;
  g_test_message("per established idle TLS sender: %ld KiB resident (both ends in this process), %.2f ms of the "
                 "streaming thread's CPU",
                 per_sender, cpu_ms);
#if defined(__SANITIZE_ADDRESS__)
  g_assert_cmpint(per_sender, <, 1024);
  g_assert_cmpfloat(cpu_ms, <, 20);
#else
  g_assert_cmpint(per_sender, <, 512);
  g_assert_cmpfloat(cpu_ms, <, 8);
#endif
  close(stat_fd);
  sessions.clear();
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
}

}  // namespace

int main(int argc, char **argv) {
  testutil::init(&argc, &argv);
  g_test_add_func("/faults/hostile-senders-cost-the-healthy-viewer-no-frame-and-leak-no-fds-or-memory",
                  test_hostile_senders_cost_the_healthy_viewer_no_frame_and_leak_no_fds_or_memory);
  g_test_add_func("/faults/hostile-viewers-cost-the-healthy-viewer-no-frame-and-leak-no-fds-or-memory",
                  test_hostile_viewers_cost_the_healthy_viewer_no_frame_and_leak_no_fds_or_memory);
  g_test_add_func("/faults/state-changes-under-traffic-succeed-and-leak-no-fds",
                  test_state_changes_under_traffic_succeed_and_leak_no_fds);
  g_test_add_func("/faults/established-tls-connections-cost-the-relay-kilobytes-each-not-megabytes",
                  test_established_tls_connections_cost_the_relay_kilobytes_each_not_megabytes);
  g_test_add_func("/faults/stalled-tls-handshakes-hold-up-a-new-viewer-at-most-until-their-deadline",
                  test_stalled_tls_handshakes_hold_up_a_new_viewer_at_most_until_their_deadline);
  g_test_add_func("/faults/pending-connections-are-capped-in-total-and-an-address-over-its-share-gives-way",
                  test_pending_connections_are_capped_in_total_and_an_address_over_its_share_gives_way);
  g_test_add_func("/faults/running-out-of-file-descriptors-neither-spins-the-server-nor-floods-the-log",
                  test_running_out_of_file_descriptors_neither_spins_the_server_nor_floods_the_log);
  g_test_add_func("/faults/refused-viewers-are-logged-once-then-counted-once-a-second",
                  test_refused_viewers_are_logged_once_then_counted_once_a_second);
  g_test_add_func("/faults/trickling-connections-neither-evict-nor-lock-out-a-camera-sending-every-2-5-s",
                  test_trickling_connections_neither_evict_nor_lock_out_a_camera_sending_every_2_5_s);
  g_test_add_func("/faults/partial-frames-are-held-within-max-pending-bytes",
                  test_partial_frames_are_held_within_max_pending_bytes);
  g_test_add_func("/faults/fd-exhaustion-neither-spins-the-ingest-nor-keeps-a-camera-out-once-fds-are-back",
                  test_fd_exhaustion_neither_spins_the_ingest_nor_keeps_a_camera_out_once_fds_are_back);
  g_test_add_func("/faults/tls-senders-cost-the-ingest-kilobytes-and-no-system-ca-store-each",
                  test_tls_senders_cost_the_ingest_kilobytes_and_no_system_ca_store_each);
  return g_test_run();
}
