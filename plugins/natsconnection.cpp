#include "natsconnection.h"

#include <unistd.h>

#include <cstring>

GST_DEBUG_CATEGORY_STATIC(natsconnection_debug);
#define GST_CAT_DEFAULT natsconnection_debug

namespace imagestream {

namespace {

struct OptionsDestroy {
  void operator()(natsOptions *o) const { natsOptions_Destroy(o); }
};
using OptionsPtr = std::unique_ptr<natsOptions, OptionsDestroy>;

void init_debug() {
  static std::once_flag once;
  std::call_once(once, [] { GST_DEBUG_CATEGORY_INIT(natsconnection_debug, "natsconnection", 0, "NATS connection"); });
}

// libnats's text for the last error of this thread (without the
// "(conn.c:1905): " it starts with), or the status's name.
std::string error_text(natsStatus status) {
  const char *text = nats_GetLastError(nullptr);
  if (!text || !*text) return natsStatus_GetText(status);
  if (text[0] == '(') {
    const char *end = strstr(text, "): ");
    if (end) text = end + 3;
  }
  return text;
}

// A URL without its user:password@ part, fit for the bus and the log.
std::string redact(const std::string &url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t at = url.find('@', start);
  if (at == std::string::npos || url.find('/', start) < at) return url;
  return url.substr(0, start) + url.substr(at + 1);
}

std::vector<std::string> split_servers(const std::string &servers) {
  std::vector<std::string> urls;
  g_auto(GStrv) parts = g_strsplit(servers.c_str(), ",", -1);
  for (gchar **p = parts; *p; p++) {
    g_strstrip(*p);
    if (**p) urls.emplace_back(*p);
  }
  return urls;
}

// Statuses of a first attempt that no retry can fix: the settings are wrong.
bool is_refusal(natsStatus s) {
  return s == NATS_CONNECTION_AUTH_FAILED || s == NATS_SSL_ERROR || s == NATS_SECURE_CONNECTION_WANTED ||
         s == NATS_SECURE_CONNECTION_REQUIRED || s == NATS_INVALID_ARG || s == NATS_NOT_PERMITTED;
}

bool readable_or_unset(const std::string &path, const char *property, std::string *error) {
  if (path.empty() || access(path.c_str(), R_OK) == 0) return true;
  *error = std::string(property) + " " + path + ": " + g_strerror(errno);
  return false;
}

}  // namespace

void install_nats_properties(GObjectClass *klass, guint first_id) {
  init_debug();
  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  // Secrets can be set but not read back (gst-inspect, property dumps).
  const auto wo = static_cast<GParamFlags>(G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  auto string = [&](NatsProperty p, const char *name, const char *nick, const char *blurb, const char *def,
                    GParamFlags flags) {
    g_object_class_install_property(klass, first_id + p, g_param_spec_string(name, nick, blurb, def, flags));
  };
  auto uint = [&](NatsProperty p, const char *name, const char *nick, const char *blurb, guint min, guint max,
                  guint def) {
    g_object_class_install_property(klass, first_id + p, g_param_spec_uint(name, nick, blurb, min, max, def, rw));
  };
  string(NATS_PROP_SERVERS, "servers", "Servers",
         "Comma-separated NATS server URLs (nats://host:port, tls://host:port), tried in order; servers the "
         "cluster announces are added behind them",
         DEFAULT_NATS_SERVERS, rw);
  string(NATS_PROP_USER, "user", "User", "User name to authenticate with (with password)", nullptr, rw);
  string(NATS_PROP_PASSWORD, "password", "Password", "Password of user (write-only)", nullptr, wo);
  string(NATS_PROP_TOKEN, "token", "Token", "Authentication token, instead of user and password (write-only)", nullptr,
         wo);
  string(NATS_PROP_CREDENTIALS_FILE, "credentials-file", "Credentials file",
         "NATS user credentials file (user JWT and NKey seed, as written by nsc)", nullptr, rw);
  string(NATS_PROP_TLS_CA_FILE, "tls-ca-file", "TLS CA file",
         "CA certificates (PEM) that the servers' certificates must chain to; any tls-* property turns TLS on", nullptr,
         rw);
  string(NATS_PROP_TLS_CERTIFICATE, "tls-certificate", "TLS certificate",
         "Client certificate chain (PEM) for servers that verify clients (with tls-key)", nullptr, rw);
  string(NATS_PROP_TLS_KEY, "tls-key", "TLS key", "Private key (PEM) of tls-certificate", nullptr, rw);
  uint(NATS_PROP_PING_INTERVAL, "ping-interval", "PING interval",
       "Milliseconds between PINGs to the server. On the tick after max-pings-out unanswered ones the server "
       "counts as hung and the next one is used: 400 ms x 2 notices a hung server in 0.8-1.2 s, so that failover "
       "stays under 1.5 s (the client library's default, 2 minutes, never noticed in tests). A write blocked for "
       "ping-interval x max-pings-out also gives up",
       10, G_MAXINT, DEFAULT_NATS_PING_INTERVAL);
  uint(NATS_PROP_MAX_PINGS_OUT, "max-pings-out", "Max PINGs out",
       "Unanswered PINGs before the server counts as hung (see ping-interval)", 1, G_MAXINT,
       DEFAULT_NATS_MAX_PINGS_OUT);
  uint(NATS_PROP_RECONNECT_WAIT, "reconnect-wait", "Reconnect wait",
       "Milliseconds (plus up to half as much random jitter) to wait once every server in the list failed, "
       "before trying them again; the next server is tried at once",
       10, G_MAXINT, DEFAULT_NATS_RECONNECT_WAIT);
  uint(NATS_PROP_CONNECT_TIMEOUT, "connect-timeout", "Connect timeout",
       "Milliseconds one connection attempt (TCP connect and NATS handshake) may take; a server that accepts but "
       "never answers costs at most this",
       10, G_MAXINT, DEFAULT_NATS_CONNECT_TIMEOUT);
  g_object_class_install_property(
      klass, first_id + NATS_PROP_CONNECTED,
      g_param_spec_boolean("connected", "Connected",
                           "Whether a server is connected (and this element's subscriptions are registered there)",
                           FALSE, ro));
  string(NATS_PROP_CURRENT_SERVER, "current-server", "Current server",
         "URL of the server connected to (empty while not connected)", nullptr, ro);
  g_object_class_install_property(
      klass, first_id + NATS_PROP_RECONNECTS,
      g_param_spec_uint64("reconnects", "Reconnects", "Times the connection was re-established after a server was lost",
                          0, G_MAXUINT64, 0, ro));
}

bool set_nats_property(NatsSettings &s, guint id, const GValue *value, guint first_id) {
  if (id < first_id || id >= first_id + NATS_N_PROPERTIES) return false;
  auto text = [value] { return std::string(g_value_get_string(value) ? g_value_get_string(value) : ""); };
  switch (static_cast<NatsProperty>(id - first_id)) {
    case NATS_PROP_SERVERS:
      s.servers = g_value_get_string(value) ? text() : DEFAULT_NATS_SERVERS;
      break;
    case NATS_PROP_USER:
      s.user = text();
      break;
    case NATS_PROP_PASSWORD:
      s.password = text();
      break;
    case NATS_PROP_TOKEN:
      s.token = text();
      break;
    case NATS_PROP_CREDENTIALS_FILE:
      s.credentials_file = text();
      break;
    case NATS_PROP_TLS_CA_FILE:
      s.tls_ca_file = text();
      break;
    case NATS_PROP_TLS_CERTIFICATE:
      s.tls_certificate = text();
      break;
    case NATS_PROP_TLS_KEY:
      s.tls_key = text();
      break;
    case NATS_PROP_PING_INTERVAL:
      s.ping_interval = g_value_get_uint(value);
      break;
    case NATS_PROP_MAX_PINGS_OUT:
      s.max_pings_out = g_value_get_uint(value);
      break;
    case NATS_PROP_RECONNECT_WAIT:
      s.reconnect_wait = g_value_get_uint(value);
      break;
    case NATS_PROP_CONNECT_TIMEOUT:
      s.connect_timeout = g_value_get_uint(value);
      break;
    default:
      return false;  // read-only
  }
  return true;
}

bool get_nats_property(const NatsSettings &s, const NatsConnection &c, guint id, GValue *value, guint first_id) {
  if (id < first_id || id >= first_id + NATS_N_PROPERTIES) return false;
  auto text = [value](const std::string &v) { g_value_set_string(value, v.empty() ? nullptr : v.c_str()); };
  switch (static_cast<NatsProperty>(id - first_id)) {
    case NATS_PROP_SERVERS:
      g_value_set_string(value, s.servers.c_str());
      break;
    case NATS_PROP_USER:
      text(s.user);
      break;
    case NATS_PROP_CREDENTIALS_FILE:
      text(s.credentials_file);
      break;
    case NATS_PROP_TLS_CA_FILE:
      text(s.tls_ca_file);
      break;
    case NATS_PROP_TLS_CERTIFICATE:
      text(s.tls_certificate);
      break;
    case NATS_PROP_TLS_KEY:
      text(s.tls_key);
      break;
    case NATS_PROP_PING_INTERVAL:
      g_value_set_uint(value, s.ping_interval);
      break;
    case NATS_PROP_MAX_PINGS_OUT:
      g_value_set_uint(value, s.max_pings_out);
      break;
    case NATS_PROP_RECONNECT_WAIT:
      g_value_set_uint(value, s.reconnect_wait);
      break;
    case NATS_PROP_CONNECT_TIMEOUT:
      g_value_set_uint(value, s.connect_timeout);
      break;
    case NATS_PROP_CONNECTED:
      g_value_set_boolean(value, c.connected());
      break;
    case NATS_PROP_CURRENT_SERVER:
      text(c.current_server());
      break;
    case NATS_PROP_RECONNECTS:
      g_value_set_uint64(value, c.reconnects());
      break;
    default:
      return false;  // write-only
  }
  return true;
}

NatsConnection::NatsConnection(GstElement *owner, std::string event_prefix)
    : owner_(owner), event_prefix_(std::move(event_prefix)) {
  init_debug();
}

NatsConnection::~NatsConnection() { close(); }

bool NatsConnection::open(const NatsSettings &settings, std::vector<Subscribe> subscriptions, ConnectHook hook,
                          std::string *error) {
  g_return_val_if_fail(!connector_.joinable(), false);
  settings_ = settings;
  subscriptions_.clear();
  for (Subscribe &s : subscriptions)
    subscriptions_.push_back(
        std::make_unique<Subscription>(Subscription{this, std::move(s.subject), std::move(s.handler)}));
  connect_hook_ = std::move(hook);
  std::vector<std::string> urls = split_servers(settings.servers);
  if (urls.empty()) {
    *error = "servers is empty: give at least one nats://host:port";
    return false;
  }
  if (!readable_or_unset(settings.credentials_file, "credentials-file", error) ||
      !readable_or_unset(settings.tls_ca_file, "tls-ca-file", error) ||
      !readable_or_unset(settings.tls_certificate, "tls-certificate", error) ||
      !readable_or_unset(settings.tls_key, "tls-key", error))
    return false;
  if (settings.tls_certificate.empty() != settings.tls_key.empty()) {
    *error = "tls-certificate and tls-key must be set together";
    return false;
  }

  natsOptions *o = nullptr;
  natsStatus s = natsOptions_Create(&o);
  OptionsPtr opts(o);
  std::vector<const char *> url_ptrs;
  for (const std::string &u : urls) url_ptrs.push_back(u.c_str());
  g_autofree gchar *name = gst_object_get_name(GST_OBJECT(owner_));
  const int64_t wait = settings.reconnect_wait;
  // Each call only while all before it succeeded, so that the last error is
  // the first failure's.
  if (s == NATS_OK) s = natsOptions_SetServers(o, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(o, true);
  // How the servers' monitoring (connz) names this client.
  if (s == NATS_OK) s = natsOptions_SetName(o, (event_prefix_ + " " + name).c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, settings.connect_timeout);
  if (s == NATS_OK) s = natsOptions_SetPingInterval(o, settings.ping_interval);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, static_cast<int>(settings.max_pings_out));
  // A write to a server that stopped reading gives up as soon as PINGs would.
  if (s == NATS_OK) s = natsOptions_SetWriteDeadline(o, int64_t{settings.ping_interval} * settings.max_pings_out);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, wait);
  if (s == NATS_OK) s = natsOptions_SetReconnectJitter(o, wait / 2, wait / 2);
  // While reconnecting, a publish fails instead of queueing a stale frame.
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(o, 0);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, on_reconnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(o, on_closed, this);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_async_error, this);
  if (s == NATS_OK && !settings.user.empty())
    s = natsOptions_SetUserInfo(o, settings.user.c_str(), settings.password.c_str());
  if (s == NATS_OK && !settings.token.empty()) s = natsOptions_SetToken(o, settings.token.c_str());
  if (s == NATS_OK && !settings.credentials_file.empty())
    s = natsOptions_SetUserCredentialsFromFiles(o, settings.credentials_file.c_str(), nullptr);
  if (s == NATS_OK && !settings.tls_ca_file.empty())
    s = natsOptions_LoadCATrustedCertificates(o, settings.tls_ca_file.c_str());
  if (s == NATS_OK && !settings.tls_certificate.empty())
    s = natsOptions_LoadCertificatesChain(o, settings.tls_certificate.c_str(), settings.tls_key.c_str());
  if (s == NATS_OK && !(settings.tls_ca_file.empty() && settings.tls_certificate.empty()))
    s = natsOptions_SetSecure(o, true);
  if (s != NATS_OK) {
    *error = error_text(s);
    return false;
  }

