# Shared by run.sh and smoke.sh: building the bench programs, making the test
# frames, and starting/stopping each relay under test. Source it; it sets
# nothing but variables prefixed BENCH_ / SERVER_ and the functions below.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_DIR/.." && pwd)
# Build directory whose plugins/ holds libgstimagestream.so (and launcher/).
BENCH_BUILD_DIR=${IMAGESTREAM_BUILD_DIR:-${IMAGESTREAM_BUILD_ROOT:-$BENCH_ROOT/build}}
BENCH_FRAMES=${BENCH_FRAMES:-$BENCH_DIR/frames}
BENCH_PYTHON=/usr/bin/python3  # Debian's python, which has python3-tornado
# Every server gets fresh ports, so that no run waits for the previous one's sockets.
BENCH_NEXT_PORT=${BENCH_PORT_BASE:-17100}
# On 2+ cores the server runs on CPU 0 and loadgen on CPU 1 (BENCH_PIN=0 to
# turn off): unpinned, the fan-out's wake-ups let the two preempt each other,
# and runs split into a fast mode and one with p99 ten times higher.
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  BENCH_SERVER_CPU=0
  BENCH_LOADGEN_CMD=(taskset -c 1)
else
  BENCH_SERVER_CPU=
  BENCH_LOADGEN_CMD=()
fi
# A registry of our own: a stale ~/.cache registry must not hide a rebuilt plugin.
export GST_REGISTRY_1_0=${GST_REGISTRY_1_0:-/tmp/imagestream-bench-registry.bin}

bench_log() { echo "bench: $*" >&2; }

# Builds loadgen and floor_relay, installs ws, and makes the two JPEG frames.
bench_prepare() {
  make -s -C "$BENCH_DIR" >&2 || return 1
  if [ ! -d "$BENCH_DIR/node_modules/ws" ]; then
    (cd "$BENCH_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
  fi
  mkdir -p "$BENCH_FRAMES"
  # About 9.5 KB and 180 KB: the sizes the design notes were measured with.
  [ -s "$BENCH_FRAMES/vga.jpg" ] || gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=ball \
    ! video/x-raw,width=640,height=480 ! jpegenc quality=85 ! filesink location="$BENCH_FRAMES/vga.jpg" || return 1
  [ -s "$BENCH_FRAMES/1080p.jpg" ] || gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=smpte \
    ! video/x-raw,width=1920,height=1080 ! jpegenc quality=90 ! filesink location="$BENCH_FRAMES/1080p.jpg" || return 1
  # 1000 viewers need about 1000 descriptors in the server as well.
  ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

bench_websocketsink_built() {
  GST_PLUGIN_PATH=$BENCH_BUILD_DIR/plugins gst-inspect-1.0 websocketsink >/dev/null 2>&1
}

bench_launcher() { echo "$BENCH_BUILD_DIR/launcher/imagestream-launch"; }

# The systems this machine can run; imagestream-launch only once it is built.
bench_systems() {
  echo floor node python imagestream
  [ -x "$(bench_launcher)" ] && echo imagestream-launch
}

# BENCH_WEBSOCKETSINK_PROPS: extra websocketsink properties for the
# imagestream system, for experiments (e.g. "max-queued-frames=64").

# bench_start SYSTEM: starts it on two fresh ports, sets SERVER_PID,
# SERVER_INGEST_PORT and SERVER_WS_PORT, and waits until both ports listen.
# The started process is the server itself (no wrapper shell), so that
# /proc/SERVER_PID measures the relay and nothing else.
bench_start() {
  local system=$1 log=${2:-/dev/null}
  SERVER_INGEST_PORT=$BENCH_NEXT_PORT
  SERVER_WS_PORT=$((BENCH_NEXT_PORT + 1))
  BENCH_NEXT_PORT=$((BENCH_NEXT_PORT + 2))
  local p=$SERVER_INGEST_PORT w=$SERVER_WS_PORT
  case $system in
    floor) "$BENCH_DIR/floor_relay" "$p" "$w" /camera 2>>"$log" & ;;
    node) node "$BENCH_DIR/node_relay.mjs" "$p" "$w" camera 2>>"$log" & ;;
    python) "$BENCH_PYTHON" "$BENCH_DIR/python_relay.py" "$p" "$w" camera 2>>"$log" & ;;
    imagestream)
      GST_PLUGIN_PATH=$BENCH_BUILD_DIR/plugins gst-launch-1.0 -q \
        lengthprefixsrc host=127.0.0.1 port="$p" ! websocketsink host=127.0.0.1 port="$w" path=/camera \
        ${BENCH_WEBSOCKETSINK_PROPS:-} >>"$log" 2>&1 & ;;
    imagestream-launch)
      GST_PLUGIN_PATH=$BENCH_BUILD_DIR/plugins "$(bench_launcher)" --ingest-host 127.0.0.1 --web-host 127.0.0.1 \
        "$p" "$w" camera --status-interval 0 >>"$log" 2>&1 & ;;
    *) bench_log "unknown system $system"; return 1 ;;
  esac
  SERVER_PID=$!
  local i
  for i in $(seq 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      bench_log "$system exited at start (log: $log)"
      return 1
    fi
    if [ -n "$(ss -Hltn "sport = :$p")" ] && [ -n "$(ss -Hltn "sport = :$w")" ]; then
      # Every thread it has; threads started later inherit the affinity.
      [ -n "$BENCH_SERVER_CPU" ] && taskset -a -p -c "$BENCH_SERVER_CPU" "$SERVER_PID" >/dev/null
      return 0
    fi
    sleep 0.1
  done
  bench_log "$system did not listen on $p and $w within 10 s"
  bench_stop
  return 1
}

# Stops the server started by bench_start (only that pid).
bench_stop() {
  [ -n "${SERVER_PID:-}" ] || return 0
  kill "$SERVER_PID" 2>/dev/null
  local i
  for i in $(seq 30); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}

# bench_load SYSTEM SCENARIO [loadgen options...]: one fresh server, one
# loadgen run; prints loadgen's JSON line (nothing when the server failed).
bench_load() {
  local system=$1 scenario=$2 log=${BENCH_LOG:-/dev/null}
  shift 2
  bench_start "$system" "$log" || return 1
  "${BENCH_LOADGEN_CMD[@]}" "$BENCH_DIR/loadgen" --ingest-port "$SERVER_INGEST_PORT" --ws-port "$SERVER_WS_PORT" --path /camera \
    --server-pid "$SERVER_PID" --system "$system" --scenario "$scenario" "$@" 2>>"$log"
  local rc=$?
  bench_stop
  return $rc
}
