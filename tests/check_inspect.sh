#!/bin/sh
# gst-inspect-1.0 finds every element of the plugin, documents each property,
# and blacklists nothing.
set -eu
plugin_dir=$1
if [ -n "${IMAGESTREAM_SANITIZER_PRELOAD:-}" ]; then export LD_PRELOAD=$IMAGESTREAM_SANITIZER_PRELOAD; fi
fail() { echo "FAIL: $*"; exit 1; }
gst-inspect-1.0 "$plugin_dir/libgstimagestream.so" >/dev/null || fail "plugin does not load"
if gst-inspect-1.0 -b | grep -q imagestream; then fail "imagestream is blacklisted"; fi
for element in $(gst-inspect-1.0 imagestream | sed -n 's/^  \([a-z]*\): .*/\1/p'); do
  out=$(gst-inspect-1.0 "$element") || fail "gst-inspect-1.0 $element"
  # Every property line has a blurb after the colon.
  if echo "$out" | grep -E '^  [a-z][a-z0-9-]+ *: *$'; then fail "$element has a property without a blurb"; fi
  echo "ok $element"
done
for element in lengthprefixsrc lengthprefixsink; do
  gst-inspect-1.0 --exists --atleast-version=0.1 "$element" || fail "$element not found"
done
