#include "addressfilter.h"

#include <arpa/inet.h>

#include <cstring>

namespace imagestream {

namespace {

constexpr unsigned kMappedPrefix = 96;  // ::ffff:0:0/96 holds the IPv4 addresses

std::string trimmed(const std::string &s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// "24" as a number from 0 to `max`; nothing for anything else.
std::optional<unsigned> prefix_length(const std::string &s, unsigned max) {
  if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const unsigned n = static_cast<unsigned>(std::stoul(s));
  if (n > max) return std::nullopt;
  return n;
}

}  // namespace

std::optional<IpAddress> IpAddress::from_bytes(const uint8_t *data, size_t len) {
  IpAddress a;
  if (len == 4) {
    a.bytes[10] = a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, data, 4);
  } else if (len == 16) {
    std::memcpy(a.bytes.data(), data, 16);
  } else {
    return std::nullopt;
  }
  return a;
}

std::optional<IpAddress> IpAddress::parse(const std::string &text) {
  uint8_t buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return from_bytes(buf, 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return from_bytes(buf, 16);
  return std::nullopt;
}

bool IpAddress::is_v4() const {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), mapped, sizeof mapped) == 0;
}

IpAddress IpAddress::masked(unsigned bits) const {
  IpAddress a = *this;
  for (unsigned i = 0; i < 16; i++) {
    const unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
    if (keep < 8) a.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return a;
}

IpAddress IpAddress::sender_group() const { return is_v4() ? *this : masked(64); }

std::optional<AddressFilter> AddressFilter::parse(const std::string &list, std::string &error) {
  AddressFilter filter;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string entry = trimmed(list.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    const size_t slash = entry.find('/');
    std::optional<IpAddress> base = IpAddress::parse(entry.substr(0, slash));
    if (!base) {
      error = "allowed-senders: \"" + entry +
              "\" is not an IP address or network (write e.g. 192.168.1.7, 192.168.1.0/24 or fd00::/8)";
      return std::nullopt;
    }
    // An IPv4 entry's prefix counts IPv4 bits; an entry written as IPv6
    // (even ::ffff:a.b.c.d) counts all 128.
    const bool written_v4 = entry.substr(0, slash).find(':') == std::string::npos;
    unsigned prefix = 128;
    if (slash != std::string::npos) {
      const unsigned max = written_v4 ? 32 : 128;
      std::optional<unsigned> bits = prefix_length(entry.substr(slash + 1), max);
      if (!bits) {
        error = "allowed-senders: \"" + entry + "\" has a bad prefix length (0 to " + std::to_string(max) + ")";
        return std::nullopt;
      }
      prefix = written_v4 ? kMappedPrefix + *bits : *bits;
    }
    filter.networks_.push_back({base->masked(prefix), prefix});
  }
  return filter;
}

bool AddressFilter::admits(const IpAddress &address) const {
  if (networks_.empty()) return true;
  for (const Network &n : networks_)
    if (address.masked(n.prefix) == n.base) return true;
  return false;
}

}  // namespace imagestream
