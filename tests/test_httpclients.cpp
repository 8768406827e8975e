// websocketsink's clients without WebSocket, over real sockets on port 0:
// <path>/snapshot.jpg, <path>/stream.mjpeg (curl, a healthy and a stuck raw
// client), <path>/stats.json and <path>/metrics, and the 404s around them.
// The frames come from a real camera pipeline (videotestsrc ! jpegenc !
// lengthprefixsink into lengthprefixsrc ! websocketsink) or, where the test
// must control each frame, from a harness.
#include <arpa/inet.h>
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testutil.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

using testutil::Bytes;

namespace {

// The boundary a multipart/x-mixed-replace response head declares, or "".
std::string boundary_of(const std::string &head) {
  const std::string key = "boundary=";
  const size_t at = head.find(key);
  if (at == std::string::npos) return "";
  const size_t end = head.find_first_of("\r\n;", at);
  return head.substr(at + key.size(), end - at - key.size());
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

bool is_full_jpeg(const Bytes &b) {
  return b.size() > 4 && b[0] == 0xFF && b[1] == 0xD8 && b[b.size() - 2] == 0xFF && b[b.size() - 1] == 0xD9;
}

// --- the stream under test ---

// lengthprefixsrc ! websocketsink, and a live 320x240 30 fps camera sending to it.
struct Relay {
  GstElement *receiver;
  GstElement *camera = nullptr;
  GstElement *sink;
  int port = 0;

  explicit Relay(const std::string &sink_props = "") {
    receiver = testutil::parse("lengthprefixsrc name=src host=127.0.0.1 port=0 ! websocketsink name=ws host=127.0.0.1 "
                               "port=0 " + sink_props);
    // Not waiting: the sink prerolls only on the first frame.
    g_assert_cmpint(gst_element_set_state(receiver, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    sink = gst_bin_get_by_name(GST_BIN(receiver), "ws");
    g_object_get(sink, "current-port", &port, nullptr);
    g_assert_cmpint(port, >, 0);
  }
  ~Relay() {
    if (camera) {
      gst_element_set_state(camera, GST_STATE_NULL);
      gst_object_unref(camera);
    }
    gst_element_set_state(receiver, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(receiver);
  }
  void start_camera() {
    GstElement *src = gst_bin_get_by_name(GST_BIN(receiver), "src");
    int ingest = 0;
    g_object_get(src, "current-port", &ingest, nullptr);
    gst_object_unref(src);
    camera = testutil::parse(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! jpegenc ! "
        "lengthprefixsink host=127.0.0.1 port=" + std::to_string(ingest));
    g_assert_cmpint(gst_element_set_state(camera, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    g_assert_true(testutil::wait_until([&] { return get(std::string("/camera/snapshot.jpg")) == 200; }));
  }
  int get(const std::string &path, std::string *body = nullptr, std::string *headers = nullptr) {
    return testutil::http_get(port, path, body, headers);
  }
  guint64 frames_in() {
    GstStructure *stats = nullptr;
    g_object_get(sink, "stats", &stats, nullptr);
    guint64 n = 0;
    g_assert_true(gst_structure_get_uint64(stats, "frames-in", &n));
    gst_structure_free(stats);
    return n;
  }
};

// websocketsink driven by a harness: push() runs render() in this thread.
struct Sink {
  GstHarness *h;
  GstElement *element;
  int port = 0;
  std::mutex lock;
  std::vector<std::pair<std::string, std::string>> removed;  // address, reason

  explicit Sink(const std::string &props = "") {
    h = gst_harness_new_parse(("websocketsink name=ws port=0 " + props).c_str());
    element = gst_harness_find_element(h, "websocketsink");
    g_signal_connect(element, "viewer-removed",
                     G_CALLBACK(+[](GstElement *, const char *address, const char *reason, Sink *self) {
                       std::lock_guard<std::mutex> l(self->lock);
                       self->removed.emplace_back(address, reason);
                     }),
                     this);
    g_object_get(element, "current-port", &port, nullptr);
    g_assert_cmpint(port, >, 0);
    gst_harness_set_src_caps_str(h, "image/jpeg");
  }
  ~Sink() {
    gst_object_unref(element);
    gst_harness_teardown(h);
  }
  void push(const Bytes &payload) {
    g_assert_cmpint(gst_harness_push(h, gst_buffer_new_memdup(payload.data(), payload.size())), ==, GST_FLOW_OK);
  }
  guint viewers() {
    guint n = 0;
    g_object_get(element, "num-viewers", &n, nullptr);
    return n;
  }
  size_t removed_with(const std::string &reason) {
    std::lock_guard<std::mutex> l(lock);
    return std::count_if(removed.begin(), removed.end(), [&](auto &r) { return r.second == reason; });
  }
  // kind -> the largest `queued` among the viewers of that kind, from get-stats.
  std::map<std::string, guint> max_queued_by_kind() {
    GstStructure *stats = nullptr;
    g_signal_emit_by_name(element, "get-stats", &stats);
    const GValue *viewers = gst_structure_get_value(stats, "viewers");
    std::map<std::string, guint> out;
    for (guint i = 0; i < gst_value_array_get_size(viewers); i++) {
      const GstStructure *v = gst_value_get_structure(gst_value_array_get_value(viewers, i));
      guint q = 0;
      g_assert_true(gst_structure_get_uint(v, "queued", &q));
      const char *kind = gst_structure_get_string(v, "kind");
      g_assert_nonnull(kind);
      out[kind] = std::max(out[kind], q);
    }
    gst_structure_free(stats);
    return out;
  }
};

// --- MJPEG on the client side ---

// Splits a multipart/x-mixed-replace body into its parts as the bytes arrive.
class MjpegParser {
 public:
  MjpegParser(const std::string &boundary, std::function<void(Bytes)> on_part)
      : on_part_(std::move(on_part)), opening_("--" + boundary + "\r\n"), delimiter_("\r\n--" + boundary) {}

  // False once the bytes are not what the format says.
  bool feed(const uint8_t *data, size_t n) {
    buf_.insert(buf_.end(), data, data + n);
    while (ok_ && step()) {
    }
    return ok_;
  }
  bool ended() const { return state_ == State::Ended; }

 private:
  enum class State { Opening, Headers, Body, AfterDelimiter, Ended };

  // One step of parsing; false when more bytes are needed.
  bool step() {
    switch (state_) {
      case State::Opening:
        if (buf_.size() < opening_.size()) return false;
        ok_ = std::equal(opening_.begin(), opening_.end(), buf_.begin());
        consume(opening_.size(), State::Headers);
        return ok_;
      case State::Headers: {
        const std::string end = "\r\n\r\n";
        auto at = std::search(buf_.begin(), buf_.end(), end.begin(), end.end());
        if (at == buf_.end()) return false;
        const std::string headers(buf_.begin(), at);
        ok_ = contains(headers, "Content-Type: image/jpeg");
        consume(at - buf_.begin() + end.size(), State::Body);
        return ok_;
      }
      case State::Body: {
        auto from = buf_.begin() + scanned_;
        auto at = std::search(from, buf_.end(), delimiter_.begin(), delimiter_.end());
        if (at == buf_.end()) {
          scanned_ = buf_.size() > delimiter_.size() ? buf_.size() - delimiter_.size() : 0;
          return false;
        }
        on_part_(Bytes(buf_.begin(), at));
        consume(at - buf_.begin() + delimiter_.size(), State::AfterDelimiter);
        return true;
      }
      case State::AfterDelimiter:
        if (buf_.size() < 2) return false;
        if (buf_[0] == '\r' && buf_[1] == '\n') {
          consume(2, State::Headers);
        } else {
          ok_ = buf_[0] == '-' && buf_[1] == '-';
          consume(2, State::Ended);
        }
        return ok_;
      case State::Ended:
        return false;
    }
    return false;
  }
  void consume(size_t n, State next) {
    buf_.erase(buf_.begin(), buf_.begin() + n);
    scanned_ = 0;
    state_ = next;
  }

  std::function<void(Bytes)> on_part_;
  const std::string opening_;
  const std::string delimiter_;
  Bytes buf_;
  size_t scanned_ = 0;
  State state_ = State::Opening;
  bool ok_ = true;
};

// A raw HTTP client of <path>/stream.mjpeg: reads the response head, then
// either reads and parses every part on a thread of its own, or (stuck) never
// reads again.
struct MjpegClient {
  int fd = -1;
  std::string head;
  Bytes early;  // body bytes that came with the head
  std::thread reader;
  std::atomic<size_t> parts{0};
  std::atomic<size_t> bad_parts{0};
  std::atomic<bool> malformed{false};
  std::atomic<bool> eof{false};
  std::mutex lock;
  Bytes last_bytes;  // the stream's last bytes, for its end
  std::string boundary;  // from the response head

  MjpegClient() = default;
  MjpegClient(const MjpegClient &) = delete;
  ~MjpegClient() {
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    if (reader.joinable()) reader.join();
    if (fd >= 0) close(fd);
  }

  // Connects, asks for `path`, reads the head; returns the status.
  int open(int port, const std::string &path, int rcvbuf = 0) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), ==, 0);
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    g_assert_true(testutil::send_all(fd, req.data(), req.size()));
    Bytes buf;
    uint8_t byte;
    // Byte by byte, so that a stuck client leaves every body byte in the kernel.
    while (buf.size() < 4 || memcmp(buf.data() + buf.size() - 4, "\r\n\r\n", 4) != 0) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0 || recv(fd, &byte, 1, 0) != 1) return 0;
      buf.push_back(byte);
    }
    head.assign(buf.begin(), buf.end());
    boundary = boundary_of(head);
    int status = 0;
    sscanf(head.c_str(), "HTTP/1.1 %d", &status);
    return status;
  }

  // The local "127.0.0.1:port", as the server sees this client.
  std::string address() const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  }

  // Reads until EOF on a thread; `check` judges each part (true: as expected).
  void read_parts(std::function<bool(size_t, const Bytes &)> check) {
    reader = std::thread([this, check] {
      MjpegParser parser(boundary, [&](Bytes part) {
        if (!check(parts, part)) bad_parts++;
        parts++;
      });
      uint8_t buf[65536];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        if (!parser.feed(buf, n)) malformed = true;
        std::lock_guard<std::mutex> l(lock);
        last_bytes.insert(last_bytes.end(), buf, buf + n);
        if (last_bytes.size() > 256) last_bytes.erase(last_bytes.begin(), last_bytes.end() - 256);
      }
      eof = true;
    });
  }
};

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

