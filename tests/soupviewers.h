// Well-behaved WebSocket viewers: libsoup's own client (what a GLib
// application would use), on a thread and main context of its own, checking
// every message against the frames expected, in order. Viewers are connected
// from the test's thread and live until the SoupViewers do; their counters
// may be read from any thread.
#pragma once

#include <libsoup/soup.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "glibptr.h"
#include "testutil.h"

namespace testutil {

class SoupViewers {
 public:
  struct Viewer {
    SoupWebsocketConnection *conn = nullptr;  // the client thread's only
    std::atomic<size_t> received{0};          // messages
    std::atomic<size_t> mismatches{0};        // messages that were not the frame expected, or not binary
    std::atomic<bool> failed{false};          // the connection could not be made
  };

  // `expected`: the frames in push order (outliving this); a viewer's n-th
  // message must be expected[n], binary.
  explicit SoupViewers(const std::vector<Bytes> &expected);
  SoupViewers(const SoupViewers &) = delete;
  SoupViewers &operator=(const SoupViewers &) = delete;
  ~SoupViewers();

  // Connects one viewer to `url` (ws:// or wss://, any certificate accepted);
  // returns it once connected, or with `failed` set.
  Viewer &connect(const std::string &url);
  // The fewest messages any viewer has received.
  size_t min_received();

 private:
  static void on_message(SoupWebsocketConnection *conn, SoupWebsocketDataType type, GBytes *message, Viewer *v);
  // Runs `f` on the client thread, without waiting.
  void invoke(std::function<void()> f);

  const std::vector<Bytes> &expected_;
  imagestream::MainContextPtr context_{g_main_context_new()};
  imagestream::MainLoopPtr loop_{g_main_loop_new(context_.get(), FALSE)};
  SoupSession *session_ = nullptr;  // the client thread's only
  std::thread thread_;
  // Grown and read by the test's thread; the client thread walks it only
  // once its loop has ended.
  std::vector<std::unique_ptr<Viewer>> viewers_;
};

}  // namespace testutil
