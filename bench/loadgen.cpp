// Load generator for the relay benchmarks.
//
// Pushes length-prefixed JPEG frames (8-byte big-endian length, then the
// payload) into a relay's ingest port and reads them back from K WebSocket
// viewers, plus S viewers that finish the handshake and then never read.
// Each frame carries its sequence number and send time (CLOCK_MONOTONIC) in a
// JPEG comment segment right after SOI, so the JPEG stays valid and every
// delivered frame tells which one it is and how long it took.
//
// Prints one JSON line: delivery per viewer, reordering, end-to-end latency,
// the server's CPU time and RSS (from /proc/PID of --server-pid).
//
// Order of a run: connect every viewer and wait for the handshakes, let the
// server settle, snapshot its CPU, send for --duration seconds (or --frames),
// wait until healthy viewers have everything or stop receiving, snapshot again.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ws_handshake.h"

namespace {

int64_t now_ns()
{
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Frames stamped before this run started come from an earlier run against the
// same relay (websocketsink greets a new viewer with the most recent frame):
// they are counted as other messages, not as delivered frames or latency.
const int64_t g_run_start_ns = now_ns();

void sleep_until_ns(int64_t t)
{
  timespec ts{time_t(t / 1000000000), long(t % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

[[noreturn]] void die(const std::string &msg)
{
  std::fprintf(stderr, "loadgen: %s\n", msg.c_str());
  std::exit(2);
}

struct Options {
  std::string host = "127.0.0.1";
  int ingest_port = 0;
  int ws_port = 0;
  std::string path = "/camera";
  std::string frame_file;
  double fps = 30;  // 0 = as fast as the ingest socket takes them
  double duration_s = 5;
  uint64_t max_frames = UINT64_MAX;
  int senders = 1;
  bool sender_nagle = false;
  int viewers = 1;
  int stuck = 0;
  int threads = 2;
  int server_pid = 0;
  double connect_timeout_s = 15;
  double settle_s = 0.3;
  double drain_s = 5;  // longest wait for late frames after the last send
  double idle_s = 1;   // stop draining after this long without a delivery
  std::string system = "?";
  std::string scenario = "?";
};

void usage()
{
  std::fprintf(stderr,
               "usage: loadgen --ingest-port P --ws-port W --frame FILE.jpg [options]\n"
               "  --host H            server address (127.0.0.1)\n"
               "  --path /P           WebSocket path (/camera)\n"
               "  --fps N             offered frames per second, 0 = as fast as possible (30)\n"
               "  --duration S        seconds of sending (5)\n"
               "  --frames N          stop after N frames\n"
               "  --senders N         ingest connections sharing the rate (1)\n"
               "  --sender-nagle      leave Nagle on for the ingest sockets (default: TCP_NODELAY)\n"
               "  --viewers K         WebSocket viewers that read everything (1)\n"
               "  --stuck S           viewers that never read after the handshake (0)\n"
               "  --threads T         viewer threads, each with its own epoll (2)\n"
               "  --server-pid PID    process whose CPU and RSS are reported\n"
               "  --drain S           longest wait for late frames (5)\n"
               "  --system NAME --scenario NAME   labels copied into the JSON line\n");
}

Options parse_options(int argc, char **argv)
{
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--host") o.host = value();
    else if (a == "--ingest-port") o.ingest_port = std::stoi(value());
    else if (a == "--ws-port") o.ws_port = std::stoi(value());
    else if (a == "--path") o.path = value();
    else if (a == "--frame") o.frame_file = value();
    else if (a == "--fps") o.fps = std::stod(value());
    else if (a == "--duration") o.duration_s = std::stod(value());
    else if (a == "--frames") o.max_frames = std::stoull(value());
    else if (a == "--senders") o.senders = std::stoi(value());
    else if (a == "--sender-nagle") o.sender_nagle = true;
    else if (a == "--viewers") o.viewers = std::stoi(value());
    else if (a == "--stuck") o.stuck = std::stoi(value());
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--server-pid") o.server_pid = std::stoi(value());
    else if (a == "--connect-timeout") o.connect_timeout_s = std::stod(value());
    else if (a == "--settle") o.settle_s = std::stod(value());
    else if (a == "--drain") o.drain_s = std::stod(value());
    else if (a == "--system") o.system = value();
    else if (a == "--scenario") o.scenario = value();
    else if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else {
      usage();
      die("unknown option " + a);
    }
  }
  if (!o.ingest_port || !o.ws_port || o.frame_file.empty()) {
    usage();
    die("--ingest-port, --ws-port and --frame are required");
  }
  o.senders = std::max(1, o.senders);
  o.threads = std::max(1, o.threads);
  return o;
}

// ---------------------------------------------------------------------------
// Frames: SOI, then our COM segment, then the rest of the original JPEG.

constexpr uint8_t kMagic[4] = {'I', 'S', 'B', '1'};
// Offsets inside the JPEG (= the WebSocket payload).
constexpr size_t kMagicOffset = 6;  // after FF D8, FF FE, 2-byte segment length
constexpr size_t kSeqOffset = kMagicOffset + 4;
constexpr size_t kTimeOffset = kSeqOffset + 8;
constexpr size_t kStampEnd = kTimeOffset + 8;  // bytes a viewer needs to identify a frame

// The whole ingest record: 8-byte length prefix + stamped JPEG.
std::vector<uint8_t> make_ingest_record(const std::string &file)
{
  std::ifstream in(file, std::ios::binary);
  std::vector<uint8_t> jpeg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
    die("not a JPEG file: " + file);
  const uint16_t segment_len = 2 + 4 + 8 + 8;  // the length field counts itself
  std::vector<uint8_t> payload = {0xFF, 0xD8, 0xFF, 0xFE, uint8_t(segment_len >> 8), uint8_t(segment_len)};
  payload.insert(payload.end(), kMagic, kMagic + 4);
  payload.resize(kStampEnd, 0);
  payload.insert(payload.end(), jpeg.begin() + 2, jpeg.end());

  std::vector<uint8_t> record(8);
  uint64_t n = payload.size();
  for (int i = 0; i < 8; i++)
    record[i] = uint8_t(n >> (56 - 8 * i));
  record.insert(record.end(), payload.begin(), payload.end());
  return record;
}

void put_u64(uint8_t *p, uint64_t v) { std::memcpy(p, &v, 8); }
uint64_t get_u64(const uint8_t *p)
{
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// ---------------------------------------------------------------------------
// /proc readings of the server.

struct CpuTimes {
  double user_s = 0, sys_s = 0;
};

CpuTimes read_cpu(int pid)
{
  CpuTimes t;
  if (pid <= 0)
    return t;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the command name, which may itself contain spaces or ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos)
    return t;
  std::vector<std::string> fields;
  size_t pos = close + 2;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string::npos)
      end = line.size();
    fields.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (fields.size() > 12) {
    double tick = double(sysconf(_SC_CLK_TCK));
    t.user_s = std::stod(fields[11]) / tick;
    t.sys_s = std::stod(fields[12]) / tick;
  }
  return t;
}

long read_rss_kb(int pid)
{
  if (pid <= 0)
    return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atol(line.c_str() + 6);
  return 0;
}

// Context switches of all the server's threads (voluntary, involuntary): a
// relay that hands frames between threads shows it here first.
std::pair<long, long> read_ctx_switches(int pid)
{
  long voluntary = 0, involuntary = 0;
  if (pid <= 0)
    return {0, 0};
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::unique_ptr<DIR, int (*)(DIR *)> d(opendir(dir.c_str()), closedir);
  if (!d)
    return {0, 0};
  while (dirent *e = readdir(d.get())) {
    if (e->d_name[0] == '.')
      continue;
    std::ifstream in(dir + "/" + e->d_name + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        voluntary += std::atol(line.c_str() + 24);
      else if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        involuntary += std::atol(line.c_str() + 27);
    }
  }
  return {voluntary, involuntary};
}

// ---------------------------------------------------------------------------
// Sockets.

sockaddr_in make_addr(const std::string &host, int port)
{
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    die("bad IPv4 address " + host);
  return a;
}

// Blocking connect, retried while the server is still starting.
int connect_retry(const sockaddr_in &addr, int64_t deadline)
{
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) == 0)
      return fd;
    close(fd);
    if (now_ns() > deadline)
      return -1;
    usleep(50000);
  }
}

