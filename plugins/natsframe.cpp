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

uint64_t sequence_from_header(const char *value) {
  if (!value || !g_ascii_isdigit(*value)) return 0;
  char *end = nullptr;
  guint64 n = g_ascii_strtoull(value, &end, 10);
  return *end == '\0' ? n : 0;
}

FrameSequence::Verdict FrameSequence::judge(const std::string &origin, uint64_t sequence) {
  if (origin.empty() || sequence == 0) return {true, 0};
  if (origin != origin_) {
    origin_ = origin;
    newest_ = sequence;
    return {true, 0};
  }
  if (sequence <= newest_) return {false, 0};
  uint64_t skipped = sequence - newest_ - 1;
  newest_ = sequence;
  return {true, skipped};
}

void FrameSequence::reset() {
  origin_.clear();
  newest_ = 0;
}

}  // namespace natsframe
}  // namespace imagestream
