/**
 * SECTION:element-websocketsink
 * @title: websocketsink
 *
 * A WebSocket fan-out server: every buffer goes to every connected viewer as
 * one binary WebSocket message (for example one JPEG per message). Caps
 * `streamheader` buffers go first to each new viewer, and a viewer connecting
 * mid-stream immediately receives the most recent frame.
 *
 * The same port serves HTTP: `GET` on #websocketsink:path without an upgrade
 * returns the viewer page (`index.html` from #websocketsink:document-root when
 * that is set, else a built-in page), and the other files under
 * #websocketsink:document-root are served at `/<relative path>`.
 *
 * Every viewer has its own small queue (#websocketsink:max-queued-frames) and
 * the newest frame wins: a viewer that falls behind skips frames, which are
 * counted in #websocketsink:frames-dropped, and never slows the stream or the
 * other viewers. A viewer that accepts no data for
 * #websocketsink:viewer-timeout seconds is closed with code 1008.
 * With #websocketsink:tls-certificate set the server speaks https/wss.
 *
 * The server listens from the READY state on, so viewers may connect as soon
 * as the state change returns; going back to NULL closes every viewer with
 * code 1001 (going away).
 *
 * Under #websocketsink:path the same stream serves clients without
 * WebSocket, so the path's secret guards them too:
 * `<path>/snapshot.jpg` (the most recent frame), `<path>/stream.mjpeg`
 * (`multipart/x-mixed-replace` for `<img>`, VLC, ffmpeg and curl; each
 * client is a viewer with the same queue, limits and timeout as a WebSocket
 * viewer), `<path>/stats.json` and `<path>/metrics` (Prometheus text). Each
 * can be switched off: #websocketsink:enable-snapshot,
 * #websocketsink:enable-mjpeg, #websocketsink:enable-stats.
 *
 * Viewers are visible through the #websocketsink::viewer-added and
 * #websocketsink::viewer-removed signals, and per viewer through the
 * #websocketsink::get-stats action signal.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 lengthprefixsrc port=5000 ! websocketsink port=8090 path=/camera
 * ]|
 */
#include "gstwebsocketsink.h"

#include <libsoup/soup.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gstimagestream.h"
#include "glibptr.h"
#include "tcp.h"
#include "viewerqueue.h"
#include "wsframe.h"

using imagestream::GObjectPtr;
using imagestream::Span;
using imagestream::ViewerQueue;
using imagestream::WireMessage;
using imagestream::WireMessageRef;
namespace ws = imagestream::ws;

GST_DEBUG_CATEGORY_STATIC(websocketsink_debug);
#define GST_CAT_DEFAULT websocketsink_debug

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 8090
#define DEFAULT_PATH "/camera"
#define DEFAULT_MAX_VIEWERS 1024
#define DEFAULT_MAX_QUEUED_FRAMES 2
#define DEFAULT_VIEWER_TIMEOUT 10
#define DEFAULT_MAX_MESSAGE_SIZE (64 * 1024)
#define DEFAULT_ENABLE_SNAPSHOT TRUE
#define DEFAULT_ENABLE_MJPEG TRUE
#define DEFAULT_ENABLE_STATS TRUE

#define PAGE_RESOURCE "/org/imagestream/web/index.html"

// Kernel-side bytes not yet sent per viewer: bounds memory and latency.
constexpr int kNotSentLowat = 128 * 1024;
// How long a viewer we closed may take to answer before it is cut off.
constexpr gint64 kLingerUs = 2 * G_USEC_PER_SEC;
// How long stopping waits for viewers to take their close frame.
constexpr guint kStopGraceMs = 1000;
constexpr guint kTickMs = 200;
// Connections the kernel completes before the server thread accepts them.
constexpr int kListenBacklog = 1024;
// Frames per second are counted over windows of this length, in the tick.
constexpr gint64 kFpsWindowUs = G_USEC_PER_SEC;

// The MJPEG stream: the response's first part headers, each frame followed at
// once by the next part's boundary and headers, and the closing delimiter.
#define MJPEG_BOUNDARY "imagestream-frame"
constexpr char kMjpegFirstPart[] = "--" MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\n\r\n";
constexpr char kMjpegNextPart[] = "\r\n--" MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\n\r\n";
constexpr char kMjpegEnd[] = "\r\n--" MJPEG_BOUNDARY "--\r\n";

enum {
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_CURRENT_PORT,
  PROP_PATH,
  PROP_DOCUMENT_ROOT,
  PROP_MAX_VIEWERS,
  PROP_ALLOWED_ORIGINS,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_MAX_QUEUED_FRAMES,
  PROP_VIEWER_TIMEOUT,
  PROP_MAX_MESSAGE_SIZE,
  PROP_ENABLE_SNAPSHOT,
  PROP_ENABLE_MJPEG,
  PROP_ENABLE_STATS,
  PROP_NUM_VIEWERS,
  PROP_FRAMES_SENT,
  PROP_FRAMES_DROPPED,
  PROP_BYTES_SENT,
  PROP_STATS,
};

enum { SIGNAL_VIEWER_ADDED, SIGNAL_VIEWER_REMOVED, SIGNAL_GET_STATS, LAST_SIGNAL };
static guint signals[LAST_SIGNAL];

namespace {

using imagestream::BytesPtr;
using imagestream::MainContextPtr;
using imagestream::MainLoopPtr;
using imagestream::SourcePtr;

struct Settings {
  std::string host = DEFAULT_HOST;
  int port = DEFAULT_PORT;
  std::string path = DEFAULT_PATH;
  std::string document_root;
  guint max_viewers = DEFAULT_MAX_VIEWERS;
  std::string allowed_origins;
  std::string tls_certificate;
  std::string tls_key;
  guint max_queued_frames = DEFAULT_MAX_QUEUED_FRAMES;
  guint viewer_timeout = DEFAULT_VIEWER_TIMEOUT;
  guint64 max_message_size = DEFAULT_MAX_MESSAGE_SIZE;
  bool enable_snapshot = DEFAULT_ENABLE_SNAPSHOT;
  bool enable_mjpeg = DEFAULT_ENABLE_MJPEG;
  bool enable_stats = DEFAULT_ENABLE_STATS;
};

// How a viewer receives the frames: WebSocket messages, or MJPEG parts over
// plain HTTP. Both go through the same ViewerQueue and the same writes.
enum class ViewerKind { WebSocket, Mjpeg };
constexpr size_t kViewerKinds = 2;
const char *kind_name(ViewerKind kind) { return kind == ViewerKind::Mjpeg ? "mjpeg" : "websocket"; }

// A buffer as one binary message: mapped for as long as any viewer holds it.
class BufferMessage : public WireMessage {
 public:
  explicit BufferMessage(GstBuffer *buffer) : buffer_(gst_buffer_ref(buffer)) {
    mapped_ = gst_buffer_map(buffer_, &map_, GST_MAP_READ);
    header = header_;
    header_size = ws::encode_header(header_, ws::kBinary, mapped_ ? map_.size : 0);
    payload = mapped_ ? map_.data : nullptr;
    payload_size = mapped_ ? map_.size : 0;
  }
  ~BufferMessage() {
    if (mapped_) gst_buffer_unmap(buffer_, &map_);
    gst_buffer_unref(buffer_);
  }
  BufferMessage(const BufferMessage &) = delete;
  BufferMessage &operator=(const BufferMessage &) = delete;

 private:
  GstBuffer *buffer_;
  GstMapInfo map_{};
  bool mapped_ = false;
  uint8_t header_[ws::kMaxServerHeader];
};

// A whole control frame (pong, close) owned by the message; for MJPEG
// clients, the bytes around the frames (first part headers, end delimiter).
class ControlMessage : public WireMessage {
 public:
  explicit ControlMessage(std::vector<uint8_t> frame) : frame_(std::move(frame)) {
    payload = frame_.data();
    payload_size = frame_.size();
  }
  explicit ControlMessage(const char *text) : ControlMessage(std::vector<uint8_t>(text, text + strlen(text))) {}

 private:
  std::vector<uint8_t> frame_;
};

// A frame as one MJPEG part: the buffer's bytes, shared with its WebSocket
// message (not copied), then at once the next part's boundary and headers.
// Chromium shows a part only once it has parsed the next part's headers, so
// sending those with the following frame would show every frame one frame
// late; the price is that parts carry no Content-Length, which no MJPEG
// client needs (the boundary ends each part).
class MjpegPart : public WireMessage {
 public:
  explicit MjpegPart(WireMessageRef frame) : frame_(std::move(frame)) {
    payload = frame_->payload;
    payload_size = frame_->payload_size;
    trailer = reinterpret_cast<const uint8_t *>(kMjpegNextPart);
    trailer_size = sizeof kMjpegNextPart - 1;
  }

