#include "lengthprefix.h"

namespace imagestream {

GType prefix_size_get_type(void) {
  static GType type = 0;
  // The value is the width in bytes, so `prefix-size=4` and g_object_set(..., 4) both read naturally.
  static const GEnumValue values[] = {
      {2, "2 bytes (frames up to 64 KiB - 1)", "2"},
      {4, "4 bytes (frames up to 4 GiB - 1)", "4"},
      {8, "8 bytes (the original protocol, struct.pack('>Q'))", "8"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("ImagestreamPrefixSize", values));
  return type;
}

GType byte_order_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(ByteOrder::BigEndian), "Big endian (network order, as struct.pack('>Q'))", "big-endian"},
      {static_cast<gint>(ByteOrder::LittleEndian), "Little endian", "little-endian"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("ImagestreamByteOrder", values));
  return type;
}

void install_prefix_properties(GObjectClass *klass, guint prefix_size_id, guint byte_order_id,
                               GParamFlags mutability) {
  const PrefixFormat defaults;
  auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | mutability);
  g_object_class_install_property(
      klass, prefix_size_id,
      g_param_spec_enum("prefix-size", "Prefix size", "Width in bytes of the length that precedes each frame",
                        IMAGESTREAM_TYPE_PREFIX_SIZE, static_cast<gint>(defaults.width), flags));
  g_object_class_install_property(
      klass, byte_order_id,
      g_param_spec_enum("byte-order", "Byte order", "Byte order of the length prefix", IMAGESTREAM_TYPE_BYTE_ORDER,
                        static_cast<gint>(defaults.order), flags));
}

bool set_prefix_property(PrefixFormat &format, guint id, const GValue *value, guint prefix_size_id,
                         guint byte_order_id) {
  if (id == prefix_size_id) {
    // The enum admits only valid widths.
    format.width = static_cast<unsigned>(g_value_get_enum(value));
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
    g_value_set_enum(value, static_cast<gint>(format.width));
    return true;
  }
  if (id == byte_order_id) {
    g_value_set_enum(value, static_cast<gint>(format.order));
    return true;
  }
  return false;
}

void mark_prefix_types_as_plugin_api() {
  gst_type_mark_as_plugin_api(IMAGESTREAM_TYPE_PREFIX_SIZE, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(IMAGESTREAM_TYPE_BYTE_ORDER, static_cast<GstPluginAPIFlags>(0));
}

}  // namespace imagestream
