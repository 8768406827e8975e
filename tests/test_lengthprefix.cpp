// lengthprefixsrc and lengthprefixsink over real TCP sockets on port 0.
#include <arpa/inet.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "testutil.h"

using testutil::Bytes;

namespace {

// lengthprefixsrc port=0 ! appsink, playing.
struct Ingest {
  GstElement *pipeline = nullptr;
  GstElement *src = nullptr;
  GstElement *sink = nullptr;
  int port = 0;

  explicit Ingest(const std::string &src_props = "") {
    pipeline = testutil::parse("lengthprefixsrc name=src port=0 " + src_props + " ! appsink name=out sync=false");
    src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    port = testutil::get_int(src, "current-port");
    g_assert_cmpint(port, >, 0);
  }
  ~Ingest() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  // The next frame, or an empty vector after `timeout_ms`.
  Bytes pull(int timeout_ms = 10000) {
    GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), gint64{timeout_ms} * GST_MSECOND);
    if (!s) return {};
    GstMapInfo map;
    GstBuffer *b = gst_sample_get_buffer(s);
    gst_buffer_map(b, &map, GST_MAP_READ);
    Bytes out(map.data, map.data + map.size);
    gst_buffer_unmap(b, &map);
    gst_sample_unref(s);
    return out;
  }
  guint senders() const { return testutil::get_uint(src, "num-senders"); }
};

// A payload that says who sent it and which one it is, and whose body is
// derived from both, so a mixed or cut frame can't pass for a whole one.
Bytes tagged(uint8_t sender, uint32_t seq, size_t size) {
  Bytes b = testutil::random_bytes(size, sender * 100003u + seq + 1);
  b[0] = 'T';
  b[1] = sender;
  std::memcpy(&b[2], &seq, 4);
  return b;
}

void test_seed_sender_frames_arrive_bit_exact() {
  Ingest in;
  std::vector<Bytes> frames = testutil::jpeg_frames(10);
  int fd = testutil::tcp_connect(in.port);
  // As the seed's sender: send(pack('>Q', n)) then sendall(payload).
  for (const Bytes &f : frames) {
    Bytes len = testutil::be64(f.size());
    g_assert_cmpint(send(fd, len.data(), 8, 0), ==, 8);
    g_assert_true(testutil::send_all(fd, f.data(), f.size()));
  }
  for (const Bytes &f : frames) g_assert_true(in.pull() == f);
  close(fd);
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-received"), ==, 10);
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-dropped"), ==, 0);
}

void test_thousand_frames_arrive_bit_exact_in_order() {
  Ingest in;
  int fd = testutil::tcp_connect(in.port);
  std::thread sender([&] {
    for (uint32_t i = 0; i < 1000; i++) g_assert_true(testutil::send_frame(fd, tagged(1, i, 100 + i * 13 % 20000)));
  });
  for (uint32_t i = 0; i < 1000; i++) g_assert_true(in.pull() == tagged(1, i, 100 + i * 13 % 20000));
  sender.join();
  close(fd);
}

void test_buffers_carry_arrival_running_time_and_the_first_is_discont() {
  Ingest in;
  int fd = testutil::tcp_connect(in.port);
  g_assert_true(testutil::send_frame(fd, tagged(1, 0, 10)));
  GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(in.sink), 10 * GST_SECOND);
  g_assert_nonnull(s);
  GstBuffer *b = gst_sample_get_buffer(s);
  g_assert_true(GST_BUFFER_PTS_IS_VALID(b));
  g_assert_true(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DISCONT));
  GstClock *clock = gst_element_get_clock(in.pipeline);
  GstClockTime now = gst_clock_get_time(clock) - gst_element_get_base_time(in.pipeline);
  g_assert_cmpuint(GST_BUFFER_PTS(b), <=, now);
  gst_object_unref(clock);
  gst_sample_unref(s);
  close(fd);
}

void test_three_concurrent_senders_frames_whole_and_unmixed() {
  Ingest in;
  constexpr int kSenders = 3, kFrames = 300;
  std::vector<std::thread> threads;
  for (int s = 0; s < kSenders; s++) {
    threads.emplace_back([&, s] {
      int fd = testutil::tcp_connect(in.port);
      // Different sizes per sender (1 KB to 300 KB) so reads interleave.
      for (uint32_t i = 0; i < kFrames; i++)
        g_assert_true(testutil::send_frame(fd, tagged(s, i, 1000 + (s * 100000 + i * 997) % 300000)));
      close(fd);
    });
  }
  uint32_t next[kSenders] = {0, 0, 0};
  for (int n = 0; n < kSenders * kFrames; n++) {
    Bytes f = in.pull();
    g_assert_cmpuint(f.size(), >=, 6);
    int s = f[1];
    g_assert_cmpint(s, <, kSenders);
    uint32_t seq = next[s]++;
    g_assert_true(f == tagged(s, seq, 1000 + (s * 100000 + seq * 997) % 300000));
  }
  for (auto &t : threads) t.join();
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-dropped"), ==, 0);
}

void test_slow_sender_does_not_stall_others() {
  Ingest in;
  // One sender stops half-way through a frame and stays connected.
  int slow = testutil::tcp_connect(in.port);
  Bytes header = testutil::be64(1000);
  g_assert_true(testutil::send_all(slow, header.data(), 8));
  g_assert_true(testutil::send_all(slow, "half", 4));
  int fast = testutil::tcp_connect(in.port);
  for (uint32_t i = 0; i < 50; i++) g_assert_true(testutil::send_frame(fast, tagged(2, i, 5000)));
  for (uint32_t i = 0; i < 50; i++) g_assert_true(in.pull() == tagged(2, i, 5000));
  close(fast);
  close(slow);
}

struct BusWatch {
  std::vector<std::string> warnings;
  void drain(GstElement *pipeline) {
    GstBus *bus = gst_element_get_bus(pipeline);
    while (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING)) {
      GError *err = nullptr;
      gst_message_parse_warning(m, &err, nullptr);
      warnings.push_back(err->message);
      g_error_free(err);
      gst_message_unref(m);
    }
    gst_object_unref(bus);
  }
  bool saw(const std::string &needle) const {
    for (const auto &w : warnings)
      if (w.find(needle) != std::string::npos) return true;
    return false;
  }
};

