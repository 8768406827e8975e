// Ingest throughput of lengthprefixsrc: one sender pushes N frames of a given
// size as fast as TCP takes them into `lengthprefixsrc ! fakesink`, in this
// process; prints frames/s, MB/s and the process's CPU seconds per frame.
//   ingest_rate FRAME_BYTES FRAMES [SENDERS]
#include <arpa/inet.h>
#include <gst/gst.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "gstimagestream.h"

static double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void send_frames(int port, size_t size, int count) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) abort();
  // All frames back to back in one block: the sender costs almost nothing.
  std::vector<uint8_t> frame(8 + size, 0x5A);
  for (int i = 0; i < 8; i++) frame[i] = static_cast<uint8_t>(uint64_t(size) >> (8 * (7 - i)));
  std::vector<uint8_t> block;
  int per_block = std::max<int>(1, (1 << 20) / frame.size());
  for (int i = 0; i < per_block; i++) block.insert(block.end(), frame.begin(), frame.end());
  for (int sent = 0; sent < count; sent += per_block) {
    size_t n = std::min(per_block, count - sent) * frame.size();
    for (size_t off = 0; off < n;) {
      ssize_t w = send(fd, block.data() + off, n - off, 0);
      if (w <= 0) abort();
      off += w;
    }
  }
  close(fd);
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: ingest_rate FRAME_BYTES FRAMES [SENDERS]\n");
    return 2;
  }
  size_t size = strtoull(argv[1], nullptr, 10);
  int count = atoi(argv[2]);
  int senders = argc > 3 ? atoi(argv[3]) : 1;
  imagestream_register_static();
  GstElement *p = gst_parse_launch("lengthprefixsrc name=src host=127.0.0.1 port=0 ! fakesink sync=false", nullptr);
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), "src");
  gst_element_set_state(p, GST_STATE_PLAYING);
  int port = 0;
  g_object_get(src, "current-port", &port, nullptr);

  double cpu0 = cpu_seconds();
  gint64 t0 = g_get_monotonic_time();
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; s++) threads.emplace_back(send_frames, port, size, count / senders);
  guint64 total = uint64_t(count / senders) * senders, got = 0;
  while (got < total) {
    g_usleep(200);
    g_object_get(src, "frames-received", &got, nullptr);
  }
  double secs = (g_get_monotonic_time() - t0) / 1e6;
  double cpu = cpu_seconds() - cpu0;
  for (auto &t : threads) t.join();
  printf("frame %zu B x %llu, %d sender(s): %.0f frames/s, %.1f MB/s, %.2f us CPU/frame (process incl. sender)\n",
         size, (unsigned long long)total, senders, total / secs, total * size / secs / 1e6, cpu / total * 1e6);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(p);
  return 0;
}
