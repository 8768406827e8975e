// The pure parts of websocketsink, without sockets, GStreamer or libsoup:
// which stream a path names and the Origin and CORS rules (paths), the
// document root (staticfiles), stats.json and Prometheus text (statsformat),
// the endpoint table (endpoints.h) and the video wire format (videoformat).
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

#include "endpoints.h"
#include "paths.h"
#include "staticfiles.h"
#include "statsformat.h"
#include "videoformat.h"

using namespace imagestream;

namespace {

// g_assert_cmpstr on a function's std::string would keep a pointer into a
// temporary; this holds the string.
void expect_string(const std::string &got, const std::string &want) {
  if (got != want) g_error("got \"%s\", expected \"%s\"", got.c_str(), want.c_str());
}

void test_stream_path_matches_itself_its_slash_and_resources_below_only() {
  const StreamPath cam("/camera");
  g_assert_cmpint(match_stream_path(cam, "/camera").kind, ==, PathMatch::Stream);
  g_assert_cmpint(match_stream_path(cam, "/camera/").kind, ==, PathMatch::Stream);
  const PathMatch r = match_stream_path(cam, "/camera/sub/file.js");
  g_assert_cmpint(r.kind, ==, PathMatch::Resource);
  expect_string(r.rest, "sub/file.js");
  for (const char *other : {"/", "/camer", "/cameras", "/cameraX/a", "/CAMERA", "/x/camera", ""})
    g_assert_cmpint(match_stream_path(cam, other).kind, ==, PathMatch::None);
  // Without a leading slash the property still means the same path; a
  // trailing slash keeps resources under it.
  expect_string(StreamPath("camera").path, "/camera");
  const StreamPath deep("/a/b/");
  g_assert_cmpint(match_stream_path(deep, "/a/b/").kind, ==, PathMatch::Stream);
  expect_string(match_stream_path(deep, "/a/b/metrics").rest, "metrics");
  g_assert_cmpint(match_stream_path(deep, "/a/metrics").kind, ==, PathMatch::None);
  const StreamPath root("/");
  g_assert_cmpint(match_stream_path(root, "/").kind, ==, PathMatch::Stream);
  expect_string(match_stream_path(root, "/stats.json").rest, "stats.json");
}

void test_origin_allows_listed_own_and_absent_origins_unless_required() {
  const std::string own = "http://relay:8090";
  g_assert_true(origin_allowed("", "https://anywhere.example", own, false));
  g_assert_true(origin_allowed("https://a.example, https://b.example", "https://b.example", own, false));
  g_assert_false(origin_allowed("https://a.example", "https://evil.example", own, false));
  g_assert_true(origin_allowed("https://a.example", "http://relay:8090", own, false));
  g_assert_true(origin_allowed("https://a.example", nullptr, own, false));
  g_assert_false(origin_allowed("https://a.example", nullptr, own, true));
  g_assert_false(origin_allowed("https://a.example", "https://a.example.evil", own, false));
}

void test_cors_answers_listed_origins_or_any_and_nothing_else() {
  expect_string(cors_allow_origin("", "https://dash.example"), "");
  expect_string(cors_allow_origin("*", nullptr), "*");
  expect_string(cors_allow_origin("https://dash.example", "https://dash.example"), "https://dash.example");
  expect_string(cors_allow_origin("https://dash.example", "https://other.example"), "");
  expect_string(cors_allow_origin("https://dash.example", nullptr), "");
}

struct Root {
  std::string dir;
  Root() {
    g_autofree gchar *d = g_dir_make_tmp("imagestream-root-XXXXXX", nullptr);
    dir = d;
    write("secret.txt", "outside");
    g_mkdir(path("root").c_str(), 0755);
    g_mkdir(path("root/sub").c_str(), 0755);
    write("root/index.html", "<html>");
    write("root/sub/app.js", "//");
    g_assert_cmpint(symlink("../../secret.txt", path("root/sub/link.txt").c_str()), ==, 0);
  }
  ~Root() {
    for (const char *f : {"root/sub/link.txt", "root/sub/app.js", "root/index.html", "secret.txt"}) g_unlink(path(f).c_str());
    g_rmdir(path("root/sub").c_str());
    g_rmdir(path("root").c_str());
    g_rmdir(dir.c_str());
  }
  std::string path(const std::string &rel) const { return dir + "/" + rel; }
  void write(const std::string &rel, const char *text) const {
    g_assert_true(g_file_set_contents(path(rel).c_str(), text, -1, nullptr));
  }
};

void test_static_files_resolve_under_the_root_only() {
  Root r;
  const std::string root = resolve_document_root(r.path("root"));
  g_assert_false(root.empty());
  g_assert_true(resolve_document_root(r.path("secret.txt")).empty());
  g_assert_true(resolve_document_root(r.path("missing")).empty());
  expect_string(resolve_static_file(root, "index.html"), (root + "/index.html"));
  expect_string(resolve_static_file(root, "sub/%61pp.js"), (root + "/sub/app.js"));
  for (const char *bad : {"../secret.txt", "sub/../../secret.txt", "%2e%2e/secret.txt", "..%2fsecret.txt",
                          "sub/link.txt", "sub", "", "/etc/passwd", "sub/app.js%00.html", "./index.html", "nope"})
    expect_string(resolve_static_file(root, bad), "");
}

void test_content_types_by_extension_and_images_by_magic_number() {
  expect_string(content_type_for("/x/Page.HTML"), "text/html; charset=utf-8");
  expect_string(content_type_for("worker.js"), "text/javascript; charset=utf-8");
  expect_string(content_type_for("a.png"), "image/png");
  const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0};
  const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a'};
  const uint8_t webp[] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
  const uint8_t other[] = {1, 2, 3, 4, 5, 6, 7, 8};
  g_assert_cmpstr(image_type_of(jpeg, sizeof jpeg), ==, "image/jpeg");
  g_assert_cmpstr(image_type_of(png, sizeof png), ==, "image/png");
  g_assert_cmpstr(image_type_of(gif, sizeof gif), ==, "image/gif");
  g_assert_cmpstr(image_type_of(webp, sizeof webp), ==, "image/webp");
  g_assert_null(image_type_of(other, sizeof other));
  g_assert_null(image_type_of(jpeg, 2));
}