// ---------------------------------------------------------------------------
// Viewers.

struct Viewer {
  enum class State { Waiting, Connecting, Handshaking, Open, Closed };
  int fd = -1;
  bool stuck = false;
  State state = State::Waiting;
  int64_t retry_at = 0;
  std::string accept_expected;
  std::string response;  // handshake bytes until the blank line

  // Frame parser state (server frames are never masked).
  uint8_t header[14];
  size_t header_len = 0;
  bool in_payload = false;
  uint64_t remaining = 0;
  uint8_t opcode = 0;          // opcode of the frame being read
  bool fin = false;
  uint8_t message_opcode = 0;  // opcode of the message (continuations keep it)
  uint8_t stamp[kStampEnd];
  size_t stamp_len = 0;
  std::string control;  // payload of a ping/close

  // Statistics.
  uint64_t frames = 0;       // stamped binary messages received
  uint64_t other = 0;        // messages without our stamp
  uint64_t reordered = 0;    // frames older than one already seen
  int64_t highest_seq = -1;
  bool protocol_error = false;
};

struct Shared {
  const Options *opt;
  std::atomic<int> opened{0};
  std::atomic<int> failed{0};
  std::atomic<int> opened_healthy{0};
  std::atomic<uint64_t> healthy_frames{0};  // stamped frames delivered to healthy viewers
  std::atomic<bool> stop{false};
  int64_t connect_deadline = 0;
};

