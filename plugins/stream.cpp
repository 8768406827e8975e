#include "stream.h"

#include <algorithm>

#include "staticfiles.h"

GST_DEBUG_CATEGORY_EXTERN(websocketsink_debug);
#define GST_CAT_DEFAULT websocketsink_debug

namespace imagestream {

namespace {

gboolean wake_dispatch(GSource *source, GSourceFunc callback, gpointer data) {
  g_source_set_ready_time(source, -1);
  return callback(data);
}
GSourceFuncs wake_funcs = {nullptr, nullptr, wake_dispatch, nullptr, nullptr, nullptr};

// How long stopping waits for viewers to take their close frame.
constexpr guint kStopGraceMs = 1000;
constexpr int64_t kFpsWindowUs = G_USEC_PER_SEC;
// The newest group of pictures kept for viewers joining a video stream: past
// these, new viewers wait for the next key frame instead.
constexpr size_t kMaxGopFrames = 600;
constexpr size_t kMaxGopBytes = 32 * 1024 * 1024;
// A joining viewer asks upstream for a key frame when more deltas than this
// came since the last one (it gets them all at once meanwhile), at most once
// per kKeyFrameRequestUs.
constexpr size_t kLongGop = 15;
constexpr int64_t kKeyFrameRequestUs = G_USEC_PER_SEC;

WireMessageRef text_message(const std::string &text) {
  return std::make_shared<OwnedMessage>(ws::text_frame(text));
}

}  // namespace

Stream::Stream(StreamEvents &events, GstObject *log) : events_(events), log_object_(log) {}

void Stream::configure(StreamPath path, std::string document_root, std::shared_ptr<Logins> logins) {
  g_assert(!context_);
  path_ = std::move(path);
  document_root_ = std::move(document_root);
  logins_ = std::move(logins);
}

Stream::~Stream() { g_assert(viewers_.empty()); }

GstDebugCategory *Stream::log() const { return websocketsink_debug; }

void Stream::set_settings(const StreamSettings &settings) {
  std::lock_guard<std::mutex> l(settings_lock_);
  settings_ = settings;
}

StreamSettings Stream::settings() const {
  std::lock_guard<std::mutex> l(settings_lock_);
  return settings_;
}

StreamFigures Stream::figures(bool per_viewer) {
  StreamFigures f;
  std::shared_ptr<const ViewerList> list;
  {
    std::lock_guard<std::mutex> l(lock_);
    f.by_kind = retired_;
    f.frames_in = frames_in_;
    f.fps_in = fps_in_;
    f.viewers_total = viewers_total_;
    f.viewers_refused = viewers_refused_;
    f.senders = senders_;
    if (latest_) f.last_frame_age_s = (g_get_monotonic_time() - latest_->arrival_us) / 1e6;
    list = published_;
  }
  if (per_viewer) f.each.reserve(list->size());
  for (const auto &v : *list) {
    const auto k = static_cast<size_t>(v->kind);
    f.viewers[k]++;
    if (per_viewer) {
      f.each.push_back(v->figures());
      f.by_kind[k].add(f.each.back().totals);
    } else {
      f.by_kind[k].add(v->totals());
    }
  }
  return f;
}

unsigned Stream::num_viewers() {
  std::lock_guard<std::mutex> l(lock_);
  return static_cast<unsigned>(published_->size());
}

WireMessageRef Stream::latest() {
  std::lock_guard<std::mutex> l(lock_);
  return latest_;
}

void Stream::set_video(const VideoFormat &format) {
  std::lock_guard<std::mutex> l(lock_);
  video_ = format;
  config_pending_ = video();
  config_.reset();
  gop_.clear();
  gop_bytes_ = 0;
}

void Stream::deliver(WireMessageRef frame, const uint8_t *key_bytes, size_t key_size) {
  std::shared_ptr<const ViewerList> viewers;
  WireMessageRef new_config;
  {
    std::lock_guard<std::mutex> l(lock_);
    latest_ = frame;
    frames_in_++;
    viewers = published_;
    if (video()) {
      if (!frame->delta) {
        if (config_pending_) {
          if (video_.codec == VideoCodec::H264) video_.codec_string = h264_codec_string(key_bytes, key_size);
          if (video_.codec_string.empty()) video_.codec_string = default_codec_string(video_.codec);
          config_ = new_config = text_message(config_message(video_, static_cast<uint32_t>(frames_in_ - 1)));
          config_pending_ = false;
        }
        gop_.clear();
        gop_bytes_ = 0;
      }
      // Frames before the first key frame decode nowhere.
      if (config_pending_) return;
      if (!gop_.empty() || !frame->delta) {
        if (gop_.size() < kMaxGopFrames && gop_bytes_ + frame->size() <= kMaxGopBytes) {
          gop_.push_back(frame);
          gop_bytes_ += frame->size();
        } else {
          gop_.clear();  // too long ago to be worth it: newcomers wait for the next key frame
        }
      }
    }
  }
  if (new_config)
    for (const auto &v : *viewers) v->push_config(new_config);
  int64_t first = 0;
  for (const auto &v : *viewers) {
    const int64_t at = v->offer(frame);
    if (at && (!first || at < first)) first = at;
  }
  if (first) wake_at(first);
}

void Stream::wake_at(int64_t at) {
  std::lock_guard<std::mutex> l(lock_);
  if (!wake_ || (wake_at_ >= 0 && wake_at_ <= at)) return;
  wake_at_ = at;
  g_source_set_ready_time(wake_.get(), at);
}

// Before servicing: a viewer asking after this point sets a new time.
void Stream::woken() {
  std::lock_guard<std::mutex> l(lock_);
  wake_at_ = -1;
}

void Stream::set_headers(std::vector<WireMessageRef> headers) {
  std::lock_guard<std::mutex> l(lock_);
  headers_.swap(headers);
}

void Stream::forget_frames() {
  // Declared before the lock, so destroyed after it is released: the last
  // reference to a frame unrefs its buffer, which needs no lock of ours.
  WireMessageRef latest;
  std::vector<WireMessageRef> headers, gop;
  std::lock_guard<std::mutex> l(lock_);
  latest.swap(latest_);
  headers.swap(headers_);
  gop.swap(gop_);
  gop_bytes_ = 0;
}

void Stream::attach(GMainContext *context) {
  context_ = context;
  stopping_ = false;
  fps_since_ = g_get_monotonic_time();
  SourcePtr wake(g_source_new(&wake_funcs, sizeof(GSource)));
  g_source_set_callback(
      wake.get(),
      [](gpointer self) -> gboolean {
        auto *stream = static_cast<Stream *>(self);
        stream->woken();
        stream->service_scheduled();
        return G_SOURCE_CONTINUE;
      },
      this, nullptr);
  g_source_attach(wake.get(), context);
  std::lock_guard<std::mutex> l(lock_);
  wake_ = std::move(wake);
  wake_at_ = -1;
  fps_frames_in_ = frames_in_;
}

void Stream::refuse(const std::string &address, const char *reason) {
  {
    std::lock_guard<std::mutex> l(lock_);
    viewers_refused_++;
  }
  if (refusals_.admit(g_get_monotonic_time()))
    GST_WARNING_OBJECT(log_object_, "refused viewer %s: %s (further refusals are summed up once a second)",
                       address.c_str(), reason);
  events_.viewer_refused(address, reason);
}

void Stream::set_port_counters(std::shared_ptr<const PortCounters> counters) {
  std::lock_guard<std::mutex> l(lock_);
  port_counters_ = std::move(counters);
}

std::shared_ptr<const PortCounters> Stream::port_counters() {
  std::lock_guard<std::mutex> l(lock_);
  return port_counters_;
}

bool Stream::disconnect(const std::string &address) {
  std::shared_ptr<Viewer> viewer;
  GMainContext *context;
  {
    std::lock_guard<std::mutex> l(lock_);
    for (const auto &v : *published_)
      if (v->address == address) viewer = v;
    // context_ is the server thread's, but constant while viewers are published.
    context = context_;
  }
  if (!viewer || !context) return false;
  struct Close {
    std::shared_ptr<Viewer> viewer;
  };
  g_main_context_invoke_full(
      context, G_PRIORITY_DEFAULT,
      [](gpointer data) -> gboolean {
        static_cast<Close *>(data)->viewer->close(ws::kNormal, ViewerExit::Removed);
        return G_SOURCE_REMOVE;
      },
      std::make_unique<Close>(Close{viewer}).release(), [](gpointer data) { delete static_cast<Close *>(data); });
  return true;
}

std::string Stream::content_type() {
  std::lock_guard<std::mutex> l(lock_);
  const char *sniffed = latest_ ? image_type_of(latest_->payload, latest_->payload_size) : nullptr;
  return sniffed ? sniffed : content_type_;
}

void Stream::set_senders(int senders) {
  std::lock_guard<std::mutex> l(lock_);
  senders_ = senders;
}

void Stream::set_content_type(std::string type) {
  std::lock_guard<std::mutex> l(lock_);
  content_type_ = std::move(type);
}

void Stream::add_viewer(GObjectPtr<GSocket> socket, GObjectPtr<GIOStream> io, const Viewer::Options &options) {
  auto v = std::make_shared<Viewer>(*this, context_, std::move(socket), std::move(io), options);
  bool want_key_frame = false;
  {
    std::lock_guard<std::mutex> l(lock_);
    // Queued before the viewer is published, under the lock deliver() takes
    // to replace latest_: the viewer gets either this frame here or the next
    // one from deliver(), never a newer frame before an older one.
    if (v->kind == ViewerKind::Mjpeg) {
      mjpeg_viewers_++;  // stream headers are for WebSocket decoders; an MJPEG part is a whole JPEG
      if (latest_) v->push_frame(latest_);
    } else if (!video()) {
      for (auto &h : headers_) v->push_header(h);
      if (latest_) v->push_frame(latest_);
    } else {
      // The configuration, then the newest key frame and the deltas since,
      // none of which may be dropped: a picture at once.
      v->set_video(gop_.empty());
      if (config_) v->push_header(config_);
      if (!gop_.empty()) {
        v->push_header(text_message(catchup_message(gop_.size())));
        for (auto &f : gop_) v->push_header(f);
      }
      const int64_t now = g_get_monotonic_time();
      if ((gop_.empty() || gop_.size() > kLongGop) && now - key_frame_asked_ > kKeyFrameRequestUs) {
        key_frame_asked_ = now;
        want_key_frame = true;
      }
    }
    auto list = std::make_shared<ViewerList>(*published_);
    list->push_back(v);
    published_ = std::move(list);
    viewers_total_++;
  }
  viewers_.push_back(v);
  GST_INFO_OBJECT(log_object_, "%s viewer %s connected", kind_name(v->kind), v->address.c_str());
  events_.viewer_added(v->address);
  if (want_key_frame) events_.key_frame_wanted();
  v->start();
}

void Stream::remove_viewer(Viewer &v, ViewerExit exit) {
  if (v.gone()) return;
  auto keep = v.shared_from_this();
  v.shut();
  const Totals totals = v.totals();
  {
    std::lock_guard<std::mutex> l(lock_);
    retired_[static_cast<size_t>(v.kind)].add(totals);
    if (v.kind == ViewerKind::Mjpeg) mjpeg_viewers_--;
    auto list = std::make_shared<ViewerList>();
    list->reserve(published_->size());
    for (auto &other : *published_)
      if (other.get() != &v) list->push_back(other);
    published_ = std::move(list);
  }
  viewers_.erase(std::remove(viewers_.begin(), viewers_.end(), keep), viewers_.end());
  GST_INFO_OBJECT(log_object_, "%s viewer %s removed: %s", kind_name(v.kind), v.address.c_str(), exit_name(exit));
  events_.viewer_removed(v.address, exit);
  if (stopping_ && viewers_.empty()) finish_stop();
}

void Stream::service_scheduled() {
  // Back to front: servicing a viewer may remove it (and only it) from the
  // list. No copy of the list: this runs once per frame.
  for (size_t i = viewers_.size(); i-- > 0;) {
    std::shared_ptr<Viewer> keep = viewers_[i];
    keep->service(true);
  }
}

void Stream::tick(int64_t now) {
  const int64_t timeout = int64_t{settings().viewer_timeout} * G_USEC_PER_SEC;
  if (const uint64_t n = refusals_.take_due(now))
    GST_WARNING_OBJECT(log_object_, "refused %" G_GUINT64_FORMAT " more viewers in the last second", n);
  if (now - fps_since_ >= kFpsWindowUs) {
    std::lock_guard<std::mutex> l(lock_);
    fps_in_ = static_cast<double>(frames_in_ - fps_frames_in_) * G_USEC_PER_SEC / (now - fps_since_);
    fps_frames_in_ = frames_in_;
    fps_since_ = now;
  }
  ViewerList list = viewers_;
  for (auto &v : list) {
    if (auto exit = v->tick(now, timeout)) remove_viewer(*v, *exit);
  }
}

void Stream::stop(std::function<void()> done) {
  stopping_ = true;
  stopped_ = std::move(done);
  ViewerList list = viewers_;
  for (auto &v : list) v->close(ws::kGoingAway, ViewerExit::Stopped);
  if (viewers_.empty()) {
    finish_stop();
    return;
  }
  stop_timer_.reset(g_timeout_source_new(kStopGraceMs));
  g_source_set_callback(
      stop_timer_.get(),
      [](gpointer self) -> gboolean {
        auto *stream = static_cast<Stream *>(self);
        ViewerList left = stream->viewers_;
        for (auto &v : left) stream->remove_viewer(*v, ViewerExit::Stopped);
        return G_SOURCE_REMOVE;
      },
      this, nullptr);
  g_source_attach(stop_timer_.get(), context_);
}

void Stream::finish_stop() {
  // Closing may remove the last viewer before stop() looks.
  if (!stopped_) return;
  SourcePtr wake;
  {
    std::lock_guard<std::mutex> l(lock_);
    wake = std::move(wake_);
  }
  stop_timer_.reset();
  GMainContext *context = context_;
  context_ = nullptr;
  // Once `done` runs, the element may destroy this stream: it runs from the
  // main loop, when no code of this stream is on the server thread's stack.
  using Done = std::function<void()>;
  GSource *idle = g_idle_source_new();
  g_source_set_callback(
      idle,
      [](gpointer done) -> gboolean {
        (*static_cast<Done *>(done))();
        return G_SOURCE_REMOVE;
      },
      std::make_unique<Done>(std::move(stopped_)).release(), [](gpointer done) { delete static_cast<Done *>(done); });
  g_source_attach(idle, context);
  g_source_unref(idle);
}

}  // namespace imagestream
