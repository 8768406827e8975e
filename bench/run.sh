#!/bin/bash
# Runs every scenario against every relay, each started fresh, and writes the
# table to BENCHMARKS.md at the top of the tree.
#
#   bench/run.sh                          # all systems, all scenarios (~12 min)
#   IMAGESTREAM_BUILD_DIR=/path/to/build bench/run.sh
#   BENCH_SYSTEMS="floor imagestream" BENCH_SCENARIOS="a b f" bench/run.sh
#
# The machine has 2 shared cores: absolute numbers drift from run to run, so
# every conclusion is a ratio between systems measured in the same run. Each
# short scenario runs BENCH_REPEAT times (default 3), the systems in a rotated
# order every round, so that a burst of outside load lands on one run of one
# system rather than on all of its runs; report.py takes medians.
set -u
. "$(dirname "$0")/lib.sh"

bench_prepare || exit 1
systems=${BENCH_SYSTEMS:-$(bench_systems | tr '\n' ' ')}
scenarios=${BENCH_SCENARIOS:-a b c d e f g}
mkdir -p "$BENCH_DIR/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$BENCH_DIR/results/$stamp.jsonl
export BENCH_LOG=$BENCH_DIR/results/$stamp.log
: >"$results"
vga=$BENCH_FRAMES/vga.jpg
hd=$BENCH_FRAMES/1080p.jpg

if [[ " $systems " == *" imagestream "* ]] && ! bench_websocketsink_built; then
  bench_log "websocketsink is not in $BENCH_BUILD_DIR/plugins: imagestream rows will say so"
fi

# scenario name -> loadgen options (frame, viewers, rate, duration).
scenario_args() {
  case $1 in
    a) echo "--frame $vga --viewers 10 --fps 3000 --duration 3" ;;
    b) echo "--frame $hd --viewers 10 --fps 300 --duration 3" ;;
    c) echo "--frame $hd --viewers 100 --fps 30 --duration 4" ;;
    d) echo "--frame $vga --viewers 1000 --fps 30 --duration 4" ;;
    e) echo "--frame $hd --viewers 10 --stuck 2 --fps 60 --duration 30" ;;
    f) echo "--frame $vga --viewers 1 --fps 30 --duration 6" ;;
  esac
}

run_one() {  # system scenario loadgen-options...
  local system=$1 scenario=$2 line
  shift 2
  if [[ $system == imagestream* ]] && ! bench_websocketsink_built; then
    echo "{\"system\":\"$system\",\"scenario\":\"$scenario\",\"error\":\"websocketsink not built\"}" >>"$results"
    return 1
  fi
  # Not in $( ): bench_load must run in this shell to advance the port counter.
  bench_load "$system" "$scenario" "$@" >"$BENCH_DIR/results/last.json"
  line=$(cat "$BENCH_DIR/results/last.json")
  if [ -z "$line" ]; then
    line="{\"system\":\"$system\",\"scenario\":\"$scenario\",\"error\":\"server did not start or loadgen failed\"}"
  fi
  echo "$line" >>"$results"
  bench_log "$line"
  LAST_LINE=$line
}

# (g): the highest rate (2 s per step) at which all 10 viewers get >= 99.9% of the frames
# with p99 < 50 ms and the sender achieved the offered rate (a server that
# throttles its ingest through TCP back-pressure does not keep up either).
passes() {
  "$BENCH_PYTHON" -c '
import json, sys
r = json.loads(sys.argv[1])
ok = ("error" not in r and r["achieved_fps"] >= 0.99 * r["offered_fps"]
      and r["viewers_999"] == r["viewers"] and r["lat_p99_ms"] < 50)
sys.exit(0 if ok else 1)' "$1"
}

# One step of the search; a failure counts only when a second try fails too,
# so that one burst of outside load does not end a search.
try_rate() {
  local system=$1 rate=$2 attempt
  for attempt in 1 2; do
    run_one "$system" g-step --frame "$vga" --viewers 10 --fps "$rate" --duration 2 || return 2
    passes "$LAST_LINE" && return 0
  done
  return 1
}

