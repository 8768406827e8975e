// HTTP Basic logins for a stream (websocketsink's auth-users): who may see
// its page and everything under its path. The file has one "user:password"
// per line, or "user:$hash" with a crypt(3) hash such as
// `openssl passwd -6` writes ($6$, SHA-512; also $5$, $y$ and the other
// methods libcrypt knows); blank lines and lines starting with '#' are
// skipped. It is read once, when the stream starts. No libsoup, no GStreamer.
//
// Comparisons take the same time whatever matched; a crypt(3) check takes
// milliseconds, so credentials that passed are remembered (as a keyed digest)
// and failed checks are limited per second, so that strangers sending made-up
// passwords cannot keep the server thread busy.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace imagestream {

class Logins {
 public:
  // nullptr, with one line naming the file (and the line) in `error`, when
  // `file` cannot be read or holds no user. `warning` is set (the load still
  // succeeds) when plain passwords are readable by other users.
  static std::shared_ptr<Logins> load(const std::string &file, std::string &error, std::string &warning);

  // Whether `authorization` (the request's Authorization header, or null) is
  // "Basic" with a user of the file and its password. `client` (its address)
  // and `now_us` (monotonic) meter the failed hash checks.
  bool admits(const char *authorization, const std::string &client, int64_t now_us);

  // A crypt(3) check takes milliseconds (4 ms for $6$ here): at most this
  // many may fail per second for one client address, and for all together;
  // past either, credentials not seen to pass before are refused unchecked
  // until the next second. Plain passwords cost nothing and are not counted.
  static constexpr unsigned kFailedHashesPerClient = 10;
  static constexpr unsigned kFailedHashesPerSecond = 50;

 private:
  struct User {
    std::string name;
    std::string secret;  // the password, or its crypt(3) hash
    bool hashed;
  };
  // The user's password matches; `hashed` tells whether a hash was computed.
  bool check(const std::string &name, const std::string &password, bool &hashed);

  std::vector<User> users_;
  std::string dummy_hash_;  // checked when no user matches, so that timing tells nothing
  std::string cache_key_;   // random, per process: keys the digests of credentials that passed
  std::mutex lock_;         // guards what follows: admits() may run on any thread
  std::unordered_set<std::string> passed_;
  int64_t second_ = 0;     // the second the failures are counted in
  unsigned failures_ = 0;  // failed hash checks in it
  std::unordered_map<std::string, unsigned> failures_by_client_;  // in it
};

}  // namespace imagestream
