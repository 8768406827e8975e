// One stream (one websocketsink): its path, the fan-out of every frame to its
// viewers, the viewer list, the most recent frame and the caps stream
// headers, and its figures. Many streams may share one port's Server.
//
// Threads and locks. Per frame, deliver() (the sink's streaming thread)
// takes `lock_` once (newest frame, viewer list), then each viewer's own lock
// to queue the frame and write it (Viewer::offer); only when some viewer asks
// for the server thread does it take `lock_` again, to set when the stream's
// wake-up source fires. Everything else runs on the server thread: adding,
// servicing, closing and removing viewers. No lock is held across a libsoup
// call or an event (signal) to the element.
#pragma once

#include <gst/gst.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "glibptr.h"
#include "logins.h"
#include "paths.h"
#include "pendingconnections.h"
#include "statsformat.h"
#include "videoformat.h"
#include "viewer.h"
#include "viewerqueue.h"
#include "warningthrottle.h"

namespace imagestream {

// The per-stream settings that may change while the stream runs (the
// element's properties that are mutable in PLAYING).
struct StreamSettings {
  unsigned max_viewers = 0;  // WebSocket and MJPEG together; 0 = no limit
  std::string allowed_origins;
  bool require_origin = false;
  std::string cors_origins;  // for stats, metrics, snapshot and MJPEG
  DeliveryLimits limits;       // for viewers connecting afterwards
  int64_t write_interval_us = 0;  // for viewers connecting afterwards (ViewerQueue::set_write_interval)
  unsigned viewer_timeout = 0;  // seconds without progress before a viewer is closed; 0 = never
  uint64_t max_message_size = 0;
  bool enable_snapshot = true;
  bool enable_mjpeg = true;
  bool enable_stats = true;
  // A video stream's snapshot.jpg and stream.mjpeg come from the stream at
  // this path on the same port (the camera's JPEG frames); empty = none.
  std::string jpeg_stream;
};

// What a stream tells its element, on the server thread, with no lock held.
class StreamEvents {
 public:
  virtual ~StreamEvents() = default;
  virtual void viewer_added(const std::string &address) = 0;
  virtual void viewer_removed(const std::string &address, ViewerExit exit) = 0;
  // A request that would have become a viewer was refused (never added).
  virtual void viewer_refused(const std::string &address, const char *reason) = 0;
  // A viewer joined a video stream whose newest key frame is long ago: ask
  // upstream for a new one (rate-limited by the stream).
  virtual void key_frame_wanted() {}
};

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  // `log` is the element, for log lines only.
  Stream(StreamEvents &events, GstObject *log);
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;
  ~Stream();

  // Where the stream is served, its document root (resolved, or empty) and
  // its logins (null: none, the path is the only secret). Set only while no
  // server serves the stream.
  void configure(StreamPath path, std::string document_root, std::shared_ptr<Logins> logins);
  const StreamPath &path() const { return path_; }
  const std::string &document_root() const { return document_root_; }
  Logins *logins() const { return logins_.get(); }
  GstDebugCategory *log() const;
  GstObject *log_object() const { return log_object_; }

  // --- any thread ---
  void set_settings(const StreamSettings &settings);
  StreamSettings settings() const;
  StreamFigures figures(bool per_viewer);
  unsigned num_viewers();
  WireMessageRef latest();
  // The media type of the frames, for snapshots and MJPEG parts: what the
  // newest frame's bytes are when they tell (a PNG with JPEG caps is a PNG),
  // else what the caps say.
  std::string content_type();
  void set_content_type(std::string type);
  // How many senders the source upstream has (it says so with an event).
  void set_senders(int senders);
  // Closes the viewer at `address` ("host:port") from the server thread;
  // false when there is none.
  bool disconnect(const std::string &address);
  // The counters of the port the stream is (or was last) served on; null
  // before it was ever served.
  void set_port_counters(std::shared_ptr<const PortCounters> counters);
  std::shared_ptr<const PortCounters> port_counters();