// --- a small JSON reader, for stats.json ---

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  double number = 0;
  bool boolean = false;
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json &operator[](const std::string &key) const {
    for (const auto &m : members)
      if (m.first == key) return m.second;
    g_error("JSON object has no member \"%s\"", key.c_str());
  }
  bool has(const std::string &key) const {
    return std::any_of(members.begin(), members.end(), [&](auto &m) { return m.first == key; });
  }
};

class JsonReader {
 public:
  explicit JsonReader(const std::string &text) : s_(text) {}
  // The whole text as one value; false if it is not JSON.
  bool read(Json &out) {
    if (!value(out)) return false;
    space();
    return i_ == s_.size();
  }

 private:
  void space() {
    while (i_ < s_.size() && strchr(" \t\r\n", s_[i_])) i_++;
  }
  bool literal(const char *word) {
    const size_t n = strlen(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }
  bool text(std::string &out) {
    if (s_[i_] != '"') return false;
    for (i_++; i_ < s_.size() && s_[i_] != '"'; i_++) {
      if (s_[i_] == '\\') {
        if (++i_ >= s_.size()) return false;
        const char c = s_[i_];
        if (c == 'u') {
          if (i_ + 4 >= s_.size()) return false;
          out += static_cast<char>(std::stoi(s_.substr(i_ + 1, 4), nullptr, 16));
          i_ += 4;
        } else {
          out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        }
      } else {
        out += s_[i_];
      }
    }
    if (i_ >= s_.size()) return false;
    i_++;
    return true;
  }
  bool value(Json &out) {
    space();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      out.type = Json::Type::Object;
      i_++;
      space();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
      for (;;) {
        space();
        std::string key;
        if (i_ >= s_.size() || !text(key)) return false;
        space();
        if (i_ >= s_.size() || s_[i_++] != ':') return false;
        Json member;
        if (!value(member)) return false;
        out.members.emplace_back(key, std::move(member));
        space();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == '}') return ++i_, true;
        if (s_[i_++] != ',') return false;
      }
    }
    if (c == '[') {
      out.type = Json::Type::Array;
      i_++;
      space();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
      for (;;) {
        Json item;
        if (!value(item)) return false;
        out.items.push_back(std::move(item));
        space();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == ']') return ++i_, true;
        if (s_[i_++] != ',') return false;
      }
    }
    if (c == '"') {
      out.type = Json::Type::String;
      return text(out.string);
    }
    if (literal("true") || literal("false")) {
      out.type = Json::Type::Bool;
      out.boolean = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u';
      return true;
    }
    if (literal("null")) return true;
    const char *start = s_.c_str() + i_;
    char *end = nullptr;
    out.number = g_ascii_strtod(start, &end);
    if (end == start) return false;
    out.type = Json::Type::Number;
    i_ += end - start;
    return true;
  }

  const std::string &s_;
  size_t i_ = 0;
};