void test_hostile_senders_lose_only_their_own_frames_and_are_named_in_warnings() {
  Ingest in("max-frame-size=1048576");
  int during = testutil::tcp_connect(in.port);
  uint32_t during_sent = 0;
  auto good_frame = [&] {
    g_assert_true(testutil::send_frame(during, tagged(1, during_sent, 3000 + during_sent)));
    during_sent++;
  };
  good_frame();

  // Half a frame, then gone.
  int fd = testutil::tcp_connect(in.port);
  Bytes half = testutil::be64(5000);
  Bytes body = testutil::random_bytes(2500, 7);
  half.insert(half.end(), body.begin(), body.end());
  g_assert_true(testutil::send_all(fd, half.data(), half.size()));
  close(fd);
  good_frame();

  // Half a header.
  fd = testutil::tcp_connect(in.port);
  g_assert_true(testutil::send_all(fd, "\0\0\0", 3));
  close(fd);

  // An absurd length: 1 TiB.
  fd = testutil::tcp_connect(in.port);
  Bytes absurd = testutil::be64(uint64_t{1} << 40);
  g_assert_true(testutil::send_all(fd, absurd.data(), 8));
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(in.src, "frames-dropped") >= 3; }));
  close(fd);
  good_frame();

  // Random bytes.
  fd = testutil::tcp_connect(in.port);
  Bytes junk = testutil::random_bytes(65536, 99);
  testutil::send_all(fd, junk.data(), junk.size());  // may fail: the source hangs up
  close(fd);

  // Zero-length frames between good ones are skipped.
  fd = testutil::tcp_connect(in.port);
  Bytes zero = testutil::be64(0);
  for (int i = 0; i < 5; i++) g_assert_true(testutil::send_all(fd, zero.data(), 8));
  close(fd);
  good_frame();

  int after = testutil::tcp_connect(in.port);
  for (uint32_t i = 0; i < 20; i++) g_assert_true(testutil::send_frame(after, tagged(2, i, 4000)));

  uint32_t got_during = 0, got_after = 0;
  while (got_during < during_sent || got_after < 20) {
    Bytes f = in.pull();
    g_assert_cmpuint(f.size(), >, 0);
    if (f[1] == 1) {
      g_assert_true(f == tagged(1, got_during, 3000 + got_during));
      got_during++;
    } else {
      g_assert_true(f == tagged(2, got_after, 4000));
      got_after++;
    }
  }
  g_assert_true(testutil::wait_until([&] {
    GstStructure *st = nullptr;
    g_object_get(in.src, "stats", &st, nullptr);
    guint64 empty = 0;
    gst_structure_get_uint64(st, "frames-empty", &empty);
    gst_structure_free(st);
    return empty == 5;
  }));
  // Half frame, half header, oversized, random: four frames lost, and no
  // stray frame was passed on.
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-dropped"), ==, 4);
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-received"), ==, during_sent + 20);
  BusWatch bus;
  bus.drain(in.pipeline);
  g_assert_true(bus.saw("announced a frame of 1099511627776 bytes"));
  g_assert_true(bus.saw("127.0.0.1:"));
  close(during);
  close(after);
}

void test_sender_added_and_removed_are_signalled_with_the_reason() {
  Ingest in;
  struct Seen {
    std::atomic<int> added{0}, removed{0};
    std::string reason;
  } seen;
  g_signal_connect(in.src, "sender-added", G_CALLBACK(+[](GstElement *, const char *addr, Seen *s) {
                     g_assert_true(g_str_has_prefix(addr, "127.0.0.1:"));
                     s->added++;
                   }),
                   &seen);
  g_signal_connect(in.src, "sender-removed", G_CALLBACK(+[](GstElement *, const char *, const char *reason, Seen *s) {
                     s->reason = reason;
                     s->removed++;
                   }),
                   &seen);
  int fd = testutil::tcp_connect(in.port);
  g_assert_true(testutil::wait_until([&] { return seen.added == 1 && in.senders() == 1; }));
  Bytes header = testutil::be64(10);
  testutil::send_all(fd, header.data(), 8);
  close(fd);
  g_assert_true(testutil::wait_until([&] { return seen.removed == 1; }));
  g_assert_cmpstr(seen.reason.c_str(), ==, "closed-mid-frame");
  g_assert_cmpuint(in.senders(), ==, 0);
}

void test_max_senders_refuses_extra_connections() {
  Ingest in("max-senders=2");
  int a = testutil::tcp_connect(in.port), b = testutil::tcp_connect(in.port);
  g_assert_true(testutil::wait_until([&] { return in.senders() == 2; }));
  int c = testutil::tcp_connect(in.port);
  char byte;
  g_assert_cmpint(recv(c, &byte, 1, 0), ==, 0);  // refused: closed by the source
  g_assert_true(testutil::send_frame(a, tagged(1, 0, 100)));
  g_assert_true(in.pull() == tagged(1, 0, 100));
  close(a);
  close(b);
  close(c);
}

void test_silent_senders_cannot_lock_out_a_camera() {
  Ingest in("max-senders=3");
  // Connections that never send fill every slot.
  int silent[3];
  for (int &fd : silent) fd = testutil::tcp_connect(in.port);
  g_assert_true(testutil::wait_until([&] { return in.senders() == 3; }));
  // A camera keeps trying, as lengthprefixsink does, until it replaces one.
  Bytes got;
  int camera = -1;
  g_assert_true(testutil::wait_until([&] {
    if (camera >= 0) close(camera);
    camera = testutil::tcp_connect(in.port);
    testutil::send_frame(camera, tagged(5, 0, 1000));
    got = in.pull(300);
    return !got.empty();
  }));
  g_assert_true(got == tagged(5, 0, 1000));
  for (uint32_t i = 1; i < 20; i++) g_assert_true(testutil::send_frame(camera, tagged(5, i, 1000)));
  for (uint32_t i = 1; i < 20; i++) g_assert_true(in.pull() == tagged(5, i, 1000));
  close(camera);
  for (int fd : silent) close(fd);
}

// --- who may send, and what strangers cannot do ---