search_rate() {
  local system=$1 lo=0 hi=0 rate=1000 i rc
  # Double until it fails (or 64000/s), then bisect three times.
  while :; do
    try_rate "$system" "$rate"
    rc=$?
    [ $rc -eq 2 ] && break
    if [ $rc -eq 0 ]; then
      lo=$rate
      [ "$rate" -ge 64000 ] && break
      rate=$((rate * 2))
    else
      hi=$rate
      break
    fi
  done
  if [ "$lo" -eq 0 ] && [ "$hi" -gt 0 ]; then
    # Even 1000/s failed: halve until something passes.
    rate=$((hi / 2))
    while [ "$rate" -ge 30 ]; do
      try_rate "$system" "$rate"
      rc=$?
      [ $rc -eq 2 ] && break
      if [ $rc -eq 0 ]; then lo=$rate; break; fi
      hi=$rate
      rate=$((rate / 2))
    done
  fi
  if [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ]; then
    for i in 1 2 3; do
      rate=$(((lo + hi) / 2))
      try_rate "$system" "$rate"
      rc=$?
      [ $rc -eq 2 ] && break
      if [ $rc -eq 0 ]; then lo=$rate; else hi=$rate; fi
    done
  fi
  echo "{\"system\":\"$system\",\"scenario\":\"g\",\"max_fps\":$lo,\"first_failing_fps\":$hi}" >>"$results"
  bench_log "$system: highest passing rate $lo/s (first failing $hi/s)"
}

repeats=${BENCH_REPEAT:-3}
read -r -a system_list <<<"$systems"
n_systems=${#system_list[@]}
started=$(date -u '+%Y-%m-%d %H:%M UTC')
for scenario in $scenarios; do
  if [ "$scenario" = g ]; then
    for system in "${system_list[@]}"; do
      bench_log "scenario g, $system"
      if [[ $system == imagestream* ]] && ! bench_websocketsink_built; then
        run_one "$system" g
      else
        search_rate "$system"
      fi
    done
    continue
  fi
  # (e) lasts 30 s: once is enough, and it is about memory, not timing.
  rounds=$repeats
  [ "$scenario" = e ] && rounds=1
  for ((round = 0; round < rounds; round++)); do
    for ((i = 0; i < n_systems; i++)); do
      system=${system_list[$(((i + round) % n_systems))]}
      bench_log "scenario $scenario, $system, run $((round + 1))/$rounds"
      # shellcheck disable=SC2046  # the options are words on purpose
      run_one "$system" "$scenario" $(scenario_args "$scenario")
    done
  done
done

"$BENCH_PYTHON" "$BENCH_DIR/report.py" "$results" --started "$started" --server-cpu "$BENCH_SERVER_CPU" \
  --command "${IMAGESTREAM_BUILD_DIR:+IMAGESTREAM_BUILD_DIR=$IMAGESTREAM_BUILD_DIR }${BENCH_SYSTEMS:+BENCH_SYSTEMS=\"$BENCH_SYSTEMS\" }${BENCH_SCENARIOS:+BENCH_SCENARIOS=\"$BENCH_SCENARIOS\" }${BENCH_REPEAT:+BENCH_REPEAT=$BENCH_REPEAT }bench/run.sh" \
  >"$BENCH_ROOT/BENCHMARKS.md.new" || exit 1
# The hand-measured sections (ingest, soak, viewer fps) below the marker stay.
marker='<!-- measured by hand: bench/run.sh keeps everything below this line -->'
if [ -f "$BENCH_ROOT/BENCHMARKS.md" ] && grep -qF "$marker" "$BENCH_ROOT/BENCHMARKS.md"; then
  { echo; sed -n "\|$marker|,\$p" "$BENCH_ROOT/BENCHMARKS.md"; } >>"$BENCH_ROOT/BENCHMARKS.md.new"
fi
mv "$BENCH_ROOT/BENCHMARKS.md.new" "$BENCH_ROOT/BENCHMARKS.md"
bench_log "wrote $BENCH_ROOT/BENCHMARKS.md from $results"
