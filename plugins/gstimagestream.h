// Element registration for the imagestream plugin.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE(lengthprefixsrc);
GST_ELEMENT_REGISTER_DECLARE(lengthprefixsink);
GST_ELEMENT_REGISTER_DECLARE(websocketsink);
GST_ELEMENT_REGISTER_DECLARE(natssink);
GST_ELEMENT_REGISTER_DECLARE(natssrc);

// The out-of-band downstream event lengthprefixsrc sends whenever its number
// of connected senders changes (field "senders", guint); websocketsink
// reports it as whether a camera is connected.
#define IMAGESTREAM_SENDERS_EVENT "imagestream-senders"

// The running time of `element` now (its clock's time minus its base
// time), or GST_CLOCK_TIME_NONE without a clock: a live source's timestamp
// for what arrives now.
GstClockTime imagestream_running_time(GstElement *element);

// Registers the plugin's elements in-process (for the launcher, which then
// works from the build tree without GST_PLUGIN_PATH).
gboolean imagestream_register_static(void);

G_END_DECLS
