#include "relay.h"

#include <glib-unix.h>
#include <gst/video/video.h>

#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "endpoints.h"

namespace launcher {

namespace {

// A line of the relay's log, after the start-up lines: local time first, so
// that a log kept by screen, systemd or a file tells when things happened.
G_GNUC_PRINTF(2, 3) void log_line(FILE *to, const char *format, ...) {
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree gchar *when = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");
  va_list args;
  va_start(args, format);
  g_autofree gchar *text = g_strdup_vprintf(format, args);
  va_end(args);
  // One write per line: viewers' lines come from the server threads.
  g_autofree gchar *line = g_strdup_printf("%s %s\n", when, text);
  fputs(line, to);
  fflush(to);
}

// The first pad of `direction` no element of `bin` itself links (elements
// inside its elements do not count: a splitmuxsink's muxer is not the
// filter's output), or nullptr.
GstPad *open_pad(GstBin *bin, GstPadDirection direction) {
  GstPad *found = nullptr;
  GstIterator *elements = gst_bin_iterate_sorted(bin);
  GValue e = G_VALUE_INIT;
  while (!found && gst_iterator_next(elements, &e) == GST_ITERATOR_OK) {
    auto *element = GST_ELEMENT(g_value_get_object(&e));
    GstIterator *pads =
        direction == GST_PAD_SRC ? gst_element_iterate_src_pads(element) : gst_element_iterate_sink_pads(element);
    GValue p = G_VALUE_INIT;
    while (!found && gst_iterator_next(pads, &p) == GST_ITERATOR_OK) {
      auto *pad = GST_PAD(g_value_get_object(&p));
      if (!gst_pad_is_linked(pad)) found = GST_PAD(gst_object_ref(pad));
      g_value_reset(&p);
    }
    g_value_unset(&p);
    gst_iterator_free(pads);
    g_value_reset(&e);
  }
  g_value_unset(&e);
  gst_iterator_free(elements);
  return found;
}

// A --filter's input and output as the bin's own pads: the open sink and
// src pads of its top-level elements (gst_parse's own ghosting would also
// take pads inside a child bin, such as splitmuxsink's muxer).
void ghost_open_pads(GstBin *bin) {
  for (GstPadDirection d : {GST_PAD_SINK, GST_PAD_SRC}) {
    GstPad *pad = open_pad(bin, d);
    if (!pad) continue;
    gst_element_add_pad(GST_ELEMENT(bin), gst_ghost_pad_new(d == GST_PAD_SINK ? "sink" : "src", pad));
    gst_object_unref(pad);
  }
}

// Sets a property from its text form, whatever its GType (as gst-launch does).
void set_property(GstElement *element, const char *name, const std::string &value) {
  gst_util_set_object_arg(G_OBJECT(element), name, value.c_str());
}

// Reads any integer property as a guint64 (counters are uint or uint64).
guint64 read_counter(GstElement *element, const char *name) {
  GParamSpec *spec = g_object_class_find_property(G_OBJECT_GET_CLASS(element), name);
  if (!spec) return 0;
  GValue value = G_VALUE_INIT;
  GValue as_u64 = G_VALUE_INIT;
  g_value_init(&value, spec->value_type);
  g_value_init(&as_u64, G_TYPE_UINT64);
  g_object_get_property(G_OBJECT(element), name, &value);
  guint64 result = g_value_transform(&value, &as_u64) ? g_value_get_uint64(&as_u64) : 0;
  g_value_unset(&value);
  g_value_unset(&as_u64);
  return result;
}

int read_port(GstElement *element, const char *name) { return static_cast<int>(read_counter(element, name)); }

bool is_any_address(const std::string &host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

// How a browser or camera on this machine spells `host` in a URL.
std::string url_host(const std::string &host) {
  if (is_any_address(host)) return "localhost";
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

}  // namespace

Failure Relay::build() {
  for (const char *factory : {"lengthprefixsrc", "websocketsink"}) {
    g_autoptr(GstElementFactory) found = gst_element_factory_find(factory);
    if (!found) return runtime_error(std::string("element ") + factory + " is missing from this build");
  }
  pipeline_.reset(GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new("imagestream"))));
  cameras_.resize(options_.cameras.size());
  for (size_t i = 0; i < cameras_.size(); i++) {
    cameras_[i].options = options_.cameras[i];
    Failure failure = build_camera(cameras_[i], i);
    if (failure.failed()) return failure;
  }
  return share_web_port();
}

GstElement *Relay::make_fanout(const std::string &name, const std::string &path) {
  GstElement *fanout = gst_element_factory_make("websocketsink", name.c_str());
  gst_bin_add(GST_BIN(pipeline_.get()), fanout);
  set_property(fanout, "host", options_.web_host);
  set_property(fanout, "port", std::to_string(options_.web_port));
  set_property(fanout, "path", path);
  if (options_.max_viewers != kUnset) set_property(fanout, "max-viewers", std::to_string(options_.max_viewers));
  if (!options_.allowed_origins.empty()) set_property(fanout, "allowed-origins", options_.allowed_origins);
  if (options_.require_origin) set_property(fanout, "require-origin", "true");
  if (!options_.cors_origins.empty()) set_property(fanout, "cors-origins", options_.cors_origins);
  if (!options_.auth_users.empty()) set_property(fanout, "auth-users", options_.auth_users);
  if (!options_.document_root.empty()) set_property(fanout, "document-root", options_.document_root);
  if (!options_.tls_certificate.empty()) {
    set_property(fanout, "tls-certificate", options_.tls_certificate);
    set_property(fanout, "tls-key", options_.tls_key);
  }
  g_signal_connect(fanout, "viewer-added", G_CALLBACK(on_viewer_added_cb), this);
  g_signal_connect(fanout, "viewer-removed", G_CALLBACK(on_viewer_removed_cb), this);
  g_signal_connect(fanout, "viewer-refused", G_CALLBACK(on_viewer_refused_cb), this);
  return fanout;
}

void Relay::configure_nats(GstElement *element, const std::string &subject) {
  const NatsOptions &o = options_.nats;
  set_property(element, "servers", o.servers);
  set_property(element, "subject", subject);
  const std::pair<const char *, const std::string *> settings[] = {
      {"user", &o.user},          {"password", &o.password},   {"token", &o.token},
      {"credentials-file", &o.credentials_file}, {"tls-ca-file", &o.ca_file}, {"tls-certificate", &o.certificate},
      {"tls-key", &o.key},
  };
  for (const auto &[name, value] : settings)
    if (!value->empty()) set_property(element, name, *value);
}

Failure Relay::build_camera(CameraRelay &camera, size_t index) {
  const std::string n = std::to_string(index);
  const std::string path = "/" + camera.options.secret;
  if (camera.edge()) {
    camera.ingest = gst_element_factory_make("natssrc", ("nats-in" + n).c_str());
    if (!camera.ingest) return runtime_error("element natssrc is missing from this build");
    gst_bin_add(GST_BIN(pipeline_.get()), camera.ingest);
    configure_nats(camera.ingest, camera.options.subject);
    set_property(camera.ingest, "max-queued-frames", std::to_string(kHiccupFrames));
  } else {
    camera.ingest = gst_element_factory_make("lengthprefixsrc", ("ingest" + n).c_str());
    gst_bin_add(GST_BIN(pipeline_.get()), camera.ingest);
    set_property(camera.ingest, "host", options_.ingest_host);
    set_property(camera.ingest, "port", std::to_string(camera.options.ingest_port));
    const std::pair<const char *, const std::string *> ingest[] = {
        {"allowed-senders", &options_.allowed_senders},
        {"tls-certificate", &options_.ingest_tls_certificate},
        {"tls-key", &options_.ingest_tls_key},
        {"tls-ca-file", &options_.ingest_tls_ca},
    };
    for (const auto &[name, value] : ingest)
      if (!value->empty()) set_property(camera.ingest, name, *value);
    if (options_.max_frame_size != kUnset)
      set_property(camera.ingest, "max-frame-size", std::to_string(options_.max_frame_size));
  }
  camera.fanout = make_fanout("fanout" + n, path);

  GstElement *upstream = camera.ingest;
  if (!options_.filter.empty()) {
    g_autoptr(GError) error = nullptr;
    // FATAL_ERRORS: a misspelt property fails here rather than being ignored.
    GstElement *filter = gst_parse_bin_from_description_full(options_.filter.c_str(), FALSE, nullptr,
                                                             GST_PARSE_FLAG_FATAL_ERRORS, &error);
    if (!filter) return usage_error("--filter: " + std::string(error->message));
    ghost_open_pads(GST_BIN(filter));
    gst_object_set_name(GST_OBJECT(filter), ("filter" + n).c_str());
    gst_bin_add(GST_BIN(pipeline_.get()), filter);
    if (!gst_element_link(upstream, filter))
      return usage_error("--filter: '" + options_.filter + "' does not take a stream of frames");
    upstream = filter;
  }
  if (options_.video) return build_video(camera, n, upstream);
  const Failure failure = link_viewers(camera, n, upstream);
  if (failure.failed() && !options_.filter.empty())
    return usage_error("--filter: '" + options_.filter + "' does not take and give one stream of frames");
  return failure;
}

// from ! fanout, or on an origin: from ! tee ! queue ! fanout
//                                        tee ! queue ! natssink
// Neither sink blocks, so the queues only fill while a thread is not
// scheduled: kHiccupFrames absorb that; leaky, so that the backbone never
// holds up the viewers here, nor the other way round.
Failure Relay::link_viewers(CameraRelay &camera, const std::string &n, GstElement *from) {
  if (camera.edge() || options_.nats.servers.empty()) {
    if (!gst_element_link(from, camera.fanout)) return runtime_error("cannot link the camera to websocketsink");
    return {};
  }
  camera.publish = gst_element_factory_make("natssink", ("nats-out" + n).c_str());
  if (!camera.publish) return runtime_error("element natssink is missing from this build");
  configure_nats(camera.publish, camera.options.subject);
  GstElement *tee = gst_element_factory_make("tee", ("publish-split" + n).c_str());
  GstElement *to_viewers = gst_element_factory_make("queue", ("viewers-queue" + n).c_str());
  GstElement *to_nats = gst_element_factory_make("queue", ("nats-queue" + n).c_str());
  for (GstElement *q : {to_viewers, to_nats})
    g_object_set(q, "leaky", 2, "max-size-buffers", kHiccupFrames, "max-size-bytes", 0, "max-size-time",
                 G_GUINT64_CONSTANT(0), nullptr);
  gst_bin_add_many(GST_BIN(pipeline_.get()), tee, to_viewers, to_nats, camera.publish, nullptr);
  if (!gst_element_link(from, tee) || !gst_element_link_many(tee, to_viewers, camera.fanout, nullptr) ||
      !gst_element_link_many(tee, to_nats, camera.publish, nullptr))
    return runtime_error("cannot link the camera to websocketsink and natssink");
  return {};
}

// upstream ! tee ! queue ! jpegdec ! videoconvert ! encoder ! fanout
//            tee ! queue ! jpeg_fanout
// The queues are leaky: a slow encoder drops camera frames rather than
// holding up the JPEG branch, and the other way round.
Failure Relay::build_video(CameraRelay &camera, const std::string &n, GstElement *upstream) {
  const std::string path = "/" + camera.options.secret;
  g_autofree gchar *encoder = g_strdup_printf(options_.video->encoder, options_.bitrate);
  const std::string description = "queue leaky=downstream max-size-buffers=2 max-size-bytes=0 max-size-time=0 ! "
                                  "jpegdec ! videoconvert ! " + std::string(encoder);
  g_autoptr(GError) error = nullptr;
  GstElement *encode = gst_parse_bin_from_description_full(description.c_str(), TRUE, nullptr,
                                                           GST_PARSE_FLAG_FATAL_ERRORS, &error);
  if (!encode)
    return runtime_error(std::string("--video ") + options_.video->name + ": " + error->message +
                         (strcmp(options_.video->name, "h264") == 0 ? " (x264enc is in gstreamer1.0-plugins-ugly)" : ""));
  gst_object_set_name(GST_OBJECT(encode), ("encode" + n).c_str());
  GstElement *tee = gst_element_factory_make("tee", ("split" + n).c_str());
  GstElement *queue = gst_element_factory_make("queue", ("jpegqueue" + n).c_str());
  g_object_set(queue, "leaky", 2, "max-size-buffers", 2, "max-size-bytes", 0, "max-size-time", G_GUINT64_CONSTANT(0),
               nullptr);
  gst_bin_add_many(GST_BIN(pipeline_.get()), encode, tee, queue, nullptr);
  camera.jpeg_fanout = make_fanout("jpegfanout" + n, path + "/jpeg");
  set_property(camera.fanout, "jpeg-stream", path + "/jpeg");
  if (!gst_element_link(upstream, tee) || !gst_element_link(tee, encode) ||
      !gst_element_link_many(tee, queue, camera.jpeg_fanout, nullptr))
    return runtime_error("cannot link the video branches");
  const Failure failure = link_viewers(camera, n, encode);
  if (failure.failed()) return failure;
  // The encoder itself: the bin's last element but the caps filter, if any.
  GstIterator *it = gst_bin_iterate_elements(GST_BIN(encode));
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto *element = GST_ELEMENT(g_value_get_object(&item));
    GstElementFactory *factory = gst_element_get_factory(element);
    if (factory && gst_element_factory_list_is_type(factory, GST_ELEMENT_FACTORY_TYPE_ENCODER))
      camera.encoder = element;
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  return {};
}

// Every kKeyFrameIntervalS, each encoder makes a key frame: its own interval
// counts frames, and a camera's frame rate is not known in advance.
void Relay::force_key_frames() {
  for (auto &camera : cameras_) {
    if (!camera.encoder) continue;
    g_autoptr(GstPad) src = gst_element_get_static_pad(camera.encoder, "src");
    gst_pad_send_event(src, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  }
}

// Every camera's websocketsink serves its path on one web port: with
// WEB_PORT 0, the first picks a free one and the others join it there.
Failure Relay::share_web_port() {
  if ((cameras_.size() < 2 && !options_.video) || options_.web_port != 0) return {};
  if (gst_element_set_state(cameras_[0].fanout, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE)
    return take_bus_error(pipeline_.get());
  const std::string port = std::to_string(read_port(cameras_[0].fanout, "current-port"));
  for (size_t i = 0; i < cameras_.size(); i++) {
    if (i > 0) set_property(cameras_[i].fanout, "port", port);
    if (cameras_[i].jpeg_fanout) set_property(cameras_[i].jpeg_fanout, "port", port);
  }
  return {};
}

// The demo camera is a pipeline of its own, as a real camera is a program of
// its own: its own clock and state, started once the ingest listens, so that
// it is told the real port (PORT may be 0).
Failure Relay::start_demo_camera() {
  const std::string host = is_any_address(options_.ingest_host) ? "127.0.0.1" : options_.ingest_host;
  const int port = read_port(cameras_[0].ingest, "current-port");
  // timeoverlay ships in the Pango plugin, which not every install has; the
  // moving ball alone still shows that frames flow.
  g_autoptr(GstElementFactory) overlay = gst_element_factory_find("timeoverlay");
  std::string description =
      "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 ! ";
  if (overlay) description += "timeoverlay ! ";
  description += "jpegenc ! lengthprefixsink host=\"" + host + "\" port=" + std::to_string(port);
  g_autoptr(GError) error = nullptr;
  GstElement *camera = gst_parse_launch(description.c_str(), &error);
  if (!camera) return runtime_error("--demo: " + std::string(error->message));
  demo_camera_.reset(GST_ELEMENT(gst_object_ref_sink(camera)));
  if (gst_element_set_state(demo_camera_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return take_bus_error(demo_camera_.get());
  return {};
}

// The first error the pipeline posted, as the user should read it.
Failure Relay::take_bus_error(GstElement *pipeline) {
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  g_autoptr(GstMessage) message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  if (!message) return runtime_error("the pipeline failed to start");
  return runtime_error(describe_error(message));
}

// An error message in the launcher's terms: which port (camera or web) and
// what to pass instead, which filter could not take the frames.
std::string Relay::describe_error(GstMessage *message) {
  g_autoptr(GError) error = nullptr;
  g_autofree gchar *debug = nullptr;
  gst_message_parse_error(message, &error, &debug);
  std::string text = error->message;
  GstObject *from = GST_MESSAGE_SRC(message);
  // A source posts "Internal data stream error" when downstream refused its caps.
  const bool not_negotiated = g_error_matches(error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT) ||
                              (debug && strstr(debug, "not-negotiated"));
  if (not_negotiated && !options_.filter.empty()) {
    return "--filter '" + options_.filter + "' cannot take the camera's frames (image/jpeg) or give them on: "
           "its elements could not agree on a format (check its caps, e.g. add videoscale or videoconvert)";
  }
  const bool in_use = text.find("the port is in use") != std::string::npos;
  for (const auto &camera : cameras_) {
    if (from == GST_OBJECT(camera.publish) || (camera.edge() && from == GST_OBJECT(camera.ingest)))
      return "nats (" + camera.options.subject + "): " + text;
    if (from == GST_OBJECT(camera.ingest))
      return "camera port " + std::to_string(camera.options.ingest_port) + ": " + text +
             (in_use ? " (give another port, or 0 for any free one)" : "");
    if (from == GST_OBJECT(camera.fanout) || (camera.jpeg_fanout && from == GST_OBJECT(camera.jpeg_fanout)))
      return "web port " + std::to_string(options_.web_port) + ": " + text +
             (in_use ? " (give another WEB_PORT, or 0 for any free one)" : "");
  }
  return text;
}

Failure Relay::start() {
  if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return take_bus_error(pipeline_.get());
  if (options_.demo) {
    Failure failure = start_demo_camera();
    if (failure.failed()) return failure;
  }
  if (options_.demo)
    g_print("demo: a test-pattern camera sends to port %d\n", read_port(cameras_[0].ingest, "current-port"));
  warn_open_ingest();
  for (const auto &camera : cameras_) print_addresses(camera);
  return {};
}

// Anyone who reaches an ingest port can inject frames into everyone's
// stream: say so when that is more than this machine and no one is named.
void Relay::warn_open_ingest() {
  const std::string &host = options_.ingest_host;
  const bool loopback = host == "127.0.0.1" || host == "::1" || host == "localhost";
  if (loopback || !options_.allowed_senders.empty() || !options_.ingest_tls_ca.empty()) return;
  for (const auto &camera : cameras_) {
    if (camera.edge()) continue;
    g_printerr("%s: warning: camera port %d listens on %s with no --allowed-senders: anyone who reaches it can "
               "send frames to every viewer (--ingest-host 127.0.0.1, --allowed-senders or --ingest-tls-ca)\n",
               kProgram, read_port(camera.ingest, "current-port"), host.c_str());
  }
}

// One camera's start-up lines: where it sends, and where its viewers watch.
void Relay::print_addresses(const CameraRelay &camera) {
  const int ingest_port = camera.edge() ? 0 : read_port(camera.ingest, "current-port");
  int web_port = read_port(camera.fanout, "current-port");
  if (web_port == 0) web_port = options_.web_port;
  const bool tls = !options_.tls_certificate.empty();
  const std::string authority = url_host(options_.web_host) + ":" + std::to_string(web_port);
  const std::string path = "/" + camera.options.secret;
  // The ingest line shows the address as bound (0.0.0.0: every interface).
  const std::string &ingest_host = options_.ingest_host;
  const bool ipv6 = ingest_host.find(':') != std::string::npos;
  if (camera.edge())
    g_print("ingest: none, an edge: frames from NATS subject %s\n", camera.options.subject.c_str());
  else
    g_print("ingest: tcp://%s%s%s:%d\n", ipv6 ? "[" : "", ingest_host.c_str(), ipv6 ? "]" : "", ingest_port);
  if (!options_.nats.servers.empty())
    g_print("nats: %s %s at %s\n", camera.edge() ? "subscribed to" : "publishing to", camera.options.subject.c_str(),
            options_.nats.servers.c_str());
  g_print("viewer: %s://%s%s  (WebSocket %s://%s%s)\n", tls ? "https" : "http", authority.c_str(), path.c_str(),
          tls ? "wss" : "ws", authority.c_str(), path.c_str());
  // The same stream for clients without WebSocket (websocketsink serves them under the path).
  const std::string base = std::string(tls ? "https" : "http") + "://" + authority + path;
  for (const auto &endpoint : imagestream::kEndpoints)
    g_print("%s: %s/%s\n", endpoint.label, base.c_str(), endpoint.name);
  if (options_.video)
    g_print("video: %s at %u kbit/s, a key frame at least every %u s; the JPEG frames at %s/jpeg\n",
            options_.video->label, options_.bitrate, kKeyFrameIntervalS, base.c_str());
}

// "in 30.0 fps 1.20 MB/s, cameras 1, viewers 2, dropped 0 (slow viewers) 0 (ingest)"
std::string Relay::status_of(CameraRelay &camera, double seconds) {
  const guint64 frames = read_counter(camera.ingest, "frames-received");
  const guint64 bytes = read_counter(camera.ingest, "bytes-received");
  const double fps = seconds > 0 ? (frames - camera.last_frames) / seconds : 0;
  const double mbps = seconds > 0 ? (bytes - camera.last_bytes) / seconds / 1e6 : 0;
  camera.last_frames = frames;
  camera.last_bytes = bytes;
  const guint64 viewers = read_counter(camera.fanout, "num-viewers") +
                          (camera.jpeg_fanout ? read_counter(camera.jpeg_fanout, "num-viewers") : 0);
  const guint64 dropped = read_counter(camera.fanout, "frames-dropped") +
                          (camera.jpeg_fanout ? read_counter(camera.jpeg_fanout, "frames-dropped") : 0);
  // An edge's camera is NATS: whether it is connected, and the frames it lost.
  const std::string source =
      camera.edge() ? std::string("nats ") + (read_counter(camera.ingest, "connected") ? "connected" : "disconnected")
                    : "cameras " + std::to_string(read_counter(camera.ingest, "num-senders"));
  const guint64 source_dropped =
      read_counter(camera.ingest, "frames-dropped") + (camera.edge() ? read_counter(camera.ingest, "frames-lost") : 0);
  g_autofree gchar *rate = g_strdup_printf("in %.1f fps %.2f MB/s, ", fps, mbps);
  std::string text = rate;
  g_autofree gchar *rest = g_strdup_printf(
      "%s, viewers %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT " (slow viewers) %" G_GUINT64_FORMAT " (%s)",
      source.c_str(), viewers, dropped, source_dropped, camera.edge() ? "backbone" : "ingest");
  return text + rest;
}

// One line; with several cameras, one part per camera named by its ingest port.
void Relay::print_status() {
  const gint64 now = g_get_monotonic_time();
  const double seconds = (now - last_status_time_) / 1e6;
  last_status_time_ = now;
  if (cameras_.size() == 1) {
    log_line(stdout, "status: %s", status_of(cameras_[0], seconds).c_str());
    return;
  }
  std::string line = "status:";
  for (auto &camera : cameras_)
    line += (camera.edge() ? " [subject " + camera.options.subject + "] "
                           : " [port " + std::to_string(read_port(camera.ingest, "current-port")) + "] ") +
            status_of(camera, seconds) + ";";
  line.pop_back();
  log_line(stdout, "%s", line.c_str());
}

void Relay::on_bus_message(GstMessage *message) {
  const bool from_demo =
      demo_camera_ && gst_object_has_as_ancestor(GST_MESSAGE_SRC(message), GST_OBJECT(demo_camera_.get()));
  const char *origin = from_demo ? "demo camera: " : "";
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR: {
      log_line(stderr, "%s: %s%s", kProgram, origin, describe_error(message).c_str());
      exit_code_ = kExitFailure;
      g_main_loop_quit(loop_.get());
      break;
    }
    case GST_MESSAGE_WARNING: {
      g_autoptr(GError) error = nullptr;
      gst_message_parse_warning(message, &error, nullptr);
      log_line(stderr, "%s: warning: %s%s", kProgram, origin, error->message);
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit(loop_.get());
      break;
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure(message);
      const char *address = gst_structure_get_string(s, "address");
      const int port = read_port(GST_ELEMENT(GST_MESSAGE_SRC(message)), "current-port");
      const char *name = gst_structure_get_name(s);
      // natssink-connected, natssrc-reconnected, ...: the backbone's state.
      if (g_str_has_prefix(name, "natssink-") || g_str_has_prefix(name, "natssrc-")) {
        const char *server = gst_structure_get_string(s, "server");
        log_line(stdout, "nats %s: %s", strchr(name, '-') + 1, server ? server : "");
        break;
      }
      if (gst_structure_has_name(s, "lengthprefixsrc-sender-added")) {
        log_line(stdout, "camera connected: %s (port %d)", address, port);
      } else if (gst_structure_has_name(s, "lengthprefixsrc-sender-removed")) {
        log_line(stdout, "camera disconnected: %s (port %d, %s)", address, port, gst_structure_get_string(s, "reason"));
      }
      break;
    }
    default:
      break;
  }
}

gboolean Relay::on_bus_message_cb(GstBus *, GstMessage *message, gpointer self) {
  static_cast<Relay *>(self)->on_bus_message(message);
  return G_SOURCE_CONTINUE;
}

gboolean Relay::on_signal_cb(gpointer self) {
  g_main_loop_quit(static_cast<Relay *>(self)->loop_.get());
  return G_SOURCE_CONTINUE;
}

gboolean Relay::on_status_cb(gpointer self) {
  static_cast<Relay *>(self)->print_status();
  return G_SOURCE_CONTINUE;
}

// Emitted from the server threads; log_line writes each line at once.
// With --verbose the line names the stream (the camera's path).
void Relay::log_viewer(GstElement *fanout, const char *what, const char *address, const char *reason) {
  if (options_.verbosity == LaunchOptions::Verbosity::Quiet) return;
  std::string where;
  if (options_.verbosity == LaunchOptions::Verbosity::Verbose) {
    g_autofree gchar *path = nullptr;
    g_object_get(fanout, "path", &path, nullptr);
    where = std::string(" at ") + path;
  }
  if (reason)
    log_line(stdout, "viewer %s: %s%s (%s)", what, address, where.c_str(), reason);
  else
    log_line(stdout, "viewer %s: %s%s", what, address, where.c_str());
}

void Relay::on_viewer_added_cb(GstElement *fanout, const char *address, gpointer self) {
  static_cast<Relay *>(self)->log_viewer(fanout, "connected", address, nullptr);
}

void Relay::on_viewer_removed_cb(GstElement *fanout, const char *address, const char *reason, gpointer self) {
  static_cast<Relay *>(self)->log_viewer(fanout, "disconnected", address, reason);
}

void Relay::on_viewer_refused_cb(GstElement *fanout, const char *address, const char *reason, gpointer self) {
  static_cast<Relay *>(self)->log_viewer(fanout, "refused", address, reason);
}

ExitCode Relay::run() {
  loop_.reset(g_main_loop_new(nullptr, FALSE));
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline_.get());
  const guint bus_watch = gst_bus_add_watch(bus, on_bus_message_cb, this);
  guint demo_bus_watch = 0;
  if (demo_camera_) {
    g_autoptr(GstBus) demo_bus = gst_element_get_bus(demo_camera_.get());
    demo_bus_watch = gst_bus_add_watch(demo_bus, on_bus_message_cb, this);
  }
  // SIGHUP too: closing the terminal or quitting the screen session running
  // the relay stops it as cleanly as Ctrl-C.
  const guint sigint = g_unix_signal_add(SIGINT, on_signal_cb, this);
  const guint sigterm = g_unix_signal_add(SIGTERM, on_signal_cb, this);
  const guint sighup = g_unix_signal_add(SIGHUP, on_signal_cb, this);
  guint key_frames = 0;
  if (options_.video)
    key_frames = g_timeout_add_seconds(
        kKeyFrameIntervalS,
        [](gpointer self) -> gboolean {
          static_cast<Relay *>(self)->force_key_frames();
          return G_SOURCE_CONTINUE;
        },
        this);
  guint status = 0;
  if (options_.status_interval > 0) {
    last_status_time_ = g_get_monotonic_time();
    status = g_timeout_add_seconds(options_.status_interval, on_status_cb, this);
  }

  g_main_loop_run(loop_.get());

  // The signal handlers stay until the pipelines are down: a second Ctrl-C
  // during shutdown must not kill the relay half-way.
  if (exit_code_ == kExitOk) finish_stream(bus);
  stop();
  if (status) g_source_remove(status);
  if (key_frames) g_source_remove(key_frames);
  if (demo_bus_watch) g_source_remove(demo_bus_watch);
  g_source_remove(bus_watch);
  g_source_remove(sighup);
  g_source_remove(sigterm);
  g_source_remove(sigint);
  return exit_code_;
}

// Ends the stream before stopping, so that whatever a --filter writes (a
// recording's last file) is finished: an end-of-stream through every branch,
// and at most kFinishTimeout to let it arrive.
void Relay::finish_stream(GstBus *bus) {
  if (demo_camera_) gst_element_set_state(demo_camera_.get(), GST_STATE_NULL);
  if (!gst_element_send_event(pipeline_.get(), gst_event_new_eos())) return;
  g_autoptr(GstMessage) done = gst_bus_timed_pop_filtered(
      bus, kFinishTimeout, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
}

void Relay::stop() {
  // Camera first, so that the relay does not log it leaving mid-frame.
  if (demo_camera_) gst_element_set_state(demo_camera_.get(), GST_STATE_NULL);
  if (pipeline_) gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
}

}  // namespace launcher
