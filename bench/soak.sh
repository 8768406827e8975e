#!/usr/bin/env bash
# Soak: one imagestream-launch relay runs for MINUTES (default 30) with a
# camera at 30 fps and 50 viewers, in back-to-back windows of 60 s (each
# window's 50 viewers connect, watch 60 s and leave, so churn is part of it).
# Per window it records delivery, latency p50/p99/max, and the relay's RSS and
# open file descriptors; a flat RSS and fd column and a p99 that does not
# climb are the result. Not a test: run it by hand, see BENCHMARKS.md.
#   bench/soak.sh [MINUTES] [FRAME]      FRAME: vga (default) or 1080p
set -euo pipefail
source "$(dirname "$0")/lib.sh"

minutes=${1:-30}
window=${SOAK_WINDOW:-60}  # seconds per window (shorter only to try the script)
frame=${2:-vga}
bench_prepare
launcher=$(bench_launcher)
[ -x "$launcher" ] || { bench_log "build the launcher first (ninja -C $BENCH_BUILD_DIR)"; exit 1; }

out="$BENCH_DIR/results/soak-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p "$BENCH_DIR/results"
bench_start imagestream-launch "$out.server.log"
trap 'bench_stop' EXIT
bench_log "relay pid $SERVER_PID; $minutes windows of 60 s; results in $out"

printf '| minute | delivery min | latency p50 / p99 / max ms | RSS MiB | open fds |\n|---|---|---|---|---|\n'
for ((w = 1; w <= minutes; w++)); do
  line=$("${BENCH_LOADGEN_CMD[@]}" "$BENCH_DIR/loadgen" --ingest-port "$SERVER_INGEST_PORT" \
    --ws-port "$SERVER_WS_PORT" --frame "$BENCH_FRAMES/$frame.jpg" --fps 30 --duration "$window" \
    --viewers 50 --server-pid "$SERVER_PID" --system imagestream-launch --scenario "soak-$w")
  fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
  echo "$line" | sed "s/}\$/,\"server_fds\":$fds}/" >>"$out"
  /usr/bin/python3 - "$line" "$w" "$fds" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
print("| %s | %.2f%% | %.2f / %.2f / %.1f | %.1f | %s |" % (
    sys.argv[2], 100 * r["delivery_min"], r["lat_p50_ms"], r["lat_p99_ms"], r["lat_max_ms"],
    r["rss_final_kb"] / 1024, sys.argv[3]))
EOF
done
