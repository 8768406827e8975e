// natssink and natssrc against real nats-server processes on 127.0.0.1:
// single nodes and a 3-node cluster, each started with a configuration file in
// a temporary directory and killed at the end of its test.
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "natsframe.h"
#include "httpclient.h"
#include "testutil.h"

using testutil::Bytes;

namespace {

// Timeouts stretch under valgrind, which runs this process ~20x slower
// (nats-server itself runs natively).
int slow(int ms) { return RUNNING_ON_VALGRIND ? ms * 10 : ms; }

// A temporary directory, removed with its files.
struct TempDir {
  std::string path;
  TempDir() {
    g_autofree gchar *p = g_dir_make_tmp("imagestream-nats-XXXXXX", nullptr);
    g_assert_nonnull(p);
    path = p;
  }
  ~TempDir() {
    if (GDir *d = g_dir_open(path.c_str(), 0, nullptr)) {
      while (const char *name = g_dir_read_name(d)) g_remove((path + "/" + name).c_str());
      g_dir_close(d);
    }
    g_rmdir(path.c_str());
  }
  std::string file(const std::string &name) const { return path + "/" + name; }
  void write(const std::string &name, const std::string &text) const {
    g_assert_true(g_file_set_contents(file(name).c_str(), text.data(), text.size(), nullptr));
  }
};

std::string read_file(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The port in a nats-server log line "<what> on 127.0.0.1:<port>", or 0.
int logged_port(const std::string &log, const std::string &what) {
  size_t at = log.find(what + " on 127.0.0.1:");
  return at == std::string::npos ? 0 : atoi(log.c_str() + at + what.size() + strlen(" on 127.0.0.1:"));
}

// A port nothing listens on right now.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g_assert_cmpint(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), ==, 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// One nats-server process. `config` is added to a configuration that listens
// on 127.0.0.1 (on `port`, or one the server picks) with a monitoring port.
class NatsServer {
 public:
  NatsServer(const TempDir &dir, const std::string &name, const std::string &config, int port = -1)
      : log_(dir.file(name + ".log")) {
    g_autofree gchar *program = g_find_program_in_path("nats-server");
    if (!program) g_error("nats-server not found: scripts/setup.sh installs it (Debian package nats-server)");
    std::string conf = dir.file(name + ".conf");
    dir.write(name + ".conf", "listen: 127.0.0.1:" + std::to_string(port) +
                                  "\nhttp: 127.0.0.1:-1\nserver_name: " + name + "\n" + config + "\n");
    pid_ = fork();
    g_assert_cmpint(pid_, >=, 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // no server outlives an aborted test
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(program, "nats-server", "-c", conf.c_str(), static_cast<char *>(nullptr));
      _exit(127);
    }
    const bool clustered = config.find("cluster") != std::string::npos;
    std::string log;
    bool ready = testutil::wait_until(
        [&] {
          log = read_file(log_);
          return log.find("Server is ready") != std::string::npos &&
                 (!clustered || logged_port(log, "Listening for route connections"));
        },
        10000);
    if (!ready) g_error("nats-server %s did not start:\n%s", name.c_str(), log.c_str());
    port_ = logged_port(log, "Listening for client connections");
    cluster_port_ = logged_port(log, "Listening for route connections");
    http_port_ = logged_port(log, "Starting http monitor");
  }
  ~NatsServer() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);
    kill9();
  }
  NatsServer(const NatsServer &) = delete;

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  std::string route() const { return "nats-route://127.0.0.1:" + std::to_string(cluster_port_); }
  std::string monitor(const std::string &path) const {
    return testutil::http_get(http_port_, path).body;
  }
  // Messages the server has received from its clients so far.
  guint64 in_msgs() const {
    std::string varz = monitor("/varz");
    size_t at = varz.find("\"in_msgs\": ");
    return at == std::string::npos ? 0 : g_ascii_strtoull(varz.c_str() + at + 11, nullptr, 10);
  }
  // Waits until the server has received `n` messages: a sink has handed a
  // frame to libnats before it is on the wire.
  void wait_for_messages(guint64 n) const {
    g_assert_true(testutil::wait_until([&] { return in_msgs() >= n; }, slow(5000)));
  }
  void kill9() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void stop() { kill(pid_, SIGSTOP); }
  void resume() { kill(pid_, SIGCONT); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0, cluster_port_ = 0, http_port_ = 0;
};

// Three nodes in full mesh, with the server settings that keep a hung node
// from stalling the others (write_deadline, ping_interval, ping_max).
struct Cluster {
  std::unique_ptr<NatsServer> node[3];

  explicit Cluster(const TempDir &dir) {
    const std::string common = "write_deadline: \"1s\"\nping_interval: \"1s\"\nping_max: 2\n";
    std::string routes;
    for (int i = 0; i < 3; i++) {
      std::string name = "node" + std::to_string(i + 1);
      node[i] = std::make_unique<NatsServer>(
          dir, name, common + "cluster { name: imagestream, listen: 127.0.0.1:-1, routes: [" + routes + "] }");
      routes += (routes.empty() ? "" : ", ") + node[i]->route();
    }
    for (auto &n : node)
      g_assert_true(testutil::wait_until(
          [&] { return n->monitor("/routez").find("\"num_routes\": 2") != std::string::npos; }, 10000));
  }
};

// A payload that carries its index, so that arrivals can be matched to sends.
Bytes tagged(uint32_t index, size_t size) {
  Bytes b = testutil::random_bytes(size, index + 1);
  std::memcpy(b.data(), &index, 4);
  return b;
}
uint32_t tag_of(const Bytes &b) {
  uint32_t index = 0;
  if (b.size() >= 4) std::memcpy(&index, b.data(), 4);
  return index;
}

// What a pipeline's bus said: warnings, errors and element messages.
struct BusLog {
  std::vector<std::string> warnings, errors, events;  // events: "name server"

