#include "httpclient.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace testutil {

namespace {

// Milliseconds left until `deadline` (monotonic µs), at least 0.
int ms_left(gint64 deadline) {
  return static_cast<int>(std::max<gint64>(0, (deadline - g_get_monotonic_time()) / 1000));
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

}  // namespace

std::string HttpResponse::header(const std::string &name) const {
  size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    line += 2;
    const size_t end = head.find("\r\n", line);
    const std::string text = head.substr(line, end == std::string::npos ? std::string::npos : end - line);
    const size_t colon = text.find(':');
    if (colon == name.size() && g_ascii_strncasecmp(text.c_str(), name.c_str(), colon) == 0) {
      const size_t value = text.find_first_not_of(' ', colon + 1);
      return value == std::string::npos ? "" : text.substr(value);
    }
    line = end;
  }
  return "";
}

bool parse_response_head(const std::string &head, HttpResponse &r) {
  r.head = head;
  r.status = 0;
  if (sscanf(head.c_str(), "HTTP/1.1 %d", &r.status) != 1) return false;
  r.content_type = r.header("Content-Type");
  return true;
}

bool read_response_head(int fd, HttpResponse &r, int timeout_ms) {
  const gint64 deadline = g_get_monotonic_time() + gint64{timeout_ms} * 1000;
  std::string head;  // taken from the socket so far: never past the blank line
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms_left(deadline)) <= 0) return false;
    // Peek, then take only up to the blank line: the body stays unread.
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);
    if (n <= 0) return false;
    const size_t kept = std::min<size_t>(head.size(), 3);  // the blank line may straddle
    const std::string seen = head.substr(head.size() - kept) + std::string(buf, n);
    const size_t at = seen.find("\r\n\r\n");
    const size_t take = at == std::string::npos ? n : at + 4 - kept;
    g_assert_cmpint(recv(fd, buf, take, 0), ==, static_cast<ssize_t>(take));
    head.append(buf, take);
    if (at != std::string::npos) return parse_response_head(head.substr(0, head.size() - 4), r);
  }
}

HttpResponse http_request(int port, const std::string &request, int timeout_ms) {
  const gint64 deadline = g_get_monotonic_time() + gint64{timeout_ms} * 1000;
  const int fd = tcp_connect(port);
  HttpResponse r;
  if (send_all(fd, request.data(), request.size()) && read_response_head(fd, r, timeout_ms)) {
    char buf[65536];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, ms_left(deadline)) <= 0) break;
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        r.closed = n == 0;
        break;
      }
      r.body.append(buf, n);
    }
  }
  close(fd);
  return r;
}

HttpResponse http_get(int port, const std::string &path) {
  return http_request(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

std::string boundary_of(const std::string &head) {
  const std::string key = "boundary=";
  const size_t at = head.find(key);
  if (at == std::string::npos) return "";
  const size_t end = head.find_first_of("\r\n;", at);
  return head.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
}

// --- MjpegParser ---

MjpegParser::MjpegParser(const std::string &boundary, std::function<void(Bytes)> on_part)
    : on_part_(std::move(on_part)), opening_("--" + boundary + "\r\n"), delimiter_("\r\n--" + boundary) {}

bool MjpegParser::feed(const uint8_t *data, size_t n) {
  buf_.insert(buf_.end(), data, data + n);
  while (ok_ && step()) {
  }
  return ok_;
}

// One step of parsing; false when more bytes are needed.
bool MjpegParser::step() {
  switch (state_) {
    case State::Opening:
      if (buf_.size() < opening_.size()) return false;
      ok_ = std::equal(opening_.begin(), opening_.end(), buf_.begin());
      consume(opening_.size(), State::Headers);
      return ok_;
    case State::Headers: {
      const std::string end = "\r\n\r\n";
      auto at = std::search(buf_.begin(), buf_.end(), end.begin(), end.end());
      if (at == buf_.end()) return false;
      const std::string headers(buf_.begin(), at);
      ok_ = contains(headers, "Content-Type: image/jpeg");
      consume(at - buf_.begin() + end.size(), State::Body);
      return ok_;
    }
    case State::Body: {
      auto from = buf_.begin() + scanned_;
      auto at = std::search(from, buf_.end(), delimiter_.begin(), delimiter_.end());
      if (at == buf_.end()) {
        scanned_ = buf_.size() > delimiter_.size() ? buf_.size() - delimiter_.size() : 0;
        return false;
      }
      on_part_(Bytes(buf_.begin(), at));
      consume(at - buf_.begin() + delimiter_.size(), State::AfterDelimiter);
      return true;
    }
    case State::AfterDelimiter:
      if (buf_.size() < 2) return false;
      if (buf_[0] == '\r' && buf_[1] == '\n') {
        consume(2, State::Headers);
      } else {
        ok_ = buf_[0] == '-' && buf_[1] == '-';
        consume(2, State::Ended);
      }
      return ok_;
    case State::Ended:
      return false;
  }
  return false;
}

void MjpegParser::consume(size_t n, State next) {
  buf_.erase(buf_.begin(), buf_.begin() + n);
  scanned_ = 0;
  state_ = next;
}

// --- MjpegClient ---

MjpegClient::~MjpegClient() {
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);  // ends a blocked recv() in the reader
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) close(fd_);
}

int MjpegClient::open(int port, const std::string &path, int receive_buffer) {
  g_assert_cmpint(fd_, <, 0);
  fd_ = tcp_connect(port, receive_buffer);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  g_assert_true(send_all(fd_, req.data(), req.size()));
  if (!read_response_head(fd_, response)) return 0;
  boundary = boundary_of(response.head);
  return response.status;
}

void MjpegClient::read_parts(std::function<bool(size_t, const Bytes &)> check) {
  reader_ = std::thread([this, check] {
    MjpegParser parser(boundary, [&](Bytes part) {
      if (!check(parts, part)) bad_parts++;
      parts++;
    });
    uint8_t buf[65536];
    ssize_t n;
    while ((n = recv(fd_, buf, sizeof buf, 0)) > 0) {
      if (!parser.feed(buf, n)) malformed = true;
      std::lock_guard<std::mutex> l(lock_);
      last_bytes_.insert(last_bytes_.end(), buf, buf + n);
      if (last_bytes_.size() > 256) last_bytes_.erase(last_bytes_.begin(), last_bytes_.end() - 256);
    }
    eof = true;
  });
}

Bytes MjpegClient::last_bytes() {
  std::lock_guard<std::mutex> l(lock_);
  return last_bytes_;
}

}  // namespace testutil
