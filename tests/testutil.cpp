#include "testutil.h"

#include <arpa/inet.h>
#include <gst/app/gstappsink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <fstream>
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

int open_fds() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Reads until `want` bytes are buffered or the deadline passes.
static bool fill(int fd, Bytes &buf, size_t want, gint64 deadline) {
  uint8_t chunk[65536];
  while (buf.size() < want) {
    int left_ms = static_cast<int>((deadline - g_get_monotonic_time()) / 1000);
    if (left_ms <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left_ms) <= 0) return false;
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.insert(buf.end(), chunk, chunk + n);
  }
  return true;
}

bool WsClient::open(int port, const std::string &path, const std::string &extra_headers) {
  fd = tcp_connect(port);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                    extra_headers + "\r\n";
  if (!send_all(fd, req.data(), req.size())) return false;
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  size_t end;
  while ((end = std::string(pending.begin(), pending.end()).find("\r\n\r\n")) == std::string::npos)
    if (!fill(fd, pending, pending.size() + 1, deadline)) return false;
  std::string head(pending.begin(), pending.begin() + end);
  pending.erase(pending.begin(), pending.begin() + end + 4);
  if (sscanf(head.c_str(), "HTTP/1.1 %d", &status) != 1) return false;
  return status == 101;
}

bool WsClient::read_message(Bytes &payload, int timeout_ms, int *opcode) {
  gint64 deadline = g_get_monotonic_time() + gint64{timeout_ms} * 1000;
  for (;;) {
    if (!fill(fd, pending, 2, deadline)) return false;
    int op = pending[0] & 0x0F;
    uint64_t len = pending[1] & 0x7F;
    size_t header = 2;
    if (len == 126) header = 4;
    if (len == 127) header = 10;
    if (!fill(fd, pending, header, deadline)) return false;
    if (header > 2) {
      len = 0;
      for (size_t i = 2; i < header; i++) len = (len << 8) | pending[i];
    }
    if (!fill(fd, pending, header + len, deadline)) return false;
    Bytes body(pending.begin() + header, pending.begin() + header + len);
    pending.erase(pending.begin(), pending.begin() + header + len);
    if (op == 0x9 || op == 0xA) continue;  // ping, pong
    if (opcode) *opcode = op;
    payload = std::move(body);
    return op != 0x8;
  }
}

bool WsClient::send_frame(int opcode, const Bytes &payload) {
  Bytes f{static_cast<uint8_t>(0x80 | opcode)};
  if (payload.size() < 126) {
    f.push_back(static_cast<uint8_t>(0x80 | payload.size()));
  } else if (payload.size() < 65536) {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<uint8_t>(payload.size() >> 8));
    f.push_back(static_cast<uint8_t>(payload.size()));
  } else {
    f.push_back(0x80 | 127);
    Bytes len = be64(payload.size());
    f.insert(f.end(), len.begin(), len.end());
  }
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.insert(f.end(), mask, mask + 4);
  for (size_t i = 0; i < payload.size(); i++) f.push_back(payload[i] ^ mask[i % 4]);
  return send_all(fd, f.data(), f.size());
}

void WsClient::close() {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int http_get(int port, const std::string &path, std::string *body, std::string *headers) {
  int fd = tcp_connect(port);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  send_all(fd, req.data(), req.size());
  Bytes all;
  uint8_t chunk[65536];
  ssize_t n;
  while ((n = recv(fd, chunk, sizeof chunk, 0)) > 0) all.insert(all.end(), chunk, chunk + n);
  ::close(fd);
  std::string text(all.begin(), all.end());
  int status = 0;
  sscanf(text.c_str(), "HTTP/1.1 %d", &status);
  size_t end = text.find("\r\n\r\n");
  if (headers) *headers = text.substr(0, end);
  if (body) *body = end == std::string::npos ? "" : text.substr(end + 4);
  return status;
}

}  // namespace testutil