// A connection to 127.0.0.1:port from `source` (any 127/8 address: loopback
// takes them all), so that tests can be several hosts.
int connect_from(int port, const char *source) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint(fd, >=, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  g_assert_cmpint(inet_pton(AF_INET, source, &a.sin_addr), ==, 1);
  g_assert_cmpint(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), ==, 0);
  a.sin_port = htons(port);
  g_assert_cmpint(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), ==, 1);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
    g_error("connect from %s to 127.0.0.1:%d: %s", source, port, g_strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// True when the peer closed `fd` (recv returns 0 or an error) within `timeout_ms`.
bool closed_by_peer(int fd, int timeout_ms = 10000) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte;
  ssize_t n = recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

guint64 stat_u64(GstElement *src, const char *field) {
  GstStructure *st = nullptr;
  g_object_get(src, "stats", &st, nullptr);
  guint64 v = 0;
  const gboolean found = gst_structure_get_uint64(st, field, &v);
  gst_structure_free(st);
  if (!found) g_error("stats have no %s", field);
  return v;
}

void test_per_address_limit_refuses_extra_senders_from_one_address_only() {
  Ingest in("max-senders-per-address=2");
  int a1 = connect_from(in.port, "127.0.0.2"), a2 = connect_from(in.port, "127.0.0.2");
  g_assert_true(testutil::wait_until([&] { return in.senders() == 2; }));
  int a3 = connect_from(in.port, "127.0.0.2");
  g_assert_true(closed_by_peer(a3));  // a third from 127.0.0.2: refused, closed at once
  g_assert_cmpuint(stat_u64(in.src, "senders-refused-per-address"), ==, 1);
  // Another address still gets in, and both addresses' frames flow.
  int b1 = connect_from(in.port, "127.0.0.3");
  g_assert_true(testutil::wait_until([&] { return in.senders() == 3; }));
  g_assert_true(testutil::send_frame(b1, tagged(3, 0, 500)));
  g_assert_true(in.pull() == tagged(3, 0, 500));
  g_assert_true(testutil::send_frame(a1, tagged(2, 0, 500)));
  g_assert_true(in.pull() == tagged(2, 0, 500));
  // A slot freed by one of 127.0.0.2's senders is open to it again.
  close(a2);
  g_assert_true(testutil::wait_until([&] { return in.senders() == 2; }));
  int a4 = connect_from(in.port, "127.0.0.2");
  g_assert_true(testutil::wait_until([&] { return in.senders() == 3; }));
  g_assert_cmpuint(stat_u64(in.src, "senders-refused"), ==, 1);
  for (int fd : {a1, a3, a4, b1}) close(fd);
}

void test_allowed_senders_admit_listed_addresses_and_networks_and_close_others_at_once() {
  Ingest in("allowed-senders=\"127.0.0.2, 127.0.1.0/24, ::1\"");
  struct Seen {
    std::atomic<int> added{0};
  } seen;
  g_signal_connect(in.src, "sender-added",
                   G_CALLBACK(+[](GstElement *, const char *, Seen *s) { s->added++; }), &seen);
  int stranger = testutil::tcp_connect(in.port);  // from 127.0.0.1: not listed
  g_assert_true(closed_by_peer(stranger));
  int listed = connect_from(in.port, "127.0.0.2");
  int in_network = connect_from(in.port, "127.0.1.9");
  int outside = connect_from(in.port, "127.0.2.9");
  g_assert_true(closed_by_peer(outside));
  g_assert_true(testutil::send_frame(listed, tagged(1, 0, 300)));
  g_assert_true(in.pull() == tagged(1, 0, 300));
  g_assert_true(testutil::send_frame(in_network, tagged(2, 0, 300)));
  g_assert_true(in.pull() == tagged(2, 0, 300));
  g_assert_cmpint(seen.added.load(), ==, 2);  // refused connections never became senders
  g_assert_cmpuint(stat_u64(in.src, "senders-refused-not-allowed"), ==, 2);
  g_assert_cmpuint(stat_u64(in.src, "senders-refused"), ==, 2);
  for (int fd : {stranger, listed, in_network, outside}) close(fd);
}

void test_a_bad_allowed_senders_entry_fails_the_state_change_naming_it() {
  GstElement *pipeline = testutil::parse("lengthprefixsrc port=0 allowed-senders=\"10.0.0.0/8,cameras.lan\" ! fakesink");
  const std::string error = testutil::state_change_error(pipeline, GST_STATE_READY, GST_RESOURCE_ERROR);
  g_assert_true(error.find("\"cameras.lan\"") != std::string::npos);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}

void test_frame_timeout_drops_senders_that_begin_a_frame_and_stall_but_not_idle_ones() {
  Ingest in("frame-timeout=1");
  struct Seen {
    std::atomic<int> timed_out{0};
  } seen;
  g_signal_connect(in.src, "sender-removed", G_CALLBACK(+[](GstElement *, const char *, const char *reason, Seen *s) {
                     if (g_str_equal(reason, "timed-out")) s->timed_out++;
                   }),
                   &seen);
  // An idle sender (between frames) and a healthy one stay; a sender stuck
  // in a header, one stuck in a payload and one trickling a payload go.
  int idle = testutil::tcp_connect(in.port);
  int healthy = testutil::tcp_connect(in.port);
  g_assert_true(testutil::send_frame(idle, tagged(1, 0, 100)));
  g_assert_true(in.pull() == tagged(1, 0, 100));
  int in_header = testutil::tcp_connect(in.port);
  Bytes header = testutil::be64(5000);
  g_assert_true(testutil::send_all(in_header, header.data(), 3));
  int in_payload = testutil::tcp_connect(in.port);
  g_assert_true(testutil::send_all(in_payload, header.data(), 8));
  g_assert_true(testutil::send_all(in_payload, "some", 4));
  int trickle = testutil::tcp_connect(in.port);
  g_assert_true(testutil::send_all(trickle, header.data(), 8));
  uint32_t sent = 0;
  const gint64 give_up = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  // Until the three are gone: the healthy sender sends a frame and the
  // trickler a byte every 100 ms.
  while (seen.timed_out < 3 && g_get_monotonic_time() < give_up) {
    g_assert_true(testutil::send_frame(healthy, tagged(2, sent, 2000)));
    g_assert_true(in.pull() == tagged(2, sent, 2000));
    sent++;
    send(trickle, "x", 1, MSG_NOSIGNAL);
    g_usleep(100 * 1000);  // the trickler's pace, not a wait for the element
  }
  g_assert_cmpint(seen.timed_out.load(), ==, 3);
  for (int fd : {in_header, in_payload, trickle}) g_assert_true(closed_by_peer(fd));
  g_assert_cmpuint(stat_u64(in.src, "senders-timed-out"), ==, 3);
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-dropped"), ==, 3);
  // The idle sender has been idle longer than frame-timeout and is still in.
  g_assert_cmpuint(in.senders(), ==, 2);
  g_assert_true(testutil::send_frame(idle, tagged(1, 1, 100)));
  g_assert_true(in.pull() == tagged(1, 1, 100));
  for (int fd : {idle, healthy, in_header, in_payload, trickle}) close(fd);
}

BusWatch watch_warnings_until(GstElement *pipeline, const std::function<bool(const BusWatch &)> &done) {
  BusWatch bus;
  testutil::wait_until([&] {
    bus.drain(pipeline);
    return done(bus);
  });
  return bus;
}

// The senders a set of warnings speaks of: one per "Refused sender" (or
// "Sender ... disconnecting") line, N per "N more ..." summary.
guint64 warned_count(const BusWatch &bus, const char *single, const char *summary) {
  guint64 n = 0;
  for (const std::string &w : bus.warnings) {
    if (w.rfind(single, 0) == 0) n++;
    const size_t more = w.find(" more ");
    if (more != std::string::npos && w.find(summary) != std::string::npos) n += std::stoull(w.substr(0, more));
  }
  return n;
}

void test_a_flood_of_refused_senders_gives_a_handful_of_warnings_and_counts_every_one() {
  constexpr int kFlood = 500;
  Ingest in("max-senders=1 max-senders-per-address=0");
  int holder = testutil::tcp_connect(in.port);  // takes the only slot, within its grace period
  g_assert_true(testutil::wait_until([&] { return in.senders() == 1; }));
  for (int i = 0; i < kFlood; i++) {
    int fd = testutil::tcp_connect(in.port);
    g_assert_true(closed_by_peer(fd));
    close(fd);
  }
  g_assert_cmpuint(stat_u64(in.src, "senders-refused"), ==, kFlood);
  g_assert_cmpuint(stat_u64(in.src, "senders-refused-full"), ==, kFlood);
  // The first refusal is named; the rest are summed up within a second.
  BusWatch bus = watch_warnings_until(in.pipeline, [&](const BusWatch &b) {
    return warned_count(b, "Refused sender", "max-senders were connected") == kFlood;
  });
  for (const std::string &w : bus.warnings) g_test_message("warning: %s", w.c_str());
  g_assert_cmpuint(warned_count(bus, "Refused sender", "max-senders were connected"), ==, kFlood);
  g_assert_cmpuint(bus.warnings.size(), <=, 5);
  g_assert_true(bus.saw("Refused sender 127.0.0.1:"));
  close(holder);
}

void test_a_flood_of_oversized_frames_gives_a_handful_of_warnings_and_drops_each_one() {
  constexpr int kFlood = 200;
  Ingest in("max-frame-size=1000 max-senders-per-address=0");
  Bytes absurd = testutil::be64(uint64_t{1} << 40);
  for (int i = 0; i < kFlood; i++) {
    int fd = testutil::tcp_connect(in.port);
    g_assert_true(testutil::send_all(fd, absurd.data(), 8));
    g_assert_true(closed_by_peer(fd));
    close(fd);
  }
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(in.src, "frames-dropped") == kFlood; }));
  BusWatch bus = watch_warnings_until(in.pipeline, [&](const BusWatch &b) {
    return warned_count(b, "Sender ", "above max-frame-size") == kFlood;
  });
  g_assert_cmpuint(warned_count(bus, "Sender ", "above max-frame-size"), ==, kFlood);
  g_assert_cmpuint(bus.warnings.size(), <=, 5);
  g_assert_true(bus.saw("announced a frame of 1099511627776 bytes"));
}

