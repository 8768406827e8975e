#include "natsframe.h"

#include <cstdlib>
#include <cstring>

namespace imagestream {
namespace natsframe {

namespace {
struct FlagName {
  GstBufferFlags flag;
  const char *name;
};
constexpr FlagName kFlagNames[] = {
    {GST_BUFFER_FLAG_DELTA_UNIT, "delta"},
    {GST_BUFFER_FLAG_HEADER, "header"},
};
}  // namespace

std::string flags_header(GstBufferFlags flags) {
  std::string out;
  for (const FlagName &f : kFlagNames) {
    if (!(flags & f.flag)) continue;
    if (!out.empty()) out += ',';
    out += f.name;
  }
  return out;
}

GstBufferFlags flags_from_header(const char *value) {
  guint flags = 0;
  if (!value) return static_cast<GstBufferFlags>(0);
  g_auto(GStrv) names = g_strsplit(value, ",", -1);
  for (gchar **n = names; *n; n++) {
    g_strstrip(*n);
    for (const FlagName &f : kFlagNames)
      if (strcmp(*n, f.name) == 0) flags |= f.flag;
  }
  return static_cast<GstBufferFlags>(flags);
}

uint64_t number_from_header(const char *value) {
  if (!value || !g_ascii_isdigit(*value)) return 0;
  char *end = nullptr;
  guint64 n = g_ascii_strtoull(value, &end, 10);
  return *end == '\0' ? n : 0;
}

FrameSequence::Verdict FrameSequence::judge(const Arrival &frame) {
  if (frame.answer && frame.time && frame.time <= newest_time_) return {false, 0};
  Verdict v{true, 0};
  if (frame.origin.empty() || frame.sequence == 0) {
    // Not ours to order.
  } else if (frame.origin != origin_) {
    origin_ = frame.origin;
    newest_ = frame.sequence;
  } else if (frame.sequence <= newest_) {
    return {false, 0};
  } else {
    v.skipped = frame.sequence - newest_ - 1;
    newest_ = frame.sequence;
  }
  if (frame.time > newest_time_) newest_time_ = frame.time;
  return v;
}

void FrameSequence::reset() {
  origin_.clear();
  newest_ = newest_time_ = 0;
}

}  // namespace natsframe
}  // namespace imagestream
