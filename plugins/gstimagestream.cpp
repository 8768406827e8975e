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
