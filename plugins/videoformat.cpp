#include "videoformat.h"

#include <charconv>
#include <cstdio>

namespace imagestream {

VideoCodec codec_of_media_type(const std::string &media_type, bool h264_byte_stream_au) {
  if (media_type == "video/x-vp8") return VideoCodec::Vp8;
  if (media_type == "video/x-vp9") return VideoCodec::Vp9;
  if (media_type == "video/x-av1") return VideoCodec::Av1;
  if (media_type == "video/x-h264" && h264_byte_stream_au) return VideoCodec::H264;
  return VideoCodec::None;
}

const char *codec_name(VideoCodec codec) {
  switch (codec) {
    case VideoCodec::Vp8:
      return "VP8";
    case VideoCodec::Vp9:
      return "VP9";
    case VideoCodec::H264:
      return "H.264";
    case VideoCodec::Av1:
      return "AV1";
    case VideoCodec::None:
      break;
  }
  return "none";
}

std::string h264_codec_string(const uint8_t *au, size_t size) {
  // NAL units follow 00 00 01 start codes; an SPS (type 7) begins with
  // profile_idc, the constraint flags and level_idc.
  for (size_t i = 0; i + 6 < size; i++) {
    if (au[i] != 0 || au[i + 1] != 0 || au[i + 2] != 1) continue;
    if ((au[i + 3] & 0x1F) != 7) continue;
    char text[16];
    snprintf(text, sizeof text, "avc1.%02x%02x%02x", au[i + 4], au[i + 5], au[i + 6]);
    return text;
  }
  return "";
}

std::string default_codec_string(VideoCodec codec) {
  switch (codec) {
    case VideoCodec::Vp8:
      return "vp8";
    case VideoCodec::Vp9:
      return "vp09.00.41.08";  // profile 0, level 4.1 (up to 1080p60), 8 bits
    case VideoCodec::Av1:
      return "av01.0.08M.08";  // main profile, level 4.0, 8 bits
    case VideoCodec::H264:
      return "avc1.42e01f";  // constrained baseline 3.1, until an SPS tells
    case VideoCodec::None:
      break;
  }
  return "";
}

std::string config_message(const VideoFormat &f, uint32_t sequence) {
  char rate[32];
  auto r = std::to_chars(rate, rate + sizeof rate, f.framerate, std::chars_format::fixed, 3);
  return "{\"type\":\"config\",\"codec\":\"" + f.codec_string + "\",\"codedWidth\":" + std::to_string(f.width) +
         ",\"codedHeight\":" + std::to_string(f.height) + ",\"framerate\":" + std::string(rate, r.ptr) +
         ",\"sequence\":" + std::to_string(sequence) + "}";
}

std::string catchup_message(size_t frames) {
  return "{\"type\":\"catchup\",\"frames\":" + std::to_string(frames) + "}";
}

void encode_video_header(uint8_t out[kVideoHeaderSize], bool key, uint32_t sequence, int64_t time_us) {
  out[0] = 1;
  out[1] = key ? 1 : 0;
  for (int i = 0; i < 4; i++) out[2 + i] = static_cast<uint8_t>(sequence >> (24 - 8 * i));
  const uint64_t t = static_cast<uint64_t>(time_us);
  for (int i = 0; i < 8; i++) out[6 + i] = static_cast<uint8_t>(t >> (56 - 8 * i));
}

}  // namespace imagestream