  {
    std::lock_guard<std::mutex> lock(mutex_);
    nc_ = nullptr;
    subscribed_ = connect_pending_ = closing_ = closed_callback_ran_ = false;
    open_subscriptions_ = 0;
    current_server_.clear();
  }
  warned_async_error_ = false;
  connector_ = std::thread(&NatsConnection::connect_in_background, this, opts.release());
  return true;
}

void NatsConnection::connect_in_background(natsOptions *options) {
  OptionsPtr opts(options);
  natsConnection *nc = nullptr;
  // One round over the servers without retrying, for the reason if it fails.
  natsStatus s = natsConnection_Connect(&nc, opts.get());
  if (s != NATS_OK) {
    std::string reason = error_text(s);
    if (is_refusal(s)) {
      report_refusal(s, reason);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closing_) return;
    }
    GST_ELEMENT_WARNING(owner_, RESOURCE, OPEN_READ_WRITE,
                        ("Cannot connect to NATS at %s: %s; retrying in the background (frames are dropped until "
                         "then)",
                         servers_text().c_str(), reason.c_str()),
                        (nullptr));
    natsOptions_SetRetryOnFailedConnect(opts.get(), true, on_async_connected, this);
    s = natsConnection_Connect(&nc, opts.get());
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
      report_refusal(s, error_text(s));
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    nc_ = nc;
  }
  make_subscriptions(nc);
  bool connected_already;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    subscribed_ = true;
    connected_already = s == NATS_OK || connect_pending_;
    connect_pending_ = false;
  }
  if (connected_already) connected_now(nc, false);
}