// --- TLS on the ingest ---

// lengthprefixsrc's properties for TLS with client certificates signed by pki.ca.
std::string tls_src_props(const testutil::Pki &pki) {
  return "tls-certificate=" + pki.server_cert + " tls-key=" + pki.server_key + " tls-ca-file=" + pki.ca;
}
// lengthprefixsink's properties for a camera presenting `cert` and trusting pki.ca.
std::string tls_sink_props(const testutil::Pki &pki, const std::string &cert, const std::string &key) {
  return "tls-ca-file=" + pki.ca + " tls-certificate=" + cert + " tls-key=" + key;
}

// appsrc ! lengthprefixsink over TLS to 127.0.0.1:port, with `sink_props`
// (tls-ca-file, tls-certificate, tls-key).
struct TlsCamera {
  GstElement *pipeline, *appsrc, *sink;
  TlsCamera(int port, const std::string &sink_props) {
    pipeline = testutil::parse("appsrc name=in format=time ! lengthprefixsink name=sink host=127.0.0.1 sync=false "
                               "max-reconnect-interval=100 " +
                               sink_props + " port=" + std::to_string(port));
    appsrc = gst_bin_get_by_name(GST_BIN(pipeline), "in");
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    // Not waited for: the sink prerolls on the first frame pushed.
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  }
  ~TlsCamera() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(appsrc);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  void push(const Bytes &frame) {
    g_assert_cmpint(gst_app_src_push_buffer(GST_APP_SRC(appsrc), gst_buffer_new_memdup(frame.data(), frame.size())),
                    ==, GST_FLOW_OK);
  }
};

// Sizes around TLS records (16 KiB) and the source's first allocation for a
// frame (1 MiB, then doubling); tagged() needs 6 bytes at least.
size_t tls_frame_size(uint32_t i) {
  static const size_t sizes[] = {6, 100, 16383, 16384, 16385, 70000, 1048576, 1048577, 3000000, 5000};
  return sizes[i % G_N_ELEMENTS(sizes)];
}

void test_tls_with_client_certificates_round_trips_bit_exact() {
  testutil::TempDir dir;
  testutil::Pki pki;
  g_assert_true(testutil::make_pki(dir.path, pki));  // openssl, which setup.sh installs
  Ingest in(tls_src_props(pki));
  TlsCamera camera(in.port, tls_sink_props(pki, pki.camera_cert, pki.camera_key));
  for (uint32_t i = 0; i < 30; i++) camera.push(tagged(7, i, tls_frame_size(i)));
  for (uint32_t i = 0; i < 30; i++) g_assert_true(in.pull() == tagged(7, i, tls_frame_size(i)));
  g_assert_cmpuint(in.senders(), ==, 1);
  g_assert_cmpuint(stat_u64(in.src, "senders-refused"), ==, 0);
  g_assert_cmpuint(testutil::get_u64(camera.sink, "frames-sent"), ==, 30);
  g_assert_cmpuint(testutil::get_u64(camera.sink, "frames-dropped"), ==, 0);
}

