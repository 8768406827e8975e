#!/bin/bash
# A few seconds of small load against every relay (floor, node, python,
# imagestream, and imagestream-launch once built), to prove that the harness
# and its peers still work. Exits non-zero when any system delivers nothing,
# including when websocketsink is not built: nothing is skipped silently.
#
#   bench/smoke.sh                                   # against ./build
#   IMAGESTREAM_BUILD_DIR=/path/to/build bench/smoke.sh
set -u
. "$(dirname "$0")/lib.sh"
BENCH_NEXT_PORT=${BENCH_PORT_BASE:-17800}

bench_prepare || { echo "bench-smoke: cannot build the bench programs or frames" >&2; exit 1; }
BENCH_LOG=$(mktemp /tmp/bench-smoke.XXXXXX.log)
export BENCH_LOG

failed=0
for system in $(bench_systems); do
  if [[ $system == imagestream* ]] && ! bench_websocketsink_built; then
    echo "FAIL $system: websocketsink is not built in $BENCH_BUILD_DIR/plugins"
    failed=$((failed + 1))
    continue
  fi
  # 4 viewers and 1 stuck one, 100 frames/s for 1 s: every piece of the
  # harness runs (handshake, frame parsing, stamps, /proc readings).
  # Not in $( ): bench_load must run in this shell to advance the port counter.
  bench_load "$system" smoke --frame "$BENCH_FRAMES/vga.jpg" --viewers 4 --stuck 1 --fps 100 \
    --duration 1 --drain 2 --connect-timeout 10 >"$BENCH_LOG.json"
  line=$(cat "$BENCH_LOG.json")
  delivered=$(echo "$line" | "$BENCH_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["delivered"])' 2>/dev/null)
  if [ -z "$delivered" ] || [ "$delivered" -eq 0 ]; then
    echo "FAIL $system: delivered nothing (${line:-no result}; log $BENCH_LOG)"
    failed=$((failed + 1))
  else
    echo "ok   $system: $line"
  fi
done
rm -f "$BENCH_LOG.json"
[ "$failed" -eq 0 ] && rm -f "$BENCH_LOG"
echo "bench-smoke: $failed system(s) failed"
exit $((failed > 0))
