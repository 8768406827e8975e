#pragma once

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_LENGTH_PREFIX_SRC (gst_length_prefix_src_get_type())
G_DECLARE_FINAL_TYPE(GstLengthPrefixSrc, gst_length_prefix_src, GST, LENGTH_PREFIX_SRC, GstPushSrc)

G_END_DECLS
