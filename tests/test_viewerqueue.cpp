// ViewerQueue (per-viewer delivery policy) and the WebSocket framing helpers,
// without sockets or GStreamer.
#include <glib.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "clientframe.h"
#include "viewerqueue.h"
#include "wsframe.h"

using imagestream::DeliveryLimits;
using imagestream::Span;
using imagestream::ViewerQueue;
using imagestream::WireMessage;
using imagestream::WireMessageRef;
namespace ws = imagestream::ws;
using testutil::client_frame;
using Bytes = std::vector<uint8_t>;

namespace {

// A message whose payload is `n` copies of `tag`, header "H<tag>".
struct TestMessage : WireMessage {
  TestMessage(uint8_t tag, size_t n) : head{'H', tag}, body(n, tag) {
    header = head;
    header_size = 2;
    payload = body.data();
    payload_size = body.size();
  }
  uint8_t head[2];
  Bytes body;
};

WireMessageRef message(uint8_t tag, size_t n = 4) { return std::make_shared<TestMessage>(tag, n); }

// A frame that arrived at `arrival_ms` of stream time; a delta frame when `delta`.
WireMessageRef frame_at(uint8_t tag, int64_t arrival_ms, bool delta = false) {
  auto m = std::make_shared<TestMessage>(tag, 4);
  m->arrival_us = arrival_ms * 1000;
  m->delta = delta;
  return m;
}

DeliveryLimits frames(size_t n) { return {n, 0, 0}; }

// Writes everything the queue has, at most `chunk` bytes per write; returns the bytes.
Bytes drain(ViewerQueue &q, size_t chunk = SIZE_MAX) {
  Bytes out;
  Span spans[imagestream::kMaxSpans];
  while (int n = q.next(spans)) {
    size_t budget = chunk, wrote = 0;
    for (int i = 0; i < n && budget; i++) {
      size_t take = std::min(budget, spans[i].size);
      out.insert(out.end(), spans[i].data, spans[i].data + take);
      budget -= take;
      wrote += take;
    }
    q.written(wrote);
  }
  return out;
}

// The tags of the messages in `wire` (each "H<tag>" + payload of 4 bytes).
std::string tags(const Bytes &wire, size_t payload = 4) {
  std::string t;
  for (size_t i = 0; i + 2 + payload <= wire.size(); i += 2 + payload) t += static_cast<char>(wire[i + 1]);
  return t;
}

void expect_tags(const Bytes &wire, const std::string &want) {
  const std::string got = tags(wire);
  if (got != want) g_error("messages \"%s\", expected \"%s\"", got.c_str(), want.c_str());
}

void test_delivers_in_order_when_viewer_keeps_up() {
  ViewerQueue q(frames(2));
  for (char c : std::string("abcdef")) {
    g_assert_cmpuint(q.push_frame(message(c)), ==, 0);
    expect_tags(drain(q), std::string(1, c));
  }
  g_assert_cmpuint(q.frames_sent(), ==, 6);
  g_assert_cmpuint(q.frames_dropped(), ==, 0);
  g_assert_cmpuint(q.bytes_sent(), ==, 6 * 6);
  g_assert_true(q.empty());
}

void test_newest_frame_wins_when_viewer_falls_behind() {
  ViewerQueue q(frames(2));
  size_t dropped = 0;
  for (char c : std::string("abcdefg")) dropped += q.push_frame(message(c));
  g_assert_cmpuint(dropped, ==, 5);
  g_assert_cmpuint(q.frames_dropped(), ==, 5);
  g_assert_cmpuint(q.waiting_frames(), ==, 2);
  expect_tags(drain(q), "fg");
}

void test_never_cuts_the_message_being_written() {
  ViewerQueue q(frames(1));
  q.push_frame(message('a'));
  Span spans[imagestream::kMaxSpans];
  g_assert_cmpint(q.next(spans), ==, 2);
  q.written(3);  // header and one payload byte of 'a'
  // Far behind: everything waiting is replaced, but 'a' is finished first.
  for (char c : std::string("bcde")) q.push_frame(message(c));
  g_assert_cmpuint(q.held_messages(), ==, 2);
  Bytes rest = drain(q, 1);
  Bytes expected = {'a', 'a', 'a', 'H', 'e', 'e', 'e', 'e', 'e'};
  g_assert_true(rest == expected);
  g_assert_cmpuint(q.frames_sent(), ==, 2);
  g_assert_cmpuint(q.frames_dropped(), ==, 3);
}

void test_memory_bounded_and_dropped_frames_released_whatever_the_viewer_does() {
  ViewerQueue q(frames(3));
  std::weak_ptr<const WireMessage> first;
  for (int i = 0; i < 10000; i++) {
    auto m = message('x', 100);
    if (i == 0) first = m;
    q.push_frame(m);
    g_assert_cmpuint(q.held_messages(), <=, 3);
  }
  // A dropped frame is released, not just hidden.
  g_assert_true(first.expired());
  g_assert_cmpuint(q.frames_dropped(), ==, 10000 - 3);
}

void test_control_frames_go_between_messages_and_only_the_newest_pong_waits() {
  ViewerQueue q(frames(4));
  q.push_frame(message('a'));
  q.push_frame(message('b'));
  Span spans[imagestream::kMaxSpans];
  q.next(spans);
  q.written(1);  // 'a' in flight
  q.push_control(message('P'));
  Bytes rest = drain(q);
  g_assert_cmpuint(rest.size(), ==, 5 + 6 + 6);
  g_assert_true(Bytes(rest.begin(), rest.begin() + 5) == Bytes(5, 'a'));
  expect_tags(Bytes(rest.begin() + 5, rest.end()), "Pb");
  g_assert_cmpuint(q.frames_sent(), ==, 2);  // the control frame is not a frame
  // Pings without reading: only the newest pong waits.
  for (int i = 0; i < 1000; i++) q.push_control(message('0' + i % 10));
  g_assert_cmpuint(q.held_messages(), ==, 1);
  expect_tags(drain(q), "9");
}

void test_headers_first_and_never_dropped() {
  ViewerQueue q(frames(1));
  q.push_header(message('h'));
  q.push_header(message('i'));
  q.push_frame(message('a'));
  q.push_frame(message('b'));
  expect_tags(drain(q), "hib");
}

void test_close_drops_waiting_and_goes_last() {
  ViewerQueue q(frames(4));
  q.push_frame(message('a'));
  q.push_frame(message('b'));
  Span spans[imagestream::kMaxSpans];
  q.next(spans);
  q.written(2);  // 'a' in flight
  q.close(message('C'));
  g_assert_true(q.closing());
  g_assert_cmpuint(q.push_frame(message('z')), ==, 0);
  q.push_control(message('P'));
  g_assert_false(q.close_written());
  Bytes expected = {'a', 'a', 'a', 'a', 'H', 'C', 'C', 'C', 'C', 'C'};
  g_assert_true(drain(q) == expected);
  g_assert_true(q.close_written());
  g_assert_cmpuint(q.frames_dropped(), ==, 1);
}

// Bytes waiting (header and payload: 6 per message here) past the limit drop
// the oldest; a frame bigger than the whole allowance still goes.
void test_byte_limit_drops_oldest_and_keeps_the_newest() {
  ViewerQueue q({0, 13, 0});
  for (char c : std::string("abcde")) q.push_frame(message(c));
  g_assert_cmpuint(q.waiting_bytes(), ==, 12);
  expect_tags(drain(q), "de");
  g_assert_cmpuint(q.frames_dropped(), ==, 3);
  q.push_frame(message('x', 100));
  g_assert_cmpuint(q.waiting_frames(), ==, 1);
  g_assert_cmpuint(drain(q).size(), ==, 102);
}

// The time limit is stream time: from the oldest waiting frame's arrival to
// the newest's, not the time the queue was asked.
void test_time_limit_spans_oldest_to_newest_arrival() {
  ViewerQueue q({0, 0, 15 * 1000});
  q.push_frame(frame_at('a', 0));
  q.push_frame(frame_at('b', 10));
  q.push_frame(frame_at('c', 20));
  q.push_frame(frame_at('d', 30));
  expect_tags(drain(q), "cd");
  g_assert_cmpuint(q.frames_dropped(), ==, 2);
}

// Without limits every frame waits, in order: the ring grows as needed.
void test_without_limits_keeps_every_frame_in_order() {
  ViewerQueue q({0, 0, 0});
  std::string all;
  for (int i = 0; i < 300; i++) {
    all += static_cast<char>('A' + i % 26);
    q.push_frame(message(all.back()));
  }
  expect_tags(drain(q), all);
  g_assert_cmpuint(q.frames_dropped(), ==, 0);
}

// Encoded video: a dropped frame takes the deltas that need it along, and
// deltas arriving after are dropped until a key frame; the viewer never gets
// a delta whose reference it did not get. (Upper case: key frames.)
void test_never_sends_a_delta_after_a_dropped_frame() {
  ViewerQueue q(frames(3));
  q.push_frame(frame_at('A', 0));
  q.push_frame(frame_at('b', 1, true));
  q.push_frame(frame_at('c', 2, true));
  q.push_frame(frame_at('d', 3, true));  // 4 waiting: A goes, and b, c, d with it
  g_assert_cmpuint(q.waiting_frames(), ==, 0);
  g_assert_cmpuint(q.push_frame(frame_at('e', 4, true)), ==, 1);
  q.push_frame(frame_at('F', 5));
  q.push_frame(frame_at('g', 6, true));
  expect_tags(drain(q), "Fg");
  g_assert_cmpuint(q.frames_dropped(), ==, 5);
  // Caught up again: deltas flow.
  q.push_frame(frame_at('h', 7, true));
  expect_tags(drain(q), "h");
}

// In a stream with delta frames a key frame replaces the frames waiting: the
// newest group of pictures wins, and latency drops back at once.
void test_key_frame_replaces_the_waiting_frames_of_a_video_stream() {
  ViewerQueue q(frames(4));
  Span spans[imagestream::kMaxSpans];
  q.push_frame(frame_at('A', 0));
  q.next(spans);  // A in flight; key frames replace waiting frames only
  q.written(1);   // in a stream already known to have deltas
  q.push_frame(frame_at('b', 1, true));
  q.push_frame(frame_at('c', 2, true));
  q.push_frame(frame_at('D', 3));  // replaces b and c: the newest group of pictures wins
  q.push_frame(frame_at('e', 4, true));
  const Bytes wire = drain(q);
  expect_tags(Bytes(wire.begin() + 5, wire.end()), "De");
  g_assert_cmpuint(q.frames_dropped(), ==, 2);
}

// The time without progress is the queue's too: blocked writes start it,
// any byte written ends it.
void test_stalls_only_without_progress() {
  ViewerQueue q(frames(2));
  q.push_frame(message('a'));
  g_assert_false(q.stalled(1000, 10));
  q.blocked(1000);
  q.blocked(1005);  // the first blocked write counts
  g_assert_false(q.stalled(1010, 10));
  g_assert_true(q.stalled(1011, 10));
  Span spans[imagestream::kMaxSpans];
  q.next(spans);
  q.written(1);
  g_assert_false(q.stalled(5000, 10));
}

// --- framing ---

// Everything waiting goes out in one write: next() gathers the messages in
// delivery order (the pong first, after the message being written), and a
// write that ends mid-message resumes there.
void test_next_gathers_the_waiting_messages_for_one_write() {
  ViewerQueue q(frames(0));
  for (char c : std::string("abc")) q.push_frame(message(c));
  q.push_control(message('P'));
  Span spans[imagestream::kMaxSpans];
  const int n = q.next(spans);
  g_assert_cmpint(n, ==, 8);  // header and payload of P, a, b, c
  size_t total = 0;
  for (int i = 0; i < n; i++) total += spans[i].size;
  g_assert_cmpuint(total, ==, 4 * 6);
  q.written(6 + 6 + 3);  // P, a, and half of b
  g_assert_cmpuint(q.frames_sent(), ==, 1);
  Bytes rest = drain(q);
  g_assert_true(Bytes(rest.begin(), rest.begin() + 3) == Bytes(3, 'b'));
  expect_tags(Bytes(rest.begin() + 3, rest.end()), "c");
  g_assert_cmpuint(q.frames_sent(), ==, 3);
  // No more spans than the caller has room for.
  for (int i = 0; i < 40; i++) q.push_frame(message('x'));
  g_assert_cmpint(q.next(spans, 5), <=, 5);
  g_assert_cmpint(q.next(spans), ==, imagestream::kMaxSpans);
}

// Frames that come faster than the write interval wait for it; the first
// after a pause is due at once.
void test_write_interval_holds_frames_that_come_faster() {
  ViewerQueue q(frames(0));
  q.set_write_interval(1000);
  g_assert_true(q.write_due(5));
  q.writing(5);
  g_assert_false(q.write_due(500));
  g_assert_cmpint(q.next_write_us(), ==, 1005);
  g_assert_true(q.write_due(1005));
  ViewerQueue at_once(frames(0));
  at_once.writing(5);
  g_assert_true(at_once.write_due(5));
}

// A new decoder configuration: the frames waiting were encoded for the old
// one, so they go; the configuration goes next, then only from a key frame on.
void test_config_drops_the_waiting_frames_and_waits_for_a_key_frame() {
  ViewerQueue q(frames(0));
  q.push_frame(frame_at('A', 0));
  q.push_frame(frame_at('b', 1, true));
  q.push_config(message('C'));
  q.push_frame(frame_at('d', 2, true));
  q.push_frame(frame_at('E', 3));
  q.push_frame(frame_at('f', 4, true));
  expect_tags(drain(q), "CEf");
  g_assert_cmpuint(q.frames_dropped(), ==, 3);
}

void test_header_is_2_4_or_10_bytes_at_each_length_boundary() {
  uint8_t h[ws::kMaxServerHeader];
  g_assert_cmpuint(ws::encode_header(h, ws::kBinary, 0), ==, 2);
  g_assert_cmpuint(h[0], ==, 0x82);
  g_assert_cmpuint(h[1], ==, 0);
  g_assert_cmpuint(ws::encode_header(h, ws::kBinary, 125), ==, 2);
  g_assert_cmpuint(h[1], ==, 125);
  g_assert_cmpuint(ws::encode_header(h, ws::kBinary, 126), ==, 4);
  g_assert_cmpuint(h[1], ==, 126);
  g_assert_cmpuint((h[2] << 8) | h[3], ==, 126);
  g_assert_cmpuint(ws::encode_header(h, ws::kBinary, 65535), ==, 4);
  g_assert_cmpuint((h[2] << 8) | h[3], ==, 65535);
  g_assert_cmpuint(ws::encode_header(h, ws::kBinary, 65536), ==, 10);
  g_assert_cmpuint(h[1], ==, 127);
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n = (n << 8) | h[2 + i];
  g_assert_cmpuint(n, ==, 65536);
  ws::encode_header(h, ws::kBinary, 0x123456789ULL);
  n = 0;
  for (int i = 0; i < 8; i++) n = (n << 8) | h[2 + i];
  g_assert_cmpuint(n, ==, 0x123456789ULL);
}

void test_close_frame_carries_code_and_reason_cut_to_fit_125_bytes() {
  Bytes f = ws::close_frame(1001, "bye");
  Bytes expected = {0x88, 5, 0x03, 0xE9, 'b', 'y', 'e'};
  g_assert_true(f == expected);
  g_assert_cmpuint(ws::close_frame(1000, std::string(300, 'x')).size(), ==, 2 + 125);
}

struct Events : ws::ClientFrameReader::Receiver {
  std::vector<Bytes> pings;
  std::vector<std::pair<uint16_t, std::string>> closes;
  std::vector<std::pair<int, uint64_t>> messages;
  int pongs = 0;
  void ping(const uint8_t *p, size_t n) override { pings.emplace_back(p, p + n); }
  void pong() override { pongs++; }
  void close(uint16_t code, const std::string &reason) override { closes.emplace_back(code, reason); }
  void message(ws::Opcode op, uint64_t size) override { messages.emplace_back(op, size); }
};

void test_reader_unmasks_control_frames_in_any_split() {
  Bytes stream;
  for (const Bytes &f : {client_frame(0x89, {'p', 'i', 'n', 'g'}), client_frame(0x82, Bytes(70000, 7)),
                         client_frame(0x8A, {}), client_frame(0x88, {0x03, 0xE8, 'o', 'k'})})
    stream.insert(stream.end(), f.begin(), f.end());
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}, stream.size()}) {
    ws::ClientFrameReader reader(100000);
    Events e;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      size_t n = std::min(chunk, stream.size() - i);
      g_assert_true(reader.feed(stream.data() + i, n, e) == ws::ClientFrameReader::Status::Ok);
    }
    g_assert_cmpuint(e.pings.size(), ==, 1);
    g_assert_true(e.pings[0] == (Bytes{'p', 'i', 'n', 'g'}));
    g_assert_cmpuint(e.messages.size(), ==, 1);
    g_assert_cmpuint(e.messages[0].second, ==, 70000);
    g_assert_cmpint(e.pongs, ==, 1);
    g_assert_cmpuint(e.closes.size(), ==, 1);
    g_assert_cmpuint(e.closes[0].first, ==, 1000);
    g_assert_cmpstr(e.closes[0].second.c_str(), ==, "ok");
  }
}