StreamFigures sample_figures() {
  StreamFigures f;
  f.by_kind[0] = {100, 5, 123456};
  f.by_kind[1] = {7, 1, 999};
  f.viewers = {2, 1};
  f.frames_in = 120;
  f.fps_in = 29.971;
  f.viewers_total = 9;
  f.viewers_refused = 2;
  f.senders = 1;
  f.last_frame_age_s = 0.25;
  f.each.push_back({ViewerKind::WebSocket, "127.0.0.1:5000", 1796170000000000, {60, 3, 60000}, 30, 1, false});
  f.each.push_back({ViewerKind::Mjpeg, "[::1]:6000", 1796170001000000, {7, 1, 999}, 12.5, 2, true});
  return f;
}

void test_stats_json_parses_with_totals_camera_and_each_viewer() {
  const std::string text = stats_json(sample_figures());
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(parser, text.c_str(), -1, nullptr));
  JsonObject *root = json_node_get_object(json_parser_get_root(parser));
  JsonObject *totals = json_object_get_object_member(root, "totals");
  g_assert_cmpint(json_object_get_int_member(totals, "viewers"), ==, 3);
  g_assert_cmpint(json_object_get_int_member(totals, "mjpeg_viewers"), ==, 1);
  g_assert_cmpint(json_object_get_int_member(totals, "frames_sent"), ==, 107);
  g_assert_cmpint(json_object_get_int_member(totals, "frames_dropped"), ==, 6);
  g_assert_cmpfloat_with_epsilon(json_object_get_double_member(totals, "fps_in"), 29.97, 1e-9);
  JsonObject *camera = json_object_get_object_member(root, "camera");
  g_assert_true(json_object_get_boolean_member(camera, "connected"));
  g_assert_cmpfloat_with_epsilon(json_object_get_double_member(camera, "last_frame_age_s"), 0.25, 1e-9);
  JsonArray *viewers = json_object_get_array_member(root, "viewers");
  g_assert_cmpuint(json_array_get_length(viewers), ==, 2);
  JsonObject *m = json_array_get_object_element(viewers, 1);
  g_assert_cmpstr(json_object_get_string_member(m, "kind"), ==, "mjpeg");
  g_assert_cmpstr(json_object_get_string_member(m, "address"), ==, "[::1]:6000");
  g_assert_cmpstr(json_object_get_string_member(m, "connected_since"), ==, "2026-12-02T00:06:41Z");
  g_assert_true(json_object_get_boolean_member(m, "tls"));
  // Unknown camera: null, not false.
  StreamFigures unknown;
  g_assert_nonnull(strstr(stats_json(unknown).c_str(), "\"camera\":{\"connected\":null"));
}

void test_metrics_are_prometheus_text_with_help_type_and_escaped_labels() {
  StreamFigures f = sample_figures();
  f.each[0].address = "a\"b\\c";
  const std::string text = stats_metrics(f);
  std::map<std::string, std::string> samples;
  std::string type_seen;
  char **lines = g_strsplit(text.c_str(), "\n", -1);
  for (char **l = lines; *l && **l; l++) {
    if (g_str_has_prefix(*l, "# TYPE ")) {
      type_seen = *l;
      continue;
    }
    if (**l == '#') continue;
    const char *space = strrchr(*l, ' ');
    g_assert_nonnull(space);
    samples[std::string(*l, space - *l)] = space + 1;
  }
  g_strfreev(lines);
  expect_string(samples["imagestream_frames_in_total"], "120");
  expect_string(samples["imagestream_camera_connected"], "1");
  expect_string(samples["imagestream_viewers{kind=\"mjpeg\"}"], "1");
  g_assert_cmpstr(samples["imagestream_viewer_frames_sent_total{kind=\"websocket\",address=\"a\\\"b\\\\c\"}"].c_str(), ==,
                  "60");
  g_assert_nonnull(strstr(text.c_str(), "# TYPE imagestream_frames_sent_total counter\n"));
  g_assert_null(strstr(stats_metrics(StreamFigures{}).c_str(), "imagestream_camera_connected"));
}

