#include "testutil.h"

#include <arpa/inet.h>
#include <gst/app/gstappsink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace testutil {

void init(int *argc, char ***argv) {
  signal(SIGPIPE, SIG_IGN);
  gst_init(argc, argv);
  g_test_init(argc, argv, nullptr);
}

int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint(fd, >=, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
  if (r != 0) g_error("connect to 127.0.0.1:%d: %s", port, g_strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const void *data, size_t len) {
  auto *p = static_cast<const uint8_t *>(data);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= n;
  }
  return true;
}

Bytes be64(uint64_t n) {
  Bytes b(8);
  for (int i = 7; i >= 0; i--, n >>= 8) b[i] = static_cast<uint8_t>(n);
  return b;
}

bool send_frame(int fd, const Bytes &payload, unsigned width) {
  Bytes header = be64(payload.size());
  return send_all(fd, header.data() + 8 - width, width) && send_all(fd, payload.data(), payload.size());
}

std::vector<Bytes> jpeg_frames(int count, int width, int height) {
  std::string desc = "videotestsrc pattern=ball num-buffers=" + std::to_string(count) +
                     " ! video/x-raw,width=" + std::to_string(width) + ",height=" + std::to_string(height) +
                     " ! jpegenc ! appsink name=out sync=false";
  GstElement *pipeline = parse(desc);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  std::vector<Bytes> frames;
  while (GstSample *s = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    GstMapInfo map;
    GstBuffer *b = gst_sample_get_buffer(s);
    gst_buffer_map(b, &map, GST_MAP_READ);
    frames.emplace_back(map.data, map.data + map.size);
    gst_buffer_unmap(b, &map);
    gst_sample_unref(s);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  g_assert_cmpint(frames.size(), ==, count);
  return frames;
}

Bytes random_bytes(size_t n, uint32_t seed) {
  Bytes b(n);
  uint32_t x = seed ? seed : 1;
  for (auto &c : b) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<uint8_t>(x);
  }
  return b;
}

bool wait_until(const std::function<bool()> &done, int timeout_ms) {
  gint64 deadline = g_get_monotonic_time() + gint64{timeout_ms} * 1000;
  while (!done()) {
    if (g_get_monotonic_time() > deadline) return false;
    while (g_main_context_iteration(nullptr, FALSE)) {
    }
    g_usleep(1000);
  }
  return true;
}

GstElement *parse(const std::string &description) {
  GError *err = nullptr;
  GstElement *p = gst_parse_launch(description.c_str(), &err);
  // A missing element is a "recoverable" error that still returns a pipeline.
  if (!p || err) g_error("cannot build '%s': %s", description.c_str(), err ? err->message : "?");
  return p;
}

GstStateChangeReturn set_state_sync(GstElement *pipeline, GstState state) {
  GstStateChangeReturn r = gst_element_set_state(pipeline, state);
  if (r == GST_STATE_CHANGE_ASYNC) r = gst_element_get_state(pipeline, nullptr, nullptr, 10 * GST_SECOND);
  return r;
}

guint64 get_u64(GstElement *element, const char *property) {
  guint64 v = 0;
  g_object_get(element, property, &v, nullptr);
  return v;
}

}  // namespace testutil