void test_reader_fragmented_message_measured_whole_with_ping_inside() {
  Bytes stream;
  for (const Bytes &f : {client_frame(0x01, Bytes(10, 'a')), client_frame(0x89, {}), client_frame(0x00, Bytes(20, 'b')),
                         client_frame(0x80, Bytes(5, 'c'))})
    stream.insert(stream.end(), f.begin(), f.end());
  ws::ClientFrameReader reader(64);
  Events e;
  g_assert_true(reader.feed(stream.data(), stream.size(), e) == ws::ClientFrameReader::Status::Ok);
  g_assert_cmpuint(e.pings.size(), ==, 1);
  g_assert_cmpuint(e.messages.size(), ==, 1);
  g_assert_cmpint(e.messages[0].first, ==, ws::kText);
  g_assert_cmpuint(e.messages[0].second, ==, 35);
}

void test_reader_refuses_oversized_message_even_fragmented() {
  ws::ClientFrameReader reader(100);
  Events e;
  Bytes a = client_frame(0x02, Bytes(60, 1)), b = client_frame(0x80, Bytes(60, 1));
  g_assert_true(reader.feed(a.data(), a.size(), e) == ws::ClientFrameReader::Status::Ok);
  g_assert_true(reader.feed(b.data(), b.size(), e) == ws::ClientFrameReader::Status::TooBig);
  // Refused from the header on: a 2^62-byte announcement is not waited for.
  ws::ClientFrameReader reader2(100);
  Bytes huge = {0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  g_assert_true(reader2.feed(huge.data(), huge.size(), e) == ws::ClientFrameReader::Status::TooBig);
}

void test_reader_reports_each_protocol_error_and_stays_broken() {
  const std::vector<Bytes> bad = {
      client_frame(0x82, {1, 2}, false),  // unmasked
      client_frame(0xC2, {1}),            // RSV1 without an extension
      client_frame(0x83, {1}),            // reserved opcode
      client_frame(0x09, {}),             // fragmented ping
      client_frame(0x89, Bytes(126, 0)),  // control frame > 125
      client_frame(0x80, {1}),            // continuation without a start
      client_frame(0x88, {3}),            // close with a 1-byte payload
  };
  for (const Bytes &f : bad) {
    ws::ClientFrameReader reader(1000);
    Events e;
    g_assert_true(reader.feed(f.data(), f.size(), e) == ws::ClientFrameReader::Status::ProtocolError);
    // And it stays broken.
    Bytes ok = client_frame(0x89, {});
    g_assert_true(reader.feed(ok.data(), ok.size(), e) == ws::ClientFrameReader::Status::ProtocolError);
    g_assert_cmpuint(e.pings.size(), ==, 0);
  }
  ws::ClientFrameReader reader(1000);
  Events e;
  Bytes two_starts = client_frame(0x02, {1});
  Bytes second = client_frame(0x82, {1});
  two_starts.insert(two_starts.end(), second.begin(), second.end());
  g_assert_true(reader.feed(two_starts.data(), two_starts.size(), e) == ws::ClientFrameReader::Status::ProtocolError);
}

void test_reader_close_without_code_is_1005() {
  ws::ClientFrameReader reader(1000);
  Events e;
  Bytes f = client_frame(0x88, {});
  reader.feed(f.data(), f.size(), e);
  g_assert_cmpuint(e.closes.size(), ==, 1);
  g_assert_cmpuint(e.closes[0].first, ==, 1005);
}

uint32_t next_random(uint32_t &x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

// Arbitrary bytes never crash the reader nor make it report what was not sent
// (a control payload over 125 bytes, a message over the limit).
void test_reader_survives_random_bytes_reporting_nothing_over_its_limits() {
  uint32_t x = 12345;
  for (int round = 0; round < 2000; round++) {
    Bytes junk(2 + next_random(x) % 300);
    for (auto &b : junk) b = static_cast<uint8_t>(next_random(x));
    if (round % 2) junk[1] |= 0x80;  // masked, so that the header is parsed further
    ws::ClientFrameReader reader(200);
    Events e;
    size_t at = 0;
    while (at < junk.size()) {
      size_t n = std::min<size_t>(1 + next_random(x) % 40, junk.size() - at);
      if (reader.feed(junk.data() + at, n, e) != ws::ClientFrameReader::Status::Ok) break;
      at += n;
    }
    for (auto &p : e.pings) g_assert_cmpuint(p.size(), <=, 125);
    for (auto &m : e.messages) g_assert_cmpuint(m.second, <=, 200);
  }
}

// --- UTF-8 in text messages and close reasons (RFC 6455 8.1, 5.5.1) ---

// The frames of one text message: `text` in a frame of its own, or split at
// byte `cut` into a first frame and a final continuation.
Bytes text_message_frames(const Bytes &text, size_t cut = SIZE_MAX) {
  if (cut >= text.size()) return client_frame(0x81, text);
  Bytes first = client_frame(0x01, Bytes(text.begin(), text.begin() + cut));
  const Bytes last = client_frame(0x80, Bytes(text.begin() + cut, text.end()));
  first.insert(first.end(), last.begin(), last.end());
  return first;
}

// Feeds `stream` in two calls split at `split`; returns the status of the last one.
ws::ClientFrameReader::Status feed_split(ws::ClientFrameReader &reader, const Bytes &stream, size_t split,
                                         Events &e) {
  auto status = reader.feed(stream.data(), split, e);
  if (status != ws::ClientFrameReader::Status::Ok || split == stream.size()) return status;
  return reader.feed(stream.data() + split, stream.size() - split, e);
}

Bytes utf8(const char *text) { return Bytes(text, text + strlen(text)); }

// Every code point at an encoding boundary (U+7F/80, 7FF/800, D7FF/E000,
// FFFF/10000, 10FFFF) and each sequence length, cut between two fragments at
// every byte and fed in two pieces split at every byte.
void test_reader_accepts_utf8_text_cut_at_every_byte_of_fragments_and_feeds() {
  const Bytes text = utf8("a\x7f\xc2\x80\xc3\xa9\xdf\xbf\xe0\xa0\x80\xe2\x82\xac\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
                          "\xf0\x90\x80\x80\xf0\x9d\x84\x9e\xf4\x8f\xbf\xbfz");
  for (size_t cut = 0; cut <= text.size(); cut++) {
    const Bytes stream = text_message_frames(text, cut);
    for (size_t split = 0; split <= stream.size(); split++) {
      ws::ClientFrameReader reader(1000);
      Events e;
      if (feed_split(reader, stream, split, e) != ws::ClientFrameReader::Status::Ok)
        g_error("valid text refused (fragment cut at %zu, feed split at %zu)", cut, split);
      g_assert_cmpuint(e.messages.size(), ==, 1);
      g_assert_cmpint(e.messages[0].first, ==, ws::kText);
      g_assert_cmpuint(e.messages[0].second, ==, text.size());
    }
  }
}

// Overlong forms, surrogates, code points past U+10FFFF, bytes that never
// occur, lone continuation bytes and sequences broken off by another byte:
// refused as soon as the bad byte arrives (before the message ends), however
// the message is fragmented and fed.
void test_reader_fails_invalid_utf8_text_at_the_first_bad_byte() {
  struct Case {
    const char *bytes;
    size_t bad_at;  // index of the first byte that cannot continue a valid text
  };
  const Case cases[] = {
      {"\xc0\x80", 0},         {"\xc1\xbf", 0},         {"\xe0\x80\x80", 1},     {"\xe0\x9f\xbf", 1},
      {"\xf0\x80\x80\x80", 1}, {"\xf0\x8f\xbf\xbf", 1}, {"\xed\xa0\x80", 1},     {"\xed\xbf\xbf", 1},
      {"\xf4\x90\x80\x80", 1}, {"\xf5\x80\x80\x80", 0}, {"\xf8\x88\x80\x80", 0}, {"\xfe", 0},
      {"\xff", 0},             {"\x80", 0},             {"\xbf", 0},             {"\xc2\x41", 1},
      {"\xe2\x82\x41", 2},     {"\xf0\x9f\x98\x41", 3}, {"\xe2\xc2\xa9", 1},
  };
  for (const Case &c : cases) {
    const Bytes bad = utf8(c.bytes);
    Bytes text = utf8("ok ");
    const size_t bad_at = text.size() + c.bad_at;
    text.insert(text.end(), bad.begin(), bad.end());
    const Bytes tail = utf8(" ok");
    text.insert(text.end(), tail.begin(), tail.end());
    for (size_t cut = 0; cut <= text.size(); cut++) {
      const Bytes stream = text_message_frames(text, cut);
      for (size_t split = 0; split <= stream.size(); split++) {
        ws::ClientFrameReader reader(1000);
        Events e;
        if (feed_split(reader, stream, split, e) != ws::ClientFrameReader::Status::InvalidUtf8)
          g_error("invalid text %s not refused (fragment cut at %zu, feed split at %zu)", c.bytes, cut, split);
        g_assert_cmpuint(e.messages.size(), ==, 0);
      }
    }
    // Fail fast: the message's bytes up to the bad one are enough.
    const Bytes single = client_frame(0x81, text);
    const size_t header = single.size() - text.size();
    ws::ClientFrameReader before(1000), at(1000);
    Events e;
    g_assert_true(before.feed(single.data(), header + bad_at, e) == ws::ClientFrameReader::Status::Ok);
    g_assert_true(at.feed(single.data(), header + bad_at + 1, e) == ws::ClientFrameReader::Status::InvalidUtf8);
  }
}

// A text message whose last frame ends inside a sequence is refused at its
// end, and only there: until then the sequence may still be completed.
void test_reader_fails_text_that_ends_inside_a_sequence() {
  for (const char *end : {"\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xf4\x8f\xbf"}) {
    Bytes text = utf8("abc");
    const Bytes cut_off = utf8(end);
    text.insert(text.end(), cut_off.begin(), cut_off.end());
    for (size_t cut = 0; cut <= text.size(); cut++) {
      const Bytes stream = text_message_frames(text, cut);
      for (size_t split = 0; split <= stream.size(); split++) {
        ws::ClientFrameReader reader(1000);
        Events e;
        g_assert_true(feed_split(reader, stream, split, e) == ws::ClientFrameReader::Status::InvalidUtf8);
        g_assert_cmpuint(e.messages.size(), ==, 0);
      }
      ws::ClientFrameReader reader(1000);
      Events e;
      g_assert_true(reader.feed(stream.data(), stream.size() - 1, e) == ws::ClientFrameReader::Status::Ok);
    }
  }
}

// Binary messages are bytes: nothing about them is checked but their size.
void test_reader_does_not_check_binary_messages_for_utf8() {
  const Bytes stream = text_message_frames(utf8("\xff\xc0\x80\xed\xa0\x80"));
  Bytes binary = stream;
  binary[0] = 0x82;
  ws::ClientFrameReader reader(1000);
  Events e;
  g_assert_true(reader.feed(binary.data(), binary.size(), e) == ws::ClientFrameReader::Status::Ok);
  g_assert_cmpuint(e.messages.size(), ==, 1);
}

// A close frame's reason is UTF-8 (else 1007), and its code one that may be
// sent (else 1002): 1005, 1006 and 1015 on the wire are not "no code", which
// only a close frame without payload means.
void test_reader_close_reason_must_be_utf8_and_its_code_sendable() {
  auto close_of = [](uint16_t code, const char *reason) {
    Bytes payload = {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code)};
    const Bytes r = utf8(reason);
    payload.insert(payload.end(), r.begin(), r.end());
    return client_frame(0x88, payload);
  };
  struct Case {
    Bytes frame;
    ws::ClientFrameReader::Status status;
    uint16_t code;  // reported to the receiver when Ok
  };
  const Case cases[] = {
      {client_frame(0x88, {}), ws::ClientFrameReader::Status::Ok, 1005},
      {close_of(1000, ""), ws::ClientFrameReader::Status::Ok, 1000},
      {close_of(1001, "caf\xc3\xa9 \xf0\x9f\x93\xb7"), ws::ClientFrameReader::Status::Ok, 1001},
      {close_of(4000, "app"), ws::ClientFrameReader::Status::Ok, 4000},
      {close_of(1000, "\xc3"), ws::ClientFrameReader::Status::InvalidUtf8, 0},
      {close_of(1000, "bad \xed\xa0\x80"), ws::ClientFrameReader::Status::InvalidUtf8, 0},
      {close_of(1000, "\xff"), ws::ClientFrameReader::Status::InvalidUtf8, 0},
      {close_of(1005, ""), ws::ClientFrameReader::Status::ProtocolError, 0},
      {close_of(1006, ""), ws::ClientFrameReader::Status::ProtocolError, 0},
      {close_of(1015, ""), ws::ClientFrameReader::Status::ProtocolError, 0},
      {close_of(1004, ""), ws::ClientFrameReader::Status::ProtocolError, 0},
      {close_of(999, ""), ws::ClientFrameReader::Status::ProtocolError, 0},
      {close_of(0, ""), ws::ClientFrameReader::Status::ProtocolError, 0},
      {close_of(5000, ""), ws::ClientFrameReader::Status::ProtocolError, 0},
  };
  for (const Case &c : cases) {
    for (size_t split = 0; split <= c.frame.size(); split++) {
      ws::ClientFrameReader reader(1000);
      Events e;
      g_assert_true(feed_split(reader, c.frame, split, e) == c.status);
      g_assert_cmpuint(e.closes.size(), ==, c.status == ws::ClientFrameReader::Status::Ok ? 1 : 0);
      if (!e.closes.empty()) g_assert_cmpuint(e.closes[0].first, ==, c.code);
    }
  }
}

// Against GLib's validator on random text (no NUL: GLib stops there), fed
// in random pieces: the same verdict every time.
void test_utf8_validator_agrees_with_glib_on_random_bytes_in_random_pieces() {
  uint32_t x = 4242;
  const uint8_t alphabet[] = {'a',  0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
                              0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
  int valid = 0;
  for (int round = 0; round < 20000; round++) {
    Bytes text(1 + next_random(x) % 12);
    for (auto &b : text) b = alphabet[next_random(x) % sizeof alphabet];
    const bool expected =
        g_utf8_validate_len(reinterpret_cast<const char *>(text.data()), text.size(), nullptr);
    ws::Utf8Validator v;
    bool ok = true;
    for (size_t at = 0; at < text.size() && ok;) {
      const size_t n = std::min<size_t>(1 + next_random(x) % 4, text.size() - at);
      ok = v.feed(text.data() + at, n);
      at += n;
    }
    ok = ok && v.complete();
    if (ok != expected) {
      g_autofree char *hex = g_strdup("");
      for (uint8_t b : text) {
        char *more = g_strdup_printf("%s %02x", hex, b);
        g_free(hex);
        hex = more;
      }
      g_error("bytes%s: validator says %d, GLib %d", hex, ok, expected);
    }
    valid += ok;
  }
  g_assert_cmpint(valid, >, 100);  // both verdicts were tried
  g_assert_cmpint(valid, <, 19900);
}

// With a part trailer (MJPEG), frames go out as their payload and the
// trailer, without their WebSocket header, whole and in order whatever the
// writes take; control messages go as they are.
void test_part_trailer_follows_each_frame_payload() {
  static const char trailer[] = "|T|";
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{4}, size_t{7}, SIZE_MAX}) {
    ViewerQueue q(frames(2));
    q.set_part_trailer(reinterpret_cast<const uint8_t *>(trailer), 3);
    q.push_control(std::make_shared<imagestream::OwnedMessage>(std::string("<first>")));
    q.push_frame(message('a', 5));
    q.push_frame(message('b', 5));
    const Bytes wire = drain(q, chunk);
    const std::string text(wire.begin(), wire.end());
    g_assert_cmpstr(text.c_str(), ==, "<first>aaaaa|T|bbbbb|T|");
    g_assert_cmpuint(q.frames_sent(), ==, 2);
    g_assert_cmpuint(q.bytes_sent(), ==, wire.size());
    g_assert_true(q.empty());
  }
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/viewerqueue/delivers-in-order-when-viewer-keeps-up", test_delivers_in_order_when_viewer_keeps_up);
  g_test_add_func("/viewerqueue/newest-frame-wins-when-viewer-falls-behind",
                  test_newest_frame_wins_when_viewer_falls_behind);
  g_test_add_func("/viewerqueue/never-cuts-the-message-being-written", test_never_cuts_the_message_being_written);
  g_test_add_func("/viewerqueue/memory-bounded-and-dropped-frames-released-whatever-the-viewer-does",
                  test_memory_bounded_and_dropped_frames_released_whatever_the_viewer_does);
  g_test_add_func("/viewerqueue/control-frames-go-between-messages-and-only-the-newest-pong-waits",
                  test_control_frames_go_between_messages_and_only_the_newest_pong_waits);
  g_test_add_func("/viewerqueue/headers-first-and-never-dropped", test_headers_first_and_never_dropped);
  g_test_add_func("/viewerqueue/close-drops-waiting-and-goes-last", test_close_drops_waiting_and_goes_last);
  g_test_add_func("/viewerqueue/byte-limit-drops-oldest-and-keeps-the-newest",
                  test_byte_limit_drops_oldest_and_keeps_the_newest);
  g_test_add_func("/viewerqueue/time-limit-spans-oldest-to-newest-arrival",
                  test_time_limit_spans_oldest_to_newest_arrival);
  g_test_add_func("/viewerqueue/without-limits-keeps-every-frame-in-order",
                  test_without_limits_keeps_every_frame_in_order);
  g_test_add_func("/viewerqueue/never-sends-a-delta-after-a-dropped-frame",
                  test_never_sends_a_delta_after_a_dropped_frame);
  g_test_add_func("/viewerqueue/key-frame-replaces-the-waiting-frames-of-a-video-stream",
                  test_key_frame_replaces_the_waiting_frames_of_a_video_stream);
  g_test_add_func("/viewerqueue/stalls-only-without-progress", test_stalls_only_without_progress);
  g_test_add_func("/viewerqueue/part-trailer-follows-each-frame-payload", test_part_trailer_follows_each_frame_payload);
  g_test_add_func("/viewerqueue/next-gathers-the-waiting-messages-for-one-write",
                  test_next_gathers_the_waiting_messages_for_one_write);
  g_test_add_func("/viewerqueue/write-interval-holds-frames-that-come-faster",
                  test_write_interval_holds_frames_that_come_faster);
  g_test_add_func("/viewerqueue/config-drops-the-waiting-frames-and-waits-for-a-key-frame",
                  test_config_drops_the_waiting_frames_and_waits_for_a_key_frame);
  g_test_add_func("/wsframe/header-is-2-4-or-10-bytes-at-each-length-boundary",
                  test_header_is_2_4_or_10_bytes_at_each_length_boundary);
  g_test_add_func("/wsframe/close-frame-carries-code-and-reason-cut-to-fit-125-bytes",
                  test_close_frame_carries_code_and_reason_cut_to_fit_125_bytes);
  g_test_add_func("/wsframe/reader-unmasks-control-frames-in-any-split",
                  test_reader_unmasks_control_frames_in_any_split);
  g_test_add_func("/wsframe/reader-fragmented-message-measured-whole-with-ping-inside",
                  test_reader_fragmented_message_measured_whole_with_ping_inside);
  g_test_add_func("/wsframe/reader-refuses-oversized-message-even-fragmented",
                  test_reader_refuses_oversized_message_even_fragmented);
  g_test_add_func("/wsframe/reader-reports-each-protocol-error-and-stays-broken",
                  test_reader_reports_each_protocol_error_and_stays_broken);
  g_test_add_func("/wsframe/reader-close-without-code-is-1005", test_reader_close_without_code_is_1005);
  g_test_add_func("/wsframe/reader-survives-random-bytes-reporting-nothing-over-its-limits",
                  test_reader_survives_random_bytes_reporting_nothing_over_its_limits);
  g_test_add_func("/wsframe/reader-accepts-utf8-text-cut-at-every-byte-of-fragments-and-feeds",
                  test_reader_accepts_utf8_text_cut_at_every_byte_of_fragments_and_feeds);
  g_test_add_func("/wsframe/reader-fails-invalid-utf8-text-at-the-first-bad-byte",
                  test_reader_fails_invalid_utf8_text_at_the_first_bad_byte);
  g_test_add_func("/wsframe/reader-fails-text-that-ends-inside-a-sequence",
                  test_reader_fails_text_that_ends_inside_a_sequence);
  g_test_add_func("/wsframe/reader-does-not-check-binary-messages-for-utf8",
                  test_reader_does_not_check_binary_messages_for_utf8);
  g_test_add_func("/wsframe/reader-close-reason-must-be-utf8-and-its-code-sendable",
                  test_reader_close_reason_must_be_utf8_and_its_code_sendable);
  g_test_add_func("/wsframe/utf8-validator-agrees-with-glib-on-random-bytes-in-random-pieces",
                  test_utf8_validator_agrees_with_glib_on_random_bytes_in_random_pieces);
  return g_test_run();
}