class ViewerThread {
 public:
  ViewerThread(Shared &shared, std::vector<Viewer *> viewers) : shared_(shared), viewers_(std::move(viewers))
  {
    epoll_ = epoll_create1(0);
  }
  ~ViewerThread() { close(epoll_); }

  void run()
  {
    std::vector<uint8_t> buf(256 * 1024);
    epoll_event events[256];
    const sockaddr_in addr = make_addr(shared_.opt->host, shared_.opt->ws_port);
    while (!shared_.stop.load(std::memory_order_relaxed)) {
      start_connections(addr);
      int n = epoll_wait(epoll_, events, 256, 20);
      int64_t now = now_ns();
      for (int i = 0; i < n; i++) {
        Viewer *v = static_cast<Viewer *>(events[i].data.ptr);
        if (v->state == Viewer::State::Connecting)
          finish_connect(v, now);
        else if (v->state == Viewer::State::Handshaking || v->state == Viewer::State::Open)
          read_viewer(v, buf, now);
      }
    }
    for (Viewer *v : viewers_)
      if (v->fd >= 0)
        close(v->fd);
  }

  std::vector<int64_t> latencies_ns;  // healthy viewers only

 private:
  // At most this many handshakes in flight per thread, so that a server with a
  // short listen backlog (tornado: 128) never drops SYNs and stalls us 1 s.
  static constexpr int kMaxInFlight = 32;

  void start_connections(const sockaddr_in &addr)
  {
    int64_t now = now_ns();
    for (Viewer *v : viewers_) {
      if (in_flight_ >= kMaxInFlight)
        return;
      if (v->state != Viewer::State::Waiting || v->retry_at > now)
        continue;
      if (now > shared_.connect_deadline) {
        v->state = Viewer::State::Closed;
        shared_.failed++;
        continue;
      }
      v->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      int r = connect(v->fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr);
      if (r < 0 && errno != EINPROGRESS) {
        retry_later(v, now);
        continue;
      }
      v->state = Viewer::State::Connecting;
      in_flight_++;
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.ptr = v;
      epoll_ctl(epoll_, EPOLL_CTL_ADD, v->fd, &ev);
    }
  }

  void retry_later(Viewer *v, int64_t now)
  {
    close(v->fd);
    v->fd = -1;
    v->state = Viewer::State::Waiting;
    v->retry_at = now + 100000000;  // the server may not listen yet
  }