  void drain(GstElement *pipeline) {
    GstBus *bus = gst_element_get_bus(pipeline);
    while (GstMessage *m = gst_bus_pop(bus)) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING || GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
        GError *err = nullptr;
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
          gst_message_parse_warning(m, &err, nullptr);
          warnings.push_back(err->message);
        } else {
          gst_message_parse_error(m, &err, nullptr);
          errors.push_back(err->message);
        }
        g_error_free(err);
      } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
        const GstStructure *s = gst_message_get_structure(m);
        const char *server = gst_structure_get_string(s, "server");
        events.push_back(std::string(gst_structure_get_name(s)) + " " + (server ? server : ""));
      }
      gst_message_unref(m);
    }
    gst_object_unref(bus);
  }
  static size_t count_containing(const std::vector<std::string> &list, const std::string &text) {
    return std::count_if(list.begin(), list.end(),
                         [&](const std::string &s) { return s.find(text) != std::string::npos; });
  }
};

bool get_bool(GstElement *e, const char *property) {
  gboolean v = FALSE;
  g_object_get(e, property, &v, nullptr);
  return v;
}
std::string get_string(GstElement *e, const char *property) {
  g_autofree gchar *v = nullptr;
  g_object_get(e, property, &v, nullptr);
  return v ? v : "";
}
guint64 stat_u64(GstElement *e, const char *field) {
  GstStructure *s = nullptr;
  g_object_get(e, "stats", &s, nullptr);
  guint64 v = 0;
  gst_structure_get_uint64(s, field, &v);
  gst_structure_free(s);
  return v;
}

// The camera side: appsrc ! natssink, the test pushes the frames.
struct Publisher {
  GstElement *pipeline, *appsrc, *sink;
  BusLog bus;

  explicit Publisher(const std::string &sink_props, const std::string &caps = "image/jpeg") {
    pipeline = testutil::parse("appsrc name=in is-live=true do-timestamp=true format=time max-bytes=0 caps=\"" + caps +
                               "\" ! natssink name=out " + sink_props);
    appsrc = gst_bin_get_by_name(GST_BIN(pipeline), "in");
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  }
  ~Publisher() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(appsrc);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  void push(const Bytes &payload, guint flags = 0) {
    GstBuffer *b = gst_buffer_new_memdup(payload.data(), payload.size());
    GST_BUFFER_FLAG_SET(b, flags);
    g_assert_cmpint(gst_app_src_push_buffer(GST_APP_SRC(appsrc), b), ==, GST_FLOW_OK);
  }
  // Pushes and waits until the sink has sent or dropped it.
  void push_and_wait(const Bytes &payload, guint flags = 0) {
    guint64 before = handled();
    push(payload, flags);
    g_assert_true(testutil::wait_until([&] { return handled() > before; }, slow(5000)));
  }
  guint64 sent() { return testutil::get_u64(sink, "frames-sent"); }
  guint64 dropped() { return testutil::get_u64(sink, "frames-dropped"); }
  guint64 handled() { return sent() + dropped(); }
  bool connected() { return get_bool(sink, "connected"); }
};

// The edge side: natssrc ! appsink, every sample recorded as it arrives.
struct Edge {
  struct Sample {
    Bytes data;
    guint flags;
    std::string caps;
    GstClockTime pts;
    gint64 arrival_us;  // monotonic
  };
  GstElement *pipeline, *src, *sink;
  BusLog bus;
  std::mutex lock;
  std::vector<Sample> samples;  // guarded by lock

  explicit Edge(const std::string &src_props, bool collect = true) {
    pipeline = testutil::parse("natssrc name=src " + src_props + " ! appsink name=out sync=false");
    src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    if (collect) {
      GstAppSinkCallbacks callbacks{};
      callbacks.new_sample = on_sample;
      gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, this, nullptr);
    }
    g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  }
  ~Edge() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  static GstFlowReturn on_sample(GstAppSink *appsink, gpointer user) {
    auto *self = static_cast<Edge *>(user);
    GstSample *s = gst_app_sink_pull_sample(appsink);
    GstBuffer *b = gst_sample_get_buffer(s);
    GstMapInfo map;
    gst_buffer_map(b, &map, GST_MAP_READ);
    g_autofree gchar *caps = gst_caps_to_string(gst_sample_get_caps(s));
    Sample sample{Bytes(map.data, map.data + map.size), GST_BUFFER_FLAGS(b), caps, GST_BUFFER_PTS(b),
                  g_get_monotonic_time()};
    gst_buffer_unmap(b, &map);
    gst_sample_unref(s);
    std::lock_guard<std::mutex> l(self->lock);
    self->samples.push_back(std::move(sample));
    return GST_FLOW_OK;
  }
  size_t count() {
    std::lock_guard<std::mutex> l(lock);
    return samples.size();
  }
  std::vector<Sample> all() {
    std::lock_guard<std::mutex> l(lock);
    return samples;
  }
  bool connected() { return get_bool(src, "connected"); }
  bool wait_connected() {
    return testutil::wait_until([&] { return connected(); }, slow(10000));
  }
};

