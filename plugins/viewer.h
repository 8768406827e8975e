// One viewer's connection: the queued spans written to its socket, the bytes
// it sends read into the WebSocket frame reader (pings answered, its close
// frame echoed), our close frame and the linger after it. What it is sent is
// decided by its ViewerQueue (the delivery policy); when it is gone is told to
// its Stream, which owns it.
//
// Threads: a plain socket is written by whichever thread holds `lock_`: the
// streaming thread writes each frame straight away (offer()), and the server
// thread finishes what a full socket did not take. TLS viewers are written by
// the server thread only: a GTlsConnection is read there and must not be
// written from two threads. Everything else is the server thread's.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "glibptr.h"
#include "statsformat.h"
#include "viewerqueue.h"
#include "wsframe.h"

namespace imagestream {

// Why a viewer left: the `reason` of websocketsink's viewer-removed signal.
enum class ViewerExit {
  Closed,         // by the viewer
  Timeout,        // accepted no data for viewer-timeout
  Error,          // the connection failed
  ProtocolError,  // it broke the WebSocket protocol
  MessageTooBig,  // it sent a message over max-message-size
  InvalidUtf8,    // it sent a text message or close reason that is not UTF-8
  Stopped,        // the stream stopped
  Removed,        // the application asked (websocketsink's disconnect-viewer)
};
const char *exit_name(ViewerExit exit);

class Stream;

class Viewer : public std::enable_shared_from_this<Viewer> {
 public:
  struct Options {
    ViewerKind kind;
    bool tls;
    DeliveryLimits limits;
    int64_t write_interval_us;     // see ViewerQueue::set_write_interval
    uint64_t max_message_size;     // WebSocket: the largest message it may send
    std::string mjpeg_boundary;    // MJPEG: the boundary between parts (random per response)
    std::string mjpeg_type;        // MJPEG: the parts' Content-Type
  };
  Viewer(Stream &stream, GMainContext *context, GObjectPtr<GSocket> socket, GObjectPtr<GIOStream> io,
         const Options &options);
  Viewer(const Viewer &) = delete;
  Viewer &operator=(const Viewer &) = delete;

  // --- any thread ---
  // Queues a frame and, on a plain socket whose write is due, writes what
  // the socket takes now. Returns when the server thread must write the rest
  // (monotonic µs; the frame's arrival for at once), or 0 when it need not.
  int64_t offer(const WireMessageRef &frame);
  // Queues what a new viewer gets first, before the viewer is published.
  void push_header(const WireMessageRef &frame);
  void push_frame(const WireMessageRef &frame);
  void push_control(const WireMessageRef &frame);
  void push_config(const WireMessageRef &config);
  void set_video(bool need_key);
  ViewerFigures figures();
  Totals totals();

  // --- server thread ---
  // Starts reading, and writes what was queued before.
  void start();
  // Writes what the socket takes; with `only_if_scheduled`, only if offer() asked for it.
  void service(bool only_if_scheduled);
  // Queues our close frame (for MJPEG, the closing delimiter) after the frame
  // being written; the viewer goes once the viewer answers, or after a linger.
  void close(uint16_t code, ViewerExit exit);
  // Once per tick: the frame rate, and whether the viewer must go now.
  std::optional<ViewerExit> tick(int64_t now_us, int64_t timeout_us);
  // Stops reading and writing and closes the connection; the viewer counts
  // as gone from here on. Called by the stream removing it.
  void shut();
  bool gone() const { return gone_; }

  const std::string address;
  const int64_t connect_time_us;  // real time
  const ViewerKind kind;
  const bool tls;

 private:
  enum class Flush { Drained, Blocked, Failed };
  struct Events;
  Flush flush_locked();
  void watch_reads();
  gboolean readable();
  gboolean writable();
  void leave(ViewerExit exit);

  // MJPEG: what follows each part (the next part's boundary and headers), and
  // the closing delimiter. Constant; the queue points into `part_trailer_`.
  const std::string part_trailer_;
  const std::string part_end_;

  // Server thread only.
  Stream &stream_;        // outlives its viewers: it removes them all before it goes
  GMainContext *context_;  // the server thread's
  GObjectPtr<GSocket> socket_;
  GObjectPtr<GIOStream> io_;       // the connection taken from libsoup
  GPollableInputStream *input_;    // of `io_`
  GPollableOutputStream *output_;  // of `io_`
  const int fd_;
  // The sources call back with a raw pointer to this viewer: they are
  // destroyed in shut(), before the viewer can be freed, and each callback
  // holds a reference while it runs because it may end in shut().
  SourcePtr read_source_;
  SourcePtr write_source_;
  ws::ClientFrameReader reader_;  // WebSocket viewers only
  bool gone_ = false;
  bool reads_drained_ = false;  // the taken stream's buffered bytes are read
  bool peer_closed_ = false;    // the viewer sent its close frame first
  bool close_handled_ = false;  // our close frame went out
  std::optional<ViewerExit> closing_;  // why we closed it; set once closing
  int64_t linger_until_ = 0;

  std::mutex lock_;  // guards everything below
  ViewerQueue queue_;
  bool scheduled_ = false;  // the server thread is asked to flush (offer() returned a time)
  bool watching_ = false;   // the server thread writes when the socket is writable
  // Frames sent per second over the last window; updated by the tick, not per frame.
  double fps_ = 0;
  uint64_t fps_frames_ = 0;  // frames_sent at fps_since_
  int64_t fps_since_;        // monotonic time the window started
};

}  // namespace imagestream
