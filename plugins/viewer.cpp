#include "viewer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "stream.h"
#include "tcp.h"

namespace imagestream {

namespace {

// How long a viewer we closed may take to answer before it is cut off.
constexpr int64_t kLingerUs = 2 * G_USEC_PER_SEC;
// Frames per second are counted over windows of this length, in the tick.
constexpr int64_t kFpsWindowUs = G_USEC_PER_SEC;
// Reads per wake-up, so one chatty viewer cannot starve the others.
constexpr int kReadsPerWakeup = 4;

// The code to echo to a viewer's close frame (RFC 6455 5.5.1): its own (the
// frame reader lets only codes through that may be sent), 1000 when it gave
// none.
uint16_t answer_to_close(uint16_t code) { return code == 1005 ? uint16_t{ws::kNormal} : code; }

}  // namespace

const char *exit_name(ViewerExit exit) {
  static const char *const names[] = {"closed",       "timeout", "error",  "protocol-error", "message-too-big",
                                      "invalid-utf8", "stopped", "removed"};
  return names[static_cast<int>(exit)];
}

Viewer::Viewer(Stream &stream, GMainContext *context, GObjectPtr<GSocket> socket, GObjectPtr<GIOStream> io,
               const Options &options)
    : address(peer_address(socket.get())),
      connect_time_us(g_get_real_time()),
      kind(options.kind),
      tls(options.tls),
      part_trailer_("\r\n--" + options.mjpeg_boundary + "\r\nContent-Type: " + options.mjpeg_type + "\r\n\r\n"),
      part_end_("\r\n--" + options.mjpeg_boundary + "--\r\n"),
      stream_(stream),
      context_(context),
      socket_(std::move(socket)),
      io_(std::move(io)),
      input_(G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(io_.get()))),
      output_(G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(io_.get()))),
      fd_(g_socket_get_fd(socket_.get())),
      reader_(options.max_message_size),
      queue_(options.limits),
      fps_since_(g_get_monotonic_time()) {
  queue_.set_write_interval(options.write_interval_us);
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd_, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &kKernelAllowance, sizeof kKernelAllowance);
  if (kind == ViewerKind::Mjpeg) {
    // Each frame is followed at once by the next part's headers: Chromium
    // shows a part only once it has parsed the next part's headers, so
    // sending them with the following frame would show every frame one frame
    // late. Parts therefore carry no Content-Length; the boundary ends them.
    queue_.set_part_trailer(reinterpret_cast<const uint8_t *>(part_trailer_.data()), part_trailer_.size());
    // The first part's headers: not a frame, and nothing a control message
    // would displace ever goes to an MJPEG client.
    queue_.push_control(std::make_shared<OwnedMessage>(part_trailer_.substr(2)));
  }
}

// Everything waiting goes out in as few writes as the socket takes: one
// sendmsg of up to kMaxSpans spans (several messages) at a time.
Viewer::Flush Viewer::flush_locked() {
  static_assert(sizeof(Span) == sizeof(GOutputVector) && sizeof(Span) == sizeof(iovec), "spans are iovecs");
  Span spans[kMaxSpans];
  while (int n = queue_.next(spans)) {
    gssize written;
    if (!tls) {
      msghdr msg{};
      msg.msg_iov = reinterpret_cast<iovec *>(spans);
      msg.msg_iovlen = n;
      written = sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return Flush::Failed;
        queue_.blocked(g_get_monotonic_time());
        return Flush::Blocked;
      }
    } else {
      ErrorPtr err;
      gsize bytes = 0;
      const GPollableReturn r = g_pollable_output_stream_writev_nonblocking(
          output_, reinterpret_cast<const GOutputVector *>(spans), n, &bytes, nullptr, out(err));
      written = r == G_POLLABLE_RETURN_OK ? static_cast<gssize>(bytes) : r == G_POLLABLE_RETURN_WOULD_BLOCK ? -1 : -2;
      if (written == -2) return Flush::Failed;
      if (written < 0) {
        queue_.blocked(g_get_monotonic_time());
        return Flush::Blocked;
      }
    }
    queue_.written(written);
  }
  return Flush::Drained;
}

