#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_WEBSOCKET_SINK (gst_websocket_sink_get_type())
G_DECLARE_FINAL_TYPE(GstWebsocketSink, gst_websocket_sink, GST, WEBSOCKET_SINK, GstBaseSink)

G_END_DECLS
