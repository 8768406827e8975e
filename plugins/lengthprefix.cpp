#include "lengthprefix.h"

namespace imagestream {

std::string peer_address(GSocket *socket) {
  GObjectPtr<GSocketAddress> addr(g_socket_get_remote_address(socket, nullptr));
  return peer_address(addr.get());
}

std::string peer_address(GSocketAddress *addr) {
  if (!addr || !G_IS_INET_SOCKET_ADDRESS(addr)) return "unknown";
  auto *inet = G_INET_SOCKET_ADDRESS(addr);
  g_autofree gchar *host = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  guint16 port = g_inet_socket_address_get_port(inet);
  bool v6 = g_inet_address_get_family(g_inet_socket_address_get_address(inet)) == G_SOCKET_FAMILY_IPV6;
  return (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

GType imagestream_byte_order_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(ByteOrder::BigEndian), "Big endian (network order, as struct.pack('>Q'))",
       "big-endian"},
      {static_cast<gint>(ByteOrder::LittleEndian), "Little endian", "little-endian"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("ImagestreamByteOrder", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

void install_prefix_properties(GObjectClass *klass, guint prefix_size_id, guint byte_order_id,
                               GParamFlags mutability) {
  auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | mutability);
  g_object_class_install_property(
      klass, prefix_size_id,
      g_param_spec_uint("prefix-size", "Prefix size",
                        "Width in bytes of the length that precedes each frame: 2, 4 or 8", 2, 8,
                        DEFAULT_PREFIX_SIZE, flags));
  g_object_class_install_property(
      klass, byte_order_id,
      g_param_spec_enum("byte-order", "Byte order", "Byte order of the length prefix",
                        IMAGESTREAM_TYPE_BYTE_ORDER, static_cast<gint>(DEFAULT_BYTE_ORDER), flags));
}

bool set_prefix_property(GObject *object, PrefixFormat &format, guint id, const GValue *value,
                         guint prefix_size_id, guint byte_order_id) {
  if (id == prefix_size_id) {
    guint w = g_value_get_uint(value);
    if (PrefixFormat::valid_width(w))
      format.width = w;
    else
      g_warning("%s: prefix-size must be 2, 4 or 8, not %u; keeping %u", GST_OBJECT_NAME(object), w,
                format.width);
    return true;
  }
  if (id == byte_order_id) {
    format.order = static_cast<ByteOrder>(g_value_get_enum(value));
    return true;
  }
  return false;
}

bool get_prefix_property(const PrefixFormat &format, guint id, GValue *value, guint prefix_size_id,
                         guint byte_order_id) {
  if (id == prefix_size_id) {
    g_value_set_uint(value, format.width);
    return true;
  }
  if (id == byte_order_id) {
    g_value_set_enum(value, static_cast<gint>(format.order));
    return true;
  }
  return false;
}

}  // namespace imagestream