  void finish_connect(Viewer *v, int64_t now)
  {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(v->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, v->fd, nullptr);
      in_flight_--;
      retry_later(v, now);
      return;
    }
    uint8_t nonce[16];
    for (auto &b : nonce)
      b = uint8_t(rng_() >> 24);
    char key[25];
    bench_base64(nonce, 16, key);
    char accept[29];
    bench_ws_accept(key, std::strlen(key), accept);
    v->accept_expected = accept;
    std::string req = "GET " + shared_.opt->path + " HTTP/1.1\r\nHost: " + shared_.opt->host + ":" +
                      std::to_string(shared_.opt->ws_port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                      "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    // A fresh socket's send buffer always takes a 200-byte request whole.
    if (write(v->fd, req.data(), req.size()) != ssize_t(req.size())) {
      fail(v);
      return;
    }
    v->state = Viewer::State::Handshaking;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = v;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, v->fd, &ev);
  }

  void fail(Viewer *v)
  {
    if (v->state == Viewer::State::Connecting || v->state == Viewer::State::Handshaking) {
      in_flight_--;
      shared_.failed++;
    }
    epoll_ctl(epoll_, EPOLL_CTL_DEL, v->fd, nullptr);
    v->state = Viewer::State::Closed;
  }

  void read_viewer(Viewer *v, std::vector<uint8_t> &buf, int64_t now)
  {
    ssize_t n = read(v->fd, buf.data(), buf.size());
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN)
        return;
      fail(v);
      return;
    }
    const uint8_t *p = buf.data();
    size_t len = size_t(n);
    if (v->state == Viewer::State::Handshaking) {
      size_t before = v->response.size();
      v->response.append(reinterpret_cast<const char *>(p), len);
      size_t end = v->response.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (v->response.size() > 8192)
          fail(v);
        return;
      }
      if (!handshake_ok(v->response.substr(0, end), v->accept_expected)) {
        std::fprintf(stderr, "loadgen: handshake refused: %s\n",
                     v->response.substr(0, v->response.find("\r\n")).c_str());
        fail(v);
        return;
      }
      size_t consumed = end + 4 - before;
      p += consumed;
      len -= consumed;
      v->response.clear();
      v->state = Viewer::State::Open;
      in_flight_--;
      shared_.opened++;
      if (!v->stuck)
        shared_.opened_healthy++;
      if (v->stuck) {
        // Keep the connection, never read it again: the server's sends to it
        // pile up in its buffers or in its own queues.
        epoll_ctl(epoll_, EPOLL_CTL_DEL, v->fd, nullptr);
        return;
      }
    }
    parse(v, p, len, now);
  }

  static bool handshake_ok(const std::string &head, const std::string &accept)
  {
    if (head.compare(0, 12, "HTTP/1.1 101") != 0)
      return false;
    std::string lower = head;
    for (char &c : lower)
      c = char(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower.find("\r\nsec-websocket-accept:");
    if (at == std::string::npos)
      return false;
    at += std::strlen("\r\nsec-websocket-accept:");
    while (at < head.size() && head[at] == ' ')
      at++;
    return head.compare(at, accept.size(), accept) == 0;
  }

  void parse(Viewer *v, const uint8_t *p, size_t len, int64_t now)
  {
    while (len > 0 && v->state == Viewer::State::Open) {
      if (!v->in_payload) {
        v->header[v->header_len++] = *p++;
        len--;
        if (v->header_len < 2)
          continue;
        if (v->header[1] & 0x80) {  // servers must not mask
          v->protocol_error = true;
          fail(v);
          return;
        }
        uint8_t len7 = v->header[1] & 0x7F;
        size_t need = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
        if (v->header_len < need)
          continue;
        uint64_t size = len7;
        if (len7 >= 126) {
          size = 0;
          for (size_t i = 2; i < need; i++)
            size = (size << 8) | v->header[i];
        }
        v->opcode = v->header[0] & 0x0F;
        v->fin = v->header[0] & 0x80;
        if (v->opcode >= 8) {
          v->control.clear();
        } else if (v->opcode != 0) {
          v->message_opcode = v->opcode;
          v->stamp_len = 0;
        }
        v->in_payload = true;
        v->remaining = size;
        v->header_len = 0;
        if (size == 0)
          frame_done(v, now);
        continue;
      }
      size_t take = size_t(std::min<uint64_t>(len, v->remaining));
      if (v->opcode >= 8) {
        v->control.append(reinterpret_cast<const char *>(p), take);
      } else if (v->stamp_len < kStampEnd) {
        size_t copy = std::min(take, kStampEnd - v->stamp_len);
        std::memcpy(v->stamp + v->stamp_len, p, copy);
        v->stamp_len += copy;
      }
      p += take;
      len -= take;
      v->remaining -= take;
      if (v->remaining == 0)
        frame_done(v, now);
    }
  }

  void frame_done(Viewer *v, int64_t now)
  {
    v->in_payload = false;
    if (v->opcode == 0x9) {
      // Pong with the ping's payload; client frames must be masked (an all-zero
      // key leaves the payload as it is).
      std::string pong = {char(0x8A), char(0x80 | v->control.size()), 0, 0, 0, 0};
      pong += v->control;
      if (write(v->fd, pong.data(), pong.size()) < 0)
        fail(v);
      return;
    }
    if (v->opcode == 0x8) {
      fail(v);
      return;
    }
    if (v->opcode >= 8 || !v->fin)
      return;
    if (v->message_opcode != 0x2 || v->stamp_len < kStampEnd ||
        std::memcmp(v->stamp + kMagicOffset, kMagic, 4) != 0) {
      v->other++;
      return;
    }
    int64_t seq = int64_t(get_u64(v->stamp + kSeqOffset));
    int64_t sent = int64_t(get_u64(v->stamp + kTimeOffset));
    if (sent < g_run_start_ns) {
      v->other++;
      return;
    }
    v->frames++;
    if (seq < v->highest_seq)
      v->reordered++;
    else
      v->highest_seq = seq;
    latencies_ns.push_back(now - sent);
    shared_.healthy_frames.fetch_add(1, std::memory_order_relaxed);
  }

  Shared &shared_;
  std::vector<Viewer *> viewers_;
  int epoll_ = -1;
  int in_flight_ = 0;
  uint32_t rng_state_ = uint32_t(now_ns());
  uint32_t rng_()
  {
    rng_state_ = rng_state_ * 1664525u + 1013904223u;
    return rng_state_;
  }
};

