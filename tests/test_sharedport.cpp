// websocketsinks with the same host and port share one server, each serving
// its own path: over real sockets, with the raw WebSocket client.
#include <gst/gst.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "httpclient.h"
#include "sinkharness.h"
#include "testutil.h"
#include "wsclient.h"

using testutil::Bytes;
using testutil::SinkHarness;
using testutil::WsClient;

namespace {

// The next data message of `v`, asserted to be `want`.
void expect_message(WsClient &v, const Bytes &want) {
  Bytes got;
  g_assert_true(v.read_data(got));
  g_assert_true(got == want);
}

// The error the state change to READY of `description`'s pipeline posts; the
// change must fail.
std::string ready_error(const std::string &description) {
  GstElement *p = testutil::parse(description);
  g_assert_cmpint(gst_element_set_state(p, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  g_assert_nonnull(msg);
  GError *err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  g_assert_true(err->domain == GST_RESOURCE_ERROR);
  std::string text = err->message;
  g_test_message("error: %s", text.c_str());
  g_error_free(err);
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return text;
}

// Nobody listens on 127.0.0.1:port (a connection of the server's in
// TIME_WAIT does not count, as for any server binding with SO_REUSEADDR).
bool port_is_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 && listen(fd, 1) == 0;
  close(fd);
  return free;
}

void test_two_sinks_on_one_port_stream_to_their_own_viewers_bit_exact() {
  SinkHarness front("path=/front");
  SinkHarness garage("port=" + std::to_string(front.port) + " path=/garage");
  g_assert_cmpint(garage.current_port(), ==, front.port);
  WsClient a, b;
  g_assert_cmpint(a.upgrade(front.port, "/front"), ==, 101);
  g_assert_cmpint(b.upgrade(front.port, "/garage"), ==, 101);
  g_assert_true(testutil::wait_until([&] { return front.viewers() == 1 && garage.viewers() == 1; }));
  const auto frames = testutil::numbered_frames(40, 1000, 200000);
  for (size_t i = 0; i < frames.size(); i++) {
    (i % 2 ? garage : front).push(frames[i]);
    expect_message(i % 2 ? b : a, frames[i]);
  }
  // Each stream's endpoints are its own.
  auto snapshot = testutil::http_get(front.port, front.endpoint(imagestream::Endpoint::Snapshot));
  g_assert_cmpint(snapshot.status, ==, 200);
  g_assert_true(Bytes(snapshot.body.begin(), snapshot.body.end()) == frames[38]);
  snapshot = testutil::http_get(front.port, garage.endpoint(imagestream::Endpoint::Snapshot));
  g_assert_cmpint(snapshot.status, ==, 200);
  g_assert_true(Bytes(snapshot.body.begin(), snapshot.body.end()) == frames[39]);
  g_assert_cmpint(testutil::http_get(front.port, "/other").status, ==, 404);
  g_assert_cmpuint(front.u64("frames-sent"), ==, 20);
  g_assert_cmpuint(garage.u64("frames-sent"), ==, 20);
}

void test_a_second_sink_with_a_taken_path_fails_naming_path_and_port() {
  SinkHarness first("path=/cam");
  const std::string port = std::to_string(first.port);
  const std::string error = ready_error("fakesrc ! websocketsink port=" + port + " path=/cam");
  g_assert_nonnull(strstr(error.c_str(), "/cam"));
  g_assert_nonnull(strstr(error.c_str(), ("port " + port).c_str()));
  // The first sink's stream is untouched.
  WsClient v;
  g_assert_cmpint(v.upgrade(first.port, "/cam"), ==, 101);
}

void test_stopping_one_sink_closes_only_its_viewers_and_the_other_streams_on() {
  SinkHarness stays("path=/stays");
  auto leaves = std::make_unique<SinkHarness>("port=" + std::to_string(stays.port) + " path=/leaves");
  WsClient a, b;
  g_assert_cmpint(a.upgrade(stays.port, "/stays"), ==, 101);
  g_assert_cmpint(b.upgrade(stays.port, "/leaves"), ==, 101);
  g_assert_true(testutil::wait_until([&] { return stays.viewers() == 1 && leaves->viewers() == 1; }));
  leaves.reset();
  g_assert_cmpint(b.read_close_code(true), ==, 1001);
  for (int i = 0; i < 10; i++) {
    const Bytes frame = testutil::random_bytes(5000 + i, i + 1);
    stays.push(frame);
    expect_message(a, frame);
  }
  g_assert_cmpuint(stays.removed_with("stopped"), ==, 0);
  // Its path is gone from the port; the other's is still there.
  WsClient late;
  g_assert_cmpint(late.upgrade(stays.port, "/leaves"), ==, 404);
  g_assert_cmpint(testutil::http_get(stays.port, "/stays/stats.json").status, ==, 200);
}

void test_the_port_is_free_once_its_last_sink_stops() {
  int port;
  {
    SinkHarness a("host=127.0.0.1 path=/a");
    SinkHarness b("host=127.0.0.1 port=" + std::to_string(a.port) + " path=/b");
    port = a.port;
    g_assert_false(port_is_free(port));
    {
      // One of two gone: the port still serves the other.
      SinkHarness c("host=127.0.0.1 port=" + std::to_string(port) + " path=/c");
    }
    g_assert_false(port_is_free(port));
    g_assert_cmpint(testutil::http_get(port, "/b/stats.json").status, ==, 200);
  }
  g_assert_true(port_is_free(port));
  // And a new sink can have it again.
  SinkHarness again("host=127.0.0.1 port=" + std::to_string(port) + " path=/a");
  g_assert_cmpint(again.current_port(), ==, port);
}

void test_a_second_sink_with_other_tls_settings_fails_naming_the_property() {
  testutil::TempDir dir;
  std::string cert, key;
  g_assert_true(testutil::make_certificate(dir.path, cert, key));
  SinkHarness plain("path=/plain");
  const std::string port = std::to_string(plain.port);
  std::string error = ready_error("fakesrc ! websocketsink port=" + port + " path=/tls tls-certificate=" + cert +
                                  " tls-key=" + key);
  g_assert_nonnull(strstr(error.c_str(), "tls-certificate"));
  g_assert_nonnull(strstr(error.c_str(), port.c_str()));
  error = ready_error("fakesrc ! websocketsink port=" + port + " path=/slow request-timeout=30");
  g_assert_nonnull(strstr(error.c_str(), "request-timeout"));
}

void test_port_zero_picks_a_port_that_a_second_sink_joins_by_setting_it() {
  SinkHarness first("port=0 path=/one");
  g_assert_cmpint(first.current_port(), >, 0);
  SinkHarness other("port=0 path=/two");  // port 0 again: another free port
  g_assert_cmpint(other.current_port(), !=, first.current_port());
  SinkHarness joins("port=" + std::to_string(first.current_port()) + " path=/two");
  g_assert_cmpint(joins.current_port(), ==, first.current_port());
  WsClient v;
  g_assert_cmpint(v.upgrade(first.current_port(), "/two"), ==, 101);
  g_assert_true(testutil::wait_until([&] { return joins.viewers() == 1; }));
  g_assert_cmpuint(other.viewers(), ==, 0);
}

}  // namespace

int main(int argc, char **argv) {
  testutil::init(&argc, &argv);
  g_test_add_func("/sharedport/two-sinks-on-one-port-stream-to-their-own-viewers-bit-exact",
                  test_two_sinks_on_one_port_stream_to_their_own_viewers_bit_exact);
  g_test_add_func("/sharedport/a-second-sink-with-a-taken-path-fails-naming-path-and-port",
                  test_a_second_sink_with_a_taken_path_fails_naming_path_and_port);
  g_test_add_func("/sharedport/stopping-one-sink-closes-only-its-viewers-and-the-other-streams-on",
                  test_stopping_one_sink_closes_only_its_viewers_and_the_other_streams_on);
  g_test_add_func("/sharedport/the-port-is-free-once-its-last-sink-stops", test_the_port_is_free_once_its_last_sink_stops);
  g_test_add_func("/sharedport/a-second-sink-with-other-tls-settings-fails-naming-the-property",
                  test_a_second_sink_with_other_tls_settings_fails_naming_the_property);
  g_test_add_func("/sharedport/port-zero-picks-a-port-that-a-second-sink-joins-by-setting-it",
                  test_port_zero_picks_a_port_that_a_second_sink_joins_by_setting_it);
  return g_test_run();
}