std::string props(const std::string &servers, const std::string &subject, const std::string &more = "") {
  return "servers=" + servers + " subject=" + subject + " " + more;
}

// Warm-up frames carry tags from here on; the measured ones below it.
constexpr uint32_t kWarmUpTag = 900000;

// Pushes frames until the edge gets one: the subscription has reached the
// publisher's node (across routes, interest spreads asynchronously).
void warm_up(Publisher &pub, Edge &edge) {
  g_assert_true(testutil::wait_until([&] { return pub.connected(); }, slow(10000)));
  uint32_t i = kWarmUpTag;
  g_assert_true(testutil::wait_until(
      [&] {
        if (edge.count() > 0) return true;
        pub.push_and_wait(tagged(i++, 1000));
        g_usleep(20000);
        return false;
      },
      slow(10000)));
}

// The measured frames the edge got (warm-up ones left out), in arrival order.
std::vector<Edge::Sample> measured(Edge &edge) {
  std::vector<Edge::Sample> out;
  for (Edge::Sample &s : edge.all())
    if (tag_of(s.data) < kWarmUpTag) out.push_back(std::move(s));
  return out;
}

// --- the wire format, without a server ---

void test_frame_sequence_drops_duplicates_and_counts_gaps() {
  using Arrival = imagestream::natsframe::FrameSequence::Arrival;
  imagestream::natsframe::FrameSequence seq;
  g_assert_true(seq.judge(Arrival{"a", 5, 500}).deliver);         // joined mid-stream: no loss
  g_assert_false(seq.judge(Arrival{"a", 5, 500, true}).deliver);  // the same frame again, as an answer
  g_assert_false(seq.judge(Arrival{"a", 4, 400}).deliver);        // older than one delivered
  auto v = seq.judge(Arrival{"a", 8, 800});
  g_assert_true(v.deliver);
  g_assert_cmpuint(v.skipped, ==, 2);                             // 6 and 7 never came
  g_assert_true(seq.judge(Arrival{"a", 9, 900, true}).deliver);   // an answer with a newer frame
  g_assert_false(seq.judge(Arrival{"b", 3, 300, true}).deliver);  // a backup sink's stale frame
  g_assert_true(seq.judge(Arrival{"b", 1, 100}).deliver);         // a restarted sink, live: a new origin
  g_assert_true(seq.judge(Arrival{}).deliver);                    // a foreign publisher, no headers
  g_assert_cmpuint(imagestream::natsframe::number_from_header("12x"), ==, 0);
  g_assert_cmpuint(imagestream::natsframe::number_from_header("42"), ==, 42);
}

void test_flags_header_round_trips() {
  using namespace imagestream::natsframe;
  const auto both = static_cast<GstBufferFlags>(GST_BUFFER_FLAG_DELTA_UNIT | GST_BUFFER_FLAG_HEADER);
  g_assert_true(flags_header(both) == "delta,header");
  g_assert_true(flags_header(GST_BUFFER_FLAG_DISCONT).empty());
  g_assert_cmpuint(flags_from_header("delta,header"), ==, both);
  g_assert_cmpuint(flags_from_header("header"), ==, GST_BUFFER_FLAG_HEADER);
  g_assert_cmpuint(flags_from_header(nullptr), ==, 0);
}

// --- one server ---

void test_jpeg_frames_arrive_bit_exact_and_in_order() {
  TempDir dir;
  NatsServer server(dir, "n", "");
  Edge edge(props(server.url(), "test.roundtrip", "max-queued-frames=64"));
  g_assert_true(edge.wait_connected());

  GstElement *camera =
      testutil::parse("lengthprefixsrc name=in port=0 ! natssink name=out " + props(server.url(), "test.roundtrip"));
  GstElement *in = gst_bin_get_by_name(GST_BIN(camera), "in");
  GstElement *out = gst_bin_get_by_name(GST_BIN(camera), "out");
  g_assert_cmpint(gst_element_set_state(camera, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  g_assert_true(testutil::wait_until([&] { return get_bool(out, "connected"); }, slow(10000)));
  int port = 0;
  g_object_get(in, "current-port", &port, nullptr);

  std::vector<Bytes> frames = testutil::jpeg_frames(30);
  int fd = testutil::tcp_connect(port);
  for (const Bytes &f : frames) g_assert_true(testutil::send_frame(fd, f));
  g_assert_true(testutil::wait_until([&] { return edge.count() >= frames.size(); }, slow(10000)));

  std::vector<Edge::Sample> got = edge.all();
  g_assert_cmpuint(got.size(), ==, frames.size());
  for (size_t i = 0; i < frames.size(); i++) {
    g_assert_true(got[i].data == frames[i]);
    g_assert_cmpstr(got[i].caps.c_str(), ==, "image/jpeg");
    g_assert_true(GST_CLOCK_TIME_IS_VALID(got[i].pts));
    if (i) g_assert_cmpuint(got[i].pts, >=, got[i - 1].pts);
  }
  // The sink counts a frame once libnats took it, which may be after it arrived.
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(out, "frames-sent") == frames.size(); },
                                     slow(5000)));
  g_assert_cmpuint(testutil::get_u64(out, "frames-dropped"), ==, 0);
  g_assert_cmpuint(testutil::get_u64(edge.src, "frames-lost"), ==, 0);
  g_assert_cmpuint(testutil::get_u64(edge.src, "frames-received"), ==, frames.size());
  guint64 bytes = 0;
  for (const Bytes &f : frames) bytes += f.size();
  g_assert_cmpuint(testutil::get_u64(out, "bytes-sent"), ==, bytes);
  g_assert_cmpuint(testutil::get_u64(edge.src, "bytes-received"), ==, bytes);

  edge.bus.drain(edge.pipeline);
  g_assert_cmpuint(BusLog::count_containing(edge.bus.events, "natssrc-connected " + server.url()), ==, 1);
  close(fd);
  gst_element_set_state(camera, GST_STATE_NULL);
  gst_object_unref(in);
  gst_object_unref(out);
  gst_object_unref(camera);
}