// Pushes frames until `done` or 10 s pass.
bool push_until(TlsCamera &camera, const std::function<bool()> &done) {
  uint32_t i = 0;
  return testutil::wait_until([&] {
    camera.push(tagged(9, i++, 100));
    return done();
  });
}

void test_tls_refuses_clients_without_a_certificate_or_with_one_from_another_ca() {
  testutil::TempDir dir;
  testutil::Pki pki;
  g_assert_true(testutil::make_pki(dir.path, pki));  // openssl, which setup.sh installs
  Ingest in(tls_src_props(pki));
  std::atomic<int> added{0};
  g_signal_connect(in.src, "sender-added",
                   G_CALLBACK(+[](GstElement *, const char *, std::atomic<int> *n) { (*n)++; }), &added);
  {
    TlsCamera anonymous(in.port, "tls-ca-file=" + pki.ca);
    g_assert_true(push_until(anonymous, [&] { return stat_u64(in.src, "senders-refused-tls") >= 1; }));
  }
  {
    TlsCamera stranger(in.port, tls_sink_props(pki, pki.stranger_cert, pki.stranger_key));
    g_assert_true(push_until(stranger, [&] { return stat_u64(in.src, "senders-refused-tls") >= 2; }));
  }
  {
    // A plain TCP sender speaking the original protocol to a TLS ingest.
    int plain = testutil::tcp_connect(in.port);
    testutil::send_frame(plain, tagged(1, 0, 100));
    g_assert_true(closed_by_peer(plain));
    close(plain);
    g_assert_true(testutil::wait_until([&] { return stat_u64(in.src, "senders-refused-tls") >= 3; }));
  }
  g_assert_cmpint(added.load(), ==, 0);
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-received"), ==, 0);
  BusWatch bus;
  bus.drain(in.pipeline);
  g_assert_true(bus.saw("TLS handshake failed"));
}

void test_tls_sink_refuses_a_server_whose_certificate_another_ca_signed() {
  testutil::TempDir dir;
  testutil::Pki pki;
  g_assert_true(testutil::make_pki(dir.path, pki));  // openssl, which setup.sh installs
  Ingest in(tls_src_props(pki));
  TlsCamera camera(in.port, "tls-ca-file=" + pki.other_ca + " tls-certificate=" + pki.camera_cert + " tls-key=" +
                                pki.camera_key);
  for (uint32_t i = 0; i < 5; i++) camera.push(tagged(1, i, 100));
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(camera.sink, "frames-dropped") == 5; }));
  g_assert_cmpuint(testutil::get_u64(camera.sink, "frames-sent"), ==, 0);
  GstMessage *m = gst_bus_pop_filtered(GST_ELEMENT_BUS(camera.pipeline), GST_MESSAGE_WARNING);
  g_assert_nonnull(m);
  GError *err = nullptr;
  gst_message_parse_warning(m, &err, nullptr);
  g_test_message("sink: %s", err->message);
  g_assert_true(g_str_has_prefix(err->message, "TLS with 127.0.0.1:"));
  g_error_free(err);
  gst_message_unref(m);
  g_assert_cmpuint(testutil::get_u64(in.src, "frames-received"), ==, 0);
}

void test_stalled_tls_clients_do_not_delay_a_camera() {
  testutil::TempDir dir;
  testutil::Pki pki;
  g_assert_true(testutil::make_pki(dir.path, pki));  // openssl, which setup.sh installs
  Ingest in(tls_src_props(pki));
  // One connects and sends nothing; one sends the start of a ClientHello
  // (a handshake record announcing 512 bytes, 10 of them) and stops.
  int silent = testutil::tcp_connect(in.port);
  int half_hello = testutil::tcp_connect(in.port);
  const uint8_t record[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0};
  g_assert_true(testutil::send_all(half_hello, record, sizeof record));
  TlsCamera camera(in.port, tls_sink_props(pki, pki.camera_cert, pki.camera_key));
  for (uint32_t i = 0; i < 20; i++) camera.push(tagged(4, i, 3000));
  for (uint32_t i = 0; i < 20; i++) g_assert_true(in.pull() == tagged(4, i, 3000));
  // The camera got through while both stalled clients were still waiting:
  // it did not wait for their handshake deadline.
  g_assert_cmpuint(stat_u64(in.src, "senders-refused-tls"), ==, 0);
  // Which then ends them.
  g_assert_true(closed_by_peer(silent));
  g_assert_true(closed_by_peer(half_hello));
  g_assert_true(testutil::wait_until([&] { return stat_u64(in.src, "senders-refused-tls") == 2; }));
  g_assert_cmpuint(in.senders(), ==, 1);
  close(silent);
  close(half_hello);
}

