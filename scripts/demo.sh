#!/usr/bin/env bash
# The README's first command: sets up a fresh Debian 12 machine, builds, and
# runs the relay with a built-in test camera, as the original was started
# (ingest 5000, web 8090, secret "camera"). Open the printed URL; Ctrl-C stops.
# Extra arguments go to imagestream-launch (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build >/dev/null
exec ./build/launcher/imagestream-launch --demo "$@"
