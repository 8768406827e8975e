// AddressFilter and IpAddress (lengthprefixsrc's allowed-senders and
// per-address limit), without sockets or GStreamer.
#include <glib.h>

#include <string>

#include "addressfilter.h"

using imagestream::AddressFilter;
using imagestream::IpAddress;

namespace {

IpAddress ip(const char *text) {
  std::optional<IpAddress> a = IpAddress::parse(text);
  g_assert_true(a.has_value());
  return *a;
}

AddressFilter filter(const char *list) {
  std::string error;
  std::optional<AddressFilter> f = AddressFilter::parse(list, error);
  if (!f) g_error("%s: %s", list, error.c_str());
  return *f;
}

std::string parse_error(const char *list) {
  std::string error;
  g_assert_false(AddressFilter::parse(list, error).has_value());
  g_test_message("%s -> %s", list, error.c_str());
  return error;
}

void test_empty_list_admits_anyone() {
  for (const char *list : {"", " ", ",", " , "}) {
    AddressFilter f = filter(list);
    g_assert_true(f.admits_anyone());
    g_assert_true(f.admits(ip("203.0.113.9")));
    g_assert_true(f.admits(ip("2001:db8::1")));
  }
}

void test_single_addresses_admit_only_themselves() {
  AddressFilter f = filter("127.0.0.1, ::1");
  g_assert_false(f.admits_anyone());
  g_assert_true(f.admits(ip("127.0.0.1")));
  g_assert_true(f.admits(ip("::1")));
  g_assert_false(f.admits(ip("127.0.0.2")));
  g_assert_false(f.admits(ip("::2")));
  g_assert_false(f.admits(ip("10.0.0.1")));
}

void test_ipv4_networks_match_by_prefix_and_host_bits_are_ignored() {
  AddressFilter f = filter("192.168.1.0/24,10.1.2.3/8");
  g_assert_true(f.admits(ip("192.168.1.0")));
  g_assert_true(f.admits(ip("192.168.1.255")));
  g_assert_false(f.admits(ip("192.168.2.1")));
  g_assert_true(f.admits(ip("10.200.0.1")));  // 10.1.2.3/8 is 10.0.0.0/8
  g_assert_false(f.admits(ip("11.0.0.1")));
  g_assert_true(filter("0.0.0.0/0").admits(ip("203.0.113.9")));
  g_assert_false(filter("0.0.0.0/0").admits(ip("2001:db8::1")));  // all IPv4, no IPv6
  g_assert_true(filter("192.168.1.7/32").admits(ip("192.168.1.7")));
  g_assert_false(filter("192.168.1.7/32").admits(ip("192.168.1.6")));
}

void test_ipv6_networks_match_by_prefix() {
  AddressFilter f = filter("fd00::/8, 2001:db8:1:2::/64");
  g_assert_true(f.admits(ip("fd12:3456::1")));
  g_assert_false(f.admits(ip("fe80::1")));
  g_assert_true(f.admits(ip("2001:db8:1:2:ffff::1")));
  g_assert_false(f.admits(ip("2001:db8:1:3::1")));
  g_assert_true(filter("::/0").admits(ip("2001:db8::1")));
  g_assert_true(filter("2001:db8::/33").admits(ip("2001:db8:7fff::1")));
  g_assert_false(filter("2001:db8::/33").admits(ip("2001:db8:8000::1")));
}

void test_ipv4_mapped_senders_match_ipv4_entries() {
  // A dual-stack listener names an IPv4 sender ::ffff:a.b.c.d.
  AddressFilter f = filter("192.168.1.0/24");
  g_assert_true(f.admits(ip("::ffff:192.168.1.20")));
  g_assert_false(f.admits(ip("::ffff:192.168.2.20")));
  g_assert_true(filter("::ffff:192.168.1.20").admits(ip("192.168.1.20")));
  // An entry written as IPv6 counts all 128 bits of its prefix.
  g_assert_true(filter("::ffff:192.168.0.0/112").admits(ip("192.168.9.9")));
}

void test_bad_entries_are_refused_naming_the_entry() {
  g_assert_true(parse_error("127.0.0.1,localhost").find("\"localhost\"") != std::string::npos);
  g_assert_true(parse_error("300.1.1.1").find("\"300.1.1.1\"") != std::string::npos);
  g_assert_true(parse_error("10.0.0.0/33").find("0 to 32") != std::string::npos);
  g_assert_true(parse_error("fd00::/129").find("0 to 128") != std::string::npos);
  g_assert_true(parse_error("10.0.0.0/").find("prefix") != std::string::npos);
  g_assert_true(parse_error("10.0.0.0/-1").find("prefix") != std::string::npos);
  g_assert_true(parse_error("10.0.0.0/8x").find("prefix") != std::string::npos);
  g_assert_true(parse_error("fe80::1%eth0").find("fe80::1%eth0") != std::string::npos);
}

void test_from_bytes_takes_socket_addresses_of_both_families() {
  const uint8_t v4[4] = {192, 168, 1, 7};
  g_assert_true(*IpAddress::from_bytes(v4, 4) == ip("192.168.1.7"));
  g_assert_true(IpAddress::from_bytes(v4, 4)->is_v4());
  uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
  v6[15] = 1;
  g_assert_true(*IpAddress::from_bytes(v6, 16) == ip("2001:db8::1"));
  g_assert_false(IpAddress::from_bytes(v6, 16)->is_v4());
  g_assert_false(IpAddress::from_bytes(v6, 5).has_value());
}

void test_senders_are_grouped_by_ipv4_address_and_ipv6_slash_64() {
  g_assert_true(ip("127.0.0.1").sender_group() == ip("127.0.0.1"));
  g_assert_true(ip("127.0.0.1").sender_group() != ip("127.0.0.2").sender_group());
  g_assert_true(ip("2001:db8:1:2::1").sender_group() == ip("2001:db8:1:2:ffff:ffff:ffff:ffff").sender_group());
  g_assert_true(ip("2001:db8:1:2::1").sender_group() != ip("2001:db8:1:3::1").sender_group());
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/addressfilter/empty-list-admits-anyone", test_empty_list_admits_anyone);
  g_test_add_func("/addressfilter/single-addresses-admit-only-themselves",
                  test_single_addresses_admit_only_themselves);
  g_test_add_func("/addressfilter/ipv4-networks-match-by-prefix-and-host-bits-are-ignored",
                  test_ipv4_networks_match_by_prefix_and_host_bits_are_ignored);
  g_test_add_func("/addressfilter/ipv6-networks-match-by-prefix", test_ipv6_networks_match_by_prefix);
  g_test_add_func("/addressfilter/ipv4-mapped-senders-match-ipv4-entries", test_ipv4_mapped_senders_match_ipv4_entries);
  g_test_add_func("/addressfilter/bad-entries-are-refused-naming-the-entry",
                  test_bad_entries_are_refused_naming_the_entry);
  g_test_add_func("/addressfilter/from-bytes-takes-socket-addresses-of-both-families",
                  test_from_bytes_takes_socket_addresses_of_both_families);
  g_test_add_func("/addressfilter/senders-are-grouped-by-ipv4-address-and-ipv6-slash-64",
                  test_senders_are_grouped_by_ipv4_address_and_ipv6_slash_64);
  return g_test_run();
}