void test_frame_over_max_payload_is_dropped_counted_and_warned_once() {
  TempDir dir;
  NatsServer server(dir, "n", "max_payload: 65536");
  Edge edge(props(server.url(), "test.payload", "max-queued-frames=64"));
  g_assert_true(edge.wait_connected());
  Publisher pub(props(server.url(), "test.payload"));
  g_assert_true(testutil::wait_until([&] { return pub.connected(); }, slow(10000)));

  pub.push_and_wait(tagged(1, 20000));
  pub.push_and_wait(tagged(2, 100000));  // over the limit
  pub.push_and_wait(tagged(3, 20000));
  pub.push_and_wait(tagged(4, 70000));  // over again: counted, no second warning
  pub.push_and_wait(tagged(5, 65500));  // fits, but not with its headers
  pub.push_and_wait(tagged(6, 20000));
  g_assert_true(testutil::wait_until([&] { return edge.count() >= 3; }, slow(5000)));

  g_assert_cmpuint(pub.sent(), ==, 3);
  g_assert_cmpuint(pub.dropped(), ==, 3);
  g_assert_cmpuint(stat_u64(pub.sink, "frames-oversized"), ==, 3);
  std::vector<Edge::Sample> got = edge.all();
  g_assert_cmpuint(got.size(), ==, 3);
  g_assert_true(got[0].data == tagged(1, 20000));
  g_assert_true(got[1].data == tagged(3, 20000));
  g_assert_true(got[2].data == tagged(6, 20000));
  pub.bus.drain(pub.pipeline);
  g_assert_cmpuint(pub.bus.warnings.size(), ==, 1);
  g_assert_nonnull(strstr(pub.bus.warnings[0].c_str(), "100000 bytes"));
  g_assert_nonnull(strstr(pub.bus.warnings[0].c_str(), "max_payload of 65536 bytes"));
  // The sequence numbers skip nothing for frames the sink dropped.
  g_assert_cmpuint(testutil::get_u64(edge.src, "frames-lost"), ==, 0);
}

void test_caps_and_delta_flags_survive_the_trip() {
  TempDir dir;
  NatsServer server(dir, "n", "");
  Edge edge(props(server.url(), "test.caps", "max-queued-frames=64"));
  g_assert_true(edge.wait_connected());
  const std::string vga = "video/x-vp8, width=(int)640, height=(int)480, framerate=(fraction)30/1";
  const std::string hd = "video/x-vp8, width=(int)1280, height=(int)720, framerate=(fraction)30/1";
  Publisher pub(props(server.url(), "test.caps"), vga);
  g_assert_true(testutil::wait_until([&] { return pub.connected(); }, slow(10000)));

  std::vector<guint> sent_flags;
  for (uint32_t i = 0; i < 12; i++) {
    if (i == 8) {
      g_autoptr(GstCaps) caps = gst_caps_from_string(hd.c_str());
      gst_app_src_set_caps(GST_APP_SRC(pub.appsrc), caps);
    }
    guint flags = (i % 2) ? GST_BUFFER_FLAG_DELTA_UNIT : 0;
    if (i == 0 || i == 8) flags |= GST_BUFFER_FLAG_HEADER;
    sent_flags.push_back(flags);
    pub.push_and_wait(tagged(i, 3000), flags);
  }
  g_assert_true(testutil::wait_until([&] { return edge.count() >= 12; }, slow(5000)));
  std::vector<Edge::Sample> got = edge.all();
  g_assert_cmpuint(got.size(), ==, 12);
  const guint carried = GST_BUFFER_FLAG_DELTA_UNIT | GST_BUFFER_FLAG_HEADER;
  for (uint32_t i = 0; i < 12; i++) {
    g_assert_cmpuint(tag_of(got[i].data), ==, i);
    g_assert_cmpuint(got[i].flags & carried, ==, sent_flags[i]);
    g_autoptr(GstCaps) want = gst_caps_from_string(i < 8 ? vga.c_str() : hd.c_str());
    g_autoptr(GstCaps) have = gst_caps_from_string(got[i].caps.c_str());
    g_assert_true(gst_caps_is_equal(want, have));
  }
}

