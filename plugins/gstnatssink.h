#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_NATS_SINK (gst_nats_sink_get_type())
G_DECLARE_FINAL_TYPE(GstNatsSink, gst_nats_sink, GST, NATS_SINK, GstBaseSink)

G_END_DECLS