// ---------------------------------------------------------------------------
// Senders.

struct SendResult {
  uint64_t frames = 0;
};

// Writes everything or gives up at the deadline (a server that stopped reading
// its ingest must not hang the benchmark).
bool write_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if ((errno == EAGAIN || errno == EINTR) && now_ns() < deadline)
        continue;  // SO_SNDTIMEO expired: check the deadline and go on
      return false;
    }
    p += w;
    n -= size_t(w);
  }
  return true;
}

void run_sender(const Options &opt, int index, int fd, std::vector<uint8_t> record, std::atomic<uint64_t> &next_seq,
                int64_t start, int64_t end, SendResult &result)
{
  timeval tv{0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  // Without this, Nagle holds a frame while the previous one is unacknowledged,
  // the relay's delayed ACK (40 ms) shows up as relay latency, and frames
  // arrive in bursts. --sender-nagle keeps it, like a plain camera sender.
  int one = 1;
  if (!opt.sender_nagle)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Sender k of N sends frames k, k+N, k+2N, ... of the global schedule.
  const double interval_ns = opt.fps > 0 ? 1e9 / opt.fps : 0;
  for (uint64_t i = 0;; i++) {
    if (interval_ns > 0)
      sleep_until_ns(start + int64_t(double(i * opt.senders + index) * interval_ns));
    int64_t t = now_ns();
    if (t >= end)
      break;
    uint64_t seq = next_seq.fetch_add(1);
    if (seq >= opt.max_frames)
      break;
    put_u64(&record[8 + kSeqOffset], seq);
    put_u64(&record[8 + kTimeOffset], uint64_t(t));
    if (!write_all(fd, record.data(), record.size(), end))
      break;
    result.frames++;
  }
}

// ---------------------------------------------------------------------------

// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
double percentile(const std::vector<int64_t> &sorted, double p)
{
  if (sorted.empty())
    return 0;
  size_t i = size_t(std::ceil(p * double(sorted.size())));
  i = std::min(sorted.size() - 1, i == 0 ? 0 : i - 1);
  return double(sorted[i]) / 1e6;
}

}  // namespace

