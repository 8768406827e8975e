#!/usr/bin/env bash
# The README's test command: set up, build, run every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ ! -f build/build.ninja ]; then meson setup build; fi
ninja -C build
status=0
meson test -C build --print-errorlogs --num-processes 2 || status=$?
# One closing line any CI reader understands.
passed=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' build/meson-logs/testlog.txt | tail -1)
failed=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' build/meson-logs/testlog.txt | tail -1)
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit $status