 private:
  WireMessageRef frame_;
};

enum class Flush { Drained, Blocked, Failed };

class Server;

struct Totals {
  guint64 frames_sent = 0;
  guint64 frames_dropped = 0;
  guint64 bytes_sent = 0;
  void add(const ViewerQueue &q) {
    frames_sent += q.frames_sent();
    frames_dropped += q.frames_dropped();
    bytes_sent += q.bytes_sent();
  }
  void add(const Totals &t) {
    frames_sent += t.frames_sent;
    frames_dropped += t.frames_dropped;
    bytes_sent += t.bytes_sent;
  }
};

// One connected viewer. A plain socket is written by whichever thread holds
// `lock`: render() writes each frame straight away, and the server thread
// finishes what a full socket did not take. TLS viewers are written by the
// server thread only: a GTlsConnection is read there and must not be written
// from two threads.
struct Viewer : std::enable_shared_from_this<Viewer> {
  Viewer(Server &srv, ViewerKind viewer_kind, GObjectPtr<GSocket> sock, GObjectPtr<GIOStream> io, bool is_tls,
         size_t max_waiting, guint64 max_message_size)
      : address(imagestream::peer_address(sock.get())),
        connect_time(g_get_real_time()),
        kind(viewer_kind),
        tls(is_tls),
        fd(g_socket_get_fd(sock.get())),
        server(srv),
        socket(std::move(sock)),
        stream(std::move(io)),
        input(G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream.get()))),
        output(G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream.get()))),
        reader(max_message_size),
        queue(max_waiting),
        fps_since(g_get_monotonic_time()) {}

  Flush flush_locked();

  // Constant.
  const std::string address;
  const gint64 connect_time;  // real time, microseconds
  const ViewerKind kind;
  const bool tls;
  const int fd;

  // Server thread only.
  Server &server;
  GObjectPtr<GSocket> socket;
  GObjectPtr<GIOStream> stream;  // the stolen connection
  GPollableInputStream *input;   // of `stream`
  GPollableOutputStream *output;
  SourcePtr read_source;
  SourcePtr write_source;
  ws::ClientFrameReader reader;  // WebSocket viewers only
  bool gone = false;
  bool reads_drained = false;    // the stolen stream's buffered bytes are read
  bool peer_closed = false;      // the viewer sent its close frame first
  bool close_handled = false;    // our close frame went out
  const char *close_reason = nullptr;  // why we closed it; set once closing
  gint64 linger_until = 0;

  std::mutex lock;  // guards everything below
  ViewerQueue queue;
  bool removed = false;    // being torn down: nobody writes any more
  bool scheduled = false;  // the server thread is asked to flush
  bool watching = false;   // the server thread writes when the socket is writable
  gint64 stalled_since = 0;  // monotonic time writing first blocked, 0 while it progresses
  // Frames sent per second over the last window; updated by the tick, not per frame.
  double fps = 0;
  guint64 fps_frames = 0;  // frames_sent at fps_since
  gint64 fps_since;        // monotonic time the window started
};

Flush Viewer::flush_locked() {
  Span spans[imagestream::kMaxSpans];
  while (int n = queue.next(spans)) {
    gssize written;
    if (!tls) {
      iovec iov[imagestream::kMaxSpans];
      for (int i = 0; i < n; i++) iov[i] = {const_cast<uint8_t *>(spans[i].data), spans[i].size};
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = n;
      written = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return Flush::Failed;
        if (!stalled_since) stalled_since = g_get_monotonic_time();
        return Flush::Blocked;
      }
    } else {
      GError *err = nullptr;
      written = g_pollable_output_stream_write_nonblocking(output, spans[0].data, spans[0].size, nullptr, &err);
      if (written < 0) {
        bool would_block = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        g_error_free(err);
        if (!would_block) return Flush::Failed;
        if (!stalled_since) stalled_since = g_get_monotonic_time();
        return Flush::Blocked;
      }
    }
    queue.written(written);
    stalled_since = 0;
  }
  return Flush::Drained;
}

using ViewerList = std::vector<std::shared_ptr<Viewer>>;

// What render() and the server thread share. Per frame, render() takes this
// lock once (newest frame, viewer list), then each viewer's own lock to queue
// the frame and write it; it wakes the server thread once per frame, and only
// when some viewer needs it. The server thread accepts, reads, closes and
// finishes blocked writes. No lock is held across a libsoup call or a signal.
struct Fanout {
  std::mutex lock;  // guards everything below
  // Replaced, never changed in place, so render() walks it without the lock.
  std::shared_ptr<const ViewerList> viewers = std::make_shared<ViewerList>();
  WireMessageRef latest;
  std::vector<WireMessageRef> headers;
  std::array<Totals, kViewerKinds> retired;  // of the viewers that are gone, by kind
  size_t mjpeg_viewers = 0;  // in `viewers`: render() makes MJPEG parts only when there are some
  guint64 frames_in = 0;
  double fps_in = 0;  // frames in per second over the last window, from the tick
  guint64 viewers_total = 0;
  guint64 viewers_refused = 0;
  GSource *wake = nullptr;  // the server's wake-up source while it runs
};

// What stats.json, metrics, get-stats and the counter properties show.
struct ViewerFigures {
  ViewerKind kind;
  std::string address;
  gint64 connect_time;  // real time, microseconds
  guint64 frames_sent, frames_dropped, bytes_sent;
  double fps;
  guint queued;
  bool tls;
};

struct StreamFigures {
  std::array<Totals, kViewerKinds> by_kind;  // viewers gone and connected
  std::array<guint, kViewerKinds> viewers{};  // connected now
  guint64 frames_in = 0;
  double fps_in = 0;
  guint64 viewers_total = 0;
  guint64 viewers_refused = 0;
  std::vector<ViewerFigures> each;  // connected viewers, when asked for

  Totals total() const {
    Totals t;
    for (const auto &k : by_kind) t.add(k);
    return t;
  }
  guint num_viewers() const { return viewers[0] + viewers[1]; }
};

StreamFigures collect_figures(Fanout &fanout, bool per_viewer) {
  StreamFigures f;
  std::shared_ptr<const ViewerList> list;
  {
    std::lock_guard<std::mutex> l(fanout.lock);
    f.by_kind = fanout.retired;
    f.frames_in = fanout.frames_in;
    f.fps_in = fanout.fps_in;
    f.viewers_total = fanout.viewers_total;
    f.viewers_refused = fanout.viewers_refused;
    list = fanout.viewers;
  }
  if (per_viewer) f.each.reserve(list->size());
  for (const auto &v : *list) {
    const auto k = static_cast<size_t>(v->kind);
    f.viewers[k]++;
    std::lock_guard<std::mutex> l(v->lock);
    f.by_kind[k].add(v->queue);
    if (per_viewer)
      f.each.push_back({v->kind, v->address, v->connect_time, v->queue.frames_sent(), v->queue.frames_dropped(),
                        v->queue.bytes_sent(), v->fps, static_cast<guint>(v->queue.held_messages()), v->tls});
  }
  return f;
}

// Read once when the server starts.
struct ServerConfig {
  std::string host;
  int port;
  std::string path;
  std::string endpoint_base;  // `path` without a trailing '/': endpoints are <endpoint_base>/<name>
  std::string document_root;  // resolved, or empty
  GObjectPtr<GTlsCertificate> certificate;
};

// The libsoup server and its thread; every libsoup call happens there.
class Server {
 public:
  Server(GstWebsocketSink *sink, Settings *settings, Fanout &fanout, ServerConfig config)
      : sink_(sink), settings_(settings), fanout_(fanout), config_(std::move(config)) {}
  ~Server() { g_assert(!thread_.joinable()); }

  // Starts the thread and returns once it listens (true) or failed (false, `error` set).
  bool start(std::string &error);
  int port() const { return port_; }
  // Closes every viewer with 1001, stops listening and joins the thread.
  void stop();

  void request(SoupServerMessage *msg, const char *path);
  void upgraded(SoupServerMessage *msg);
  void take_connection(SoupServerMessage *msg, ViewerKind kind);
  void request_started(SoupServerMessage *msg);
  void accept_connections(GSocket *listener);
  void expire_connections(gint64 now);
  void upgrade_failed(SoupServerMessage *msg);
  gboolean readable(Viewer &v);
  void watch_reads(Viewer &v);
  gboolean writable(Viewer &v);
  void wake();
  void tick();
  void begin_stop();
  void quit() { g_main_loop_quit(loop_.get()); }

 private:
  struct ViewerEvents;

  void run();
  bool listen(std::string &error);
  void accept_upgrade(SoupServerMessage *msg);
  const char *full_refusal() const;
  void refuse(SoupServerMessage *msg, const std::string &address, guint status, const char *refusal);
  const char *endpoint_of(const char *path) const;
  bool serve_endpoint(SoupServerMessage *msg, const char *name);
  void serve_snapshot(SoupServerMessage *msg);
  void accept_mjpeg(SoupServerMessage *msg);
  void serve_text(SoupServerMessage *msg, const char *content_type, const std::string &text);
  void serve_page(SoupServerMessage *msg);
  bool serve_file(SoupServerMessage *msg, const char *path);
  bool serve_file_at(SoupServerMessage *msg, const std::string &file);
  void add_viewer(GObjectPtr<GSocket> socket, GObjectPtr<GIOStream> stream, ViewerKind kind);
  void count_fps(gint64 now);
  void service(Viewer &v, bool only_if_scheduled);
  void close_viewer(Viewer &v, uint16_t code, const char *reason);
  void remove_viewer(Viewer &v, const char *reason);

  GstWebsocketSink *sink_;
  Settings *settings_;  // under the sink's object lock
  Fanout &fanout_;
  ServerConfig config_;
  std::thread thread_;
  std::atomic<int> port_{0};

  std::mutex start_lock_;
  std::condition_variable start_cond_;
  bool start_done_ = false;
  std::string start_error_;

  // Server thread only.
  MainContextPtr context_{g_main_context_new()};
  MainLoopPtr loop_{g_main_loop_new(context_.get(), FALSE)};
  GObjectPtr<SoupServer> soup_;
  SourcePtr wake_source_;
  SourcePtr tick_source_;
  SourcePtr stop_timer_;
  ViewerList viewers_;
  struct Listener {
    GObjectPtr<GSocket> socket;
    SourcePtr source;
  };
  std::vector<Listener> listeners_;
  // Connections accepted that are not viewers (yet), and when they must be
  // done: libsoup 3.2 has no timeout of its own, so a client sending half a
  // request, or never reading its answer, would keep its connection. Every
  // plain HTTP answer closes its connection, so this is per request.
  struct Connection {
    GObjectPtr<GSocket> socket;
    gint64 deadline;
  };
  std::vector<Connection> connections_;
  unsigned upgrading_ = 0;  // viewers accepted whose connection is not taken yet
  bool stopping_ = false;
  gint64 fps_since_ = g_get_monotonic_time();  // window of Fanout::fps_in
  guint64 fps_frames_in_ = 0;
};

// Emits a signal with no lock held, as every signal of the element.
void emit_removed(GstWebsocketSink *sink, const std::string &address, const char *reason) {
  g_signal_emit(sink, signals[SIGNAL_VIEWER_REMOVED], 0, address.c_str(), reason);
}