void test_endpoint_table_names_each_endpoint_once() {
  for (const auto &e : kEndpoints) {
    g_assert_true(find_endpoint(e.name) == &e);
    g_assert_cmpstr(endpoint_name(e.id), ==, e.name);
  }
  g_assert_null(find_endpoint("index.html"));
  g_assert_cmpstr(endpoint_name(Endpoint::Snapshot), ==, "snapshot.jpg");
}

void test_h264_codec_string_comes_from_the_sps() {
  // AUD, then an SPS (profile 100, constraints 0, level 31), then a PPS.
  const uint8_t au[] = {0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 100, 0x00, 31, 0xAC, 0, 0, 1, 0x68, 0xEE};
  expect_string(h264_codec_string(au, sizeof au), "avc1.64001f");
  const uint8_t no_sps[] = {0, 0, 1, 0x65, 1, 2, 3, 4, 5};
  expect_string(h264_codec_string(no_sps, sizeof no_sps), "");
  expect_string(h264_codec_string(au, 12), "");  // cut short: no guess
  g_assert_cmpint(static_cast<int>(codec_of_media_type("video/x-h264", false)), ==, static_cast<int>(VideoCodec::None));
  g_assert_cmpint(static_cast<int>(codec_of_media_type("video/x-h264", true)), ==, static_cast<int>(VideoCodec::H264));
  g_assert_cmpint(static_cast<int>(codec_of_media_type("image/jpeg", true)), ==, static_cast<int>(VideoCodec::None));
}

void test_video_header_and_config_follow_the_documented_format() {
  uint8_t h[kVideoHeaderSize];
  encode_video_header(h, true, 0x01020304, 0x0001020304050607);
  const uint8_t want[] = {1, 1, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7};
  g_assert_cmpmem(h, sizeof h, want, sizeof want);
  encode_video_header(h, false, 0, 0);
  g_assert_cmpuint(h[1], ==, 0);

  VideoFormat f{VideoCodec::Vp9, 1280, 720, 30, default_codec_string(VideoCodec::Vp9)};
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(parser, config_message(f, 42).c_str(), -1, nullptr));
  JsonObject *o = json_node_get_object(json_parser_get_root(parser));
  g_assert_cmpstr(json_object_get_string_member(o, "type"), ==, "config");
  g_assert_cmpstr(json_object_get_string_member(o, "codec"), ==, "vp09.00.41.08");
  g_assert_cmpint(json_object_get_int_member(o, "codedWidth"), ==, 1280);
  g_assert_cmpint(json_object_get_int_member(o, "sequence"), ==, 42);
  g_assert_true(json_parser_load_from_data(parser, catchup_message(17).c_str(), -1, nullptr));
  o = json_node_get_object(json_parser_get_root(parser));
  g_assert_cmpint(json_object_get_int_member(o, "frames"), ==, 17);
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/paths/stream-path-matches-itself-its-slash-and-resources-below-only",
                  test_stream_path_matches_itself_its_slash_and_resources_below_only);
  g_test_add_func("/paths/origin-allows-listed-own-and-absent-origins-unless-required",
                  test_origin_allows_listed_own_and_absent_origins_unless_required);
  g_test_add_func("/paths/cors-answers-listed-origins-or-any-and-nothing-else",
                  test_cors_answers_listed_origins_or_any_and_nothing_else);
  g_test_add_func("/staticfiles/resolve-under-the-root-only", test_static_files_resolve_under_the_root_only);
  g_test_add_func("/staticfiles/content-types-by-extension-and-images-by-magic-number",
                  test_content_types_by_extension_and_images_by_magic_number);
  g_test_add_func("/statsformat/stats-json-parses-with-totals-camera-and-each-viewer",
                  test_stats_json_parses_with_totals_camera_and_each_viewer);
  g_test_add_func("/statsformat/metrics-are-prometheus-text-with-help-type-and-escaped-labels",
                  test_metrics_are_prometheus_text_with_help_type_and_escaped_labels);
  g_test_add_func("/endpoints/table-names-each-endpoint-once", test_endpoint_table_names_each_endpoint_once);
  g_test_add_func("/videoformat/h264-codec-string-comes-from-the-sps", test_h264_codec_string_comes_from_the_sps);
  g_test_add_func("/videoformat/header-and-config-follow-the-documented-format",
                  test_video_header_and_config_follow_the_documented_format);
  return g_test_run();
}