Json read_json(const std::string &text) {
  Json j;
  if (!JsonReader(text).read(j)) g_error("not JSON: %s", text.c_str());
  return j;
}

// The viewer of stats.json's "viewers" with `address`, or nullptr.
const Json *viewer_at(const Json &stats, const std::string &address) {
  for (const auto &v : stats["viewers"].items)
    if (v["address"].string == address) return &v;
  return nullptr;
}

// --- tests ---

void test_snapshot_is_503_before_a_frame_then_a_jpeg_of_the_source_size() {
  Relay relay;
  std::string body, headers;
  g_assert_cmpint(relay.get("/camera/snapshot.jpg", &body, &headers), ==, 503);
  g_assert_true(contains(headers, "Content-Type: text/plain"));
  g_assert_true(contains(headers, "Cache-Control: no-store"));
  g_assert_false(body.empty());

  relay.start_camera();
  g_assert_cmpint(relay.get("/camera/snapshot.jpg", &body, &headers), ==, 200);
  g_assert_true(contains(headers, "Content-Type: image/jpeg"));
  g_assert_true(contains(headers, "Cache-Control: no-store"));
  const Bytes jpeg(body.begin(), body.end());
  g_assert_true(is_full_jpeg(jpeg));
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
  Relay relay;
  relay.start_camera();
  const std::string url = "http://127.0.0.1:" + std::to_string(relay.port) + "/camera/stream.mjpeg";
  constexpr int kSeconds = 3;
  GError *err = nullptr;
  g_autoptr(GSubprocess) proc = g_subprocess_new(
      static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE), &err, curl,
      "-sN", "--max-time", "3", "-D", "/dev/stderr", url.c_str(), nullptr);
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
  const std::string boundary = boundary_of(headers);
  g_assert_cmpuint(boundary.size(), >=, 32);
  g_assert_true(contains(headers, "Cache-Control: no-store"));

  size_t parts = 0, bad = 0;
  Bytes first;
  MjpegParser parser(boundary, [&](Bytes part) {
    if (!is_full_jpeg(part)) bad++;
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

// Frames of 150-250 KB, each numbered in its first bytes, framed as JPEG so
// that a part can be told whole.
std::vector<Bytes> big_frames(int count) {
  std::vector<Bytes> frames;
  for (int i = 0; i < count; i++) {
    Bytes b = testutil::random_bytes(150000 + (static_cast<size_t>(i) * 7919) % 100000, i + 1);
    b[0] = 0xFF;
    b[1] = 0xD8;
    std::memcpy(b.data() + 2, &i, sizeof i);
    b[b.size() - 2] = 0xFF;
    b[b.size() - 1] = 0xD9;
    frames.push_back(std::move(b));
  }
  return frames;
}

void test_stuck_mjpeg_client_is_bounded_and_closed_after_viewer_timeout() {
  const auto frames = big_frames(300);
  Sink sink("viewer-timeout=1");
  MjpegClient healthy, stuck;
  g_assert_cmpint(healthy.open(sink.port, "/camera/stream.mjpeg"), ==, 200);
  healthy.read_parts([&](size_t n, const Bytes &part) { return n < frames.size() && part == frames[n]; });
  g_assert_cmpint(stuck.open(sink.port, "/camera/stream.mjpeg", 4096), ==, 200);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 2; }));

  const long rss_before = testutil::rss_kib();
  long rss_max = rss_before;
  guint max_queued = 0;
  for (size_t i = 0; i < frames.size(); i++) {
    // Never more than one frame ahead of the healthy client: it must get every one.
    if (i >= 2) g_assert_true(testutil::wait_until([&] { return healthy.parts >= i - 1; }));
    sink.push(frames[i]);
    for (auto &kq : sink.max_queued_by_kind()) max_queued = std::max(max_queued, kq.second);
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
  g_assert_cmpuint(testutil::get_u64(sink.element, "frames-dropped"), >, 0);
}

