// The relay as a user runs it: `lengthprefixsrc ! websocketsink`, both on
// 127.0.0.1 and on free ports unless the properties say otherwise (the
// sink's "port=N path=/front" joins a server already on N), playing; and a
// camera to feed it: a live 320x240 30 fps videotestsrc ! jpegenc !
// lengthprefixsink pipeline sending to the ingest port. Tests that must
// control every frame send to ingest_port themselves.
#pragma once

#include <string>

#include "httpclient.h"
#include "sinkharness.h"
#include "testutil.h"

namespace testutil {

class Relay {
 public:
  // `sink_props` and `src_props` go after the defaults and so override them.
  explicit Relay(const std::string &sink_props = "", const std::string &src_props = "");
  Relay(const Relay &) = delete;
  Relay &operator=(const Relay &) = delete;
  ~Relay();

  // Starts the camera; returns once the sink has a frame (its snapshot
  // answers 200).
  void start_camera();

  HttpResponse get(const std::string &url_path) const { return http_get(web_port, url_path); }
  std::string endpoint(imagestream::Endpoint e) const { return endpoint_path(path, e); }
  guint viewers() const { return get_uint(sink, "num-viewers"); }
  guint senders() const { return get_uint(src, "num-senders"); }
  // The sink's frames-in, from its stats.
  guint64 frames_in() const;

  GstElement *const pipeline;
  GstElement *const src;   // lengthprefixsrc
  GstElement *const sink;  // websocketsink
  const int ingest_port;   // lengthprefixsrc's current-port
  const int web_port;      // websocketsink's current-port
  const std::string path;  // the sink's path

 private:
  GstElement *camera_ = nullptr;
};

}  // namespace testutil