void NatsConnection::make_subscriptions(natsConnection *nc) {
  for (auto &sub : subscriptions_) {
    natsSubscription *ns = nullptr;
    natsStatus s = natsConnection_Subscribe(&ns, nc, sub->subject.c_str(), on_message, sub.get());
    if (s == NATS_CONNECTION_CLOSED) return;  // refused meanwhile; on_closed reported why
    if (s != NATS_OK) {
      GST_ELEMENT_ERROR(owner_, RESOURCE, SETTINGS,
                        ("Cannot subscribe to NATS subject \"%s\": %s", sub->subject.c_str(), error_text(s).c_str()),
                        (nullptr));
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_subscriptions_++;
    }
    // Fails only if the connection already closed the subscription (and
    // then no handler runs any more).
    if (natsSubscription_SetOnCompleteCB(ns, on_subscription_complete, this) != NATS_OK) {
      std::lock_guard<std::mutex> lock(mutex_);
      open_subscriptions_--;
    }
    sub->sub = ns;
  }
}

void NatsConnection::connected_now(natsConnection *nc, bool reconnect) {
  char url[512] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  std::string server = redact(url);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return;
    current_server_ = server;
  }
  // The hook's messages follow our SUBs on the wire, so they need no flush.
  if (connect_hook_) connect_hook_(nc);
  // The PING round trip orders our SUBs before anything another client
  // publishes after seeing `connected`.
  natsConnection_FlushTimeout(nc, settings_.connect_timeout);
  if (reconnect) reconnects_++;
  connected_ = true;
  GST_INFO_OBJECT(owner_, "%s to %s", reconnect ? "reconnected" : "connected", server.c_str());
  post_event(reconnect ? "reconnected" : "connected", server);
}