gboolean wake_dispatch(GSource *source, GSourceFunc callback, gpointer data) {
  g_source_set_ready_time(source, -1);
  return callback(data);
}
GSourceFuncs wake_funcs = {nullptr, nullptr, wake_dispatch, nullptr, nullptr, nullptr};

bool Server::start(std::string &error) {
  thread_ = std::thread([this] { run(); });
  std::unique_lock<std::mutex> l(start_lock_);
  start_cond_.wait(l, [this] { return start_done_; });
  error = start_error_;
  if (error.empty()) return true;
  l.unlock();
  thread_.join();
  return false;
}

void Server::stop() {
  if (!thread_.joinable()) return;
  g_main_context_invoke(
      context_.get(),
      [](gpointer self) -> gboolean {
        static_cast<Server *>(self)->begin_stop();
        return G_SOURCE_REMOVE;
      },
      this);
  thread_.join();
}

void Server::run() {
  g_main_context_push_thread_default(context_.get());
  std::string error;
  bool ok = listen(error);
  if (ok) {
    wake_source_.reset(g_source_new(&wake_funcs, sizeof(GSource)));
    g_source_set_callback(
        wake_source_.get(),
        [](gpointer self) -> gboolean {
          static_cast<Server *>(self)->wake();
          return G_SOURCE_CONTINUE;
        },
        this, nullptr);
    g_source_attach(wake_source_.get(), context_.get());
    tick_source_.reset(g_timeout_source_new(kTickMs));
    g_source_set_callback(
        tick_source_.get(),
        [](gpointer self) -> gboolean {
          static_cast<Server *>(self)->tick();
          return G_SOURCE_CONTINUE;
        },
        this, nullptr);
    g_source_attach(tick_source_.get(), context_.get());
    std::lock_guard<std::mutex> l(fanout_.lock);
    fanout_.wake = wake_source_.get();
    fps_frames_in_ = fanout_.frames_in;
  }
  {
    std::lock_guard<std::mutex> l(start_lock_);
    start_error_ = error;
    start_done_ = true;
  }
  start_cond_.notify_one();

  if (ok) {
    g_main_loop_run(loop_.get());
    ViewerList left = viewers_;
    for (auto &v : left) remove_viewer(*v, "stopped");
    {
      std::lock_guard<std::mutex> l(fanout_.lock);
      fanout_.wake = nullptr;
    }
  }
  if (soup_) soup_server_disconnect(soup_.get());
  listeners_.clear();
  connections_.clear();
  soup_.reset();
  wake_source_.reset();
  tick_source_.reset();
  stop_timer_.reset();
  // Let the closed connections' pending callbacks run and free them here.
  while (g_main_context_iteration(context_.get(), FALSE)) {
  }
  g_main_context_pop_thread_default(context_.get());
}

// Bound and listening with a backlog for a crowd: libsoup's own listen()
// keeps GLib's default of 10, so a burst of viewers (a page reloaded by a
// thousand clients) overflows the SYN queue and waits for TCP's 1 s retries.
// The server accepts on it itself (accept_connections): libsoup 3.2's own
// listener loses a GSocket object on every connection it accepts.
static GSocket *listening_socket(GInetAddress *address, int port, GError **err) {
  GObjectPtr<GSocket> socket(
      g_socket_new(g_inet_address_get_family(address), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, err));
  if (!socket) return nullptr;
  GObjectPtr<GSocketAddress> sa(g_inet_socket_address_new(address, port));
  if (!g_socket_bind(socket.get(), sa.get(), TRUE, err)) return nullptr;
  g_socket_set_listen_backlog(socket.get(), kListenBacklog);
  if (!g_socket_listen(socket.get(), err)) return nullptr;
  g_socket_set_blocking(socket.get(), FALSE);
  return socket.release();
}

bool Server::listen(std::string &error) {
  soup_.reset(static_cast<SoupServer *>(
      g_object_new(SOUP_TYPE_SERVER, "server-header", "imagestream", "tls-certificate",
                   config_.certificate.get(), nullptr)));
  soup_server_remove_websocket_extension(soup_.get(), SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  g_signal_connect(soup_.get(), "request-started", G_CALLBACK(+[](SoupServer *, SoupServerMessage *msg, gpointer self) {
                     static_cast<Server *>(self)->request_started(msg);
                   }),
                   this);
  soup_server_add_handler(
      soup_.get(), nullptr,
      [](SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *, gpointer self) {
        static_cast<Server *>(self)->request(msg, path);
      },
      this, nullptr);

  GError *err = nullptr;
  GObjectPtr<GResolver> resolver(g_resolver_get_default());
  GList *addresses = g_resolver_lookup_by_name(resolver.get(), config_.host.c_str(), nullptr, &err);
  if (!addresses) {
    error = "Cannot resolve host \"" + config_.host + "\": " + err->message;
    g_error_free(err);
    return false;
  }
  std::string first_error;
  int port = config_.port;
  for (GList *l = addresses; l; l = l->next) {
    GObjectPtr<GSocket> socket(listening_socket(G_INET_ADDRESS(l->data), port, &err));
    if (!socket) {
      GST_DEBUG_OBJECT(sink_, "cannot listen on port %d: %s", port, err->message);
      if (first_error.empty()) {
        // GIO says "Error binding to address A:P: <reason>"; the reason is what matters.
        const char *reason = g_strrstr(err->message, ": ");
        first_error = reason ? reason + 2 : err->message;
        if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
          first_error += " (choose another port, or port=0 for any free one)";
      }
      g_clear_error(&err);
      continue;
    }
    if (port == 0) {
      GObjectPtr<GSocketAddress> bound(g_socket_get_local_address(socket.get(), nullptr));
      if (bound) port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound.get()));
    }
    SourcePtr source(g_socket_create_source(socket.get(), G_IO_IN, nullptr));
    g_source_set_callback(source.get(), G_SOURCE_FUNC(+[](GSocket *listener, GIOCondition, gpointer self) -> gboolean {
                            static_cast<Server *>(self)->accept_connections(listener);
                            return G_SOURCE_CONTINUE;
                          }),
                          this, nullptr);
    g_source_attach(source.get(), context_.get());
    listeners_.push_back({std::move(socket), std::move(source)});
  }
  g_resolver_free_addresses(addresses);
  if (listeners_.empty()) {
    error = "Cannot listen on " + config_.host + " port " + std::to_string(config_.port) + ": " + first_error;
    return false;
  }
  port_ = port;
  GST_INFO_OBJECT(sink_, "listening on %s port %d (%s)", config_.host.c_str(), port,
                  config_.certificate ? "https/wss" : "http/ws");
  return true;
}

// Every answer but a successful upgrade ends its connection: libsoup 3.2 never
// notices when a client closes an idle keep-alive connection, and would keep
// its file descriptor until the server stops.
static void close_after_response(SoupServerMessage *msg) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
}

// The path is the stream's secret: compare it (the first `n` bytes of `path`)
// in time that depends on the request's length only, so that timing does not
// tell how much of it matched.
static bool is_stream_path(const std::string &secret, const char *path, size_t n) {
  unsigned char diff = n != secret.size();
  for (size_t i = 0; i < n; i++) diff |= static_cast<unsigned char>(path[i] ^ secret[i % std::max<size_t>(secret.size(), 1)]);
  return diff == 0;
}

void Server::request(SoupServerMessage *msg, const char *path) {
  const char *method = soup_server_message_get_method(msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const bool stream_path = is_stream_path(config_.path, path, strlen(path));
  if (stream_path && soup_message_headers_header_contains(headers, "Upgrade", "websocket")) {
    accept_upgrade(msg);
    return;
  }
  close_after_response(msg);
  if (strcmp(method, SOUP_METHOD_GET) != 0 && strcmp(method, SOUP_METHOD_HEAD) != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  if (stream_path) {
    serve_page(msg);
    return;
  }
  const char *endpoint = endpoint_of(path);
  if (endpoint && serve_endpoint(msg, endpoint)) return;
  if (!config_.document_root.empty() && serve_file(msg, path)) return;
  soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
}

static bool origin_allowed(const std::string &allowed, const char *origin) {
  if (allowed.empty()) return true;
  if (!origin) return false;
  g_auto(GStrv) items = g_strsplit(allowed.c_str(), ",", -1);
  for (char **i = items; *i; i++) {
    if (strcmp(g_strstrip(*i), origin) == 0) return true;
  }
  return false;
}

void Server::accept_upgrade(SoupServerMessage *msg) {
  if (!soup_websocket_server_check_handshake(msg, nullptr, nullptr, nullptr, nullptr)) {
    // Answers the bad handshake with the right error status.
    soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr);
    close_after_response(msg);
    return;
  }
  const std::string address = imagestream::peer_address(soup_server_message_get_remote_address(msg));
  const char *origin = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Origin");
  GST_OBJECT_LOCK(sink_);
  const bool allowed = origin_allowed(settings_->allowed_origins, origin);
  GST_OBJECT_UNLOCK(sink_);
  if (!allowed) {
    GST_INFO_OBJECT(sink_, "viewer %s comes from origin %s", address.c_str(), origin ? origin : "none");
    refuse(msg, address, SOUP_STATUS_FORBIDDEN, "origin not allowed");
    return;
  }
  if (const char *refusal = full_refusal()) {
    refuse(msg, address, SOUP_STATUS_SERVICE_UNAVAILABLE, refusal);
    return;
  }
  if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr)) return;
  upgrading_++;
  g_signal_connect(msg, "wrote-informational",
                   G_CALLBACK(+[](SoupServerMessage *m, gpointer self) { static_cast<Server *>(self)->upgraded(m); }),
                   this);
  g_signal_connect(
      msg, "finished",
      G_CALLBACK(+[](SoupServerMessage *m, gpointer self) { static_cast<Server *>(self)->upgrade_failed(m); }),
      this);
}

