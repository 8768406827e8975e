#include "sinkharness.h"

#include <algorithm>

namespace testutil {

std::vector<ViewerStats> viewer_stats(GstElement *websocketsink) {
  GstStructure *stats = nullptr;
  g_signal_emit_by_name(websocketsink, "get-stats", &stats);
  g_assert_nonnull(stats);
  const GValue *viewers = gst_structure_get_value(stats, "viewers");
  g_assert_nonnull(viewers);
  std::vector<ViewerStats> out;
  for (guint i = 0; i < gst_value_array_get_size(viewers); i++) {
    const GstStructure *v = gst_value_get_structure(gst_value_array_get_value(viewers, i));
    ViewerStats s;
    g_assert_true(gst_structure_get_uint(v, "queued", &s.queued));
    const char *address = gst_structure_get_string(v, "address");
    const char *kind = gst_structure_get_string(v, "kind");
    g_assert_nonnull(address);
    g_assert_nonnull(kind);
    g_assert_true(gst_structure_has_field(v, "connect-time"));
    s.address = address;
    s.kind = kind;
    out.push_back(std::move(s));
  }
  gst_structure_free(stats);
  return out;
}

std::string endpoint_path(const std::string &path, imagestream::Endpoint endpoint) {
  std::string base = path;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + imagestream::endpoint_name(endpoint);
}

SinkHarness::SinkHarness(const std::string &props, const std::string &caps)
    : harness(gst_harness_new_parse(("websocketsink port=0 " + props).c_str())),
      element(gst_harness_find_element(harness, "websocketsink")),
      port(get_int(element, "current-port")),
      path(get_string(element, "path")) {
  g_assert_cmpint(port, >, 0);
  g_signal_connect(element, "viewer-added", G_CALLBACK(+[](GstElement *, const char *address, SinkHarness *self) {
                     std::lock_guard<std::mutex> l(self->lock_);
                     self->added_.emplace_back(address);
                   }),
                   this);
  g_signal_connect(element, "viewer-removed",
                   G_CALLBACK(+[](GstElement *, const char *address, const char *reason, SinkHarness *self) {
                     std::lock_guard<std::mutex> l(self->lock_);
                     self->removed_.emplace_back(address, reason);
                   }),
                   this);
  g_signal_connect(element, "viewer-refused",
                   G_CALLBACK(+[](GstElement *, const char *address, const char *reason, SinkHarness *self) {
                     std::lock_guard<std::mutex> l(self->lock_);
                     self->refused_.emplace_back(address, reason);
                   }),
                   this);
  gst_harness_set_src_caps_str(harness, caps.c_str());
}

SinkHarness::~SinkHarness() {
  gst_object_unref(element);
  gst_harness_teardown(harness);
}

void SinkHarness::push(const Bytes &payload) {
  g_assert_cmpint(gst_harness_push(harness, gst_buffer_new_memdup(payload.data(), payload.size())), ==, GST_FLOW_OK);
}

std::string SinkHarness::url(const std::string &scheme) const {
  return scheme + "://127.0.0.1:" + std::to_string(port) + path;
}

size_t SinkHarness::added() const {
  std::lock_guard<std::mutex> l(lock_);
  return added_.size();
}

size_t SinkHarness::removed_with(const std::string &reason) const {
  std::lock_guard<std::mutex> l(lock_);
  return std::count_if(removed_.begin(), removed_.end(), [&](const auto &r) { return r.second == reason; });
}

size_t SinkHarness::refused_with(const std::string &reason) const {
  std::lock_guard<std::mutex> l(lock_);
  return std::count_if(refused_.begin(), refused_.end(), [&](const auto &r) { return r.second == reason; });
}

}  // namespace testutil
