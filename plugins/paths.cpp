#include "paths.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace imagestream {

namespace {

// The first `n` bytes of `text` equal `secret`, in time that depends on `n`
// only, so that timing does not tell how much of a guess matched.
bool secret_equal(const std::string &secret, const char *text, size_t n) {
  unsigned char diff = n != secret.size();
  const size_t m = std::max<size_t>(secret.size(), 1);
  for (size_t i = 0; i < n; i++) diff |= static_cast<unsigned char>(text[i] ^ secret[i % m]);
  return diff == 0;
}

std::string trim(const std::string &s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

StreamPath::StreamPath(const std::string &p) : path(p.empty() || p[0] != '/' ? "/" + p : p), base(path) {
  if (base.back() == '/') base.pop_back();
}

PathMatch match_stream_path(const StreamPath &stream, const std::string &request) {
  if (secret_equal(stream.path, request.data(), request.size())) return {PathMatch::Stream, ""};
  const size_t n = stream.base.size();
  // "<path>/" is the stream too, for pages that load files relative to their URL.
  if (request.size() == n + 1 && request[n] == '/' && secret_equal(stream.base, request.data(), n))
    return {PathMatch::Stream, ""};
  if (request.size() > n + 1 && request[n] == '/' && secret_equal(stream.base, request.data(), n))
    return {PathMatch::Resource, request.substr(n + 1)};
  return {};
}

namespace {

bool listed(const std::string &list, const char *origin) {
  std::istringstream items(list);
  for (std::string item; std::getline(items, item, ',');)
    if (trim(item) == origin) return true;
  return false;
}

}  // namespace

bool origin_allowed(const std::string &allowed, const char *origin, const std::string &own_origin,
                    bool require_origin) {
  if (allowed.empty()) return true;
  if (!origin) return !require_origin;
  return own_origin == origin || listed(allowed, origin);
}

std::string cors_allow_origin(const std::string &cors, const char *origin) {
  if (cors.empty()) return "";
  if (trim(cors) == "*") return "*";
  return origin && listed(cors, origin) ? origin : "";
}

}  // namespace imagestream
