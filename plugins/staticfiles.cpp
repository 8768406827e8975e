#include "staticfiles.h"

#include <gio/gio.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

namespace imagestream {

std::string resolve_document_root(const std::string &root) {
  g_autofree char *real = realpath(root.c_str(), nullptr);
  if (!real) return "";
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return "";
  }
  return real;
}

std::string resolve_static_file(const std::string &root, const std::string &relative) {
  // NULL for an encoded '/' or NUL.
  g_autofree gchar *decoded = g_uri_unescape_string(relative.c_str(), "/");
  if (!decoded || !*decoded || decoded[0] == '/') return "";
  g_auto(GStrv) segments = g_strsplit(decoded, "/", -1);
  for (char **s = segments; *s; s++) {
    if (strcmp(*s, "..") == 0 || strcmp(*s, ".") == 0) return "";
  }
  const std::string file = root + "/" + decoded;
  g_autofree char *real = realpath(file.c_str(), nullptr);
  if (!real || !g_str_has_prefix(real, (root + "/").c_str())) return "";
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return "";
  return real;
}

std::string content_type_for(const std::string &file) {
  static const struct {
    const char *extension;
    const char *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".wasm", "application/wasm"},
  };
  g_autofree gchar *lower = g_ascii_strdown(file.c_str(), -1);
  for (const auto &t : types) {
    if (g_str_has_suffix(lower, t.extension)) return t.type;
  }
  g_autofree gchar *guessed = g_content_type_guess(file.c_str(), nullptr, 0, nullptr);
  g_autofree gchar *mime = guessed ? g_content_type_get_mime_type(guessed) : nullptr;
  return mime ? mime : "application/octet-stream";
}

const char *image_type_of(const uint8_t *b, size_t n) {
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "image/jpeg";
  if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
  if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) return "image/gif";
  if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "image/webp";
  return nullptr;
}

}  // namespace imagestream