void NatsConnection::post_event(const char *what, const std::string &server) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return;
  }
  std::string name = event_prefix_ + "-" + what;
  GstStructure *s = gst_structure_new(name.c_str(), "server", G_TYPE_STRING, server.c_str(), nullptr);
  gst_element_post_message(owner_, gst_message_new_element(GST_OBJECT(owner_), s));
}

void NatsConnection::report_refusal(natsStatus status, const std::string &reason) {
  std::string servers = servers_text();
  if (status == NATS_CONNECTION_AUTH_FAILED) {
    GST_ELEMENT_ERROR(owner_, RESOURCE, NOT_AUTHORIZED,
                      ("NATS at %s refused the credentials: %s (check user, password, token or credentials-file)",
                       servers.c_str(), reason.c_str()),
                      (nullptr));
  } else if (status == NATS_SSL_ERROR || status == NATS_SECURE_CONNECTION_WANTED ||
             status == NATS_SECURE_CONNECTION_REQUIRED) {
    GST_ELEMENT_ERROR(owner_, RESOURCE, OPEN_READ_WRITE,
                      ("TLS with NATS at %s failed: %s (check tls-ca-file, tls-certificate and tls-key)",
                       servers.c_str(), reason.c_str()),
                      (nullptr));
  } else {
    GST_ELEMENT_ERROR(owner_, RESOURCE, OPEN_READ_WRITE,
                      ("NATS connection to %s failed for good: %s", servers.c_str(), reason.c_str()), (nullptr));
  }
}