void test_stopping_ends_the_mjpeg_stream_with_its_closing_delimiter() {
  auto sink = std::make_unique<Sink>();
  const auto frames = big_frames(3);
  sink->push(frames[0]);
  MjpegClient client;
  g_assert_cmpint(client.open(sink->port, "/camera/stream.mjpeg"), ==, 200);
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
  std::lock_guard<std::mutex> l(client.lock);
  const std::string delimiter = "\r\n--" + client.boundary + "--\r\n";
  const std::string end(client.last_bytes.end() - delimiter.size(), client.last_bytes.end());
  g_assert_cmpstr(end.c_str(), ==, delimiter.c_str());
}

void test_stats_and_metrics_count_one_viewer_of_each_kind() {
  Relay relay;
  relay.start_camera();
  testutil::WsClient ws;
  g_assert_true(ws.open(relay.port, "/camera"));
  std::atomic<bool> ws_reading{true};
  std::thread ws_reader([&] {
    Bytes message;
    while (ws_reading && ws.read_message(message, 500)) {
    }
  });
  MjpegClient mjpeg;
  g_assert_cmpint(mjpeg.open(relay.port, "/camera/stream.mjpeg"), ==, 200);
  mjpeg.read_parts([](size_t, const Bytes &part) { return is_full_jpeg(part); });
  sockaddr_in local{};
  socklen_t len = sizeof local;
  getsockname(ws.fd, reinterpret_cast<sockaddr *>(&local), &len);
  const std::string ws_address = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  const std::string mjpeg_address = mjpeg.address();
  const std::pair<std::string, const char *> viewers_by_kind[] = {{ws_address, "websocket"},
                                                                  {mjpeg_address, "mjpeg"}};

  // Until each viewer has a rate: the first window is a second long.
  Json stats;
  g_assert_true(testutil::wait_until([&] {
    std::string body, headers;
    if (relay.get("/camera/stats.json", &body, &headers) != 200) return false;
    g_assert_true(contains(headers, "Content-Type: application/json"));
    g_assert_true(contains(headers, "Cache-Control: no-store"));
    stats = read_json(body);
    const Json *w = viewer_at(stats, ws_address);
    const Json *m = viewer_at(stats, mjpeg_address);
    return w && m && (*w)["fps"].number > 0 && (*m)["fps"].number > 0;
  }));
  const Json &totals = stats["totals"];
  g_assert_cmpfloat(totals["viewers"].number, ==, 2);
  g_assert_cmpfloat(totals["websocket_viewers"].number, ==, 1);
  g_assert_cmpfloat(totals["mjpeg_viewers"].number, ==, 1);
  g_assert_cmpfloat(totals["frames_in"].number, >, 0);
  g_assert_cmpfloat(totals["frames_sent"].number, >, 0);
  g_assert_cmpfloat(totals["bytes_sent"].number, >, 0);
  g_assert_true(totals.has("frames_dropped"));
  for (const auto &[address, kind] : viewers_by_kind) {
    const Json &v = *viewer_at(stats, address);
    g_assert_cmpstr(v["kind"].string.c_str(), ==, kind);
    g_assert_cmpfloat(v["frames_sent"].number, >, 0);
    g_assert_cmpfloat(v["bytes_sent"].number, >, 0);
    g_assert_cmpfloat(v["fps"].number, <=, 60);
    g_assert_true(v["frames_dropped"].type == Json::Type::Number);
    g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$",
                                       v["connected_since"].string.c_str(), G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT));
  }

  // get-stats tells the kinds apart too.
  GstStructure *s = nullptr;
  g_signal_emit_by_name(relay.sink, "get-stats", &s);
  const GValue *viewers = gst_structure_get_value(s, "viewers");
  std::vector<std::string> kinds;
  for (guint i = 0; i < gst_value_array_get_size(viewers); i++)
    kinds.push_back(gst_structure_get_string(gst_value_get_structure(gst_value_array_get_value(viewers, i)), "kind"));
  std::sort(kinds.begin(), kinds.end());
  g_assert_true((kinds == std::vector<std::string>{"mjpeg", "websocket"}));
  gst_structure_free(s);

  std::string metrics, headers;
  g_assert_cmpint(relay.get("/camera/metrics", &metrics, &headers), ==, 200);
  g_assert_true(contains(headers, "Content-Type: text/plain; version=0.0.4"));
  g_assert_true(contains(headers, "Cache-Control: no-store"));
  // Every sample is `name{labels} value` of a family declared by # TYPE.
  g_autoptr(GRegex) sample = g_regex_new(
      "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\""
      "(,[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\")*\\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$",
      G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT, nullptr);
  std::vector<std::string> families;
  std::map<std::string, std::string> values;  // "name{labels}" -> value
  g_auto(GStrv) lines = g_strsplit(metrics.c_str(), "\n", -1);
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
  Sink sink;
  for (const char *outside : {"/snapshot.jpg", "/stream.mjpeg", "/stats.json", "/metrics", "/other/stream.mjpeg",
                              "/camerax/snapshot.jpg", "/camer/snapshot.jpg", "/camera/nothing",
                              "/camera/snapshot.jpg/x", "/camera/sub/metrics", "/CAMERA/metrics"}) {
    const int status = testutil::http_get(sink.port, outside);
    if (status != 404) g_error("GET %s gave %d, not 404", outside, status);
  }
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/"), ==, 200);  // the page, as at /camera
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/snapshot.jpg"), ==, 503);  // no frame yet
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/stats.json"), ==, 200);
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/metrics"), ==, 200);
  g_assert_cmpint(testutil::http_get(sink.port, "/camera/snapshot.jpg?t=1"), ==, 503);

  Sink off("enable-snapshot=false enable-mjpeg=false enable-stats=false");
  off.push(testutil::jpeg_frames(1)[0]);
  for (const char *endpoint : {"/camera/snapshot.jpg", "/camera/stream.mjpeg", "/camera/stats.json",
                               "/camera/metrics"}) {
    const int status = testutil::http_get(off.port, endpoint);
    if (status != 404) g_error("GET %s switched off gave %d, not 404", endpoint, status);
  }
  g_assert_cmpint(testutil::http_get(off.port, "/camera"), ==, 200);  // the page stays
  g_assert_cmpuint(off.viewers(), ==, 0);

  // A secret path with more than one segment keeps its endpoints under it.
  Sink deep("path=/a/b/");
  g_assert_cmpint(testutil::http_get(deep.port, "/a/b/stats.json"), ==, 200);
  g_assert_cmpint(testutil::http_get(deep.port, "/a/stats.json"), ==, 404);
  g_assert_cmpint(testutil::http_get(deep.port, "/b/stats.json"), ==, 404);
}