void test_src_started_after_the_last_frame_gets_it_at_once() {
  TempDir dir;
  NatsServer server(dir, "n", "");
  Publisher pub(props(server.url(), "test.still"), "image/jpeg, width=(int)320, height=(int)240");
  g_assert_true(testutil::wait_until([&] { return pub.connected(); }, slow(10000)));
  std::vector<Bytes> frames = testutil::jpeg_frames(3);
  for (const Bytes &f : frames) pub.push_and_wait(f);
  g_assert_cmpuint(pub.sent(), ==, 3);
  server.wait_for_messages(3);

  // The camera is still now; an edge starts.
  gint64 start = g_get_monotonic_time();
  Edge edge(props(server.url(), "test.still"));
  g_assert_true(testutil::wait_until([&] { return edge.count() >= 1; }, slow(5000)));
  double waited = (g_get_monotonic_time() - start) / 1e6;
  g_test_message("newest frame at the edge %.3f s after it started", waited);
  g_assert_cmpfloat(waited, <, RUNNING_ON_VALGRIND ? 10.0 : 1.0);

  // Then one live frame: it follows, and the newest came once only.
  pub.push_and_wait(tagged(7, 5000));
  g_assert_true(testutil::wait_until([&] { return edge.count() >= 2; }, slow(5000)));
  std::vector<Edge::Sample> got = edge.all();
  g_assert_cmpuint(got.size(), ==, 2);
  g_assert_true(got[0].data == frames[2]);
  g_assert_cmpstr(got[0].caps.c_str(), ==, "image/jpeg, width=(int)320, height=(int)240");
  g_assert_true(got[1].data == tagged(7, 5000));
  g_assert_true(testutil::wait_until([&] { return stat_u64(pub.sink, "requests-answered") == 1; }, slow(5000)));
}

void test_a_backup_sinks_older_frame_never_follows_the_newest() {
  TempDir dir;
  NatsServer server(dir, "n", "");
  // A backup origin that had the camera once, then the active one.
  Publisher backup(props(server.url(), "test.backup"));
  Publisher active(props(server.url(), "test.backup"));
  g_assert_true(testutil::wait_until([&] { return backup.connected() && active.connected(); }, slow(10000)));
  backup.push_and_wait(tagged(1, 4000));
  active.push_and_wait(tagged(2, 4000));
  active.push_and_wait(tagged(3, 4000));
  server.wait_for_messages(3);

  // Both answer a new edge. Whatever order the answers come in (and the
  // active one may even come after the next live frame: answers and live
  // frames arrive on two threads), the picture never goes back.
  Edge edge(props(server.url(), "test.backup"));
  g_assert_true(testutil::wait_until(
      [&] {
        return stat_u64(backup.sink, "requests-answered") == 1 && stat_u64(active.sink, "requests-answered") == 1 &&
               edge.count() >= 1;
      },
      slow(5000)));
  active.push_and_wait(tagged(4, 4000));  // a live frame marks the end of the answers
  g_assert_true(
      testutil::wait_until([&] { return !edge.all().empty() && tag_of(edge.all().back().data) == 4; }, slow(5000)));
  std::vector<uint32_t> tags;
  for (const Edge::Sample &s : edge.all()) tags.push_back(tag_of(s.data));
  const std::vector<std::vector<uint32_t>> possible{{3, 4}, {1, 3, 4}, {1, 4}};
  g_assert_true(std::find(possible.begin(), possible.end(), tags) != possible.end());
}

void test_slow_downstream_gets_the_newest_frames() {
  TempDir dir;
  NatsServer server(dir, "n", "");
  // appsink holds one sample and blocks the streaming thread until pulled.
  Edge edge(props(server.url(), "test.slow", "max-queued-frames=2"), false);
  g_object_set(edge.sink, "max-buffers", 1, nullptr);
  g_assert_true(edge.wait_connected());
  Publisher pub(props(server.url(), "test.slow"));
  g_assert_true(testutil::wait_until([&] { return pub.connected(); }, slow(10000)));
  const uint32_t n = 20;
  for (uint32_t i = 1; i <= n; i++) pub.push_and_wait(tagged(i, 2000));
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(edge.src, "frames-received") == n; }, slow(5000)));

  // Everything that was not dropped comes out: the first frame or two (taken
  // before downstream stalled), then the newest ones, in order.
  const guint64 dropped = testutil::get_u64(edge.src, "frames-dropped");
  std::vector<uint32_t> pulled;
  for (guint64 i = 0; i < n - dropped; i++) {
    GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(edge.sink), slow(5000) * GST_MSECOND);
    g_assert_nonnull(s);
    GstMapInfo map;
    gst_buffer_map(gst_sample_get_buffer(s), &map, GST_MAP_READ);
    pulled.push_back(tag_of(Bytes(map.data, map.data + 4)));
    gst_buffer_unmap(gst_sample_get_buffer(s), &map);
    gst_sample_unref(s);
  }
  g_assert_null(gst_app_sink_try_pull_sample(GST_APP_SINK(edge.sink), 0));
  g_assert_cmpuint(pulled.size(), <=, 5);  // appsink 1 + blocked in appsink 1 + max-queued-frames 2 (+1 in flight)
  g_assert_cmpuint(pulled.back(), ==, n);
  g_assert_true(std::is_sorted(pulled.begin(), pulled.end()));
}

// --- a 3-node cluster ---

