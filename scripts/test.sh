#!/usr/bin/env bash
# The README's test command: set up, build, and run every test suite three
# ways: a normal build, a build with AddressSanitizer and UBSan, and the
# element tests under valgrind (definite leaks fail).
#   scripts/test.sh          everything (what CI runs)
#   scripts/test.sh --quick  the normal build only
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1

passed=0
failed=0
status=0
# run NAME LOG meson-test-args...: runs one meson test invocation and adds its
# counts from the log meson writes.
run() {
  local log=$1
  shift
  meson test --print-errorlogs "$@" || status=1
  local ok fail
  ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  fail=$(sed -n 's/^\(Fail\|Timeout\): *\([0-9]*\).*/\2/p' "$log" | paste -sd+ | bc)
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0}))
}

[ -f build/build.ninja ] || meson setup build || exit 1
ninja -C build || exit 1
run build/meson-logs/testlog.txt -C build

if [ "${1:-}" != "--quick" ]; then
  [ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined || exit 1
  ninja -C build-asan || exit 1
  # GStreamer and GLib keep global allocations for the process's life; leaks
  # are valgrind's job below. The fuzz suite is already sanitized.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run build-asan/meson-logs/testlog.txt -C build-asan --no-suite fuzz --no-suite bench
  run build/meson-logs/testlog-valgrind.txt -C build --setup valgrind --suite unit --suite elements
fi

# One closing line that any CI reader understands (meson tests, all runs).
echo "tests: ${passed} passed, ${failed} failed"
exit $status
