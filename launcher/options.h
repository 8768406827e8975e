// What imagestream-launch is told to do: its command line, parsed and checked
// into LaunchOptions, and the exit codes and messages of a launch that cannot
// go on.
#pragma once

#include <gst/gst.h>

#include <optional>
#include <string>
#include <vector>

namespace launcher {

constexpr const char *kProgram = "imagestream-launch";

enum ExitCode { kExitOk = 0, kExitFailure = 1, kExitUsage = 2 };

// The seed's ports and path, used by --demo when no positional args are given.
constexpr int kDemoIngestPort = 5000;
constexpr int kDemoWebPort = 8090;
constexpr const char *kDemoSecret = "camera";

constexpr const char *kAllInterfaces = "0.0.0.0";
constexpr int kDefaultStatusInterval = 5;  // seconds
// Frames that may wait between the threads of a camera's pipeline while one
// of them is not scheduled (2 shared cores, a busy machine: a second at 30
// fps); none of the threads downstream blocks, so they wait only that long.
constexpr guint kHiccupFrames = 30;
// How long stopping waits for the end of the stream to reach every sink.
constexpr GstClockTime kFinishTimeout = 2 * GST_SECOND;
constexpr int kUnset = -1;                 // a numeric option not given: the element's default

// One camera: where it sends and where its viewers watch.
struct CameraOptions {
  int ingest_port;     // kNoIngest on an edge: the frames come from NATS
  std::string secret;
  std::string subject;  // with --nats: where the origin publishes and edges subscribe
};
constexpr int kNoIngest = -1;  // PORT "-"

// --nats: the backbone between an origin (which has the camera) and edges
// (which serve viewers), and how to log in to it.
struct NatsOptions {
  std::string servers;  // comma-separated URLs; empty = no NATS
  std::string user, password, token, credentials_file;
  std::string ca_file, certificate, key;
};

// --video: the codec browsers get, and the encoder settings that make it a
// live stream (no lookahead, no frame lag: a frame leaves the encoder
// before the next one comes in).
struct VideoCodecOption {
  const char *name;
  const char *label;
  // The encoder, %u = bitrate in kbit/s; then the caps websocketsink needs.
  const char *encoder;
};
extern const VideoCodecOption kVideoCodecs[3];
constexpr guint kDefaultBitrate = 2000;  // kbit/s: 720p at the quality of JPEG q70 (see BENCHMARKS.md)
// Key frames at least this often, whatever the camera's frame rate: a viewer
// that skipped, or joined, waits at most this long for a clean picture.
constexpr guint kKeyFrameIntervalS = 2;

struct LaunchOptions {
  NatsOptions nats;
  const VideoCodecOption *video = nullptr;  // nullptr: JPEG as the camera sends it
  guint bitrate = kDefaultBitrate;
  // The positional camera first, then every --camera in order.
  std::vector<CameraOptions> cameras;
  int web_port = kDemoWebPort;
  std::string ingest_host = kAllInterfaces;
  std::string allowed_senders;  // empty = anyone who reaches the ingest port
  std::string ingest_tls_certificate, ingest_tls_key, ingest_tls_ca;
  std::string web_host = kAllInterfaces;
  std::string tls_certificate;
  std::string tls_key;
  std::string allowed_origins;
  bool require_origin = false;
  std::string cors_origins;
  std::string auth_users;  // a file of user:password or user:$hash lines: HTTP Basic logins
  std::string document_root;
  std::string filter;
  gint64 max_frame_size = kUnset;
  int max_viewers = kUnset;
  int status_interval = kDefaultStatusInterval;
  bool demo = false;
  // Per-viewer lines: none (--quiet), one per event (default), or naming the
  // camera's path too (--verbose).
  enum class Verbosity { Quiet, Normal, Verbose } verbosity = Verbosity::Normal;
};

// Why the launcher cannot go on, and with which exit code.
struct Failure {
  ExitCode code = kExitOk;
  std::string message;
  bool failed() const { return code != kExitOk; }
};

inline Failure usage_error(std::string message) { return {kExitUsage, std::move(message)}; }
inline Failure runtime_error(std::string message) { return {kExitFailure, std::move(message)}; }

// Fills `options` from argv. Nothing means go on; a Failure with kExitOk
// means exit 0 now (--help and --version have printed their text). `help`
// gets the usage text.
std::optional<Failure> parse_arguments(int argc, char **argv, LaunchOptions &options, std::string &help);

}  // namespace launcher