int64_t Viewer::offer(const WireMessageRef &frame) {
  const int64_t now = frame->arrival_us;
  std::lock_guard<std::mutex> l(lock_);
  // gone_ is the server thread's; a viewer being shut is closing already.
  if (queue_.closing()) return 0;
  queue_.push_frame(frame);
  if (scheduled_) return 0;  // the server thread writes it, at the time asked for
  if (tls) {
    scheduled_ = !watching_;
    return scheduled_ ? now : 0;
  }
  if (!queue_.write_due(now)) {
    // Goes out with the frames that follow it within the write interval.
    scheduled_ = true;
    return queue_.next_write_us();
  }
  // Plain sockets are tried even while the server thread watches them: the
  // kernel may have room before that thread gets to run.
  queue_.writing(now);
  if (flush_locked() == Flush::Drained || watching_) return 0;
  scheduled_ = true;
  return now;
}

void Viewer::push_header(const WireMessageRef &frame) {
  std::lock_guard<std::mutex> l(lock_);
  queue_.push_header(frame);
}

void Viewer::push_frame(const WireMessageRef &frame) {
  std::lock_guard<std::mutex> l(lock_);
  queue_.push_frame(frame);
}

void Viewer::push_control(const WireMessageRef &frame) {
  std::lock_guard<std::mutex> l(lock_);
  queue_.push_control(frame);
}

void Viewer::push_config(const WireMessageRef &config) {
  std::lock_guard<std::mutex> l(lock_);
  queue_.push_config(config);
}

void Viewer::set_video(bool need_key) {
  std::lock_guard<std::mutex> l(lock_);
  queue_.set_video(need_key);
}

Totals Viewer::totals() {
  std::lock_guard<std::mutex> l(lock_);
  return {queue_.frames_sent(), queue_.frames_dropped(), queue_.bytes_sent()};
}

ViewerFigures Viewer::figures() {
  std::lock_guard<std::mutex> l(lock_);
  return {kind, address, connect_time_us, {queue_.frames_sent(), queue_.frames_dropped(), queue_.bytes_sent()},
          fps_, static_cast<unsigned>(queue_.held_messages()), tls};
}

void Viewer::start() {
  watch_reads();
  service(false);
  // The taken stream may already hold bytes the viewer sent with its request.
  if (!gone_) readable();
}

// Answers a viewer's control frames.
struct Viewer::Events : ws::ClientFrameReader::Receiver {
  explicit Events(Viewer &viewer) : v(viewer) {}
  void ping(const uint8_t *payload, size_t size) override {
    v.push_control(std::make_shared<OwnedMessage>(ws::control_frame(ws::kPong, payload, size)));
    v.service(false);
  }
  void close(uint16_t code, const std::string &) override {
    if (v.closing_) {  // the answer to our close frame
      v.leave(*v.closing_);
      return;
    }
    v.peer_closed_ = true;
    v.close(answer_to_close(code), ViewerExit::Closed);
  }
  Viewer &v;
};

void Viewer::watch_reads() {
  read_source_.reset(g_pollable_input_stream_create_source(input_, nullptr));
  g_source_set_callback(read_source_.get(), G_SOURCE_FUNC(+[](GObject *, gpointer viewer) -> gboolean {
                          return static_cast<Viewer *>(viewer)->readable();
                        }),
                        this, nullptr);
  g_source_attach(read_source_.get(), context_);
}