void test_a_tls_client_that_hangs_up_mid_hello_is_closed_at_once() {
  testutil::TempDir dir;
  testutil::Pki pki;
  g_assert_true(testutil::make_pki(dir.path, pki));  // openssl, which setup.sh installs
  Ingest in(tls_src_props(pki));
  int fd = testutil::tcp_connect(in.port);
  const uint8_t record[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
  g_assert_true(testutil::send_all(fd, record, sizeof record));
  shutdown(fd, SHUT_WR);
  const gint64 t0 = g_get_monotonic_time();
  g_assert_true(closed_by_peer(fd));
  // Not left to its 5 s handshake deadline (the socket stays readable meanwhile).
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpuint(stat_u64(in.src, "senders-refused-tls"), ==, 1);
  close(fd);
}

void test_tls_files_that_cannot_be_loaded_fail_the_state_change_naming_them() {
  GstElement *pipeline = testutil::parse("lengthprefixsrc port=0 tls-certificate=/nonexistent/cert.pem ! fakesink");
  std::string error = testutil::state_change_error(pipeline, GST_STATE_READY, GST_RESOURCE_ERROR);
  g_assert_true(error.find("tls-certificate /nonexistent/cert.pem") != std::string::npos);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  testutil::TempDir dir;
  std::string cert, key;
  if (!testutil::make_certificate(dir.path, cert, key)) return;
  pipeline = testutil::parse("lengthprefixsrc port=0 tls-key=" + key + " ! fakesink");
  error = testutil::state_change_error(pipeline, GST_STATE_READY, GST_RESOURCE_ERROR);
  g_assert_true(error.find("without tls-certificate") != std::string::npos);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}

void test_listens_from_ready_notifies_current_port_and_resets_it_in_null() {
  GstElement *src = gst_element_factory_make("lengthprefixsrc", nullptr);
  g_object_set(src, "port", 0, nullptr);
  std::atomic<int> notified{0};
  g_signal_connect(src, "notify::current-port",
                   G_CALLBACK(+[](GObject *, GParamSpec *, std::atomic<int> *n) { (*n)++; }), &notified);
  g_assert_cmpint(gst_element_set_state(src, GST_STATE_READY), ==, GST_STATE_CHANGE_SUCCESS);
  int port = 0;
  g_object_get(src, "current-port", &port, nullptr);
  g_assert_cmpint(port, >, 0);
  g_assert_cmpint(notified.load(), ==, 1);
  int fd = testutil::tcp_connect(port);  // accepted by the kernel backlog already
  close(fd);
  gst_element_set_state(src, GST_STATE_NULL);
  g_object_get(src, "current-port", &port, nullptr);
  g_assert_cmpint(port, ==, 0);
  gst_object_unref(src);
}

void test_port_in_use_fails_with_error_naming_it() {
  Ingest first;
  GstElement *pipeline =
      testutil::parse("lengthprefixsrc name=src host=127.0.0.1 port=" + std::to_string(first.port) + " ! fakesink");
  const std::string error = testutil::state_change_error(pipeline, GST_STATE_PLAYING, GST_RESOURCE_ERROR);
  g_assert_true(error.find("port " + std::to_string(first.port)) != std::string::npos);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}

void test_null_returns_promptly_while_waiting_for_data() {
  Ingest in;
  int fd = testutil::tcp_connect(in.port);  // connected, silent
  g_assert_true(testutil::wait_until([&] { return in.senders() == 1; }));
  gint64 t0 = g_get_monotonic_time();
  g_assert_cmpint(gst_element_set_state(in.pipeline, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
  close(fd);
}

void test_state_cycling_with_senders_leaks_no_fds() {
  GstElement *pipeline = testutil::parse("lengthprefixsrc name=src port=0 ! fakesink sync=false");
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  int baseline = testutil::open_fds();
  for (int cycle = 0; cycle < 30; cycle++) {
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    int port = 0;
    g_object_get(src, "current-port", &port, nullptr);
    guint64 before = testutil::get_u64(src, "frames-received");
    int fds[3];
    for (int &fd : fds) {
      fd = testutil::tcp_connect(port);
      g_assert_true(testutil::send_frame(fd, tagged(0, cycle, 20000)));
    }
    // Leave one sender mid-frame, to be cut by the state change.
    Bytes header = testutil::be64(100);
    testutil::send_all(fds[0], header.data(), 8);
    g_assert_true(testutil::wait_until([&] { return testutil::get_u64(src, "frames-received") == before + 3; }));
    if (cycle % 2) {
      g_assert_cmpint(testutil::set_state_sync(pipeline, GST_STATE_PAUSED), !=, GST_STATE_CHANGE_FAILURE);
      g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    }
    g_assert_cmpint(gst_element_set_state(pipeline, cycle % 3 ? GST_STATE_NULL : GST_STATE_READY), ==,
                    GST_STATE_CHANGE_SUCCESS);
    for (int fd : fds) close(fd);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  g_assert_cmpint(testutil::open_fds(), ==, baseline);
  gst_object_unref(src);
  gst_object_unref(pipeline);
}

// appsrc ! lengthprefixsink, for pushing buffers one by one.
struct Camera {
  GstElement *pipeline, *appsrc, *sink;
  explicit Camera(int port) {
    pipeline = testutil::parse(
        "appsrc name=in format=time ! lengthprefixsink name=sink host=127.0.0.1 sync=false "
        "max-reconnect-interval=100 port=" +
        std::to_string(port));
    appsrc = gst_bin_get_by_name(GST_BIN(pipeline), "in");
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    g_assert_cmpint(testutil::set_state_sync(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  }
  ~Camera() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(appsrc);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  void push(const Bytes &frame) {
    GstBuffer *b = gst_buffer_new_memdup(frame.data(), frame.size());
    g_assert_cmpint(gst_app_src_push_buffer(GST_APP_SRC(appsrc), b), ==, GST_FLOW_OK);
  }
};

void test_sink_jpegenc_frames_arrive_bit_exact_and_are_counted_sent() {
  Ingest in;
  std::string desc =
      "videotestsrc num-buffers=60 pattern=smpte ! video/x-raw,width=640,height=480 ! jpegenc ! "
      "tee name=t ! queue ! lengthprefixsink name=out host=127.0.0.1 sync=false port=" +
      std::to_string(in.port) + " t. ! queue ! appsink name=ref sync=false";
  GstElement *camera = testutil::parse(desc);
  GstElement *ref = gst_bin_get_by_name(GST_BIN(camera), "ref");
  gst_element_set_state(camera, GST_STATE_PLAYING);
  for (int i = 0; i < 60; i++) {
    GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(ref), 10 * GST_SECOND);
    g_assert_nonnull(s);
    GstMapInfo map;
    gst_buffer_map(gst_sample_get_buffer(s), &map, GST_MAP_READ);
    Bytes expected(map.data, map.data + map.size);
    gst_buffer_unmap(gst_sample_get_buffer(s), &map);
    gst_sample_unref(s);
    Bytes got = in.pull();
    g_assert_cmpuint(got.size(), ==, expected.size());
    g_assert_true(got == expected);
    g_assert_cmpint(got[0], ==, 0xFF);
    g_assert_cmpint(got[1], ==, 0xD8);
  }
  GstMessage *eos = gst_bus_timed_pop_filtered(GST_ELEMENT_BUS(camera), 10 * GST_SECOND, GST_MESSAGE_EOS);
  g_assert_nonnull(eos);
  gst_message_unref(eos);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(camera), "out");
  g_assert_cmpuint(testutil::get_u64(sink, "frames-sent"), ==, 60);
  gst_object_unref(sink);
  gst_element_set_state(camera, GST_STATE_NULL);
  gst_object_unref(ref);
  gst_object_unref(camera);
}

void test_sink_drops_while_the_source_is_down_and_reconnects_without_partial_frames() {
  auto in = std::make_unique<Ingest>();
  int port = in->port;
  Camera cam(port);
  for (uint32_t i = 0; i < 10; i++) cam.push(tagged(1, i, 50000));
  for (uint32_t i = 0; i < 10; i++) g_assert_true(in->pull() == tagged(1, i, 50000));

  // The source goes away; frames pushed meanwhile are dropped, not queued.
  in.reset();
  for (uint32_t i = 10; i < 20; i++) cam.push(tagged(1, i, 50000));
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(cam.sink, "frames-dropped") > 0; }));

  // A new source on the same port: frames flow again, each one whole.
  in = std::make_unique<Ingest>("port=" + std::to_string(port));
  g_assert_cmpint(in->port, ==, port);
  uint32_t next = 20, received = 0;
  while (received < 10) {
    cam.push(tagged(1, next++, 50000));
    Bytes f = in->pull(100);
    if (f.empty()) {
      g_assert_cmpuint(next, <, 2000);
      continue;
    }
    uint32_t seq;
    std::memcpy(&seq, &f[2], 4);
    g_assert_cmpuint(seq, >=, 20);
    g_assert_true(f == tagged(1, seq, 50000));
    received++;
  }
  guint64 connections = testutil::get_u64(cam.sink, "connections");
  g_assert_cmpuint(connections, >=, 2);
  g_assert_cmpuint(testutil::get_u64(in->src, "frames-dropped"), ==, 0);
}

void test_sink_drops_frames_without_blocking_while_the_server_is_down() {
  // Nothing listens on this port: render() drops and returns.
  Ingest probe;
  int port = probe.port;
  gst_element_set_state(probe.pipeline, GST_STATE_NULL);
  Camera cam(port);
  gint64 t0 = g_get_monotonic_time();
  for (uint32_t i = 0; i < 100; i++) cam.push(tagged(1, i, 1000));
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(cam.sink, "frames-dropped") == 100; }));
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
  gboolean connected = TRUE;
  g_object_get(cam.sink, "connected", &connected, nullptr);
  g_assert_false(connected);
}

