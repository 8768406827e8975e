#include "soupviewers.h"

#include <algorithm>
#include <cstring>

namespace testutil {

SoupViewers::SoupViewers(const std::vector<Bytes> &expected) : expected_(expected) {
  thread_ = std::thread([this] {
    g_main_context_push_thread_default(context_.get());
    session_ = soup_session_new_with_options("max-conns", 256, "max-conns-per-host", 256, nullptr);
    g_main_loop_run(loop_.get());
    for (auto &v : viewers_) {
      if (v->conn) {
        g_signal_handlers_disconnect_matched(v->conn, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, v.get());
        g_object_unref(v->conn);
      }
    }
    g_object_unref(session_);
    while (g_main_context_iteration(context_.get(), FALSE)) {
    }
    g_main_context_pop_thread_default(context_.get());
  });
}

SoupViewers::~SoupViewers() {
  invoke([this] { g_main_loop_quit(loop_.get()); });
  thread_.join();
}

SoupViewers::Viewer &SoupViewers::connect(const std::string &url) {
  viewers_.push_back(std::make_unique<Viewer>());
  Viewer *v = viewers_.back().get();
  std::atomic<bool> done{false};
  invoke([this, v, url, &done] {
    SoupMessage *msg = soup_message_new("GET", url.c_str());
    g_signal_connect(
        msg, "accept-certificate",
        G_CALLBACK(+[](SoupMessage *, GTlsCertificate *, GTlsCertificateFlags) -> gboolean { return TRUE; }), nullptr);
    struct Pending {
      SoupViewers *self;
      Viewer *v;
      std::atomic<bool> *done;
    };
    soup_session_websocket_connect_async(
        session_, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *session, GAsyncResult *res, gpointer data) {
          std::unique_ptr<Pending> p(static_cast<Pending *>(data));
          GError *err = nullptr;
          p->v->conn = soup_session_websocket_connect_finish(SOUP_SESSION(session), res, &err);
          if (!p->v->conn) {
            g_printerr("# websocket connect failed: %s\n", err->message);
            g_error_free(err);
            p->v->failed = true;
          } else {
            soup_websocket_connection_set_max_incoming_payload_size(p->v->conn, 0);
            soup_websocket_connection_set_keepalive_interval(p->v->conn, 0);
            g_signal_connect(p->v->conn, "message", G_CALLBACK(on_message), p->v);
            g_object_set_data(G_OBJECT(p->v->conn), "viewers", p->self);
          }
          *p->done = true;
        },
        new Pending{this, v, &done});
    g_object_unref(msg);
  });
  g_assert_true(wait_until([&] { return done.load(); }));
  return *v;
}

size_t SoupViewers::min_received() {
  size_t m = SIZE_MAX;
  for (auto &v : viewers_) m = std::min(m, v->received.load());
  return m;
}

void SoupViewers::on_message(SoupWebsocketConnection *conn, SoupWebsocketDataType type, GBytes *message, Viewer *v) {
  auto *self = static_cast<SoupViewers *>(g_object_get_data(G_OBJECT(conn), "viewers"));
  gsize size = 0;
  auto *data = static_cast<const uint8_t *>(g_bytes_get_data(message, &size));
  const size_t n = v->received.load();
  const auto &expected = self->expected_;
  if (type != SOUP_WEBSOCKET_DATA_BINARY || n >= expected.size() || expected[n].size() != size ||
      memcmp(expected[n].data(), data, size) != 0)
    v->mismatches++;
  v->received = n + 1;
}

void SoupViewers::invoke(std::function<void()> f) {
  auto *task = new std::function<void()>(std::move(f));
  g_main_context_invoke_full(
      context_.get(), G_PRIORITY_DEFAULT,
      [](gpointer data) -> gboolean {
        (*static_cast<std::function<void()> *>(data))();
        return G_SOURCE_REMOVE;
      },
      task, [](gpointer data) { delete static_cast<std::function<void()> *>(data); });
}

}  // namespace testutil