gboolean Viewer::readable() {
  auto keep = shared_from_this();
  Events events(*this);
  uint8_t buf[16 * 1024];
  for (int i = 0; i < kReadsPerWakeup && !gone_; i++) {
    ErrorPtr err;
    gssize n = g_pollable_input_stream_read_nonblocking(input_, buf, sizeof buf, nullptr, out(err));
    // An MJPEG client has said all it had to in its request: the rest is ignored.
    if (n > 0 && kind == ViewerKind::Mjpeg) continue;
    if (n > 0) {
      switch (reader_.feed(buf, n, events)) {
        case ws::ClientFrameReader::Status::Ok:
          break;
        case ws::ClientFrameReader::Status::ProtocolError:
          close(ws::kProtocolError, ViewerExit::ProtocolError);
          break;
        case ws::ClientFrameReader::Status::TooBig:
          close(ws::kMessageTooBig, ViewerExit::MessageTooBig);
          break;
        case ws::ClientFrameReader::Status::InvalidUtf8:
          close(ws::kInvalidPayload, ViewerExit::InvalidUtf8);
          break;
      }
      continue;
    }
    if (n == 0) {
      leave(closing_.value_or(ViewerExit::Closed));
    } else if (g_error_matches(err.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      if (!reads_drained_) {
        // A source made while libsoup's buffered stream still held bytes
        // never polls the socket: it would run on every loop iteration.
        // Now that the buffer is empty, a new one waits for the socket.
        reads_drained_ = true;
        watch_reads();
        return G_SOURCE_REMOVE;
      }
      break;
    } else {
      GST_CAT_DEBUG(stream_.log(), "viewer %s: %s", address.c_str(), err->message);
      leave(closing_.value_or(ViewerExit::Error));
    }
  }
  return gone_ ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

void Viewer::service(bool only_if_scheduled) {
  if (gone_) return;
  Flush result;
  bool start_watch = false, stop_watch = false, close_written;
  {
    std::lock_guard<std::mutex> l(lock_);
    if (only_if_scheduled && !scheduled_) return;
    scheduled_ = false;
    queue_.writing(g_get_monotonic_time());
    result = flush_locked();
    if (result == Flush::Blocked && !watching_) {
      watching_ = start_watch = true;
    } else if (result == Flush::Drained && watching_) {
      watching_ = false;
      stop_watch = true;
    }
    close_written = queue_.close_written();
  }
  if (result == Flush::Failed) {
    leave(closing_.value_or(ViewerExit::Error));
    return;
  }
  if (start_watch) {
    write_source_.reset(g_pollable_output_stream_create_source(output_, nullptr));
    g_source_set_callback(write_source_.get(), G_SOURCE_FUNC(+[](GObject *, gpointer viewer) -> gboolean {
                            return static_cast<Viewer *>(viewer)->writable();
                          }),
                          this, nullptr);
    g_source_attach(write_source_.get(), context_);
  }
  if (stop_watch) write_source_.reset();
  if (close_written && !close_handled_) {
    close_handled_ = true;
    if (peer_closed_) {
      leave(ViewerExit::Closed);
      return;
    }
    // An MJPEG stream ends with its delimiter: there is no answer to wait for.
    if (kind == ViewerKind::Mjpeg) {
      leave(*closing_);
      return;
    }
    if (!tls) g_socket_shutdown(socket_.get(), FALSE, TRUE, nullptr);
    linger_until_ = g_get_monotonic_time() + kLingerUs;
  }
}

gboolean Viewer::writable() {
  auto keep = shared_from_this();
  service(false);
  return write_source_ ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void Viewer::close(uint16_t code, ViewerExit exit) {
  if (gone_ || closing_) return;
  closing_ = exit;
  auto frame = kind == ViewerKind::Mjpeg ? std::make_shared<OwnedMessage>(part_end_)
                                         : std::make_shared<OwnedMessage>(ws::close_frame(code, ""));
  {
    std::lock_guard<std::mutex> l(lock_);
    queue_.close(std::move(frame));
  }
  service(false);
}

std::optional<ViewerExit> Viewer::tick(int64_t now, int64_t timeout_us) {
  bool stalled;
  {
    std::lock_guard<std::mutex> l(lock_);
    stalled = timeout_us && queue_.stalled(now, timeout_us);
    if (now - fps_since_ >= kFpsWindowUs) {
      const uint64_t sent = queue_.frames_sent();
      fps_ = static_cast<double>(sent - fps_frames_) * G_USEC_PER_SEC / (now - fps_since_);
      fps_frames_ = sent;
      fps_since_ = now;
    }
  }
  if (stalled) {
    GST_CAT_INFO(stream_.log(), "viewer %s accepted no data for %" G_GINT64_FORMAT " s", address.c_str(),
                 timeout_us / G_USEC_PER_SEC);
    // The close frame goes out only if the socket takes it now: the viewer is stuck.
    close(ws::kPolicyViolation, ViewerExit::Timeout);
    return ViewerExit::Timeout;
  }
  if (linger_until_ && now > linger_until_) return *closing_;
  return std::nullopt;
}

void Viewer::leave(ViewerExit exit) { stream_.remove_viewer(*this, exit); }

void Viewer::shut() {
  if (gone_) return;
  gone_ = true;
  {
    std::lock_guard<std::mutex> l(lock_);
    // offer() queues nothing any more.
    if (!queue_.closing()) queue_.close(nullptr);
  }
  read_source_.reset();
  write_source_.reset();
  // Shut down first so that closing (a TLS close_notify) never waits on a stuck viewer.
  g_socket_shutdown(socket_.get(), TRUE, TRUE, nullptr);
  g_io_stream_close(io_.get(), nullptr, nullptr);
  g_socket_close(socket_.get(), nullptr);
  io_.reset();
  socket_.reset();
}

}  // namespace imagestream