void test_multifilesink_gets_bit_exact_frames_of_three_cameras_amid_hostile_senders_then_eos() {
  testutil::TempDir dir;
  const std::string location = dir.path + "/frame-%05d.jpg";
  GstElement *pipeline = testutil::parse(
      "lengthprefixsrc name=src port=0 eos-after-last-sender=true ! multifilesink location=" + location);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  const int port = testutil::get_int(src, "current-port");

  // Three seed-style cameras at once, with hostile senders coming and going
  // between their frames; the good ones connect first, so that the stream
  // ends when they leave, not when the first hostile one does.
  constexpr int kCameras = 3, kFrames = 10;
  std::vector<Bytes> frames = testutil::jpeg_frames(kCameras * kFrames);
  int cameras[kCameras];
  for (int &fd : cameras) fd = testutil::tcp_connect(port);
  g_assert_true(testutil::wait_until([&] { return testutil::get_uint(src, "num-senders") == kCameras; }));
  std::vector<std::thread> threads;
  for (int c = 0; c < kCameras; c++) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < kFrames; i++) {
        const Bytes &f = frames[c * kFrames + i];
        Bytes len = testutil::be64(f.size());
        g_assert_cmpint(send(cameras[c], len.data(), 8, 0), ==, 8);
        g_assert_true(testutil::send_all(cameras[c], f.data(), f.size()));
      }
    });
  }
  for (int i = 0; i < 6; i++) {
    int bad = testutil::tcp_connect(port);
    Bytes junk = i % 3 == 0   ? testutil::be64(uint64_t{1} << 62)                     // absurd length
                 : i % 3 == 1 ? Bytes{0, 0, 0, 0, 0, 0, 0x10, 0, 'h', 'a', 'l', 'f'}  // half a frame
                              : testutil::random_bytes(3000, i);                      // random bytes
    testutil::send_all(bad, junk.data(), junk.size());
    close(bad);
  }
  for (auto &t : threads) t.join();
  for (int fd : cameras) close(fd);

  GstMessage *m = gst_bus_timed_pop_filtered(GST_ELEMENT_BUS(pipeline), 10 * GST_SECOND,
                                             static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  g_assert_nonnull(m);
  g_assert_cmpint(GST_MESSAGE_TYPE(m), ==, GST_MESSAGE_EOS);
  gst_message_unref(m);
  // Every file is one whole frame; each camera's frames are all there, in order.
  int next[kCameras] = {0, 0, 0};
  for (int i = 0; i < kCameras * kFrames; i++) {
    g_autofree gchar *path = g_strdup_printf(location.c_str(), i);
    gchar *contents = nullptr;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &contents, &len, nullptr));
    Bytes file(contents, contents + len);
    g_free(contents);
    int camera = -1;
    for (int c = 0; c < kCameras; c++)
      if (next[c] < kFrames && file == frames[c * kFrames + next[c]]) camera = c;
    g_assert_cmpint(camera, >=, 0);
    next[camera]++;
  }
  g_autofree gchar *extra = g_strdup_printf(location.c_str(), kCameras * kFrames);
  g_assert_false(g_file_test(extra, G_FILE_TEST_EXISTS));
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
}

void test_each_prefix_size_and_byte_order_round_trips_sink_to_src() {
  for (const char *opts :
       {"prefix-size=2", "prefix-size=4 byte-order=little-endian", "prefix-size=8 byte-order=little-endian"}) {
    Ingest in(opts);
    GstElement *p = testutil::parse("appsrc name=in format=time ! lengthprefixsink host=127.0.0.1 sync=false " +
                                    std::string(opts) + " port=" + std::to_string(in.port));
    GstElement *appsrc = gst_bin_get_by_name(GST_BIN(p), "in");
    gst_element_set_state(p, GST_STATE_PLAYING);
    for (uint32_t i = 0; i < 5; i++) {
      Bytes f = tagged(3, i, 300 + i * 1000);
      gst_app_src_push_buffer(GST_APP_SRC(appsrc), gst_buffer_new_memdup(f.data(), f.size()));
    }
    for (uint32_t i = 0; i < 5; i++) g_assert_true(in.pull() == tagged(3, i, 300 + i * 1000));
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(appsrc);
    gst_object_unref(p);
  }
}

}  // namespace

