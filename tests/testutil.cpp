#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gst/app/gstappsink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace testutil {

void init(int *argc, char ***argv) {
  signal(SIGPIPE, SIG_IGN);
  gst_init(argc, argv);
  g_test_init(argc, argv, nullptr);
}

static sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int tcp_connect(int port, int receive_buffer) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint(fd, >=, 0);
  if (receive_buffer) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in a = loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
    g_error("connect to 127.0.0.1:%d: %s", port, g_strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int tcp_listen(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint(fd, >=, 0);
  sockaddr_in a = loopback(0);
  g_assert_cmpint(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), ==, 0);
  g_assert_cmpint(listen(fd, 1), ==, 0);
  socklen_t len = sizeof a;
  g_assert_cmpint(getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len), ==, 0);
  *port = ntohs(a.sin_port);
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

void reset_close(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

std::string local_address(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  g_assert_cmpint(getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len), ==, 0);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
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

std::vector<Bytes> numbered_frames(int count, size_t min_size, size_t max_size) {
  g_assert_cmpuint(min_size, >=, 2 + sizeof(int) + 2);
  std::vector<Bytes> frames;
  for (int i = 0; i < count; i++) {
    Bytes b = random_bytes(min_size + (static_cast<size_t>(i) * 7919) % (max_size - min_size + 1), i + 1);
    b[0] = 0xFF;
    b[1] = 0xD8;
    std::memcpy(b.data() + 2, &i, sizeof i);
    b[b.size() - 2] = 0xFF;
    b[b.size() - 1] = 0xD9;
    frames.push_back(std::move(b));
  }
  return frames;
}

int frame_number(const Bytes &frame) {
  g_assert_cmpuint(frame.size(), >=, 2 + sizeof(int));
  int n;
  std::memcpy(&n, frame.data() + 2, sizeof n);
  return n;
}

bool is_full_jpeg(const Bytes &b) {
  return b.size() > 4 && b[0] == 0xFF && b[1] == 0xD8 && b[b.size() - 2] == 0xFF && b[b.size() - 1] == 0xD9;
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

guint get_uint(GstElement *element, const char *property) {
  guint v = 0;
  g_object_get(element, property, &v, nullptr);
  return v;
}

int get_int(GstElement *element, const char *property) {
  int v = 0;
  g_object_get(element, property, &v, nullptr);
  return v;
}

std::string get_string(GstElement *element, const char *property) {
  g_autofree gchar *v = nullptr;
  g_object_get(element, property, &v, nullptr);
  return v ? v : "";
}

std::string state_change_error(GstElement *pipeline, GstState state, GQuark domain) {
  g_assert_cmpint(gst_element_set_state(pipeline, state), ==, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  g_assert_nonnull(msg);
  GError *err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  g_test_message("error: %s", err->message);
  g_assert_true(err->domain == domain);
  std::string message = err->message;
  g_error_free(err);
  gst_message_unref(msg);
  gst_object_unref(bus);
  return message;
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

TempDir::TempDir() {
  g_autofree gchar *p = g_dir_make_tmp("imagestream-test-XXXXXX", nullptr);
  g_assert_nonnull(p);
  path = p;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

void TempDir::write(const std::string &rel, const std::string &content) const {
  const std::string file = path + "/" + rel;
  g_autofree gchar *dir = g_path_get_dirname(file.c_str());
  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_assert_true(g_file_set_contents(file.c_str(), content.data(), content.size(), nullptr));
}

bool make_certificate(const std::string &dir, std::string &cert, std::string &key) {
  g_autofree gchar *openssl = g_find_program_in_path("openssl");
  if (!openssl) return false;
  const std::string cert_file = dir + "/cert.pem", key_file = dir + "/key.pem";
  const char *argv[] = {openssl,
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-keyout",
                        key_file.c_str(),
                        "-out",
                        cert_file.c_str(),
                        "-days",
                        "2",
                        "-subj",
                        "/CN=localhost",
                        nullptr};
  gint status = -1;
  const gboolean ran = g_spawn_sync(nullptr, const_cast<char **>(argv), nullptr,
                                    static_cast<GSpawnFlags>(G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL),
                                    nullptr, nullptr, nullptr, nullptr, &status, nullptr);
  if (!ran || !g_spawn_check_wait_status(status, nullptr)) return false;
  cert = cert_file;
  key = key_file;
  return true;
}

bool make_pki(const std::string &dir, Pki &pki) {
  g_autofree gchar *openssl = g_find_program_in_path("openssl");
  if (!openssl) return false;
  const char *script = R"(set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1"; }
ca() {  # name subject
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
signed() {  # name subject ca extensions
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
  printf '%b' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days 2 \
    -extfile "$1.ext"
}
ca ca /CN=imagestream-test-ca
ca other-ca /CN=someone-elses-ca
signed server /CN=localhost ca 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
signed camera /CN=camera-1 ca 'extendedKeyUsage=clientAuth\n'
signed stranger /CN=camera-1 other-ca 'extendedKeyUsage=clientAuth\n'
)";
  const char *argv[] = {"sh", "-c", script, nullptr};
  gint status = -1;
  g_autofree gchar *errors = nullptr;
  if (!g_spawn_sync(dir.c_str(), const_cast<char **>(argv), nullptr,
                    static_cast<GSpawnFlags>(G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL), nullptr, nullptr,
                    nullptr, &errors, &status, nullptr) ||
      !g_spawn_check_wait_status(status, nullptr)) {
    g_test_message("openssl failed: %s", errors ? errors : "?");
    return false;
  }
  pki.ca = dir + "/ca.pem";
  pki.server_cert = dir + "/server.pem";
  pki.server_key = dir + "/server.key";
  pki.camera_cert = dir + "/camera.pem";
  pki.camera_key = dir + "/camera.key";
  pki.other_ca = dir + "/other-ca.pem";
  pki.stranger_cert = dir + "/stranger.pem";
  pki.stranger_key = dir + "/stranger.key";
  return true;
}

}  // namespace testutil