void test_kill_9_of_the_src_node_loses_no_frame() {
  TempDir dir;
  Cluster cluster(dir);
  Publisher pub(props(cluster.node[0]->url(), "test.kill"));
  Edge edge(props(cluster.node[1]->url() + "," + cluster.node[2]->url(), "test.kill", "max-queued-frames=64"));
  g_assert_true(edge.wait_connected());
  g_assert_true(get_string(edge.src, "current-server") == cluster.node[1]->url());
  warm_up(pub, edge);
  const guint64 handled_before = pub.handled();

  // 50 frames a second; node 2 dies after a third of them. Under valgrind
  // the edge takes ~0.1 s to notice a closed socket and reconnect, so the
  // frames come 4 a second there: a reconnect loses no frame as long as it
  // is quicker than the interval between two.
  const uint32_t n = RUNNING_ON_VALGRIND ? 24 : 75;
  const gulong interval_us = RUNNING_ON_VALGRIND ? 250000 : 20000;
  for (uint32_t i = 0; i < n; i++) {
    if (i == n / 3) cluster.node[1]->kill9();
    pub.push(tagged(i, 30000));
    g_usleep(interval_us);
  }
  g_assert_true(testutil::wait_until([&] { return pub.handled() >= handled_before + n; }, slow(5000)));
  g_assert_true(testutil::wait_until(
      [&] {
        std::vector<Edge::Sample> got = measured(edge);
        return !got.empty() && tag_of(got.back().data) == n - 1;
      },
      slow(5000)));

  std::vector<uint32_t> tags;
  gint64 gap = 0;
  std::vector<Edge::Sample> got = measured(edge);
  for (size_t i = 0; i < got.size(); i++) {
    tags.push_back(tag_of(got[i].data));
    if (i) gap = std::max(gap, got[i].arrival_us - got[i - 1].arrival_us);
  }
  size_t missing = 0;
  for (uint32_t i = 0; i < n; i++)
    if (std::find(tags.begin(), tags.end(), i) == tags.end()) missing++;
  g_test_message("kill -9 of the edge's node: %zu of %u frames lost, frames-lost %" G_GUINT64_FORMAT
                 ", reconnects %" G_GUINT64_FORMAT ", longest gap between frames %.3f s (every %.3f s sent)",
                 missing, n, testutil::get_u64(edge.src, "frames-lost"), testutil::get_u64(edge.src, "reconnects"),
                 gap / 1e6, interval_us / 1e6);
  g_assert_cmpuint(pub.dropped(), ==, 0);
  g_assert_cmpuint(missing, ==, 0);
  g_assert_cmpuint(tags.size(), ==, n);  // and none twice
  g_assert_true(std::is_sorted(tags.begin(), tags.end()));
  g_assert_cmpuint(testutil::get_u64(edge.src, "frames-lost"), ==, 0);
  g_assert_cmpuint(testutil::get_u64(edge.src, "reconnects"), ==, 1);
  const std::string now_on = get_string(edge.src, "current-server");
  g_test_message("edge moved from %s to %s", cluster.node[1]->url().c_str(), now_on.c_str());
  g_assert_true(!now_on.empty() && now_on != cluster.node[1]->url());
  edge.bus.drain(edge.pipeline);
  g_assert_cmpuint(BusLog::count_containing(edge.bus.events, "natssrc-disconnected " + cluster.node[1]->url()), ==, 1);
  g_assert_cmpuint(BusLog::count_containing(edge.bus.events, "natssrc-reconnected "), ==, 1);
}

void test_sigstop_of_the_src_node_moves_it_within_1500_ms() {
  TempDir dir;
  Cluster cluster(dir);
  Publisher pub(props(cluster.node[0]->url(), "test.hang"));
  Edge edge(props(cluster.node[1]->url() + "," + cluster.node[2]->url(), "test.hang", "max-queued-frames=64"));
  g_assert_true(edge.wait_connected());
  g_assert_true(get_string(edge.src, "current-server") == cluster.node[1]->url());
  warm_up(pub, edge);

  // 50 frames a second for 3 s; node 2 hangs after 0.5-0.9 s, at a random
  // point of the edge's PING cycle (400 ms).
  const uint32_t n = 150;
  const uint32_t hang = 25 + g_test_rand_int_range(0, 20);
  gint64 hung_at = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (i == hang) {
      cluster.node[1]->stop();
      hung_at = g_get_monotonic_time();
    }
    pub.push(tagged(i, 30000));
    g_usleep(20000);
  }
  g_assert_true(testutil::wait_until([&] { return testutil::get_u64(edge.src, "reconnects") >= 1; }, slow(5000)));
  g_assert_true(testutil::wait_until(
      [&] {
        std::vector<Edge::Sample> got = measured(edge);
        return !got.empty() && tag_of(got.back().data) == n - 1;
      },
      slow(5000)));

  std::vector<Edge::Sample> got = measured(edge);
  gint64 gap = 0, last_before_hang = 0, first_after = 0;
  for (size_t i = 1; i < got.size(); i++) {
    gint64 d = got[i].arrival_us - got[i - 1].arrival_us;
    if (d > gap) {
      gap = d;
      last_before_hang = got[i - 1].arrival_us;
      first_after = got[i].arrival_us;
    }
  }
  g_test_message(
      "SIGSTOP of the edge's node: longest gap between frames %.3f s (hang to next frame %.3f s), "
      "frames-lost %" G_GUINT64_FORMAT,
      gap / 1e6, (first_after - hung_at) / 1e6, testutil::get_u64(edge.src, "frames-lost"));
  g_assert_cmpint(last_before_hang, <=, hung_at + 100000);
  g_assert_cmpint(gap, <, RUNNING_ON_VALGRIND ? 3000000 : 1500000);
  g_assert_cmpuint(testutil::get_u64(edge.src, "reconnects"), ==, 1);
  const std::string now_on = get_string(edge.src, "current-server");
  g_test_message("edge moved from %s to %s", cluster.node[1]->url().c_str(), now_on.c_str());
  g_assert_true(!now_on.empty() && now_on != cluster.node[1]->url());
  g_assert_true(get_bool(edge.src, "connected"));
  // The publisher's node kept serving: nothing dropped at the sink.
  g_assert_cmpuint(pub.dropped(), ==, 0);
  cluster.node[1]->resume();
}