// Why no further viewer may connect now, or nullptr.
const char *Server::full_refusal() const {
  GST_OBJECT_LOCK(sink_);
  const guint max_viewers = settings_->max_viewers;
  GST_OBJECT_UNLOCK(sink_);
  if (stopping_) return "stopping";
  if (max_viewers && viewers_.size() + upgrading_ >= max_viewers) return "max-viewers reached";
  return nullptr;
}

void Server::refuse(SoupServerMessage *msg, const std::string &address, guint status, const char *refusal) {
  soup_server_message_set_status(msg, status, nullptr);
  close_after_response(msg);
  GST_INFO_OBJECT(sink_, "refused viewer %s: %s", address.c_str(), refusal);
  {
    std::lock_guard<std::mutex> l(fanout_.lock);
    fanout_.viewers_refused++;
  }
  emit_removed(sink_, address, "refused");
}

void Server::upgrade_failed(SoupServerMessage *msg) {
  g_signal_handlers_disconnect_by_data(msg, this);
  upgrading_--;
}

void Server::upgraded(SoupServerMessage *msg) {
  if (soup_server_message_get_status(msg) != SOUP_STATUS_SWITCHING_PROTOCOLS) return;
  take_connection(msg, ViewerKind::WebSocket);
}

// A request body is never wanted: refuse it before libsoup reads it into
// memory (it keeps the whole body by default), and keep none of it.
static void refuse_body(SoupServerMessage *msg) {
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const SoupEncoding encoding = soup_message_headers_get_encoding(headers);
  if (encoding == SOUP_ENCODING_CHUNKED ||
      (encoding == SOUP_ENCODING_CONTENT_LENGTH && soup_message_headers_get_content_length(headers) > 0)) {
    soup_server_message_set_status(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, nullptr);
    close_after_response(msg);
  }
}

void Server::request_started(SoupServerMessage *msg) {
  g_signal_connect(msg, "got-headers", G_CALLBACK(+[](SoupServerMessage *m, gpointer) { refuse_body(m); }),
                   nullptr);
}

void Server::accept_connections(GSocket *listener) {
  GST_OBJECT_LOCK(sink_);
  const gint64 timeout = gint64{settings_->viewer_timeout} * G_USEC_PER_SEC;
  GST_OBJECT_UNLOCK(sink_);
  for (;;) {
    GError *err = nullptr;
    GObjectPtr<GSocket> socket(g_socket_accept(listener, nullptr, &err));
    if (!socket) {
      if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        GST_WARNING_OBJECT(sink_, "accept failed: %s", err->message);
      g_error_free(err);
      return;
    }
    GObjectPtr<GIOStream> stream(G_IO_STREAM(g_socket_connection_factory_create_connection(socket.get())));
    if (config_.certificate) {
      GIOStream *tls = g_tls_server_connection_new(stream.get(), config_.certificate.get(), &err);
      if (!tls) {
        GST_WARNING_OBJECT(sink_, "TLS connection failed: %s", err->message);
        g_error_free(err);
        continue;
      }
      stream.reset(tls);
    }
    GObjectPtr<GSocketAddress> local(g_socket_get_local_address(socket.get(), nullptr));
    GObjectPtr<GSocketAddress> remote(g_socket_get_remote_address(socket.get(), nullptr));
    if (!local || !remote) continue;  // already gone
    // Tracked first: libsoup may serve a request that is already there, and
    // hand the connection to a viewer, before accept_iostream() returns.
    const gint64 deadline = timeout ? g_get_monotonic_time() + timeout : G_MAXINT64;
    connections_.push_back({GObjectPtr<GSocket>(G_SOCKET(g_object_ref(socket.get()))), deadline});
    if (!soup_server_accept_iostream(soup_.get(), stream.get(), local.get(), remote.get(), &err)) {
      GST_DEBUG_OBJECT(sink_, "connection lost before it was served: %s", err->message);
      g_clear_error(&err);
      g_socket_close(socket.get(), nullptr);  // forgotten at the next tick
    }
  }
}

// Ends connections that are not viewers and outlived their deadline, and
// forgets those that libsoup has closed.
void Server::expire_connections(gint64 now) {
  auto gone = std::remove_if(connections_.begin(), connections_.end(), [now](const Connection &c) {
    if (g_socket_is_closed(c.socket.get())) return true;
    if (now <= c.deadline) return false;
    g_socket_shutdown(c.socket.get(), TRUE, TRUE, nullptr);  // libsoup sees the end and closes it
    return true;
  });
  connections_.erase(gone, connections_.end());
}

// The socket under a stolen connection (SoupIOStream over TLS or TCP).
static GSocket *socket_of(GIOStream *stream) {
  GObjectPtr<GIOStream> base;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(stream), "base-iostream")) {
    GIOStream *b = nullptr;
    g_object_get(stream, "base-iostream", &b, nullptr);
    base.reset(b);
    stream = b;
  }
  GObjectPtr<GIOStream> tcp;
  if (stream && G_IS_TLS_CONNECTION(stream)) {
    GIOStream *t = nullptr;
    g_object_get(stream, "base-io-stream", &t, nullptr);
    tcp.reset(t);
    stream = t;
  }
  return stream && G_IS_SOCKET_CONNECTION(stream) ? g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream))
                                                   : nullptr;
}

// The response head is written: from here on the connection is the viewer's.
void Server::take_connection(SoupServerMessage *msg, ViewerKind kind) {
  g_signal_handlers_disconnect_by_data(msg, this);
  upgrading_--;
  GObjectPtr<GIOStream> stream(soup_server_message_steal_connection(msg));
  GSocket *s = stream ? socket_of(stream.get()) : nullptr;
  if (!s) return;
  GObjectPtr<GSocket> socket(G_SOCKET(g_object_ref(s)));
  // A viewer now: its own timeout applies, not the request's.
  connections_.erase(std::remove_if(connections_.begin(), connections_.end(),
                                    [s](const Connection &c) { return c.socket.get() == s; }),
                     connections_.end());
  add_viewer(std::move(socket), std::move(stream), kind);
}

void Server::add_viewer(GObjectPtr<GSocket> socket, GObjectPtr<GIOStream> stream, ViewerKind kind) {
  const int fd = g_socket_get_fd(socket.get());
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &kNotSentLowat, sizeof kNotSentLowat);

  GST_OBJECT_LOCK(sink_);
  const size_t max_queued_frames = settings_->max_queued_frames;
  const guint64 max_message_size = settings_->max_message_size;
  GST_OBJECT_UNLOCK(sink_);
  auto v = std::make_shared<Viewer>(*this, kind, std::move(socket), std::move(stream),
                                    config_.certificate != nullptr, max_queued_frames, max_message_size);
  if (kind == ViewerKind::Mjpeg) {
    // Not a frame (not counted as one), and nothing else a control message
    // would displace ever goes to an MJPEG client.
    v->queue.push_control(std::make_shared<ControlMessage>(kMjpegFirstPart));
  }
  {
    std::lock_guard<std::mutex> l(fanout_.lock);
    if (kind == ViewerKind::WebSocket) {
      for (auto &h : fanout_.headers) v->queue.push_header(h);
      if (fanout_.latest) v->queue.push_frame(fanout_.latest);
    } else {
      // Stream headers are for WebSocket decoders; an MJPEG part is a whole JPEG.
      if (fanout_.latest) v->queue.push_frame(std::make_shared<MjpegPart>(fanout_.latest));
      fanout_.mjpeg_viewers++;
    }
    auto list = std::make_shared<ViewerList>(*fanout_.viewers);
    list->push_back(v);
    fanout_.viewers = std::move(list);
    fanout_.viewers_total++;
  }
  viewers_.push_back(v);
  watch_reads(*v);
  GST_INFO_OBJECT(sink_, "%s viewer %s connected", kind_name(kind), v->address.c_str());
  g_signal_emit(sink_, signals[SIGNAL_VIEWER_ADDED], 0, v->address.c_str());
  service(*v, false);
  // The stolen stream may already hold bytes the viewer sent with the upgrade.
  if (!v->gone) readable(*v);
}

// The code to echo to a viewer's close frame: its own when that may be sent
// (RFC 6455 7.4), 1000 when it gave none, else protocol error.
static uint16_t answer_to_close(uint16_t code) {
  if (code == 1005) return ws::kNormal;
  const bool sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                        (code >= 3000 && code <= 4999);
  return sendable ? code : static_cast<uint16_t>(ws::kProtocolError);
}

// Answers a viewer's control frames.
struct Server::ViewerEvents : ws::ClientFrameReader::Receiver {
  ViewerEvents(Server &s, Viewer &vw) : server(s), v(vw) {}
  void ping(const uint8_t *payload, size_t size) override {
    auto pong = std::make_shared<ControlMessage>(ws::control_frame(ws::kPong, payload, size));
    {
      std::lock_guard<std::mutex> l(v.lock);
      v.queue.push_control(std::move(pong));
    }
    server.service(v, false);
  }
  void close(uint16_t code, const std::string &) override {
    if (v.close_reason) {  // the answer to our close frame
      server.remove_viewer(v, v.close_reason);
      return;
    }
    v.peer_closed = true;
    server.close_viewer(v, answer_to_close(code), "closed");
  }
  Server &server;
  Viewer &v;
};

void Server::watch_reads(Viewer &v) {
  v.read_source.reset(g_pollable_input_stream_create_source(v.input, nullptr));
  g_source_set_callback(v.read_source.get(), G_SOURCE_FUNC(+[](GObject *, gpointer viewer) -> gboolean {
                          auto &vw = *static_cast<Viewer *>(viewer);
                          return vw.server.readable(vw);
                        }),
                        &v, nullptr);
  g_source_attach(v.read_source.get(), context_.get());
}

