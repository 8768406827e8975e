// What the elements (and the launcher) share: the length-prefix options as
// GObject properties, RAII for GLib objects, and printing socket addresses.
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

#include <memory>
#include <string>

#include "frameparser.h"

namespace imagestream {

struct GObjectUnref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

// unique_ptr deleters for GLib types that are not GObjects.
template <typename T, void (*Free)(T *)>
struct GFree {
  void operator()(T *p) const {
    if (p) Free(p);
  }
};
using MainContextPtr = std::unique_ptr<GMainContext, GFree<GMainContext, g_main_context_unref>>;
using MainLoopPtr = std::unique_ptr<GMainLoop, GFree<GMainLoop, g_main_loop_unref>>;
using BytesPtr = std::unique_ptr<GBytes, GFree<GBytes, g_bytes_unref>>;

// "host:port" (IPv6 as "[addr]:port") of a socket's peer, or "unknown".
std::string peer_address(GSocket *socket);
std::string peer_address(GSocketAddress *address);

#define IMAGESTREAM_TYPE_BYTE_ORDER (imagestream::imagestream_byte_order_get_type())
GType imagestream_byte_order_get_type(void);

constexpr unsigned DEFAULT_PREFIX_SIZE = 8;
constexpr ByteOrder DEFAULT_BYTE_ORDER = ByteOrder::BigEndian;

// Installs `prefix-size` and `byte-order` with the given property ids.
void install_prefix_properties(GObjectClass *klass, guint prefix_size_id, guint byte_order_id,
                               GParamFlags mutability);
// Applies a set_property of one of those two; false if `id` is neither.
bool set_prefix_property(GObject *object, PrefixFormat &format, guint id, const GValue *value,
                         guint prefix_size_id, guint byte_order_id);
bool get_prefix_property(const PrefixFormat &format, guint id, GValue *value, guint prefix_size_id,
                         guint byte_order_id);

}  // namespace imagestream
