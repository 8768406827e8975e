// Who may send to lengthprefixsrc (`allowed-senders`: addresses and CIDR
// networks, IPv4 and IPv6) and under which key its per-address limit counts a
// sender. Plain C++: no sockets, no GLib.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imagestream {

// An IPv4 or IPv6 address. IPv4 is held as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so that a sender reaching a dual-stack listener matches
// the same IPv4 entries as one reaching an IPv4 listener.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  // "192.168.1.7", "::1", "::ffff:10.0.0.1"; nothing if it is not one.
  static std::optional<IpAddress> parse(const std::string &text);
  // 4 bytes (IPv4) or 16 (IPv6) in network order, as sockets give them.
  static std::optional<IpAddress> from_bytes(const uint8_t *data, size_t len);
  bool is_v4() const;
  // The key the per-address limit counts senders under: the address itself
  // for IPv4, its /64 for IPv6 (a host or a site is handed a whole /64, so
  // one machine could otherwise take every slot with addresses of its own).
  IpAddress sender_group() const;
  // The first `bits` bits kept, the others zero.
  IpAddress masked(unsigned bits) const;
  bool operator==(const IpAddress &other) const { return bytes == other.bytes; }
  bool operator!=(const IpAddress &other) const { return bytes != other.bytes; }
};

class AddressFilter {
 public:
  // Admits anyone.
  AddressFilter() = default;
  // Parses a comma-separated list such as "127.0.0.1, 192.168.1.0/24, ::1";
  // an empty list admits anyone. On a bad entry returns nothing and sets
  // `error` to one line naming it.
  static std::optional<AddressFilter> parse(const std::string &list, std::string &error);

  bool admits_anyone() const { return networks_.empty(); }
  bool admits(const IpAddress &address) const;

 private:
  struct Network {
    IpAddress base;   // masked to `prefix`
    unsigned prefix;  // leading bits of the 128 that must match
  };
  std::vector<Network> networks_;
};

}  // namespace imagestream