std::string NatsConnection::servers_text() const {
  std::string out;
  for (const std::string &u : split_servers(settings_.servers)) out += (out.empty() ? "" : ",") + redact(u);
  return out;
}

natsConnection *NatsConnection::connection() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return nc_;
}

std::string NatsConnection::current_server() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_server_;
}

void NatsConnection::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  if (connector_.joinable()) connector_.join();
  natsConnection *nc = connection();
  if (nc) {
    natsConnection_Close(nc);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      callbacks_done_.wait(lock, [this] { return closed_callback_ran_ && open_subscriptions_ == 0; });
    }
    for (auto &sub : subscriptions_) {
      natsSubscription_Destroy(sub->sub);
      sub->sub = nullptr;
    }
    natsConnection_Destroy(nc);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  nc_ = nullptr;
  current_server_.clear();
  connected_ = false;
}

void NatsConnection::on_message(natsConnection *nc, natsSubscription *, natsMsg *msg, void *closure) {
  auto *sub = static_cast<Subscription *>(closure);
  sub->handler(nc, msg);
}

void NatsConnection::on_subscription_complete(void *closure) {
  auto *self = static_cast<NatsConnection *>(closure);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->open_subscriptions_--;
  self->callbacks_done_.notify_all();
}

void NatsConnection::on_async_connected(natsConnection *nc, void *closure) {
  auto *self = static_cast<NatsConnection *>(closure);
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    if (!self->subscribed_) {
      // The connecting thread announces it once the subscriptions exist.
      self->connect_pending_ = true;
      return;
    }
  }
  self->connected_now(nc, false);
}

void NatsConnection::on_disconnected(natsConnection *, void *closure) {
  auto *self = static_cast<NatsConnection *>(closure);
  std::string server;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    if (self->closing_) return;
    server.swap(self->current_server_);
  }
  self->connected_ = false;
  GST_INFO_OBJECT(self->owner_, "disconnected from %s", server.c_str());
  self->post_event("disconnected", server);
}

void NatsConnection::on_reconnected(natsConnection *nc, void *closure) {
  static_cast<NatsConnection *>(closure)->connected_now(nc, true);
}

void NatsConnection::on_closed(natsConnection *nc, void *closure) {
  auto *self = static_cast<NatsConnection *>(closure);
  bool by_us;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    by_us = self->closing_;
  }
  self->connected_ = false;
  if (!by_us) {
    // With unlimited reconnects, libnats gives up only when a server
    // refused the same credentials twice.
    const char *text = nullptr;
    natsStatus s = natsConnection_GetLastError(nc, &text);
    self->report_refusal(s, text && *text ? text : natsStatus_GetText(s));
  }
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->closed_callback_ran_ = true;
  self->callbacks_done_.notify_all();
}

void NatsConnection::on_async_error(natsConnection *nc, natsSubscription *, natsStatus err, void *closure) {
  auto *self = static_cast<NatsConnection *>(closure);
  if (err == NATS_SLOW_CONSUMER) {
    GST_WARNING_OBJECT(self->owner_, "libnats dropped messages: the subscription's handler fell behind");
    return;
  }
  const char *text = nullptr;
  natsConnection_GetLastError(nc, &text);
  std::string reason = text && *text ? text : natsStatus_GetText(err);
  // A permission error comes back for every publish: warn once.
  if (!self->warned_async_error_.exchange(true))
    GST_ELEMENT_WARNING(self->owner_, RESOURCE, WRITE,
                        ("NATS server %s reported: %s", self->current_server().c_str(), reason.c_str()), (nullptr));
  else
    GST_INFO_OBJECT(self->owner_, "NATS server reported: %s", reason.c_str());
}

}  // namespace imagestream
