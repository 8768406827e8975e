#pragma once

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_NATS_SRC (gst_nats_src_get_type())
G_DECLARE_FINAL_TYPE(GstNatsSrc, gst_nats_src, GST, NATS_SRC, GstPushSrc)

G_END_DECLS
