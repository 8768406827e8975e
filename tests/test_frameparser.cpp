// FrameParser and PrefixFormat, without sockets or GStreamer.
#include <glib.h>

#include <cstring>
#include <vector>

#include "frameparser.h"

using imagestream::ByteOrder;
using imagestream::FrameParser;
using imagestream::PrefixFormat;
using Bytes = std::vector<uint8_t>;

namespace {

// Collects frames into vectors, as an element collects them into buffers.
struct Collector : FrameParser::Receiver {
  std::vector<Bytes> frames;
  Bytes current;
  int empty = 0;
  int begun = 0;
  void frame_begin(uint64_t size) override {
    begun++;
    current.assign(size, 0xAA);
  }
  uint8_t *frame_room(uint64_t offset, uint64_t *room) override {
    *room = current.size() - offset;
    return current.data() + offset;
  }
  void frame_complete() override { frames.push_back(current); }
  void frame_empty() override { empty++; }
};

Bytes encode(const PrefixFormat &f, const std::vector<Bytes> &frames) {
  Bytes out;
  for (const Bytes &p : frames) {
    uint8_t h[8];
    g_assert_true(f.encode(p.size(), h));
    out.insert(out.end(), h, h + f.width);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

Bytes payload(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; i++) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

void test_each_width_and_order_round_trips_and_refuses_lengths_it_cannot_hold() {
  for (unsigned w : {2u, 4u, 8u}) {
    for (ByteOrder o : {ByteOrder::BigEndian, ByteOrder::LittleEndian}) {
      PrefixFormat f{w, o};
      for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256}, uint64_t{65535}, f.max_length()}) {
        uint8_t h[8];
        g_assert_true(f.encode(v, h));
        g_assert_cmpuint(f.decode(h), ==, v);
      }
      if (w < 8) {
        uint8_t h[8];
        g_assert_false(f.encode(f.max_length() + 1, h));
      }
    }
  }
  // The seed's struct.pack('>Q', 0x0102) is 00 00 00 00 00 00 01 02.
  uint8_t h[8];
  PrefixFormat{}.encode(0x0102, h);
  const uint8_t expected[8] = {0, 0, 0, 0, 0, 0, 1, 2};
  g_assert_cmpmem(h, 8, expected, 8);
  PrefixFormat{4, ByteOrder::LittleEndian}.encode(0x0102, h);
  const uint8_t expected_le[4] = {2, 1, 0, 0};
  g_assert_cmpmem(h, 4, expected_le, 4);
}

void test_stream_split_at_any_byte_yields_the_same_frames() {
  for (unsigned w : {2u, 4u, 8u}) {
    PrefixFormat f{w, ByteOrder::BigEndian};
    std::vector<Bytes> frames = {payload(5, 1), payload(1, 2), payload(300, 3)};
    Bytes stream = encode(f, frames);
    // Two pieces, cut at every position.
    for (size_t cut = 0; cut <= stream.size(); cut++) {
      Collector c;
      FrameParser p(f, 1000);
      p.feed(stream.data(), cut, c);
      p.feed(stream.data() + cut, stream.size() - cut, c);
      g_assert_cmpuint(c.frames.size(), ==, frames.size());
      for (size_t i = 0; i < frames.size(); i++) g_assert_true(c.frames[i] == frames[i]);
      g_assert_false(p.mid_frame());
    }
    // One byte at a time.
    Collector c;
    FrameParser p(f, 1000);
    for (uint8_t byte : stream) g_assert_true(p.feed(&byte, 1, c) == FrameParser::Status::Ok);
    g_assert_true(c.frames == frames);
  }
}

void test_many_frames_in_one_read_all_come_out_in_order() {
  PrefixFormat f;
  std::vector<Bytes> frames;
  for (int i = 0; i < 500; i++) frames.push_back(payload(1 + i % 37, static_cast<uint8_t>(i)));
  Bytes stream = encode(f, frames);
  Collector c;
  FrameParser p(f, 1 << 20);
  g_assert_true(p.feed(stream.data(), stream.size(), c) == FrameParser::Status::Ok);
  g_assert_true(c.frames == frames);
}

