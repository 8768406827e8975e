#include "statsformat.h"

#include <charconv>
#include <ctime>

namespace imagestream {

const char *kind_name(ViewerKind kind) { return kind == ViewerKind::Mjpeg ? "mjpeg" : "websocket"; }

namespace {

std::string json_string(const std::string &text) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// A rate as JSON and Prometheus want it, whatever the locale: "29.97".
std::string rate_text(double value) {
  char text[32];
  auto r = std::to_chars(text, text + sizeof text, value, std::chars_format::fixed, 2);
  return std::string(text, r.ptr);
}

std::string iso8601(int64_t real_time_us) {
  const time_t seconds = static_cast<time_t>(real_time_us / 1000000);
  struct tm t;
  char text[32];
  if (!gmtime_r(&seconds, &t) || !strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &t)) return "";
  return text;
}

}  // namespace

std::string stats_json(const StreamFigures &f) {
  const Totals t = f.total();
  std::string out = "{\"totals\":{\"viewers\":" + std::to_string(f.num_viewers());
  for (size_t k = 0; k < kViewerKinds; k++)
    out += ",\"" + std::string(kind_name(static_cast<ViewerKind>(k))) + "_viewers\":" + std::to_string(f.viewers[k]);
  out += ",\"frames_in\":" + std::to_string(f.frames_in) + ",\"fps_in\":" + rate_text(f.fps_in) +
         ",\"frames_sent\":" + std::to_string(t.frames_sent) + ",\"frames_dropped\":" +
         std::to_string(t.frames_dropped) + ",\"bytes_sent\":" + std::to_string(t.bytes_sent) +
         ",\"viewers_total\":" + std::to_string(f.viewers_total) +
         ",\"viewers_refused\":" + std::to_string(f.viewers_refused) + "},\"camera\":{\"connected\":" +
         (f.senders < 0 ? "null" : f.senders > 0 ? "true" : "false") +
         ",\"senders\":" + (f.senders < 0 ? "null" : std::to_string(f.senders)) +
         ",\"last_frame_age_s\":" + (f.last_frame_age_s < 0 ? "null" : rate_text(f.last_frame_age_s)) +
         "},\"viewers\":[";
  for (size_t i = 0; i < f.each.size(); i++) {
    const ViewerFigures &v = f.each[i];
    out += std::string(i ? "," : "") + "{\"kind\":" + json_string(kind_name(v.kind)) +
           ",\"address\":" + json_string(v.address) + ",\"connected_since\":" +
           json_string(iso8601(v.connect_time_us)) + ",\"frames_sent\":" + std::to_string(v.totals.frames_sent) +
           ",\"frames_dropped\":" + std::to_string(v.totals.frames_dropped) + ",\"fps\":" + rate_text(v.fps) +
           ",\"bytes_sent\":" + std::to_string(v.totals.bytes_sent) + ",\"queued\":" + std::to_string(v.queued) +
           ",\"tls\":" + (v.tls ? "true" : "false") + "}";
  }
  return out + "]}\n";
}

// Per-kind aggregates, and one series per connected viewer (bounded by max-viewers).
std::string stats_metrics(const StreamFigures &f) {
  std::string out;
  auto family = [&out](const char *name, const char *type, const char *help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&out](const char *name, const std::string &labels, const std::string &value) {
    out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
  };
  auto kind_label = [](size_t k) { return "kind=\"" + std::string(kind_name(static_cast<ViewerKind>(k))) + "\""; };
  // Addresses are "host:port"; label values still get escaped as the format requires.
  auto viewer_labels = [](const ViewerFigures &v) {
    std::string address;
    for (char c : v.address) {
      if (c == '\\' || c == '"' || c == '\n') address += '\\';
      address += c == '\n' ? 'n' : c;
    }
    return "kind=\"" + std::string(kind_name(v.kind)) + "\",address=\"" + address + "\"";
  };

  family("imagestream_frames_in_total", "counter", "Frames that reached the sink.");
  sample("imagestream_frames_in_total", "", std::to_string(f.frames_in));
  family("imagestream_frames_in_per_second", "gauge", "Frames in per second over the last second.");
  sample("imagestream_frames_in_per_second", "", rate_text(f.fps_in));
  if (f.senders >= 0) {
    family("imagestream_camera_connected", "gauge", "1 while a camera is connected to the source upstream, else 0.");
    sample("imagestream_camera_connected", "", f.senders > 0 ? "1" : "0");
    family("imagestream_camera_senders", "gauge", "Senders connected to the source upstream.");
    sample("imagestream_camera_senders", "", std::to_string(f.senders));
  }
  if (f.last_frame_age_s >= 0) {
    family("imagestream_last_frame_age_seconds", "gauge", "Seconds since the newest frame reached the sink.");
    sample("imagestream_last_frame_age_seconds", "", rate_text(f.last_frame_age_s));
  }
  family("imagestream_viewers", "gauge", "Viewers connected now, by kind.");
  for (size_t k = 0; k < kViewerKinds; k++) sample("imagestream_viewers", kind_label(k), std::to_string(f.viewers[k]));
  family("imagestream_viewers_connected_total", "counter", "Viewers that connected since the stream started.");
  sample("imagestream_viewers_connected_total", "", std::to_string(f.viewers_total));
  family("imagestream_viewers_refused_total", "counter", "Viewers refused (origin, max-viewers, stopping).");
  sample("imagestream_viewers_refused_total", "", std::to_string(f.viewers_refused));
  const struct {
    const char *name;
    const char *help;
    uint64_t Totals::*field;
  } totals[] = {
      {"imagestream_frames_sent_total", "Frames written to viewers, by kind.", &Totals::frames_sent},
      {"imagestream_frames_dropped_total", "Frames skipped for viewers that fell behind, by kind.",
       &Totals::frames_dropped},
      {"imagestream_bytes_sent_total", "Bytes written to viewers, framing included, by kind.", &Totals::bytes_sent},
  };
  for (const auto &m : totals) {
    family(m.name, "counter", m.help);
    for (size_t k = 0; k < kViewerKinds; k++) sample(m.name, kind_label(k), std::to_string(f.by_kind[k].*m.field));
  }

  const struct {
    const char *name;
    const char *type;
    const char *help;
    std::string (*value)(const ViewerFigures &);
  } per_viewer[] = {
      {"imagestream_viewer_frames_sent_total", "counter", "Frames written to this viewer.",
       [](const ViewerFigures &v) { return std::to_string(v.totals.frames_sent); }},
      {"imagestream_viewer_frames_dropped_total", "counter", "Frames this viewer skipped.",
       [](const ViewerFigures &v) { return std::to_string(v.totals.frames_dropped); }},
      {"imagestream_viewer_bytes_sent_total", "counter", "Bytes written to this viewer.",
       [](const ViewerFigures &v) { return std::to_string(v.totals.bytes_sent); }},
      {"imagestream_viewer_frames_per_second", "gauge", "Frames sent to this viewer per second, last second.",
       [](const ViewerFigures &v) { return rate_text(v.fps); }},
      {"imagestream_viewer_queued_messages", "gauge", "Messages held for this viewer, the one being written included.",
       [](const ViewerFigures &v) { return std::to_string(v.queued); }},
      {"imagestream_viewer_connected_since_seconds", "gauge", "Unix time this viewer connected.",
       [](const ViewerFigures &v) { return std::to_string(v.connect_time_us / 1000000); }},
  };
  for (const auto &m : per_viewer) {
    family(m.name, m.type, m.help);
    for (const auto &v : f.each) sample(m.name, viewer_labels(v), m.value(v));
  }
  return out;
}

}  // namespace imagestream
