// What natssink and natssrc share: the connection properties (servers,
// credentials, TLS, liveness) and one NATS connection that connects in the
// background, keeps its subscriptions across reconnects and reports its
// state on the owning element's bus.
#pragma once

#include <gst/gst.h>
#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imagestream {

// Liveness defaults, from measurements on a 3-node cluster: with the C
// client's own 2-minute PING a client on a hung (SIGSTOPped) server never
// moved. A server counts as hung on the tick after max-pings-out unanswered
// PINGs, so (max-pings-out, max-pings-out + 1] intervals after it stopped:
// 500 ms x 2 moved in 1.0-1.5 s, which with the reconnect and the next frame
// overshoots a 1.5 s failover; 400 ms x 2 moves in 0.8-1.2 s.
constexpr guint DEFAULT_NATS_PING_INTERVAL = 400;  // ms
constexpr guint DEFAULT_NATS_MAX_PINGS_OUT = 2;
// After every server in the list failed; a restarted cluster is used again
// within about this long (plus up to half as much jitter).
constexpr guint DEFAULT_NATS_RECONNECT_WAIT = 250;  // ms
// TCP connect plus the INFO/CONNECT handshake: a server that accepts but
// never answers (hung) costs at most this per attempt.
constexpr guint DEFAULT_NATS_CONNECT_TIMEOUT = 1000;  // ms
#define DEFAULT_NATS_SERVERS "nats://127.0.0.1:4222"

// The connection properties, as the user set them.
struct NatsSettings {
  std::string servers = DEFAULT_NATS_SERVERS;  // comma-separated, tried in order
  std::string user, password, token, credentials_file;
  std::string tls_ca_file, tls_certificate, tls_key;
  guint ping_interval = DEFAULT_NATS_PING_INTERVAL;
  guint max_pings_out = DEFAULT_NATS_MAX_PINGS_OUT;
  guint reconnect_wait = DEFAULT_NATS_RECONNECT_WAIT;
  guint connect_timeout = DEFAULT_NATS_CONNECT_TIMEOUT;
};

class NatsConnection;

// The properties both elements install, as offsets from the element's first
// id for them: settings (read-write, from READY) then state (read-only).
enum NatsProperty {
  NATS_PROP_SERVERS,
  NATS_PROP_USER,
  NATS_PROP_PASSWORD,
  NATS_PROP_TOKEN,
  NATS_PROP_CREDENTIALS_FILE,
  NATS_PROP_TLS_CA_FILE,
  NATS_PROP_TLS_CERTIFICATE,
  NATS_PROP_TLS_KEY,
  NATS_PROP_PING_INTERVAL,
  NATS_PROP_MAX_PINGS_OUT,
  NATS_PROP_RECONNECT_WAIT,
  NATS_PROP_CONNECT_TIMEOUT,
  NATS_PROP_CONNECTED,
  NATS_PROP_CURRENT_SERVER,
  NATS_PROP_RECONNECTS,
  NATS_N_PROPERTIES,
};
void install_nats_properties(GObjectClass *klass, guint first_id);
// Apply or read one of those properties (the caller holds the object lock);
// false if `id` is not one of them.
bool set_nats_property(NatsSettings &settings, guint id, const GValue *value, guint first_id);
bool get_nats_property(const NatsSettings &settings, const NatsConnection &connection, guint id, GValue *value,
                       guint first_id);

// One connection to a NATS cluster on behalf of an element.
//
// open() returns at once: a thread makes the first attempt (every server
// once), then libnats retries in the background forever, moving to the next
// server when one dies or stops answering PINGs. Until then publishes are
// refused, not buffered (no reconnect buffer).
//
// Events go to the owner's bus as element messages `<prefix>-connected`,
// `<prefix>-disconnected` and `<prefix>-reconnected` (field `server`, the
// URL). Credentials or TLS that a server refuses are one GST_ELEMENT_ERROR
// naming the servers and the server's reason; a cluster that is down is one
// GST_ELEMENT_WARNING, and the connection keeps trying.
//
// Threads: the subscription handlers run on libnats delivery threads, the
// connect hook and the events on libnats's callback thread (or the connecting
// thread). close() waits for all of them to return, so the owner must not
// call close() from one of them (nor from a synchronous bus handler).
class NatsConnection {
 public:
  // Gets the message and must destroy it (natsMsg_Destroy), now or later.
  using MessageHandler = std::function<void(natsConnection *nc, natsMsg *msg)>;
  using ConnectHook = std::function<void(natsConnection *nc)>;

  NatsConnection(GstElement *owner, std::string event_prefix);
  ~NatsConnection();
  NatsConnection(const NatsConnection &) = delete;
  NatsConnection &operator=(const NatsConnection &) = delete;

  struct Subscribe {
    std::string subject;
    MessageHandler handler;
  };

  // Starts connecting; `subscriptions` are made as soon as the connection
  // exists and kept across reconnects, `hook` (may be empty) runs after every
  // connect and reconnect once they are registered at the server. False, with
  // `error` set, if the settings can't work (no server, an unreadable TLS or
  // credentials file).
  bool open(const NatsSettings &settings, std::vector<Subscribe> subscriptions, ConnectHook hook, std::string *error);
  // Closes the connection and waits for every callback to return (and for a
  // first attempt under way: at most connect-timeout per server); then open()
  // may be called again.
  void close();

  // Null until the connecting thread has one; valid until close().
  natsConnection *connection() const;
  bool connected() const { return connected_.load(); }
  std::string current_server() const;
  guint64 reconnects() const { return reconnects_.load(); }

 private:
  struct Subscription {
    NatsConnection *owner;
    std::string subject;
    MessageHandler handler;
    natsSubscription *sub = nullptr;  // between open() and close()
  };

  void connect_in_background(natsOptions *options);
  void make_subscriptions(natsConnection *nc);
  void connected_now(natsConnection *nc, bool reconnect);
  void post_event(const char *what, const std::string &server);
  void report_refusal(natsStatus status, const std::string &reason);
  std::string servers_text() const;

  static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
  static void on_subscription_complete(void *closure);
  static void on_async_connected(natsConnection *nc, void *closure);
  static void on_disconnected(natsConnection *nc, void *closure);
  static void on_reconnected(natsConnection *nc, void *closure);
  static void on_closed(natsConnection *nc, void *closure);
  static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure);

  GstElement *const owner_;
  const std::string event_prefix_;
  // Set by open(), fixed until close() returns.
  std::vector<std::unique_ptr<Subscription>> subscriptions_;
  ConnectHook connect_hook_;
  NatsSettings settings_;
  std::thread connector_;  // the first attempt; joined by close()

  // Guards the members below it; never held while calling into libnats,
  // posting on the bus or running a handler.
  mutable std::mutex mutex_;
  std::condition_variable callbacks_done_;
  natsConnection *nc_ = nullptr;
  bool subscribed_ = false;       // the subscriptions exist (libnats sends them on connect)
  bool connect_pending_ = false;  // libnats connected before they existed
  bool closing_ = false;          // close() began: no more events
  bool closed_callback_ran_ = false;
  int open_subscriptions_ = 0;  // whose completion callback has not run yet
  std::string current_server_;

  std::atomic<bool> connected_{false};
  std::atomic<guint64> reconnects_{0};
  std::atomic<bool> warned_async_error_{false};  // one warning per open() for permission errors
};

}  // namespace imagestream