gboolean Server::readable(Viewer &v) {
  auto keep = v.shared_from_this();
  ViewerEvents events(*this, v);
  uint8_t buf[16 * 1024];
  // A bounded number of reads per wake-up, so one chatty viewer cannot starve the others.
  for (int i = 0; i < 4 && !v.gone; i++) {
    GError *err = nullptr;
    gssize n = g_pollable_input_stream_read_nonblocking(v.input, buf, sizeof buf, nullptr, &err);
    // An MJPEG client has said all it had to in its request: the rest is ignored.
    if (n > 0 && v.kind == ViewerKind::Mjpeg) continue;
    if (n > 0) {
      switch (v.reader.feed(buf, n, events)) {
        case ws::ClientFrameReader::Status::Ok:
          break;
        case ws::ClientFrameReader::Status::ProtocolError:
          close_viewer(v, ws::kProtocolError, "protocol-error");
          break;
        case ws::ClientFrameReader::Status::TooBig:
          close_viewer(v, ws::kMessageTooBig, "message-too-big");
          break;
      }
      continue;
    }
    if (n == 0) {
      remove_viewer(v, v.close_reason ? v.close_reason : "closed");
    } else if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      g_error_free(err);
      if (!v.reads_drained) {
        // A source made while libsoup's buffered stream still held bytes
        // never polls the socket: it would run on every loop iteration.
        // Now that the buffer is empty, a new one waits for the socket.
        v.reads_drained = true;
        watch_reads(v);
        return G_SOURCE_REMOVE;
      }
      break;
    } else {
      GST_DEBUG_OBJECT(sink_, "viewer %s: %s", v.address.c_str(), err->message);
      g_error_free(err);
      remove_viewer(v, v.close_reason ? v.close_reason : "error");
    }
  }
  return v.gone ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

void Server::service(Viewer &v, bool only_if_scheduled) {
  if (v.gone) return;
  Flush result;
  bool start_watch = false, stop_watch = false, close_written;
  {
    std::lock_guard<std::mutex> l(v.lock);
    if (only_if_scheduled && !v.scheduled) return;
    v.scheduled = false;
    result = v.flush_locked();
    if (result == Flush::Blocked && !v.watching) {
      v.watching = start_watch = true;
    } else if (result == Flush::Drained && v.watching) {
      v.watching = false;
      stop_watch = true;
    }
    close_written = v.queue.close_written();
  }
  if (result == Flush::Failed) {
    remove_viewer(v, v.close_reason ? v.close_reason : "error");
    return;
  }
  if (start_watch) {
    v.write_source.reset(g_pollable_output_stream_create_source(v.output, nullptr));
    g_source_set_callback(v.write_source.get(), G_SOURCE_FUNC(+[](GObject *, gpointer viewer) -> gboolean {
                            auto &vw = *static_cast<Viewer *>(viewer);
                            return vw.server.writable(vw);
                          }),
                          &v, nullptr);
    g_source_attach(v.write_source.get(), context_.get());
  }
  if (stop_watch) v.write_source.reset();
  if (close_written && !v.close_handled) {
    v.close_handled = true;
    if (v.peer_closed) {
      remove_viewer(v, "closed");
      return;
    }
    // An MJPEG stream ends with its delimiter: there is no answer to wait for.
    if (v.kind == ViewerKind::Mjpeg) {
      remove_viewer(v, v.close_reason);
      return;
    }
    if (!v.tls) g_socket_shutdown(v.socket.get(), FALSE, TRUE, nullptr);
    v.linger_until = g_get_monotonic_time() + kLingerUs;
  }
}

gboolean Server::writable(Viewer &v) {
  auto keep = v.shared_from_this();
  service(v, false);
  return v.write_source ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void Server::wake() {
  // A copy: servicing may remove viewers.
  ViewerList list = viewers_;
  for (auto &v : list) service(*v, true);
}

void Server::close_viewer(Viewer &v, uint16_t code, const char *reason) {
  if (v.gone || v.close_reason) return;
  v.close_reason = reason;
  auto frame = v.kind == ViewerKind::Mjpeg ? std::make_shared<ControlMessage>(kMjpegEnd)
                                          : std::make_shared<ControlMessage>(ws::close_frame(code, ""));
  {
    std::lock_guard<std::mutex> l(v.lock);
    v.queue.close(std::move(frame));
  }
  service(v, false);
}

void Server::remove_viewer(Viewer &v, const char *reason) {
  if (v.gone) return;
  v.gone = true;
  auto keep = v.shared_from_this();
  Totals totals;
  {
    std::lock_guard<std::mutex> l(v.lock);
    v.removed = true;
    totals.add(v.queue);
  }
  v.read_source.reset();
  v.write_source.reset();
  // Shut down first so that closing (a TLS close_notify) never waits on a stuck viewer.
  g_socket_shutdown(v.socket.get(), TRUE, TRUE, nullptr);
  g_io_stream_close(v.stream.get(), nullptr, nullptr);
  g_socket_close(v.socket.get(), nullptr);
  v.stream.reset();
  v.socket.reset();
  {
    std::lock_guard<std::mutex> l(fanout_.lock);
    fanout_.retired[static_cast<size_t>(v.kind)].add(totals);
    if (v.kind == ViewerKind::Mjpeg) fanout_.mjpeg_viewers--;
    auto list = std::make_shared<ViewerList>();
    for (auto &other : *fanout_.viewers)
      if (other.get() != &v) list->push_back(other);
    fanout_.viewers = std::move(list);
  }
  viewers_.erase(std::remove(viewers_.begin(), viewers_.end(), keep), viewers_.end());
  GST_INFO_OBJECT(sink_, "%s viewer %s removed: %s", kind_name(v.kind), v.address.c_str(), reason);
  emit_removed(sink_, v.address, reason);
  if (stopping_ && viewers_.empty()) quit();
}

void Server::tick() {
  GST_OBJECT_LOCK(sink_);
  const gint64 timeout = gint64{settings_->viewer_timeout} * G_USEC_PER_SEC;
  GST_OBJECT_UNLOCK(sink_);
  const gint64 now = g_get_monotonic_time();
  count_fps(now);
  expire_connections(now);
  ViewerList list = viewers_;
  for (auto &v : list) {
    bool stalled;
    {
      std::lock_guard<std::mutex> l(v->lock);
      stalled = timeout && v->stalled_since && now - v->stalled_since > timeout;
      if (now - v->fps_since >= kFpsWindowUs) {
        const guint64 sent = v->queue.frames_sent();
        v->fps = static_cast<double>(sent - v->fps_frames) * G_USEC_PER_SEC / (now - v->fps_since);
        v->fps_frames = sent;
        v->fps_since = now;
      }
    }
    if (stalled) {
      GST_INFO_OBJECT(sink_, "viewer %s accepted no data for %" G_GINT64_FORMAT " s", v->address.c_str(),
                      timeout / G_USEC_PER_SEC);
      // The close frame goes out only if the socket takes it now: the viewer is stuck.
      close_viewer(*v, ws::kPolicyViolation, "timeout");
      remove_viewer(*v, "timeout");
    } else if (v->linger_until && now > v->linger_until) {
      remove_viewer(*v, v->close_reason);
    }
  }
}

// The input rate, once per window.
void Server::count_fps(gint64 now) {
  if (now - fps_since_ < kFpsWindowUs) return;
  std::lock_guard<std::mutex> l(fanout_.lock);
  fanout_.fps_in = static_cast<double>(fanout_.frames_in - fps_frames_in_) * G_USEC_PER_SEC / (now - fps_since_);
  fps_frames_in_ = fanout_.frames_in;
  fps_since_ = now;
}

void Server::begin_stop() {
  stopping_ = true;
  soup_server_disconnect(soup_.get());
  ViewerList list = viewers_;
  for (auto &v : list) close_viewer(*v, ws::kGoingAway, "stopped");
  if (viewers_.empty()) {
    quit();
    return;
  }
  stop_timer_.reset(g_timeout_source_new(kStopGraceMs));
  g_source_set_callback(
      stop_timer_.get(),
      [](gpointer self) -> gboolean {
        static_cast<Server *>(self)->quit();
        return G_SOURCE_REMOVE;
      },
      this, nullptr);
  g_source_attach(stop_timer_.get(), context_.get());
}

void Server::serve_page(SoupServerMessage *msg) {
  if (!config_.document_root.empty() && serve_file_at(msg, config_.document_root + "/index.html")) return;
  BytesPtr page(g_resources_lookup_data(PAGE_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr));
  if (!page) {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
    return;
  }
  soup_message_headers_set_content_type(soup_server_message_get_response_headers(msg), "text/html; charset=utf-8",
                                        nullptr);
  soup_message_body_append_bytes(soup_server_message_get_response_body(msg), page.get());
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
}

// The name after "<path>/" when `path` is that and one more segment, else nullptr.
const char *Server::endpoint_of(const char *path) const {
  const char *slash = strrchr(path, '/');
  if (!slash || !is_stream_path(config_.endpoint_base, path, slash - path)) return nullptr;
  return slash + 1;
}

static std::string json_string(const std::string &text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escaped[8];
      g_snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// A rate as JSON and Prometheus want it whatever the locale: "29.97".
static std::string rate_text(double value) {
  char text[G_ASCII_DTOSTR_BUF_SIZE];
  return g_ascii_formatd(text, sizeof text, "%.2f", value);
}

static std::string iso8601(gint64 real_time_us) {
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(real_time_us / G_USEC_PER_SEC);
  g_autofree gchar *text = t ? g_date_time_format_iso8601(t) : nullptr;
  return text ? text : "";
}

static std::string stats_json(const StreamFigures &f) {
  const Totals t = f.total();
  std::string out = "{\"totals\":{\"viewers\":" + std::to_string(f.num_viewers());
  for (size_t k = 0; k < kViewerKinds; k++)
    out += ",\"" + std::string(kind_name(static_cast<ViewerKind>(k))) + "_viewers\":" + std::to_string(f.viewers[k]);
  out += ",\"frames_in\":" + std::to_string(f.frames_in) + ",\"fps_in\":" + rate_text(f.fps_in) +
         ",\"frames_sent\":" + std::to_string(t.frames_sent) + ",\"frames_dropped\":" +
         std::to_string(t.frames_dropped) + ",\"bytes_sent\":" + std::to_string(t.bytes_sent) +
         ",\"viewers_total\":" + std::to_string(f.viewers_total) +
         ",\"viewers_refused\":" + std::to_string(f.viewers_refused) + "},\"viewers\":[";
  for (size_t i = 0; i < f.each.size(); i++) {
    const ViewerFigures &v = f.each[i];
    out += std::string(i ? "," : "") + "{\"kind\":" + json_string(kind_name(v.kind)) +
           ",\"address\":" + json_string(v.address) + ",\"connected_since\":" +
           json_string(iso8601(v.connect_time)) + ",\"frames_sent\":" + std::to_string(v.frames_sent) +
           ",\"frames_dropped\":" + std::to_string(v.frames_dropped) + ",\"fps\":" + rate_text(v.fps) +
           ",\"bytes_sent\":" + std::to_string(v.bytes_sent) + ",\"queued\":" + std::to_string(v.queued) +
           ",\"tls\":" + (v.tls ? "true" : "false") + "}";
  }
  return out + "]}\n";
}

// Prometheus text exposition (version 0.0.4): per-kind aggregates, and one
// series per connected viewer (bounded by max-viewers).
static std::string stats_metrics(const StreamFigures &f) {
  std::string out;
  auto family = [&out](const char *name, const char *type, const char *help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&out](const char *name, const std::string &labels, const std::string &value) {
    out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
  };
  auto kind_label = [](size_t k) { return "kind=\"" + std::string(kind_name(static_cast<ViewerKind>(k))) + "\""; };
  // Addresses are "host:port"; label values still get escaped as the format requires.
  auto viewer_labels = [](const ViewerFigures &v) {
    std::string address;
    for (char c : v.address) {
      if (c == '\\' || c == '"' || c == '\n') address += '\\';
      address += c == '\n' ? 'n' : c;
    }
    return "kind=\"" + std::string(kind_name(v.kind)) + "\",address=\"" + address + "\"";
  };

  family("imagestream_frames_in_total", "counter", "Frames that reached the sink.");
  sample("imagestream_frames_in_total", "", std::to_string(f.frames_in));
  family("imagestream_frames_in_per_second", "gauge", "Frames in per second over the last second.");
  sample("imagestream_frames_in_per_second", "", rate_text(f.fps_in));
  family("imagestream_viewers", "gauge", "Viewers connected now, by kind.");
  for (size_t k = 0; k < kViewerKinds; k++) sample("imagestream_viewers", kind_label(k), std::to_string(f.viewers[k]));
  family("imagestream_viewers_connected_total", "counter", "Viewers that connected since the server started.");
  sample("imagestream_viewers_connected_total", "", std::to_string(f.viewers_total));
  family("imagestream_viewers_refused_total", "counter", "Viewers refused (origin, max-viewers, stopping).");
  sample("imagestream_viewers_refused_total", "", std::to_string(f.viewers_refused));
  const struct {
    const char *name;
    const char *help;
    guint64 Totals::*field;
  } totals[] = {
      {"imagestream_frames_sent_total", "Frames written to viewers, by kind.", &Totals::frames_sent},
      {"imagestream_frames_dropped_total", "Frames skipped for viewers that fell behind, by kind.",
       &Totals::frames_dropped},
      {"imagestream_bytes_sent_total", "Bytes written to viewers, framing included, by kind.", &Totals::bytes_sent},
  };
  for (const auto &m : totals) {
    family(m.name, "counter", m.help);
    for (size_t k = 0; k < kViewerKinds; k++) sample(m.name, kind_label(k), std::to_string(f.by_kind[k].*m.field));
  }

  family("imagestream_viewer_frames_sent_total", "counter", "Frames written to this viewer.");
  for (const auto &v : f.each)
    sample("imagestream_viewer_frames_sent_total", viewer_labels(v), std::to_string(v.frames_sent));
  family("imagestream_viewer_frames_dropped_total", "counter", "Frames this viewer skipped.");
  for (const auto &v : f.each)
    sample("imagestream_viewer_frames_dropped_total", viewer_labels(v), std::to_string(v.frames_dropped));
  family("imagestream_viewer_bytes_sent_total", "counter", "Bytes written to this viewer.");
  for (const auto &v : f.each)
    sample("imagestream_viewer_bytes_sent_total", viewer_labels(v), std::to_string(v.bytes_sent));
  family("imagestream_viewer_frames_per_second", "gauge", "Frames sent to this viewer per second, last second.");
  for (const auto &v : f.each) sample("imagestream_viewer_frames_per_second", viewer_labels(v), rate_text(v.fps));
  family("imagestream_viewer_queued_messages", "gauge",
         "Messages held for this viewer, the one being written included.");
  for (const auto &v : f.each)
    sample("imagestream_viewer_queued_messages", viewer_labels(v), std::to_string(v.queued));
  family("imagestream_viewer_connected_since_seconds", "gauge", "Unix time this viewer connected.");
  for (const auto &v : f.each)
    sample("imagestream_viewer_connected_since_seconds", viewer_labels(v),
           std::to_string(v.connect_time / G_USEC_PER_SEC));
  return out;
}

bool Server::serve_endpoint(SoupServerMessage *msg, const char *name) {
  GST_OBJECT_LOCK(sink_);
  const bool snapshot = settings_->enable_snapshot;
  const bool mjpeg = settings_->enable_mjpeg;
  const bool stats = settings_->enable_stats;
  GST_OBJECT_UNLOCK(sink_);
  if (snapshot && strcmp(name, "snapshot.jpg") == 0) {
    serve_snapshot(msg);
  } else if (mjpeg && strcmp(name, "stream.mjpeg") == 0) {
    accept_mjpeg(msg);
  } else if (stats && strcmp(name, "stats.json") == 0) {
    serve_text(msg, "application/json", stats_json(collect_figures(fanout_, true)));
  } else if (stats && strcmp(name, "metrics") == 0) {
    serve_text(msg, "text/plain; version=0.0.4; charset=utf-8", stats_metrics(collect_figures(fanout_, true)));
  } else {
    return false;  // maybe a file under document-root
  }
  return true;
}

void Server::serve_text(SoupServerMessage *msg, const char *content_type, const std::string &text) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control", "no-store");
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, text.data(), text.size());
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
}

