// Encoded video (VP8, VP9, H.264, AV1) as websocketsink sends it to
// browsers, so that a WebCodecs VideoDecoder (or any client) can play it.
// No sockets, no GStreamer, no libsoup.
//
// The wire format of a video stream (JPEG and other streams send each frame
// as one bare binary message, as before):
//   - a text message, JSON, with the decoder configuration, before the first
//     frame and again whenever it changes (new caps, a new size):
//       {"type":"config","codec":"vp8","codedWidth":1280,"codedHeight":720,
//        "framerate":30,"sequence":N}
//     `codec` is the WebCodecs codec string; "sequence" is that of the first
//     frame that needs it. No "description": H.264 comes as Annex B byte-stream
//     with SPS and PPS before each key frame.
//   - a text message {"type":"catchup","frames":N} when a viewer joins
//     mid-stream: the next N frames are the newest key frame and the deltas
//     since, sent at once so that the viewer has a picture at once; decode
//     them all, and show the key frame as soon as it is decoded (a first
//     picture, up to a key interval old) and then the last (live again).
//   - one binary message per frame: a 14-byte header, then the frame:
//       byte 0      1 (a video frame)
//       byte 1      flags: bit 0 = key frame
//       bytes 2-5   sequence number, big-endian, +1 per frame the stream
//                   gets: a gap means frames this viewer was not sent
//       bytes 6-13  when the frame reached the relay, microseconds since the
//                   Unix epoch, big-endian
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace imagestream {

enum class VideoCodec { None, Vp8, Vp9, H264, Av1 };

// The codec of a caps media type ("video/x-vp8", ...); None when it is not
// encoded video websocketsink knows. H.264 must be stream-format=byte-stream,
// alignment=au (`h264_byte_stream_au`).
VideoCodec codec_of_media_type(const std::string &media_type, bool h264_byte_stream_au);
const char *codec_name(VideoCodec codec);

struct VideoFormat {
  VideoCodec codec = VideoCodec::None;
  int width = 0;
  int height = 0;
  double framerate = 0;
  std::string codec_string;  // WebCodecs: "vp8", "vp09.00.41.08", "avc1.64001f", "av01.0.08M.08"
};

// The WebCodecs codec string of an H.264 access unit (Annex B) from its SPS:
// "avc1.PPCCLL" (profile, constraint flags, level), or "" without an SPS.
std::string h264_codec_string(const uint8_t *au, size_t size);

// The codec string when the bitstream does not tell it (all but H.264).
std::string default_codec_string(VideoCodec codec);

std::string config_message(const VideoFormat &format, uint32_t sequence);
std::string catchup_message(size_t frames);

constexpr size_t kVideoHeaderSize = 14;
void encode_video_header(uint8_t out[kVideoHeaderSize], bool key, uint32_t sequence, int64_t time_us);

}  // namespace imagestream