void test_zero_length_frame_is_skipped() {
  PrefixFormat f;
  std::vector<Bytes> frames = {payload(3, 1), Bytes{}, payload(4, 2)};
  Bytes stream = encode(f, frames);
  Collector c;
  FrameParser p(f, 100);
  p.feed(stream.data(), stream.size(), c);
  g_assert_cmpint(c.empty, ==, 1);
  g_assert_cmpuint(c.frames.size(), ==, 2);
  g_assert_true(c.frames[0] == frames[0]);
  g_assert_true(c.frames[1] == frames[2]);
}

void test_length_over_the_limit_is_refused_before_any_payload_memory_and_stays_refused() {
  PrefixFormat f;
  // Exactly the limit passes.
  {
    Bytes stream = encode(f, {payload(100, 1)});
    Collector c;
    FrameParser p(f, 100);
    g_assert_true(p.feed(stream.data(), stream.size(), c) == FrameParser::Status::Ok);
    g_assert_cmpuint(c.frames.size(), ==, 1);
  }
  // One above is refused before any payload memory is asked for, and the
  // parser stays refused.
  {
    Bytes stream = encode(f, {payload(3, 1), payload(101, 1)});
    Collector c;
    FrameParser p(f, 100);
    g_assert_true(p.feed(stream.data(), stream.size(), c) == FrameParser::Status::Oversized);
    g_assert_cmpuint(p.announced_size(), ==, 101);
    g_assert_cmpint(c.begun, ==, 1);
    g_assert_cmpuint(c.frames.size(), ==, 1);
    g_assert_true(p.feed(stream.data(), 1, c) == FrameParser::Status::Oversized);
  }
  // The largest 8-byte length does not wrap around anything.
  {
    Bytes stream(8, 0xFF);
    Collector c;
    FrameParser p(f, 64 << 20);
    g_assert_true(p.feed(stream.data(), stream.size(), c) == FrameParser::Status::Oversized);
    g_assert_cmpuint(p.announced_size(), ==, UINT64_MAX);
    g_assert_cmpint(c.begun, ==, 0);
  }
}

void test_mid_frame_holds_from_the_first_header_byte_until_the_frame_completes() {
  PrefixFormat f{4, ByteOrder::BigEndian};
  Bytes stream = encode(f, {payload(10, 1)});
  Collector c;
  FrameParser p(f, 100);
  g_assert_false(p.mid_frame());
  p.feed(stream.data(), 2, c);  // half a header
  g_assert_true(p.mid_frame());
  p.feed(stream.data() + 2, 3, c);  // rest of the header and one payload byte
  g_assert_true(p.mid_frame());
  g_assert_cmpuint(p.payload_missing(), ==, 9);
  p.feed(stream.data() + 5, stream.size() - 5, c);
  g_assert_false(p.mid_frame());
  g_assert_cmpuint(c.frames.size(), ==, 1);
}

void test_payload_written_straight_to_the_cursor_completes_the_frame() {
  PrefixFormat f;
  Bytes body = payload(1000, 9);
  Bytes stream = encode(f, {body, payload(2, 3)});
  Collector c;
  FrameParser p(f, 5000);
  p.feed(stream.data(), 8 + 10, c);  // header + 10 payload bytes through feed()
  g_assert_cmpuint(p.payload_missing(), ==, 990);
  // The rest written straight to the cursor, in two pieces, as recv() would.
  uint64_t room = 0;
  std::memcpy(p.payload_room(c, &room), stream.data() + 18, 500);
  g_assert_cmpuint(room, ==, 990);
  p.payload_written(500, c);
  std::memcpy(p.payload_room(c, &room), stream.data() + 518, 490);
  g_assert_cmpuint(room, ==, 490);
  p.payload_written(490, c);
  g_assert_cmpuint(c.frames.size(), ==, 1);
  g_assert_true(c.frames[0] == body);
  g_assert_cmpuint(p.payload_missing(), ==, 0);
  p.feed(stream.data() + 1008, stream.size() - 1008, c);
  g_assert_cmpuint(c.frames.size(), ==, 2);
}