void Server::serve_snapshot(SoupServerMessage *msg) {
  WireMessageRef frame;
  {
    std::lock_guard<std::mutex> l(fanout_.lock);
    frame = fanout_.latest;
  }
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  if (!frame) {
    static const char kNoFrame[] = "No frame has arrived yet: try again once the camera sends.\n";
    soup_message_headers_replace(headers, "Retry-After", "1");
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC, kNoFrame,
                                     sizeof kNoFrame - 1);
    soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
    return;
  }
  // The frame's own bytes, kept mapped until libsoup has written them.
  auto owner = std::make_unique<WireMessageRef>(frame);
  BytesPtr jpeg(g_bytes_new_with_free_func(frame->payload, frame->payload_size,
                                           [](gpointer ref) { delete static_cast<WireMessageRef *>(ref); },
                                           owner.release()));
  soup_message_headers_set_content_type(headers, "image/jpeg", nullptr);
  soup_message_body_append_bytes(soup_server_message_get_response_body(msg), jpeg.get());
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
}

// libsoup writes the response head; the connection is taken once it is
// written (as after a WebSocket upgrade), and from then on the client is a
// viewer like any other, written by the same code.
void Server::accept_mjpeg(SoupServerMessage *msg) {
  const std::string address = imagestream::peer_address(soup_server_message_get_remote_address(msg));
  if (const char *refusal = full_refusal()) {
    refuse(msg, address, SOUP_STATUS_SERVICE_UNAVAILABLE, refusal);
    return;
  }
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Content-Type", "multipart/x-mixed-replace; boundary=" MJPEG_BOUNDARY);
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  soup_message_headers_set_encoding(headers, SOUP_ENCODING_EOF);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  if (strcmp(soup_server_message_get_method(msg), SOUP_METHOD_HEAD) == 0) return;
  upgrading_++;
  g_signal_connect(msg, "wrote-headers", G_CALLBACK(+[](SoupServerMessage *m, gpointer self) {
                     static_cast<Server *>(self)->take_connection(m, ViewerKind::Mjpeg);
                   }),
                   this);
  g_signal_connect(
      msg, "finished",
      G_CALLBACK(+[](SoupServerMessage *m, gpointer self) { static_cast<Server *>(self)->upgrade_failed(m); }),
      this);
}

static std::string content_type_for(const std::string &file) {
  static const struct {
    const char *extension;
    const char *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".wasm", "application/wasm"},
  };
  g_autofree gchar *lower = g_ascii_strdown(file.c_str(), -1);
  for (const auto &t : types) {
    if (g_str_has_suffix(lower, t.extension)) return t.type;
  }
  g_autofree gchar *guessed = g_content_type_guess(file.c_str(), nullptr, 0, nullptr);
  g_autofree gchar *mime = guessed ? g_content_type_get_mime_type(guessed) : nullptr;
  return mime ? mime : "application/octet-stream";
}

// Serves `path` (still percent-encoded) from the document root, or returns
// false: nothing outside the root is ever reachable.
bool Server::serve_file(SoupServerMessage *msg, const char *path) {
  // NULL for an encoded '/' or NUL.
  g_autofree gchar *decoded = g_uri_unescape_string(path, "/");
  if (!decoded || decoded[0] != '/' || decoded[1] == '\0') return false;
  g_auto(GStrv) segments = g_strsplit(decoded + 1, "/", -1);
  for (char **s = segments; *s; s++) {
    if (strcmp(*s, "..") == 0 || strcmp(*s, ".") == 0) return false;
  }
  return serve_file_at(msg, config_.document_root + decoded);
}

bool Server::serve_file_at(SoupServerMessage *msg, const std::string &file) {
  g_autofree char *real = realpath(file.c_str(), nullptr);
  if (!real || !g_str_has_prefix(real, (config_.document_root + "/").c_str())) return false;
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  gchar *contents = nullptr;
  gsize size = 0;
  if (!g_file_get_contents(real, &contents, &size, nullptr)) return false;
  soup_server_message_set_response(msg, content_type_for(real).c_str(), SOUP_MEMORY_TAKE, contents, size);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  return true;
}

