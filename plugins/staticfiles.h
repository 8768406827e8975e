// Files of a stream's document root: which file a request names (never one
// outside the root) and its content type. No sockets, no GStreamer, no
// libsoup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace imagestream {

// The real path of `root` if it is a directory, else "" (errno tells why).
std::string resolve_document_root(const std::string &root);

// The regular file under `root` (as resolve_document_root returned it) that
// `relative` names (still percent-encoded, no leading '/'), or "" when there
// is none: no "." or ".." segment, no encoded '/' or NUL, and the resolved
// path (symbolic links followed) must stay under the root.
std::string resolve_static_file(const std::string &root, const std::string &relative);

// The Content-Type for a file, from its extension.
std::string content_type_for(const std::string &file);

// The image type bytes are by their magic number ("image/jpeg", "image/png",
// "image/gif", "image/webp"), or nullptr when they do not say.
const char *image_type_of(const uint8_t *bytes, size_t size);

}  // namespace imagestream