// --- credentials and TLS ---

void make_certificates(const TempDir &dir) {
  dir.write("san.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const std::string d = dir.path;
  std::string cmd = "(cd " + d +
                    " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                    " -keyout ca.key -out ca.pem -subj /CN=imagestream-test-ca"
                    " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key"
                    " -out server.csr -subj /CN=localhost"
                    " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1"
                    " -extfile san.cnf -out server.pem) >" +
                    dir.file("openssl.log") + " 2>&1";
  g_assert_cmpint(system(cmd.c_str()), ==, 0);
}

void test_user_password_over_tls_carries_frames() {
  TempDir dir;
  make_certificates(dir);
  // The server's TLS handshake timeout (0.5 s by default) is too short for a
  // client under valgrind.
  NatsServer server(dir, "n",
                    "tls { cert_file: \"" + dir.file("server.pem") + "\", key_file: \"" + dir.file("server.key") +
                        "\", timeout: 5 }\nauthorization { user: camera, password: \"s3cret pass\" }");
  const std::string auth = "user=camera password=\"s3cret pass\" tls-ca-file=" + dir.file("ca.pem");
  Edge edge(props(server.url(), "test.tls", auth + " max-queued-frames=64"));
  g_assert_true(edge.wait_connected());
  Publisher pub(props(server.url(), "test.tls", auth));
  g_assert_true(testutil::wait_until([&] { return pub.connected(); }, slow(10000)));
  for (uint32_t i = 0; i < 3; i++) pub.push_and_wait(tagged(i, 40000));
  g_assert_true(testutil::wait_until([&] { return edge.count() >= 3; }, slow(5000)));
  for (uint32_t i = 0; i < 3; i++) g_assert_true(edge.all()[i].data == tagged(i, 40000));
  // The server saw TLS connections from both.
  g_assert_nonnull(strstr(server.monitor("/connz").c_str(), "\"tls_version\""));

  // Without the CA the server's certificate can't be verified: one error.
  Edge untrusting(props(server.url(), "test.tls", "user=camera password=\"s3cret pass\""));
  g_assert_true(testutil::wait_until(
      [&] {
        untrusting.bus.drain(untrusting.pipeline);
        return !untrusting.bus.errors.empty();
      },
      slow(5000)));
  g_test_message("%s", untrusting.bus.errors[0].c_str());
  g_assert_nonnull(strstr(untrusting.bus.errors[0].c_str(), ("TLS with NATS at " + server.url() + " failed").c_str()));
  g_assert_nonnull(strstr(untrusting.bus.errors[0].c_str(), "unable to get local issuer certificate"));
}

void test_wrong_password_fails_with_one_clear_error() {
  TempDir dir;
  NatsServer server(dir, "n", "authorization { user: camera, password: right }");
  Publisher pub(props(server.url(), "test.auth", "user=camera password=wrong"));
  g_assert_true(testutil::wait_until(
      [&] {
        pub.bus.drain(pub.pipeline);
        return !pub.bus.errors.empty();
      },
      slow(5000)));
  const std::string &e = pub.bus.errors[0];
  g_test_message("%s", e.c_str());
  g_assert_nonnull(strstr(e.c_str(), ("NATS at " + server.url() + " refused the credentials").c_str()));
  g_assert_nonnull(strstr(e.c_str(), "Authorization Violation"));
  g_assert_null(strchr(e.c_str(), '\n'));
  g_assert_false(pub.connected());
  // It ended the start-up; after NULL no thread of the sink is left to post
  // a second one.
  g_assert_cmpint(testutil::set_state_sync(pub.pipeline, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  pub.bus.drain(pub.pipeline);
  g_assert_cmpuint(pub.bus.errors.size(), ==, 1);

  // The source reports it the same way.
  Edge edge(props(server.url(), "test.auth", "user=camera password=wrong"));
  g_assert_true(testutil::wait_until(
      [&] {
        edge.bus.drain(edge.pipeline);
        return !edge.bus.errors.empty();
      },
      slow(5000)));
  g_assert_nonnull(strstr(edge.bus.errors[0].c_str(), "refused the credentials: Authorization Violation"));
}

void test_wrong_password_on_a_server_that_comes_up_later_is_one_error_too() {
  TempDir dir;
  const int port = free_port();
  const std::string url = "nats://127.0.0.1:" + std::to_string(port);
  Publisher pub(props(url, "test.auth", "user=camera password=wrong"));
  g_assert_true(testutil::wait_until(
      [&] {
        pub.bus.drain(pub.pipeline);
        return !pub.bus.warnings.empty();
      },
      slow(5000)));
  // Retrying in the background, libnats meets the refusal twice and gives up.
  NatsServer server(dir, "n", "authorization { user: camera, password: right }", port);
  g_assert_true(testutil::wait_until(
      [&] {
        pub.bus.drain(pub.pipeline);
        return !pub.bus.errors.empty();
      },
      slow(5000)));
  g_test_message("%s", pub.bus.errors[0].c_str());
  g_assert_nonnull(strstr(pub.bus.errors[0].c_str(), ("NATS at " + url + " refused the credentials").c_str()));
  g_assert_nonnull(strstr(pub.bus.errors[0].c_str(), "Authorization Violation"));
  g_assert_cmpint(testutil::set_state_sync(pub.pipeline, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  pub.bus.drain(pub.pipeline);
  g_assert_cmpuint(pub.bus.errors.size(), ==, 1);
}

// --- no server ---

void test_sink_never_blocks_without_a_server_and_connects_when_it_comes_up() {
  TempDir dir;
  const int port = free_port();
  const std::string url = "nats://127.0.0.1:" + std::to_string(port);
  Publisher pub(props(url, "test.later"));
  const int n = 200;
  gint64 start = g_get_monotonic_time();
  for (int i = 0; i < n; i++) pub.push(tagged(i, 50000));
  g_assert_true(testutil::wait_until([&] { return pub.dropped() == n; }, slow(5000)));
  double took = (g_get_monotonic_time() - start) / 1e6;
  g_test_message("%d frames dropped without a server in %.3f s", n, took);
  g_assert_cmpfloat(took, <, RUNNING_ON_VALGRIND ? 20.0 : 2.0);
  GstState state;
  g_assert_cmpint(gst_element_get_state(pub.pipeline, &state, nullptr, 0), ==, GST_STATE_CHANGE_SUCCESS);
  g_assert_cmpint(state, ==, GST_STATE_PLAYING);
  g_assert_cmpuint(pub.sent(), ==, 0);
  g_assert_true(testutil::wait_until(
      [&] {
        pub.bus.drain(pub.pipeline);
        return !pub.bus.warnings.empty();
      },
      slow(5000)));
  g_assert_cmpuint(pub.bus.warnings.size(), ==, 1);
  g_assert_nonnull(strstr(pub.bus.warnings[0].c_str(), ("Cannot connect to NATS at " + url).c_str()));

  NatsServer server(dir, "n", "", port);
  Edge edge(props(url, "test.later"));
  g_assert_true(edge.wait_connected());
  g_assert_true(testutil::wait_until([&] { return pub.connected(); }, slow(5000)));
  pub.push_and_wait(tagged(1000, 50000));
  g_assert_cmpuint(pub.sent(), ==, 1);
  g_assert_true(testutil::wait_until([&] { return edge.count() >= 1; }, slow(5000)));
  g_assert_true(edge.all().back().data == tagged(1000, 50000));
  pub.bus.drain(pub.pipeline);
  g_assert_cmpuint(BusLog::count_containing(pub.bus.events, "natssink-connected " + url), ==, 1);
  g_assert_cmpuint(pub.bus.errors.size(), ==, 0);
}

void test_null_returns_promptly_while_src_waits() {
  TempDir dir;
  NatsServer server(dir, "n", "");
  auto edge = std::make_unique<Edge>(props(server.url(), "test.idle"));
  g_assert_true(edge->wait_connected());
  gint64 start = g_get_monotonic_time();
  edge.reset();  // PLAYING -> NULL with create() waiting for a frame
  g_assert_cmpint(g_get_monotonic_time() - start, <, slow(1000) * 1000);
}

}  // namespace

int main(int argc, char **argv) {
  testutil::init(&argc, &argv);
  g_test_add_func("/natsframe/sequence-drops-duplicates-and-counts-gaps",
                  test_frame_sequence_drops_duplicates_and_counts_gaps);
  g_test_add_func("/natsframe/flags-header-round-trips", test_flags_header_round_trips);
  g_test_add_func("/nats/jpeg-frames-arrive-bit-exact-and-in-order", test_jpeg_frames_arrive_bit_exact_and_in_order);
  g_test_add_func("/natssink/frame-over-max-payload-is-dropped-counted-and-warned-once",
                  test_frame_over_max_payload_is_dropped_counted_and_warned_once);
  g_test_add_func("/nats/caps-and-delta-flags-survive-the-trip", test_caps_and_delta_flags_survive_the_trip);
  g_test_add_func("/natssrc/started-after-the-last-frame-gets-it-at-once",
                  test_src_started_after_the_last_frame_gets_it_at_once);
  g_test_add_func("/natssrc/a-backup-sinks-older-frame-never-follows-the-newest",
                  test_a_backup_sinks_older_frame_never_follows_the_newest);
  g_test_add_func("/natssrc/slow-downstream-gets-the-newest-frames", test_slow_downstream_gets_the_newest_frames);
  g_test_add_func("/nats/cluster/kill-9-of-the-src-node-loses-no-frame", test_kill_9_of_the_src_node_loses_no_frame);
  g_test_add_func("/nats/cluster/sigstop-of-the-src-node-moves-it-within-1500-ms",
                  test_sigstop_of_the_src_node_moves_it_within_1500_ms);
  g_test_add_func("/nats/auth/user-password-over-tls-carries-frames", test_user_password_over_tls_carries_frames);
  g_test_add_func("/nats/auth/wrong-password-fails-with-one-clear-error",
                  test_wrong_password_fails_with_one_clear_error);
  g_test_add_func("/nats/auth/wrong-password-on-a-server-that-comes-up-later-is-one-error-too",
                  test_wrong_password_on_a_server_that_comes_up_later_is_one_error_too);
  g_test_add_func("/natssink/never-blocks-without-a-server-and-connects-when-it-comes-up",
                  test_sink_never_blocks_without_a_server_and_connects_when_it_comes_up);
  g_test_add_func("/natssrc/null-returns-promptly-while-waiting-for-a-frame",
                  test_null_returns_promptly_while_src_waits);
  return g_test_run();
}
