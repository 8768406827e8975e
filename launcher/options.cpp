#include "options.h"

#include <cstring>

namespace launcher {

const VideoCodecOption kVideoCodecs[3] = {
    {"vp8", "VP8",
     "vp8enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=%u000 lag-in-frames=0 error-resilient=default "
     "keyframe-max-dist=300 threads=2"},
    {"vp9", "VP9",
     "vp9enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=%u000 lag-in-frames=0 row-mt=true "
     "keyframe-max-dist=300 threads=2"},
    // Without tune=zerolatency x264enc holds 1.5 s of frames for lookahead.
    // veryfast, not ultrafast: about half the bytes at the same quality
    // (measured here: 4 Mbit/s veryfast = 8 Mbit/s ultrafast at
    // 720p) for about twice the CPU, a third of a core at 720p 30 fps; each
    // frame still leaves before the next arrives.
    // And a frame rate in the caps: without one (a camera's JPEGs have
    // none) x264enc holds every frame until the next arrives, 33 ms at
    // 30 fps (bench/video/encoder_delay.py); 30/1 is nominal, for its rate
    // control (bits per frame at the bitrate).
    {"h264", "H.264",
     "capssetter caps=video/x-raw,framerate=30/1 ! "
     "x264enc tune=zerolatency speed-preset=veryfast bitrate=%u key-int-max=300 ! "
     "capsfilter caps=video/x-h264,stream-format=byte-stream,alignment=au"},
};

namespace {

bool parse_port(const char *text, int *port) {
  guint64 value = 0;
  if (!g_ascii_string_to_unsigned(text, 10, 0, 65535, &value, nullptr)) return false;
  *port = static_cast<int>(value);
  return true;
}

// The secret becomes a URL path segment; unreserved characters only, so it
// reads the same in a URL, a shell command and a systemd environment file.
bool valid_secret(const std::string &secret) {
  if (secret.empty()) return false;
  for (char c : secret) {
    if (!g_ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != '~') return false;
  }
  return true;
}

}  // namespace

std::optional<Failure> parse_arguments(int argc, char **argv, LaunchOptions &options, std::string &help) {
  g_autofree gchar *ingest_host = nullptr;
  g_autofree gchar *allowed_senders = nullptr, *ingest_tls_cert = nullptr, *ingest_tls_key = nullptr,
                   *ingest_tls_ca = nullptr;
  g_autofree gchar *web_host = nullptr;
  g_autofree gchar *tls_certificate = nullptr;
  g_autofree gchar *tls_key = nullptr;
  g_autofree gchar *allowed_origins = nullptr;
  gboolean require_origin = FALSE;
  g_autofree gchar *cors_origins = nullptr;
  g_autofree gchar *auth_users = nullptr;
  g_autofree gchar *document_root = nullptr;
  g_autofree gchar *filter = nullptr;
  g_auto(GStrv) cameras = nullptr;
  g_autofree gchar *video = nullptr;
  int bitrate = static_cast<int>(kDefaultBitrate);
  g_autofree gchar *nats = nullptr, *nats_subject = nullptr, *nats_user = nullptr, *nats_password = nullptr,
                   *nats_token = nullptr, *nats_credentials = nullptr, *nats_ca = nullptr, *nats_cert = nullptr,
                   *nats_key = nullptr;
  gint64 max_frame_size = kUnset;
  int max_viewers = kUnset;
  int status_interval = kDefaultStatusInterval;
  gboolean demo = FALSE;
  gboolean version = FALSE;
  gboolean quiet = FALSE;
  gboolean verbose = FALSE;

  GOptionEntry entries[] = {
      {"camera", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cameras,
       "One more camera: it sends to INGEST_PORT (- on an edge), its viewers open http://HOST:WEB_PORT/SECRET; with "
       "--nats, its NATS subject (repeatable)",
       "INGEST_PORT:SECRET[:SUBJECT]"},
      {"video", 0, 0, G_OPTION_ARG_STRING, &video,
       "Encode every camera's frames as video for the browsers: vp8, vp9 or h264 (4-8 times fewer bytes than "
       "JPEG); the JPEG frames stay at SECRET/jpeg",
       "CODEC"},
      {"bitrate", 0, 0, G_OPTION_ARG_INT, &bitrate, "Video bitrate in kbit/s (default 2000)", "KBPS"},
      {"nats", 0, 0, G_OPTION_ARG_STRING, &nats,
       "NATS servers (comma-separated nats:// or tls:// URLs): an origin (with PORT) also publishes every frame "
       "there, an edge (PORT -) takes its frames from there",
       "URLS"},
      {"nats-subject", 0, 0, G_OPTION_ARG_STRING, &nats_subject, "The first camera's NATS subject", "SUBJECT"},
      {"nats-user", 0, 0, G_OPTION_ARG_STRING, &nats_user, "NATS user (with --nats-password)", "USER"},
      {"nats-password", 0, 0, G_OPTION_ARG_STRING, &nats_password, "NATS password", "PASSWORD"},
      {"nats-token", 0, 0, G_OPTION_ARG_STRING, &nats_token, "NATS token, instead of user and password", "TOKEN"},
      {"nats-credentials", 0, 0, G_OPTION_ARG_FILENAME, &nats_credentials, "NATS credentials file (JWT and NKey)",
       "FILE"},
      {"nats-ca", 0, 0, G_OPTION_ARG_FILENAME, &nats_ca, "CA (PEM) the NATS servers' certificates chain to", "FILE"},
      {"nats-cert", 0, 0, G_OPTION_ARG_FILENAME, &nats_cert, "Client certificate (PEM) for NATS", "FILE"},
      {"nats-key", 0, 0, G_OPTION_ARG_FILENAME, &nats_key, "Key (PEM) of --nats-cert", "FILE"},
      {"ingest-host", 0, 0, G_OPTION_ARG_STRING, &ingest_host,
       "Address cameras connect to (default 0.0.0.0, all interfaces)", "HOST"},
      {"allowed-senders", 0, 0, G_OPTION_ARG_STRING, &allowed_senders,
       "Comma-separated addresses and networks cameras may send from, e.g. 127.0.0.1,192.168.1.0/24 "
       "(default: anyone who reaches PORT)",
       "LIST"},
      {"ingest-tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &ingest_tls_cert,
       "PEM certificate: cameras must send over TLS (lengthprefixsink tls-ca-file=...)", "FILE"},
      {"ingest-tls-key", 0, 0, G_OPTION_ARG_FILENAME, &ingest_tls_key, "PEM private key of --ingest-tls-cert", "FILE"},
      {"ingest-tls-ca", 0, 0, G_OPTION_ARG_FILENAME, &ingest_tls_ca,
       "PEM CA: cameras must present a certificate it signed (with --ingest-tls-cert)", "FILE"},
      {"web-host", 0, 0, G_OPTION_ARG_STRING, &web_host,
       "Address browsers connect to (default 0.0.0.0, all interfaces)", "HOST"},
      {"tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_certificate, "PEM certificate: serve https/wss instead of http/ws",
       "FILE"},
      {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, "PEM private key of --tls-cert", "FILE"},
      {"max-frame-size", 0, 0, G_OPTION_ARG_INT64, &max_frame_size, "Largest frame accepted from a camera, in bytes",
       "BYTES"},
      {"max-viewers", 0, 0, G_OPTION_ARG_INT, &max_viewers, "Most browsers connected at once (0 = no limit)", "N"},
      {"allowed-origins", 0, 0, G_OPTION_ARG_STRING, &allowed_origins,
       "Comma-separated origins whose pages may connect (default: any); the relay's own page and clients that "
       "are not browsers (no Origin) may too",
       "ORIGINS"},
      {"require-origin", 0, 0, G_OPTION_ARG_NONE, &require_origin,
       "With --allowed-origins, refuse clients that send no Origin", nullptr},
      {"auth-users", 0, 0, G_OPTION_ARG_FILENAME, &auth_users,
       "Viewers log in (HTTP Basic) with a user and password from FILE (user:password or user:$hash lines, e.g. "
       "from openssl passwd -6) for the page and everything under the secret path; use with --tls-cert",
       "FILE"},
      {"cors-origins", 0, 0, G_OPTION_ARG_STRING, &cors_origins,
       "Comma-separated origins (or *) whose pages may fetch() stats.json, metrics, snapshot.jpg and stream.mjpeg "
       "(default: none)",
       "ORIGINS"},
      {"document-root", 0, 0, G_OPTION_ARG_FILENAME, &document_root,
       "Serve DIR/index.html at the viewer URL, and DIR's other files at /SECRET/FILE, "
       "instead of the built-in viewer page",
       "DIR"},
      {"filter", 0, 0, G_OPTION_ARG_STRING, &filter,
       "GStreamer elements between camera and browsers, in gst-launch syntax, "
       "e.g. 'jpegdec ! videoscale ! video/x-raw,width=640 ! jpegenc'",
       "PIPELINE"},
      {"demo", 0, 0, G_OPTION_ARG_NONE, &demo,
       "Also run a test-pattern camera in this process (PORT WEB_PORT SECRET default to 5000 8090 camera)", nullptr},
      {"status-interval", 0, 0, G_OPTION_ARG_INT, &status_interval,
       "Seconds between status lines (0 = none; default 5)", "SECONDS"},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No line per viewer connecting or leaving", nullptr},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Per-viewer lines name the camera's path too", nullptr},
      {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", nullptr},
      {nullptr},
  };

  g_autoptr(GOptionContext) context = g_option_context_new("PORT WEB_PORT SECRET");
  g_option_context_set_summary(context,
                               "Relays length-prefixed JPEG frames that cameras send to TCP port PORT to\n"
                               "browsers at http://HOST:WEB_PORT/SECRET (the page and its WebSocket).");
  g_option_context_add_main_entries(context, entries, nullptr);
  g_option_context_add_group(context, gst_init_get_option_group());
  g_autofree gchar *help_text = g_option_context_get_help(context, TRUE, nullptr);
  help = help_text;

  g_autoptr(GError) error = nullptr;
  if (!g_option_context_parse(context, &argc, &argv, &error)) return usage_error(error->message);
  if (version) {
    g_autofree gchar *gstreamer = gst_version_string();
    g_print("%s %s (%s)\n", kProgram, PACKAGE_VERSION, gstreamer);
    return Failure{};
  }

  options.demo = demo;
  if (quiet && verbose) return usage_error("--quiet and --verbose exclude each other");
  options.verbosity = quiet ? LaunchOptions::Verbosity::Quiet
                      : verbose ? LaunchOptions::Verbosity::Verbose
                                : LaunchOptions::Verbosity::Normal;
  const int positional = argc - 1;
  if (positional > 3) return usage_error("too many arguments; expected PORT WEB_PORT SECRET");
  if (positional < 3 && !(demo && positional == 0))
    return usage_error("expected PORT WEB_PORT SECRET (or --demo alone)");
  if (demo && positional == 3 && strcmp(argv[1], "-") == 0) return usage_error("--demo needs a camera port, not -");
  CameraOptions first{kDemoIngestPort, kDemoSecret, nats_subject ? nats_subject : ""};
  if (positional == 3) {
    if (strcmp(argv[1], "-") == 0)
      first.ingest_port = kNoIngest;
    else if (!parse_port(argv[1], &first.ingest_port))
      return usage_error(std::string("PORT must be a number from 0 to 65535 (or - for an edge), not \"") + argv[1] +
                         "\"");
    if (!parse_port(argv[2], &options.web_port))
      return usage_error(std::string("WEB_PORT must be a number from 0 to 65535, not \"") + argv[2] + "\"");
    first.secret = argv[3];
    if (!valid_secret(first.secret))
      return usage_error("SECRET must be letters, digits, '-', '_', '.' or '~', not \"" + first.secret + "\"");
  }
  options.cameras.push_back(first);
  for (char **c = cameras; c && *c; c++) {
    g_auto(GStrv) parts = g_strsplit(*c, ":", 3);
    const guint n = g_strv_length(parts);
    CameraOptions camera{0, n >= 2 ? parts[1] : "", n == 3 ? parts[2] : ""};
    const bool port_ok = n >= 1 && (strcmp(parts[0], "-") == 0 ? (camera.ingest_port = kNoIngest, true)
                                                               : parse_port(parts[0], &camera.ingest_port));
    if (n < 2 || !port_ok || !valid_secret(camera.secret))
      return usage_error(std::string("--camera takes INGEST_PORT:SECRET[:NATS_SUBJECT] (a port number, or - on an "
                                     "edge, and a secret of letters, digits, '-', '_', '.' or '~'), not \"") +
                         *c + "\"");
    options.cameras.push_back(camera);
  }
  if (nats) {
    options.nats = {nats, nats_user ? nats_user : "", nats_password ? nats_password : "",
                    nats_token ? nats_token : "", nats_credentials ? nats_credentials : "", nats_ca ? nats_ca : "",
                    nats_cert ? nats_cert : "", nats_key ? nats_key : ""};
    for (size_t i = 0; i < options.cameras.size(); i++) {
      if (options.cameras[i].subject.empty())
        return usage_error(i == 0 ? "--nats needs --nats-subject: the subject the first camera's frames go by"
                                  : "with --nats, each --camera names its subject: INGEST_PORT:SECRET:NATS_SUBJECT");
      for (size_t j = 0; j < i; j++)
        if (options.cameras[i].subject == options.cameras[j].subject)
          return usage_error("two cameras have the NATS subject \"" + options.cameras[i].subject + "\"");
    }
  } else {
    for (const auto &camera : options.cameras)
      if (camera.ingest_port == kNoIngest) return usage_error("a camera without a port (-) needs --nats to get frames");
    if (nats_subject) return usage_error("--nats-subject needs --nats");
  }
  for (size_t i = 0; i < options.cameras.size(); i++) {
    const CameraOptions &a = options.cameras[i];
    if (a.ingest_port > 0 && a.ingest_port == options.web_port)
      return usage_error("camera port " + std::to_string(a.ingest_port) +
                         " is also the web port: cameras and browsers need ports of their own");
    for (size_t j = 0; j < i; j++) {
      const CameraOptions &b = options.cameras[j];
      if (a.secret == b.secret) return usage_error("two cameras have the secret \"" + a.secret + "\": give each its own");
      if (a.ingest_port > 0 && a.ingest_port == b.ingest_port)
        return usage_error("two cameras send to port " + std::to_string(a.ingest_port) + ": give each its own");
    }
  }

  if (video && options.nats.servers.size()) {
    for (const auto &camera : options.cameras)
      if (camera.ingest_port == kNoIngest)
        return usage_error("--video belongs on the origin: an edge relays the frames as the origin publishes them");
  }
  if (video) {
    for (const auto &codec : kVideoCodecs)
      if (strcmp(video, codec.name) == 0) options.video = &codec;
    if (!options.video) return usage_error(std::string("--video takes vp8, vp9 or h264, not \"") + video + "\"");
  }
  if (bitrate < 1 || bitrate > 100000) return usage_error("--bitrate must be from 1 to 100000 kbit/s");
  options.bitrate = static_cast<guint>(bitrate);
  if (ingest_host) options.ingest_host = ingest_host;
  if (allowed_senders) options.allowed_senders = allowed_senders;
  if (ingest_tls_cert) options.ingest_tls_certificate = ingest_tls_cert;
  if (ingest_tls_key) options.ingest_tls_key = ingest_tls_key;
  if (ingest_tls_ca) options.ingest_tls_ca = ingest_tls_ca;
  if (options.ingest_tls_certificate.empty() && (ingest_tls_key || ingest_tls_ca))
    return usage_error("--ingest-tls-key and --ingest-tls-ca need --ingest-tls-cert");
  if (web_host) options.web_host = web_host;
  if (tls_certificate) options.tls_certificate = tls_certificate;
  if (tls_key) options.tls_key = tls_key;
  if (options.tls_certificate.empty() != options.tls_key.empty())
    return usage_error("--tls-cert and --tls-key go together");
  if (allowed_origins) options.allowed_origins = allowed_origins;
  options.require_origin = require_origin;
  if (cors_origins) options.cors_origins = cors_origins;
  if (auth_users) options.auth_users = auth_users;
  if (document_root) options.document_root = document_root;
  if (filter) options.filter = filter;
  if (max_frame_size != kUnset && max_frame_size < 1) return usage_error("--max-frame-size must be 1 or more");
  options.max_frame_size = max_frame_size;
  if (max_viewers != kUnset && max_viewers < 0) return usage_error("--max-viewers must be 0 or more");
  options.max_viewers = max_viewers;
  if (status_interval < 0) return usage_error("--status-interval must be 0 or more");
  options.status_interval = status_interval;
  return std::nullopt;
}

}  // namespace launcher