int main(int argc, char **argv)
{
  Options opt = parse_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  // 1000 viewers need more descriptors than the usual soft limit.
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  std::vector<uint8_t> record = make_ingest_record(opt.frame_file);
  const size_t frame_bytes = record.size() - 8;

  // Viewers first: every one must be connected before the first frame.
  Shared shared;
  shared.opt = &opt;
  int64_t t_begin = now_ns();
  shared.connect_deadline = t_begin + int64_t(opt.connect_timeout_s * 1e9);
  const int total_viewers = opt.viewers + opt.stuck;
  std::vector<std::unique_ptr<Viewer>> viewers;
  // Stuck viewers are spread among the healthy ones (every step-th) rather than last.
  const int step = opt.stuck > 0 ? total_viewers / opt.stuck : 0;
  for (int i = 0; i < total_viewers; i++) {
    viewers.push_back(std::make_unique<Viewer>());
    viewers.back()->stuck = step > 0 && i % step == 0 && i / step < opt.stuck;
  }

  int n_threads = std::min(opt.threads, std::max(1, total_viewers));
  std::vector<std::unique_ptr<ViewerThread>> vthreads;
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; t++) {
    std::vector<Viewer *> mine;
    for (int i = t; i < total_viewers; i += n_threads)
      mine.push_back(viewers[i].get());
    vthreads.push_back(std::make_unique<ViewerThread>(shared, mine));
  }
  for (auto &vt : vthreads)
    threads.emplace_back([&vt] { vt->run(); });

  while (shared.opened + shared.failed < total_viewers && now_ns() < shared.connect_deadline + 1000000000LL)
    usleep(10000);
  const int connected = shared.opened;
  double connect_s = double(now_ns() - t_begin) / 1e9;
  std::fprintf(stderr, "loadgen: %d/%d viewers connected in %.2f s\n", connected, total_viewers, connect_s);

  // Ingest connections.
  const sockaddr_in ingest_addr = make_addr(opt.host, opt.ingest_port);
  std::vector<int> sender_fds;
  for (int i = 0; i < opt.senders; i++) {
    int fd = connect_retry(ingest_addr, now_ns() + int64_t(opt.connect_timeout_s * 1e9));
    if (fd < 0)
      die("cannot connect to ingest port " + std::to_string(opt.ingest_port));
    sender_fds.push_back(fd);
  }
  // The server may register a viewer just after its handshake response and an
  // ingest connection just after accept; give it a moment before frame 0.
  usleep(useconds_t(opt.settle_s * 1e6));

  // Server memory, sampled every 100 ms while frames flow.
  std::atomic<bool> sampling{true};
  long rss_start = read_rss_kb(opt.server_pid), rss_peak = rss_start, rss_final = rss_start;
  std::thread sampler([&] {
    while (sampling) {
      long kb = read_rss_kb(opt.server_pid);
      if (kb > 0) {
        rss_peak = std::max(rss_peak, kb);
        rss_final = kb;
      }
      usleep(100000);
    }
  });

  CpuTimes cpu0 = read_cpu(opt.server_pid);
  const auto ctx0 = read_ctx_switches(opt.server_pid);
  rusage self0;
  getrusage(RUSAGE_SELF, &self0);
  std::atomic<uint64_t> next_seq{0};
  std::vector<SendResult> results(opt.senders);
  const int64_t send_start = now_ns() + 1000000;
  const int64_t send_end = send_start + int64_t(opt.duration_s * 1e9);
  std::vector<std::thread> senders;
  for (int i = 0; i < opt.senders; i++)
    senders.emplace_back(run_sender, std::cref(opt), i, sender_fds[i], record, std::ref(next_seq), send_start,
                         send_end, std::ref(results[i]));
  for (auto &s : senders)
    s.join();
  const int64_t sent_done = now_ns();
  uint64_t sent = 0;
  for (auto &r : results)
    sent += r.frames;

  // Drain: until every healthy viewer has every frame, deliveries stop for
  // idle_s, or drain_s passes.
  const int healthy_connected = shared.opened_healthy;
  const uint64_t expected = sent * uint64_t(healthy_connected);
  uint64_t last_count = shared.healthy_frames;
  int64_t last_change = now_ns();
  while (shared.healthy_frames < expected) {
    usleep(20000);
    int64_t t = now_ns();
    uint64_t c = shared.healthy_frames;
    if (c != last_count) {
      last_count = c;
      last_change = t;
    }
    if (t - last_change > int64_t(opt.idle_s * 1e9) || t - sent_done > int64_t(opt.drain_s * 1e9))
      break;
  }
  const int64_t drained = now_ns();
  CpuTimes cpu1 = read_cpu(opt.server_pid);
  const auto ctx1 = read_ctx_switches(opt.server_pid);
  rusage self1;
  getrusage(RUSAGE_SELF, &self1);
  sampling = false;
  sampler.join();
  shared.stop = true;
  for (auto &t : threads)
    t.join();
  for (int fd : sender_fds)
    close(fd);

  // Per-viewer results over healthy viewers.
  uint64_t delivered = 0, reordered = 0, other = 0;
  double min_ratio = sent ? 1.0 : 0.0, sum_ratio = 0;
  int full = 0, at_999 = 0, healthy = 0, protocol_errors = 0;
  uint64_t stuck_frames = 0;
  for (auto &v : viewers) {
    if (v->stuck) {
      stuck_frames += v->frames;
      continue;
    }
    healthy++;
    double ratio = sent ? double(v->frames) / double(sent) : 0;
    delivered += v->frames;
    reordered += v->reordered;
    other += v->other;
    protocol_errors += v->protocol_error;
    min_ratio = std::min(min_ratio, ratio);
    sum_ratio += ratio;
    full += v->frames >= sent && sent > 0;
    at_999 += ratio >= 0.999;
  }
  std::vector<int64_t> lat;
  for (auto &vt : vthreads)
    lat.insert(lat.end(), vt->latencies_ns.begin(), vt->latencies_ns.end());
  std::sort(lat.begin(), lat.end());

  const double send_s = double(sent_done - send_start) / 1e9;
  const double cpu_user = cpu1.user_s - cpu0.user_s, cpu_sys = cpu1.sys_s - cpu0.sys_s;
  auto tv_s = [](const timeval &tv) { return double(tv.tv_sec) + double(tv.tv_usec) / 1e6; };
  const double self_cpu = tv_s(self1.ru_utime) + tv_s(self1.ru_stime) - tv_s(self0.ru_utime) - tv_s(self0.ru_stime);

  std::printf(
      "{\"system\":\"%s\",\"scenario\":\"%s\",\"frame_bytes\":%zu,\"offered_fps\":%g,\"senders\":%d,"
      "\"sent\":%" PRIu64 ",\"send_s\":%.3f,\"achieved_fps\":%.1f,"
      "\"viewers\":%d,\"stuck\":%d,\"connected\":%d,\"connect_s\":%.2f,"
      "\"delivery_min\":%.5f,\"delivery_mean\":%.5f,\"viewers_full\":%d,\"viewers_999\":%d,"
      "\"delivered\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"other_messages\":%" PRIu64 ",\"protocol_errors\":%d,"
      "\"stuck_frames\":%" PRIu64 ","
      "\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_max_ms\":%.3f,"
      "\"cpu_user_s\":%.2f,\"cpu_sys_s\":%.2f,\"cpu_us_per_frame\":%.2f,"
      "\"rss_start_kb\":%ld,\"rss_peak_kb\":%ld,\"rss_final_kb\":%ld,"
      "\"ctx_voluntary\":%ld,\"ctx_involuntary\":%ld,\"drain_s\":%.2f,\"loadgen_cpu_s\":%.2f}\n",
      opt.system.c_str(), opt.scenario.c_str(), frame_bytes, opt.fps, opt.senders, sent, send_s,
      send_s > 0 ? double(sent) / send_s : 0.0, opt.viewers, opt.stuck, connected, connect_s, healthy ? min_ratio : 0.0,
      healthy ? sum_ratio / healthy : 0.0, full, at_999, delivered, reordered, other, protocol_errors, stuck_frames,
      percentile(lat, 0.5), percentile(lat, 0.99), lat.empty() ? 0.0 : double(lat.back()) / 1e6, cpu_user, cpu_sys,
      delivered ? (cpu_user + cpu_sys) * 1e6 / double(delivered) : 0.0, rss_start, rss_peak, rss_final,
      ctx1.first - ctx0.first, ctx1.second - ctx0.second,
      double(drained - sent_done) / 1e9, self_cpu);
  return 0;
}
