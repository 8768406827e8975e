// The relay imagestream-launch runs: per camera, lengthprefixsrc (or natssrc
// on an edge) ! [filter] ! [encoder] ! websocketsink (and natssink on an
// origin), with --demo a test-pattern camera beside it, and the main loop
// that runs it and prints its log until a signal or an error.
#pragma once

#include <gst/gst.h>

#include <string>
#include <vector>

#include "glibptr.h"
#include "options.h"

namespace launcher {

// One camera's part of the relay pipeline, and its counters at the previous
// status line, for rates.
struct CameraRelay {
  CameraOptions options;
  bool edge() const { return options.ingest_port == kNoIngest; }
  GstElement *ingest = nullptr;       // owned by the pipeline: lengthprefixsrc, or natssrc on an edge
  GstElement *publish = nullptr;      // an origin's natssink
  GstElement *fanout = nullptr;       // owned by the pipeline
  GstElement *jpeg_fanout = nullptr;  // with --video: the JPEG frames at SECRET/jpeg
  GstElement *encoder = nullptr;      // with --video
  guint64 last_frames = 0;
  guint64 last_bytes = 0;
};

// The relay pipeline (with --demo, also its test camera) and the main loop
// that runs it until a signal or an error.
class Relay {
 public:
  explicit Relay(const LaunchOptions &options) : options_(options) {}
  Relay(const Relay &) = delete;
  Relay &operator=(const Relay &) = delete;
  ~Relay() { stop(); }

  Failure build();
  Failure start();
  ExitCode run();
  void stop();

 private:
  Failure build_camera(CameraRelay &camera, size_t index);
  GstElement *make_fanout(const std::string &name, const std::string &path);
  void configure_nats(GstElement *element, const std::string &subject);
  Failure link_viewers(CameraRelay &camera, const std::string &n, GstElement *from);
  Failure build_video(CameraRelay &camera, const std::string &n, GstElement *upstream);
  void force_key_frames();
  Failure share_web_port();
  Failure start_demo_camera();
  Failure take_bus_error(GstElement *pipeline);
  std::string describe_error(GstMessage *message);
  void print_addresses(const CameraRelay &camera);
  void warn_open_ingest();
  std::string status_of(CameraRelay &camera, double seconds);
  void print_status();
  void finish_stream(GstBus *bus);
  void on_bus_message(GstMessage *message);

  static gboolean on_bus_message_cb(GstBus *, GstMessage *message, gpointer self);
  static gboolean on_signal_cb(gpointer self);
  static gboolean on_status_cb(gpointer self);
  static void on_viewer_added_cb(GstElement *, const char *address, gpointer);
  static void on_viewer_removed_cb(GstElement *, const char *address, const char *reason, gpointer);
  static void on_viewer_refused_cb(GstElement *, const char *address, const char *reason, gpointer);
  void log_viewer(GstElement *fanout, const char *what, const char *address, const char *reason);

  const LaunchOptions &options_;
  imagestream::GObjectPtr<GstElement> pipeline_;
  std::vector<CameraRelay> cameras_;
  imagestream::GObjectPtr<GstElement> demo_camera_;  // only with --demo
  imagestream::MainLoopPtr loop_;
  ExitCode exit_code_ = kExitOk;
  gint64 last_status_time_ = 0;
};

}  // namespace launcher
