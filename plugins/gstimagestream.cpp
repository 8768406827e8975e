// The imagestream plugin: registers every element of the project.
#include "gstimagestream.h"

static gboolean plugin_init(GstPlugin *plugin) {
  gboolean ok = FALSE;
  ok |= GST_ELEMENT_REGISTER(lengthprefixsrc, plugin);
  ok |= GST_ELEMENT_REGISTER(lengthprefixsink, plugin);
  ok |= GST_ELEMENT_REGISTER(websocketsink, plugin);
  ok |= GST_ELEMENT_REGISTER(natssink, plugin);
  ok |= GST_ELEMENT_REGISTER(natssrc, plugin);
  return ok;
}

#define PACKAGE "imagestream"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, imagestream,
                  "Length-prefixed TCP ingest and WebSocket fan-out for live JPEG streams",
                  plugin_init, PACKAGE_VERSION, "LGPL", "imagestream", PACKAGE_ORIGIN)

gboolean imagestream_register_static(void) {
  return gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "imagestream",
                                    "Length-prefixed TCP ingest and WebSocket fan-out for live JPEG streams",
                                    plugin_init, PACKAGE_VERSION, "LGPL", "imagestream", "imagestream",
                                    PACKAGE_ORIGIN);
}

GstClockTime imagestream_running_time(GstElement *element) {
  GstClock *clock = nullptr;
  GstClockTime base = 0;
  GST_OBJECT_LOCK(element);
  if (GST_ELEMENT_CLOCK(element)) {
    clock = GST_ELEMENT_CLOCK(element);
    gst_object_ref(clock);
    base = element->base_time;
  }
  GST_OBJECT_UNLOCK(element);
  if (!clock) return GST_CLOCK_TIME_NONE;
  const GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  return now > base ? now - base : 0;
}
