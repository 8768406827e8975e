#include "logins.h"

#include <crypt.h>
#include <glib.h>
#include <glib/gstdio.h>

#include <algorithm>
#include <sstream>

#include "randombytes.h"

namespace imagestream {

namespace {

// Credentials that passed, remembered at most: a flood of distinct ones that
// pass would have to know passwords.
constexpr size_t kMaxRemembered = 4096;

// Equal, in time that depends on the lengths only.
bool same(const std::string &a, const std::string &b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() != b.size();
  for (size_t i = 0; i < n; i++)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// crypt(3) of `password` with the method and salt of `setting` (a hash), or
// "" when libcrypt does not know the method.
std::string hash_of(const std::string &password, const std::string &setting) {
  auto data = std::make_unique<crypt_data>();  // 32 KiB, zeroed as libcrypt wants
  // crypt_rn, not crypt_r: the sanitizers intercept crypt_r, and their
  // interceptor has no libcrypt to call when the plugin that needs it is
  // loaded after them.
  const char *hash = crypt_rn(password.c_str(), setting.c_str(), data.get(), sizeof *data);
  if (!hash || hash[0] == '*') return "";
  return hash;
}

std::string random_key() {
  char key[32];
  random_bytes(key, sizeof key);
  return std::string(key, sizeof key);
}

}  // namespace

std::shared_ptr<Logins> Logins::load(const std::string &file, std::string &error, std::string &warning) {
  gchar *contents = nullptr;
  gsize size = 0;
  GError *err = nullptr;
  if (!g_file_get_contents(file.c_str(), &contents, &size, &err)) {
    error = "Cannot read auth-users " + file + ": " + err->message;
    g_error_free(err);
    return nullptr;
  }
  std::istringstream lines(std::string(contents, size));
  g_free(contents);
  auto logins = std::make_shared<Logins>();
  bool plain = false;
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    number++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string where = "auth-users " + file + " line " + std::to_string(number) + ": ";
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
      error = where + "expected user:password or user:$hash (e.g. from openssl passwd -6)";
      return nullptr;
    }
    User user{line.substr(0, colon), line.substr(colon + 1), line[colon + 1] == '$'};
    if (user.hashed && hash_of("probe", user.secret).empty()) {
      error = where + "not a crypt(3) hash libcrypt knows (openssl passwd -6 writes one)";
      return nullptr;
    }
    for (const User &other : logins->users_) {
      if (other.name == user.name) {
        error = where + "user " + user.name + " is listed twice";
        return nullptr;
      }
    }
    plain = plain || !user.hashed;
    if (user.hashed && logins->dummy_hash_.empty()) logins->dummy_hash_ = user.secret;
    logins->users_.push_back(std::move(user));
  }
  if (logins->users_.empty()) {
    error = "auth-users " + file + " names no user: write user:password lines";
    return nullptr;
  }
  GStatBuf st;
  if (plain && g_stat(file.c_str(), &st) == 0 && (st.st_mode & 077))
    warning = "auth-users " + file + " holds plain passwords and other users may read it: chmod 600 it, or store "
              "hashes (openssl passwd -6)";
  logins->cache_key_ = random_key();
  return logins;
}

bool Logins::admits(const char *authorization, const std::string &client, int64_t now_us) {
  if (!authorization || g_ascii_strncasecmp(authorization, "Basic ", 6) != 0) return false;
  const char *encoded = authorization + 6;
  while (*encoded == ' ') encoded++;
  gsize n = 0;
  guchar *decoded = g_base64_decode(encoded, &n);
  const std::string credentials(reinterpret_cast<const char *>(decoded), n);
  g_free(decoded);
  const size_t colon = credentials.find(':');
  if (colon == std::string::npos) return false;
  gchar *digest = g_compute_hmac_for_data(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(cache_key_.data()),
                                          cache_key_.size(), reinterpret_cast<const guchar *>(credentials.data()),
                                          credentials.size());
  const std::string key(digest);
  g_free(digest);
  {
    std::lock_guard<std::mutex> l(lock_);
    if (passed_.count(key)) return true;
    const int64_t second = now_us / G_USEC_PER_SEC;
    if (second != second_) {
      second_ = second;
      failures_ = 0;
      failures_by_client_.clear();
    }
    if (failures_ >= kFailedHashesPerSecond || failures_by_client_[client] >= kFailedHashesPerClient) return false;
  }
  bool hashed = false;
  const bool ok = check(credentials.substr(0, colon), credentials.substr(colon + 1), hashed);
  std::lock_guard<std::mutex> l(lock_);
  if (!ok) {
    if (hashed) {
      failures_++;
      failures_by_client_[client]++;
    }
    return false;
  }
  if (passed_.size() >= kMaxRemembered) passed_.clear();
  passed_.insert(key);
  return true;
}

// Every name is compared, and a hash computed even for a name that matches
// none, so that how long this takes does not tell which users exist.
bool Logins::check(const std::string &name, const std::string &password, bool &hashed) {
  const User *match = nullptr;
  for (const User &u : users_)
    if (same(u.name, name) && !match) match = &u;
  if (!match) {
    hashed = !dummy_hash_.empty();
    if (hashed) hash_of(password, dummy_hash_);
    return false;
  }
  hashed = match->hashed;
  if (!match->hashed) return same(match->secret, password);
  return same(hash_of(password, match->secret), match->secret);
}

}  // namespace imagestream