// Everything that lives from NULL->READY to READY->NULL.
struct State {
  Fanout fanout;
  std::unique_ptr<Server> server;
  std::atomic<int> current_port{0};
};

}  // namespace

struct _GstWebsocketSink {
  GstBaseSink parent;
  Settings *settings;  // guarded by the object lock
  State *state;
};

G_DEFINE_TYPE(GstWebsocketSink, gst_websocket_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE(websocketsink, "websocketsink", GST_RANK_NONE, GST_TYPE_WEBSOCKET_SINK);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static bool open_server(GstWebsocketSink *self) {
  GST_OBJECT_LOCK(self);
  const Settings s = *self->settings;
  GST_OBJECT_UNLOCK(self);

  ServerConfig config{s.host, s.port, s.path, "", "", nullptr};
  if (config.path.empty() || config.path[0] != '/') config.path = "/" + config.path;
  config.endpoint_base = config.path;
  if (config.endpoint_base.back() == '/') config.endpoint_base.pop_back();
  if (!s.tls_certificate.empty()) {
    GError *err = nullptr;
    GTlsCertificate *cert = s.tls_key.empty()
                                ? g_tls_certificate_new_from_file(s.tls_certificate.c_str(), &err)
                                : g_tls_certificate_new_from_files(s.tls_certificate.c_str(), s.tls_key.c_str(), &err);
    if (!cert) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                        ("Cannot load TLS certificate %s (key %s): %s", s.tls_certificate.c_str(),
                         s.tls_key.empty() ? "in the same file" : s.tls_key.c_str(), err->message),
                        (nullptr));
      g_error_free(err);
      return false;
    }
    config.certificate.reset(cert);
  } else if (!s.tls_key.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("tls-key %s is set without tls-certificate: set both for https/wss", s.tls_key.c_str()),
                      (nullptr));
    return false;
  }
  if (!s.document_root.empty()) {
    g_autofree char *real = realpath(s.document_root.c_str(), nullptr);
    if (!real || !g_file_test(real, G_FILE_TEST_IS_DIR)) {
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                        ("Cannot serve document-root %s: %s", s.document_root.c_str(),
                         real ? "not a directory" : g_strerror(errno)),
                        (nullptr));
      return false;
    }
    config.document_root = real;
  }

  State &st = *self->state;
  st.server = std::make_unique<Server>(self, self->settings, st.fanout, std::move(config));
  std::string error;
  if (!st.server->start(error)) {
    st.server.reset();
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE, ("%s", error.c_str()), (nullptr));
    return false;
  }
  st.current_port = st.server->port();
  g_object_notify(G_OBJECT(self), "current-port");
  return true;
}

static void close_server(GstWebsocketSink *self) {
  State &st = *self->state;
  if (!st.server) return;
  st.server->stop();
  st.server.reset();
  st.current_port = 0;
}

static GstStateChangeReturn gst_websocket_sink_change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_WEBSOCKET_SINK(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !open_server(self)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_websocket_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE))
    close_server(self);
  return ret;
}

static GstFlowReturn gst_websocket_sink_render(GstBaseSink *bsink, GstBuffer *buffer) {
  Fanout &fanout = GST_WEBSOCKET_SINK(bsink)->state->fanout;
  auto frame = std::make_shared<BufferMessage>(buffer);
  std::shared_ptr<const ViewerList> viewers;
  GSource *wake;
  bool any_mjpeg;
  {
    std::lock_guard<std::mutex> l(fanout.lock);
    fanout.latest = frame;
    fanout.frames_in++;
    viewers = fanout.viewers;
    wake = fanout.wake;
    any_mjpeg = fanout.mjpeg_viewers > 0;
  }
  // One part for every MJPEG client, sharing the frame's bytes.
  WireMessageRef part = any_mjpeg ? std::make_shared<MjpegPart>(frame) : nullptr;
  bool need_wake = false;
  for (const auto &v : *viewers) {
    std::lock_guard<std::mutex> l(v->lock);
    if (v->removed || v->queue.closing()) continue;
    v->queue.push_frame(v->kind == ViewerKind::Mjpeg ? part : frame);
    // Plain sockets are tried even while the server thread watches them: the
    // kernel may have room before that thread gets to run.
    const bool pending = v->tls || v->flush_locked() != Flush::Drained;
    if (pending && !v->scheduled && !v->watching) v->scheduled = need_wake = true;
  }
  if (need_wake && wake) g_source_set_ready_time(wake, 0);
  return GST_FLOW_OK;
}

static gboolean gst_websocket_sink_set_caps(GstBaseSink *bsink, GstCaps *caps) {
  Fanout &fanout = GST_WEBSOCKET_SINK(bsink)->state->fanout;
  std::vector<WireMessageRef> headers;
  const GstStructure *s = gst_caps_get_size(caps) ? gst_caps_get_structure(caps, 0) : nullptr;
  const GValue *streamheader = s ? gst_structure_get_value(s, "streamheader") : nullptr;
  if (streamheader && GST_VALUE_HOLDS_ARRAY(streamheader)) {
    for (guint i = 0; i < gst_value_array_get_size(streamheader); i++) {
      const GValue *v = gst_value_array_get_value(streamheader, i);
      if (GST_VALUE_HOLDS_BUFFER(v)) headers.push_back(std::make_shared<BufferMessage>(gst_value_get_buffer(v)));
    }
  }
  GST_DEBUG_OBJECT(bsink, "%zu stream header buffers", headers.size());
  std::lock_guard<std::mutex> l(fanout.lock);
  fanout.headers.swap(headers);
  return TRUE;
}

static gboolean gst_websocket_sink_stop(GstBaseSink *bsink) {
  Fanout &fanout = GST_WEBSOCKET_SINK(bsink)->state->fanout;
  WireMessageRef latest;
  std::vector<WireMessageRef> headers;
  std::lock_guard<std::mutex> l(fanout.lock);
  latest.swap(fanout.latest);
  headers.swap(fanout.headers);
  return TRUE;
}

static Totals totals(Fanout &fanout) { return collect_figures(fanout, false).total(); }

static GstStructure *make_stats(GstWebsocketSink *self, bool per_viewer) {
  const StreamFigures f = collect_figures(self->state->fanout, per_viewer);
  const Totals t = f.total();
  GstStructure *s = gst_structure_new(
      "websocketsink-stats", "num-viewers", G_TYPE_UINT, f.num_viewers(), "frames-in", G_TYPE_UINT64, f.frames_in,
      "frames-sent", G_TYPE_UINT64, t.frames_sent, "frames-dropped", G_TYPE_UINT64, t.frames_dropped, "bytes-sent",
      G_TYPE_UINT64, t.bytes_sent, "viewers-total", G_TYPE_UINT64, f.viewers_total, "viewers-refused",
      G_TYPE_UINT64, f.viewers_refused, nullptr);
  if (!per_viewer) return s;
  GValue array = G_VALUE_INIT;
  g_value_init(&array, GST_TYPE_ARRAY);
  for (const auto &v : f.each) {
    GstStructure *vs = gst_structure_new(
        "viewer", "kind", G_TYPE_STRING, kind_name(v.kind), "address", G_TYPE_STRING, v.address.c_str(),
        "connect-time", G_TYPE_UINT64, static_cast<guint64>(v.connect_time) * 1000, "frames-sent", G_TYPE_UINT64,
        v.frames_sent, "frames-dropped", G_TYPE_UINT64, v.frames_dropped, "bytes-sent", G_TYPE_UINT64,
        v.bytes_sent, "fps", G_TYPE_DOUBLE, v.fps, "queued", G_TYPE_UINT, v.queued, "tls", G_TYPE_BOOLEAN, v.tls,
        nullptr);
    GValue item = G_VALUE_INIT;
    g_value_init(&item, GST_TYPE_STRUCTURE);
    gst_value_set_structure(&item, vs);
    gst_structure_free(vs);
    gst_value_array_append_and_take_value(&array, &item);
  }
  gst_structure_take_value(s, "viewers", &array);
  return s;
}

static GstStructure *gst_websocket_sink_get_stats(GstWebsocketSink *self) { return make_stats(self, true); }

static void set_string(std::string &field, const GValue *value, const char *fallback) {
  const char *s = g_value_get_string(value);
  field = s ? s : fallback;
}

