// imagestream-launch: one relay, from cameras on TCP ports to browsers on one
// web port, as the pipeline
//
//   lengthprefixsrc ! [--filter elements] ! websocketsink      (per camera)
//
// or, with --video, the frames encoded once and the camera's JPEG frames
// beside them (for snapshot.jpg and MJPEG, and for browsers that cannot
// decode the video):
//
//   lengthprefixsrc ! [filter] ! tee ! jpegdec ! encoder ! websocketsink path=/SECRET
//                                tee ! websocketsink path=/SECRET/jpeg
//
// with the elements registered in-process, so the binary runs from the build
// tree without GST_PLUGIN_PATH. It takes the original relay's positional
// arguments (PORT WEB_PORT SECRET), so scripts/initiate_screen.sh can start it
// in place of the Python scripts; each --camera INGEST_PORT:SECRET adds one
// more camera, served at its own secret path on the same web port.
#include <gst/gst.h>
#include <sys/resource.h>

#include "gstimagestream.h"
#include "options.h"
#include "relay.h"

using namespace launcher;

namespace {

// Every viewer and every connection not yet a viewer is a file descriptor:
// the soft limit (often 1024) would run out long before max-viewers, and the
// relay could not even refuse cleanly. Raised to the hard limit, which only
// root can raise.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int main(int argc, char **argv) {
  g_set_prgname(kProgram);
  raise_fd_limit();
  LaunchOptions options;
  std::string help;
  if (std::optional<Failure> stop = parse_arguments(argc, argv, options, help)) {
    if (stop->failed()) g_printerr("%s: %s\n\n%s", kProgram, stop->message.c_str(), help.c_str());
    return stop->code;
  }

  if (!imagestream_register_static()) {
    g_printerr("%s: cannot register the imagestream elements\n", kProgram);
    return kExitFailure;
  }

  Relay relay(options);
  Failure failure = relay.build();
  if (!failure.failed()) failure = relay.start();
  if (failure.failed()) {
    g_printerr("%s: %s\n", kProgram, failure.message.c_str());
    if (failure.code == kExitUsage) g_printerr("\n%s", help.c_str());
    return failure.code;
  }
  return relay.run();
}