void test_mjpeg_clients_count_against_max_viewers() {
  Sink sink("max-viewers=1");
  MjpegClient first, second;
  g_assert_cmpint(first.open(sink.port, "/camera/stream.mjpeg"), ==, 200);
  g_assert_true(testutil::wait_until([&] { return sink.viewers() == 1; }));
  g_assert_cmpint(second.open(sink.port, "/camera/stream.mjpeg"), ==, 503);
  testutil::WsClient ws;
  g_assert_false(ws.open(sink.port, "/camera"));
  g_assert_cmpint(ws.status, ==, 503);
  g_assert_cmpuint(sink.removed_with("refused"), ==, 2);
}

}  // namespace

int main(int argc, char **argv) {
  testutil::init(&argc, &argv);
  g_test_add_func("/httpclients/snapshot-is-503-before-a-frame-then-a-jpeg-of-the-source-size",
                  test_snapshot_is_503_before_a_frame_then_a_jpeg_of_the_source_size);
  g_test_add_func("/httpclients/mjpeg-with-curl-parses-into-full-jpegs-at-the-source-rate",
                  test_mjpeg_with_curl_parses_into_full_jpegs_at_the_source_rate);
  g_test_add_func("/httpclients/stuck-mjpeg-client-is-bounded-and-closed-after-viewer-timeout",
                  test_stuck_mjpeg_client_is_bounded_and_closed_after_viewer_timeout);
  g_test_add_func("/httpclients/stopping-ends-the-mjpeg-stream-with-its-closing-delimiter",
                  test_stopping_ends_the_mjpeg_stream_with_its_closing_delimiter);
  g_test_add_func("/httpclients/stats-and-metrics-count-one-viewer-of-each-kind",
                  test_stats_and_metrics_count_one_viewer_of_each_kind);
  g_test_add_func("/httpclients/requests-outside-path-and-switched-off-endpoints-get-404",
                  test_requests_outside_path_and_switched_off_endpoints_get_404);
  g_test_add_func("/httpclients/mjpeg-clients-count-against-max-viewers",
                  test_mjpeg_clients_count_against_max_viewers);
  return g_test_run();
}