int main(int argc, char **argv) {
  testutil::init(&argc, &argv);
  g_test_add_func("/lengthprefixsrc/seed-sender-frames-arrive-bit-exact", test_seed_sender_frames_arrive_bit_exact);
  g_test_add_func("/lengthprefixsrc/thousand-frames-arrive-bit-exact-in-order",
                  test_thousand_frames_arrive_bit_exact_in_order);
  g_test_add_func("/lengthprefixsrc/buffers-carry-arrival-running-time-and-the-first-is-discont",
                  test_buffers_carry_arrival_running_time_and_the_first_is_discont);
  g_test_add_func("/lengthprefixsrc/three-concurrent-senders-frames-whole-and-unmixed",
                  test_three_concurrent_senders_frames_whole_and_unmixed);
  g_test_add_func("/lengthprefixsrc/slow-sender-does-not-stall-others", test_slow_sender_does_not_stall_others);
  g_test_add_func("/lengthprefixsrc/hostile-senders-lose-only-their-own-frames-and-are-named-in-warnings",
                  test_hostile_senders_lose_only_their_own_frames_and_are_named_in_warnings);
  g_test_add_func("/lengthprefixsrc/sender-added-and-removed-are-signalled-with-the-reason",
                  test_sender_added_and_removed_are_signalled_with_the_reason);
  g_test_add_func("/lengthprefixsrc/max-senders-refuses-extra-connections", test_max_senders_refuses_extra_connections);
  g_test_add_func("/lengthprefixsrc/silent-senders-cannot-lock-out-a-camera",
                  test_silent_senders_cannot_lock_out_a_camera);
  g_test_add_func("/lengthprefixsrc/listens-from-ready-notifies-current-port-and-resets-it-in-null",
                  test_listens_from_ready_notifies_current_port_and_resets_it_in_null);
  g_test_add_func("/lengthprefixsrc/port-in-use-fails-with-error-naming-it",
                  test_port_in_use_fails_with_error_naming_it);
  g_test_add_func("/lengthprefixsrc/null-returns-promptly-while-waiting-for-data",
                  test_null_returns_promptly_while_waiting_for_data);
  g_test_add_func("/lengthprefixsrc/state-cycling-with-senders-leaks-no-fds",
                  test_state_cycling_with_senders_leaks_no_fds);
  g_test_add_func("/lengthprefixsrc/multifilesink-gets-bit-exact-frames-of-three-cameras-amid-hostile-senders-then-eos",
                  test_multifilesink_gets_bit_exact_frames_of_three_cameras_amid_hostile_senders_then_eos);
  g_test_add_func("/lengthprefix/each-prefix-size-and-byte-order-round-trips-sink-to-src",
                  test_each_prefix_size_and_byte_order_round_trips_sink_to_src);
  g_test_add_func("/lengthprefixsink/jpegenc-frames-arrive-bit-exact-and-are-counted-sent",
                  test_sink_jpegenc_frames_arrive_bit_exact_and_are_counted_sent);
  g_test_add_func("/lengthprefixsink/drops-while-the-source-is-down-and-reconnects-without-partial-frames",
                  test_sink_drops_while_the_source_is_down_and_reconnects_without_partial_frames);
  g_test_add_func("/lengthprefixsink/drops-frames-without-blocking-while-the-server-is-down",
                  test_sink_drops_frames_without_blocking_while_the_server_is_down);
  g_test_add_func("/lengthprefixsrc/per-address-limit-refuses-extra-senders-from-one-address-only",
                  test_per_address_limit_refuses_extra_senders_from_one_address_only);
  g_test_add_func("/lengthprefixsrc/allowed-senders-admit-listed-addresses-and-networks-and-close-others-at-once",
                  test_allowed_senders_admit_listed_addresses_and_networks_and_close_others_at_once);
  g_test_add_func("/lengthprefixsrc/a-bad-allowed-senders-entry-fails-the-state-change-naming-it",
                  test_a_bad_allowed_senders_entry_fails_the_state_change_naming_it);
  g_test_add_func("/lengthprefixsrc/frame-timeout-drops-senders-that-begin-a-frame-and-stall-but-not-idle-ones",
                  test_frame_timeout_drops_senders_that_begin_a_frame_and_stall_but_not_idle_ones);
  g_test_add_func("/lengthprefixsrc/a-flood-of-refused-senders-gives-a-handful-of-warnings-and-counts-every-one",
                  test_a_flood_of_refused_senders_gives_a_handful_of_warnings_and_counts_every_one);
  g_test_add_func("/lengthprefixsrc/a-flood-of-oversized-frames-gives-a-handful-of-warnings-and-drops-each-one",
                  test_a_flood_of_oversized_frames_gives_a_handful_of_warnings_and_drops_each_one);
  g_test_add_func("/lengthprefix/tls-with-client-certificates-round-trips-bit-exact",
                  test_tls_with_client_certificates_round_trips_bit_exact);
  g_test_add_func("/lengthprefixsrc/tls-refuses-clients-without-a-certificate-or-with-one-from-another-ca",
                  test_tls_refuses_clients_without_a_certificate_or_with_one_from_another_ca);
  g_test_add_func("/lengthprefixsink/tls-refuses-a-server-whose-certificate-another-ca-signed",
                  test_tls_sink_refuses_a_server_whose_certificate_another_ca_signed);
  g_test_add_func("/lengthprefixsrc/stalled-tls-clients-do-not-delay-a-camera",
                  test_stalled_tls_clients_do_not_delay_a_camera);
  g_test_add_func("/lengthprefixsrc/a-tls-client-that-hangs-up-mid-hello-is-closed-at-once",
                  test_a_tls_client_that_hangs_up_mid_hello_is_closed_at_once);
  g_test_add_func("/lengthprefixsrc/tls-files-that-cannot-be-loaded-fail-the-state-change-naming-them",
                  test_tls_files_that_cannot_be_loaded_fail_the_state_change_naming_them);
  return g_test_run();
}
