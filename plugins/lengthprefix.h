// The length-prefix options of lengthprefixsrc and lengthprefixsink as
// GObject properties, written once for both: `prefix-size` (2, 4 or 8 bytes)
// and `byte-order`.
#pragma once

#include <gst/gst.h>

#include "frameparser.h"

namespace imagestream {

#define IMAGESTREAM_TYPE_PREFIX_SIZE (imagestream::prefix_size_get_type())
GType prefix_size_get_type(void);
#define IMAGESTREAM_TYPE_BYTE_ORDER (imagestream::byte_order_get_type())
GType byte_order_get_type(void);

// Installs `prefix-size` and `byte-order` with the given property ids.
void install_prefix_properties(GObjectClass *klass, guint prefix_size_id, guint byte_order_id,
                               GParamFlags mutability);
// Applies a set_property of one of those two; false if `id` is neither.
bool set_prefix_property(PrefixFormat &format, guint id, const GValue *value, guint prefix_size_id,
                         guint byte_order_id);
bool get_prefix_property(const PrefixFormat &format, guint id, GValue *value, guint prefix_size_id,
                         guint byte_order_id);
// Marks both enum types as plugin API, for gst-inspect and the docs.
void mark_prefix_types_as_plugin_api();

}  // namespace imagestream