static void gst_websocket_sink_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_WEBSOCKET_SINK(object);
  Settings &s = *self->settings;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_HOST:
      set_string(s.host, value, DEFAULT_HOST);
      break;
    case PROP_PORT:
      s.port = g_value_get_int(value);
      break;
    case PROP_PATH:
      set_string(s.path, value, DEFAULT_PATH);
      break;
    case PROP_DOCUMENT_ROOT:
      set_string(s.document_root, value, "");
      break;
    case PROP_MAX_VIEWERS:
      s.max_viewers = g_value_get_uint(value);
      break;
    case PROP_ALLOWED_ORIGINS:
      set_string(s.allowed_origins, value, "");
      break;
    case PROP_TLS_CERTIFICATE:
      set_string(s.tls_certificate, value, "");
      break;
    case PROP_TLS_KEY:
      set_string(s.tls_key, value, "");
      break;
    case PROP_MAX_QUEUED_FRAMES:
      s.max_queued_frames = g_value_get_uint(value);
      break;
    case PROP_VIEWER_TIMEOUT:
      s.viewer_timeout = g_value_get_uint(value);
      break;
    case PROP_MAX_MESSAGE_SIZE:
      s.max_message_size = g_value_get_uint64(value);
      break;
    case PROP_ENABLE_SNAPSHOT:
      s.enable_snapshot = g_value_get_boolean(value);
      break;
    case PROP_ENABLE_MJPEG:
      s.enable_mjpeg = g_value_get_boolean(value);
      break;
    case PROP_ENABLE_STATS:
      s.enable_stats = g_value_get_boolean(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_websocket_sink_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_WEBSOCKET_SINK(object);
  State &st = *self->state;
  switch (id) {
    case PROP_CURRENT_PORT:
      g_value_set_int(value, st.current_port.load());
      return;
    case PROP_NUM_VIEWERS: {
      std::lock_guard<std::mutex> l(st.fanout.lock);
      g_value_set_uint(value, static_cast<guint>(st.fanout.viewers->size()));
      return;
    }
    case PROP_FRAMES_SENT:
      g_value_set_uint64(value, totals(st.fanout).frames_sent);
      return;
    case PROP_FRAMES_DROPPED:
      g_value_set_uint64(value, totals(st.fanout).frames_dropped);
      return;
    case PROP_BYTES_SENT:
      g_value_set_uint64(value, totals(st.fanout).bytes_sent);
      return;
    case PROP_STATS:
      g_value_take_boxed(value, make_stats(self, false));
      return;
    default:
      break;
  }
  Settings &s = *self->settings;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_HOST:
      g_value_set_string(value, s.host.c_str());
      break;
    case PROP_PORT:
      g_value_set_int(value, s.port);
      break;
    case PROP_PATH:
      g_value_set_string(value, s.path.c_str());
      break;
    case PROP_DOCUMENT_ROOT:
      g_value_set_string(value, s.document_root.empty() ? nullptr : s.document_root.c_str());
      break;
    case PROP_MAX_VIEWERS:
      g_value_set_uint(value, s.max_viewers);
      break;
    case PROP_ALLOWED_ORIGINS:
      g_value_set_string(value, s.allowed_origins.c_str());
      break;
    case PROP_TLS_CERTIFICATE:
      g_value_set_string(value, s.tls_certificate.empty() ? nullptr : s.tls_certificate.c_str());
      break;
    case PROP_TLS_KEY:
      g_value_set_string(value, s.tls_key.empty() ? nullptr : s.tls_key.c_str());
      break;
    case PROP_MAX_QUEUED_FRAMES:
      g_value_set_uint(value, s.max_queued_frames);
      break;
    case PROP_VIEWER_TIMEOUT:
      g_value_set_uint(value, s.viewer_timeout);
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint64(value, s.max_message_size);
      break;
    case PROP_ENABLE_SNAPSHOT:
      g_value_set_boolean(value, s.enable_snapshot);
      break;
    case PROP_ENABLE_MJPEG:
      g_value_set_boolean(value, s.enable_mjpeg);
      break;
    case PROP_ENABLE_STATS:
      g_value_set_boolean(value, s.enable_stats);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_websocket_sink_finalize(GObject *object) {
  auto *self = GST_WEBSOCKET_SINK(object);
  close_server(self);
  delete self->state;
  delete self->settings;
  G_OBJECT_CLASS(gst_websocket_sink_parent_class)->finalize(object);
}

static void gst_websocket_sink_init(GstWebsocketSink *self) {
  self->settings = new Settings();
  self->state = new State();
  // A live relay: frames go out as they arrive.
  gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
}

static void gst_websocket_sink_class_init(GstWebsocketSinkClass *klass) {
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *basesink_class = GST_BASE_SINK_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(websocketsink_debug, "websocketsink", 0, "WebSocket fan-out sink");

  gobject_class->set_property = gst_websocket_sink_set_property;
  gobject_class->get_property = gst_websocket_sink_get_property;
  gobject_class->finalize = gst_websocket_sink_finalize;

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto rw_ready = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_READY));
  const auto rw_playing = static_cast<GParamFlags>(rw | static_cast<GParamFlags>(GST_PARAM_MUTABLE_PLAYING));
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_property(
      gobject_class, PROP_HOST,
      g_param_spec_string("host", "Host",
                          "Address to listen on (a name listens on every address it resolves to; "
                          "0.0.0.0 for all IPv4 interfaces). Used when going from NULL to READY",
                          DEFAULT_HOST, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_PORT,
      g_param_spec_int("port", "Port", "TCP port to listen on (0 = any free port; see current-port)", 0, 65535,
                       DEFAULT_PORT, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_CURRENT_PORT,
      g_param_spec_int("current-port", "Current port",
                       "The port actually listened on (notified once listening; 0 when not listening)", 0,
                       65535, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_PATH,
      g_param_spec_string("path", "Path",
                          "URL path of the WebSocket stream; a plain GET on it returns the viewer page",
                          DEFAULT_PATH, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_DOCUMENT_ROOT,
      g_param_spec_string("document-root", "Document root",
                          "Folder of static files served at /<relative path>; its index.html replaces the "
                          "built-in viewer page (unset = built-in page only)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_VIEWERS,
      g_param_spec_uint("max-viewers", "Max viewers",
                        "Most viewers (WebSocket and MJPEG) connected at once; further ones get 503 (0 = no limit)",
                        0, G_MAXUINT,
                        DEFAULT_MAX_VIEWERS, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_ALLOWED_ORIGINS,
      g_param_spec_string("allowed-origins", "Allowed origins",
                          "Comma-separated Origin values allowed to connect, e.g. "
                          "\"https://example.com,http://localhost:8080\"; others get 403 (empty = any origin)",
                          "", rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM file of the server certificate (chain); when set the server speaks https/wss",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_TLS_KEY,
      g_param_spec_string("tls-key", "TLS key",
                          "PEM file of the private key of tls-certificate (unset = in the certificate file)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_QUEUED_FRAMES,
      g_param_spec_uint("max-queued-frames", "Max queued frames",
                        "Frames a viewer may have waiting behind the one being sent; past that its oldest "
                        "waiting frame is dropped (newest frame wins). Applies to viewers connecting afterwards",
                        1, 1024, DEFAULT_MAX_QUEUED_FRAMES, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_VIEWER_TIMEOUT,
      g_param_spec_uint("viewer-timeout", "Viewer timeout",
                        "Seconds a viewer may accept no data while frames wait for it before it is closed "
                        "with code 1008; also the time a plain HTTP request may take to arrive and be "
                        "answered (0 = never)",
                        0, G_MAXUINT, DEFAULT_VIEWER_TIMEOUT, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_MAX_MESSAGE_SIZE,
      g_param_spec_uint64("max-message-size", "Max message size",
                          "Largest message a viewer may send, in bytes; a bigger one closes it with code 1009 "
                          "(0 = no limit). Applies to viewers connecting afterwards",
                          0, G_MAXUINT64, DEFAULT_MAX_MESSAGE_SIZE, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_ENABLE_SNAPSHOT,
      g_param_spec_boolean("enable-snapshot", "Enable snapshot",
                           "Serve the most recent frame as a JPEG at <path>/snapshot.jpg (off = 404)",
                           DEFAULT_ENABLE_SNAPSHOT, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_ENABLE_MJPEG,
      g_param_spec_boolean("enable-mjpeg", "Enable MJPEG",
                           "Serve the stream as multipart/x-mixed-replace MJPEG at <path>/stream.mjpeg, for <img>, "
                           "VLC, ffmpeg and curl; its clients are viewers with the same limits (off = 404)",
                           DEFAULT_ENABLE_MJPEG, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_ENABLE_STATS,
      g_param_spec_boolean("enable-stats", "Enable statistics",
                           "Serve the stream's and each viewer's figures at <path>/stats.json and as Prometheus "
                           "text at <path>/metrics (off = 404)",
                           DEFAULT_ENABLE_STATS, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_NUM_VIEWERS,
      g_param_spec_uint("num-viewers", "Viewers", "Viewers connected now", 0, G_MAXUINT, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_SENT,
      g_param_spec_uint64("frames-sent", "Frames sent", "Messages written to viewers, summed over viewers", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames skipped for viewers that fell behind, summed over viewers", 0, G_MAXUINT64, 0,
                          ro));
  g_object_class_install_property(
      gobject_class, PROP_BYTES_SENT,
      g_param_spec_uint64("bytes-sent", "Bytes sent", "Bytes written to viewers (WebSocket headers included)", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "num-viewers, frames-in, frames-sent, frames-dropped, bytes-sent, viewers-total, "
                         "viewers-refused",
                         GST_TYPE_STRUCTURE, ro));

  /**
   * GstWebsocketSink::viewer-added:
   * @address: "host:port" of the viewer
   *
   * A viewer completed the WebSocket handshake, or an MJPEG client got its
   * response head. Emitted from the server thread.
   */
  signals[SIGNAL_VIEWER_ADDED] = g_signal_new("viewer-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                              nullptr, nullptr, nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GstWebsocketSink::viewer-removed:
   * @address: "host:port" of the viewer
   * @reason: closed (by the viewer), timeout (accepted no data for viewer-timeout),
   *   error, protocol-error, message-too-big, stopped, or refused (an upgrade
   *   or MJPEG request refused for its Origin, max-viewers or the server
   *   stopping; no viewer-added came before)
   *
   * A viewer is gone. Emitted from the server thread.
   */
  signals[SIGNAL_VIEWER_REMOVED] =
      g_signal_new("viewer-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * GstWebsocketSink::get-stats:
   *
   * Returns the totals of #websocketsink:stats plus `viewers`, an array with
   * one structure per connected viewer: kind ("websocket" or "mjpeg"),
   * address, connect-time (real time in ns), frames-sent, frames-dropped,
   * bytes-sent, fps (frames sent per second over the last second), queued
   * (messages held), tls.
   */
  signals[SIGNAL_GET_STATS] = g_signal_new_class_handler(
      "get-stats", G_TYPE_FROM_CLASS(klass), static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_websocket_sink_get_stats), nullptr, nullptr, nullptr, GST_TYPE_STRUCTURE, 0);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(element_class, "WebSocket fan-out sink", "Sink/Network",
                                        "Sends every buffer to every connected WebSocket viewer as one binary "
                                        "message, and serves the viewer page over HTTP",
                                        "imagestream developers");

  element_class->change_state = gst_websocket_sink_change_state;
  basesink_class->render = gst_websocket_sink_render;
  basesink_class->set_caps = gst_websocket_sink_set_caps;
  basesink_class->stop = gst_websocket_sink_stop;
}
