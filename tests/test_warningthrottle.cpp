// WarningThrottle (lengthprefixsrc's rate-limited warnings), without GStreamer.
#include <glib.h>

#include <limits>

#include "warningthrottle.h"

using imagestream::WarningThrottle;

namespace {

constexpr int64_t kSecond = 1000000;

void test_first_warning_passes_and_the_rest_of_the_interval_is_counted() {
  WarningThrottle t(kSecond);
  g_assert_true(t.admit(0));
  g_assert_cmpint(t.due(), ==, std::numeric_limits<int64_t>::max());  // nothing held
  for (int i = 1; i <= 499; i++) g_assert_false(t.admit(i * 1000));
  g_assert_cmpint(t.due(), ==, kSecond);
  g_assert_cmpuint(t.take_due(kSecond - 1), ==, 0);  // not due yet
  g_assert_cmpuint(t.take_due(kSecond), ==, 499);
  g_assert_cmpint(t.due(), ==, std::numeric_limits<int64_t>::max());
}

void test_a_sustained_flood_gives_one_line_per_interval() {
  WarningThrottle t(kSecond);
  int lines = 0;
  uint64_t counted = 0;
  // 10,000 warnings over 10 s, the summaries taken when due as the element does.
  for (int i = 0; i < 10000; i++) {
    const int64_t now = int64_t{i} * 1000;
    if (uint64_t n = t.take_due(now)) {
      lines++;
      counted += n;
    }
    if (t.admit(now)) {
      lines++;
      counted++;
    }
  }
  if (uint64_t n = t.take_due(t.due())) {
    lines++;
    counted += n;
  }
  g_assert_cmpuint(counted, ==, 10000);
  g_assert_cmpint(lines, <=, 11);
}

void test_after_a_quiet_interval_a_warning_passes_at_once() {
  WarningThrottle t(kSecond);
  g_assert_true(t.admit(0));
  g_assert_true(t.admit(kSecond));
  g_assert_false(t.admit(kSecond + 1));
  g_assert_cmpuint(t.take_due(2 * kSecond), ==, 1);
  // The summary line starts an interval of its own.
  g_assert_false(t.admit(2 * kSecond + 1));
  g_assert_cmpuint(t.take_due(3 * kSecond), ==, 1);
  g_assert_true(t.admit(5 * kSecond));
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/warningthrottle/first-warning-passes-and-the-rest-of-the-interval-is-counted",
                  test_first_warning_passes_and_the_rest_of_the_interval_is_counted);
  g_test_add_func("/warningthrottle/a-sustained-flood-gives-one-line-per-interval",
                  test_a_sustained_flood_gives_one_line_per_interval);
  g_test_add_func("/warningthrottle/after-a-quiet-interval-a-warning-passes-at-once",
                  test_after_a_quiet_interval_a_warning_passes_at_once);
  return g_test_run();
}
