#!/usr/bin/env bash
# Builds the FrameParser fuzzer with clang (libFuzzer + ASan + UBSan) and runs
# it from the seed corpus for SECONDS (default 20). Findings are written to
# the build dir and fail the run.
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-20}
out=${2:-$here/../../build/fuzz}
mkdir -p "$out/corpus"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$here/../../plugins" "$here/fuzz_frameparser.cpp" "$here/../../plugins/frameparser.cpp" \
  -o "$out/fuzz-frameparser"
cd "$out"
# New inputs go to the build dir's corpus; the tree's seed corpus is only read.
./fuzz-frameparser -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$out/" corpus "$here/corpus" 2>&1 | grep -E "DONE|stat::|ERROR|SUMMARY|Test unit written" 
# grep ends the pipeline; keep the fuzzer's own status.
exit "${PIPESTATUS[0]}"