void test_random_bytes_never_overrun_nor_yield_an_empty_frame() {
  // Whatever arrives, the parser writes only inside what frame_room gave it
  // (the collector's vector, checked by ASan in the sanitizer build).
  uint32_t x = 12345;
  for (int round = 0; round < 200; round++) {
    Bytes junk(4096);
    for (auto &b : junk) {
      x = x * 1103515245 + 12345;
      b = static_cast<uint8_t>(x >> 16);
    }
    // Small lengths make it through sometimes: prefix width 2.
    PrefixFormat f{2, ByteOrder::BigEndian};
    Collector c;
    FrameParser p(f, 70000);
    size_t off = 0;
    while (off < junk.size()) {
      size_t n = std::min<size_t>(junk.size() - off, 1 + (x >> 20) % 700);
      if (p.feed(junk.data() + off, n, c) != FrameParser::Status::Ok) break;
      off += n;
    }
    for (const Bytes &fr : c.frames) g_assert_cmpuint(fr.size(), >, 0);
  }
}

// Hands out room a few bytes at a time, as lengthprefixsrc grows a frame's
// memory with the bytes that arrive.
struct PiecewiseCollector : Collector {
  std::vector<uint64_t> asked;
  uint8_t *frame_room(uint64_t offset, uint64_t *room) override {
    asked.push_back(offset);
    *room = std::min<uint64_t>(7, current.size() - offset);
    return current.data() + offset;
  }
};

void test_room_handed_out_in_pieces_is_filled_in_order_and_yields_the_same_frames() {
  PrefixFormat f;
  std::vector<Bytes> frames = {payload(20, 1), payload(1, 2), payload(15, 3)};
  Bytes stream = encode(f, frames);
  PiecewiseCollector c;
  FrameParser p(f, 100);
  g_assert_true(p.feed(stream.data(), stream.size(), c) == FrameParser::Status::Ok);
  g_assert_true(c.frames == frames);
  // Each piece is asked for where the last one ended: 0, 7, 14 of the first
  // frame, 0 of the second, 0, 7, 14 of the third.
  g_assert_true((c.asked == std::vector<uint64_t>{0, 7, 14, 0, 0, 7, 14}));
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/frameparser/each-width-and-order-round-trips-and-refuses-lengths-it-cannot-hold",
                  test_each_width_and_order_round_trips_and_refuses_lengths_it_cannot_hold);
  g_test_add_func("/frameparser/stream-split-at-any-byte-yields-the-same-frames",
                  test_stream_split_at_any_byte_yields_the_same_frames);
  g_test_add_func("/frameparser/many-frames-in-one-read-all-come-out-in-order",
                  test_many_frames_in_one_read_all_come_out_in_order);
  g_test_add_func("/frameparser/zero-length-frame-is-skipped", test_zero_length_frame_is_skipped);
  g_test_add_func("/frameparser/length-over-the-limit-is-refused-before-any-payload-memory-and-stays-refused",
                  test_length_over_the_limit_is_refused_before_any_payload_memory_and_stays_refused);
  g_test_add_func("/frameparser/mid-frame-holds-from-the-first-header-byte-until-the-frame-completes",
                  test_mid_frame_holds_from_the_first_header_byte_until_the_frame_completes);
  g_test_add_func("/frameparser/payload-written-straight-to-the-cursor-completes-the-frame",
                  test_payload_written_straight_to_the_cursor_completes_the_frame);
  g_test_add_func("/frameparser/random-bytes-never-overrun-nor-yield-an-empty-frame",
                  test_random_bytes_never_overrun_nor_yield_an_empty_frame);
  g_test_add_func("/frameparser/room-handed-out-in-pieces-is-filled-in-order-and-yields-the-same-frames",
                  test_room_handed_out_in_pieces_is_filled_in_order_and_yields_the_same_frames);
  return g_test_run();
}