  // --- the streaming thread ---
  // A frame; in a video stream `frame->delta` tells key from delta frames and
  // `key_bytes` (of a key frame) lets H.264 name its profile and level.
  void deliver(WireMessageRef frame, const uint8_t *key_bytes = nullptr, size_t key_size = 0);
  void set_headers(std::vector<WireMessageRef> headers);
  // The stream carries encoded video from the next frame on (codec None: it
  // does not, frames are opaque as JPEG). Viewers get the configuration with
  // the next key frame.
  void set_video(const VideoFormat &format);
  bool video() const { return video_.codec != VideoCodec::None; }
  // Lets go of the most recent frame and the headers (the sink stopped).
  void forget_frames();

  // --- the server thread ---
  // Starts serving on the server thread's `context`: from here to the end
  // of stop(), deliver() wakes that thread through the stream's own wake-up
  // source. The sink's streaming thread runs only within that span (from
  // READY to PAUSED and back), so deliver() may use the source after unlocking.
  void attach(GMainContext *context);
  // Closes every viewer with 1001 and calls `done` once they are all gone,
  // or after a grace period; the stream is idle afterwards.
  void stop(std::function<void()> done);
  bool stopping() const { return stopping_; }
  // Viewers connected or being admitted, for max-viewers.
  size_t viewers_and_pending() const { return viewers_.size() + pending_; }
  void pending_added() { pending_++; }
  void pending_done() { pending_--; }
  // A request that could have become a viewer was refused for `reason`.
  void refuse(const std::string &address, const char *reason);
  // A connection whose response head (101, or MJPEG's 200) is written becomes a viewer.
  void add_viewer(GObjectPtr<GSocket> socket, GObjectPtr<GIOStream> io, const Viewer::Options &options);
  void remove_viewer(Viewer &viewer, ViewerExit exit);
  // Finishes the writes that deliver() asked for.
  void service_scheduled();
  void tick(int64_t now_us);

 private:
  using ViewerList = std::vector<std::shared_ptr<Viewer>>;

  StreamPath path_{"/"};
  std::string document_root_;
  std::shared_ptr<Logins> logins_;
  StreamEvents &events_;
  GstObject *const log_object_;

  mutable std::mutex settings_lock_;  // guards `settings_`
  StreamSettings settings_;

  std::mutex lock_;  // guards everything below, up to the server thread's part
  // Replaced, never changed in place, so deliver() walks it without the lock.
  std::shared_ptr<const ViewerList> published_ = std::make_shared<ViewerList>();
  WireMessageRef latest_;
  std::vector<WireMessageRef> headers_;
  std::string content_type_ = "application/octet-stream";  // from the caps
  int senders_ = -1;  // unknown until upstream tells
  // Encoded video: its format (the streaming thread's: set_video() and
  // deliver()), the configuration message viewers get before any frame, and
  // the newest key frame with the deltas since, for viewers joining.
  VideoFormat video_;
  bool config_pending_ = false;  // set_video() happened; the next key frame makes config_
  WireMessageRef config_;
  std::vector<WireMessageRef> gop_;
  size_t gop_bytes_ = 0;
  uint32_t config_sequence_ = 0;
  std::array<Totals, kViewerKinds> retired_;  // of the viewers that are gone, by kind
  size_t mjpeg_viewers_ = 0;                  // in published_
  uint64_t frames_in_ = 0;
  double fps_in_ = 0;  // frames in per second over the last window, from the tick
  uint64_t viewers_total_ = 0;
  uint64_t viewers_refused_ = 0;
  std::shared_ptr<const PortCounters> port_counters_;
  SourcePtr wake_;  // created by attach(), destroyed by stop(): fires service_scheduled()
  int64_t wake_at_ = -1;  // when wake_ fires next (monotonic µs), -1 = not set

  // Server thread only.
  GMainContext *context_ = nullptr;
  ViewerList viewers_;  // the same viewers as published_
  size_t pending_ = 0;  // admitted, response head not written yet
  bool stopping_ = false;
  std::function<void()> stopped_;  // stop()'s `done`
  SourcePtr stop_timer_;
  int64_t fps_since_ = 0;  // window of fps_in_
  uint64_t fps_frames_in_ = 0;
  int64_t key_frame_asked_ = 0;  // monotonic µs of the last key_frame_wanted()
  // Refused viewers: one warning, then a count once a second.
  WarningThrottle refusals_{G_USEC_PER_SEC};

  void finish_stop();
  // A viewer asked to be written at `at`: fire the wake-up source then, unless it fires sooner.
  void wake_at(int64_t at);
  void woken();
};

}  // namespace imagestream
