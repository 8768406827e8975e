#include "relay.h"

namespace testutil {

namespace {

// The pipeline, started: the sink prerolls only on the first frame, so the
// state change is not waited for, but the ports are taken by then.
GstElement *start_relay(const std::string &sink_props, const std::string &src_props) {
  GstElement *p = parse("lengthprefixsrc name=src host=127.0.0.1 port=0 " + src_props +
                        " ! websocketsink name=ws host=127.0.0.1 port=0 " + sink_props);
  g_assert_cmpint(gst_element_set_state(p, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  return p;
}

}  // namespace

Relay::Relay(const std::string &sink_props, const std::string &src_props)
    : pipeline(start_relay(sink_props, src_props)),
      src(gst_bin_get_by_name(GST_BIN(pipeline), "src")),
      sink(gst_bin_get_by_name(GST_BIN(pipeline), "ws")),
      ingest_port(get_int(src, "current-port")),
      web_port(get_int(sink, "current-port")),
      path(get_string(sink, "path")) {
  g_assert_cmpint(ingest_port, >, 0);
  g_assert_cmpint(web_port, >, 0);
}

Relay::~Relay() {
  if (camera_) {
    gst_element_set_state(camera_, GST_STATE_NULL);
    gst_object_unref(camera_);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

void Relay::start_camera() {
  g_assert_null(camera_);
  camera_ = parse(
      "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! jpegenc ! "
      "lengthprefixsink host=127.0.0.1 port=" +
      std::to_string(ingest_port));
  g_assert_cmpint(gst_element_set_state(camera_, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  const std::string snapshot = endpoint(imagestream::Endpoint::Snapshot);
  g_assert_true(wait_until([&] { return get(snapshot).status == 200; }));
}

guint64 Relay::frames_in() const {
  GstStructure *stats = nullptr;
  g_object_get(sink, "stats", &stats, nullptr);
  guint64 n = 0;
  g_assert_true(gst_structure_get_uint64(stats, "frames-in", &n));
  gst_structure_free(stats);
  return n;
}

}  // namespace testutil
