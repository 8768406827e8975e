#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_LENGTH_PREFIX_SINK (gst_length_prefix_sink_get_type())
G_DECLARE_FINAL_TYPE(GstLengthPrefixSink, gst_length_prefix_sink, GST, LENGTH_PREFIX_SINK, GstBaseSink)

G_END_DECLS
