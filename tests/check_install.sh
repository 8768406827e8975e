#!/bin/sh
# `meson install` follows --prefix: a fresh `meson setup --prefix=TMP/prefix`
# of the source tree, with only its installed targets built, installs into
# TMP/prefix and nowhere else. The plugin lands in <prefix>/<libdir>/gstreamer-1.0
# (libdir as meson derives it on this machine), the launcher in <prefix>/bin,
# the systemd unit's ExecStart names <prefix>/bin/imagestream-launch, and
# GST_PLUGIN_PATH=<prefix>/<libdir>/gstreamer-1.0 makes the elements visible.
#
#   check_install.sh SOURCE_ROOT
set -eu
source_root=$1
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok $*"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imagestream-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
build=$tmp/build

# buildtype=plain (no -O2): this checks where files go, not how fast they run.
meson setup --prefix="$prefix" --buildtype=plain "$build" "$source_root" >"$tmp/setup.log" 2>&1 ||
  { cat "$tmp/setup.log"; fail "meson setup --prefix=$prefix"; }

# Before anything is installed: every destination is inside the prefix (so a
# regression cannot write into the system's directories when run as root).
meson introspect --installed "$build" >"$tmp/installed.json"
outside=$(python3 -c '
import json, sys
for src, dest in json.load(open(sys.argv[1])).items():
    if not dest.startswith(sys.argv[2] + "/"):
        print(dest)' "$tmp/installed.json" "$prefix")
[ -z "$outside" ] || fail "meson would install outside --prefix=$prefix: $outside"
ok "every install destination is under the prefix"

libdir=$(meson introspect --buildoptions "$build" | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"))')
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
plugin_dir=$libdir/gstreamer-1.0

# Build only what gets installed (the tests and benchmarks would double the
# compile time), then install exactly that.
targets=$(meson introspect --targets "$build" | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if t["installed"]:
        for f in t["filename"]:
            print(os.path.relpath(f, sys.argv[1]))' "$build")
# shellcheck disable=SC2086  # one target per word
ninja -C "$build" -j "$(nproc)" $targets >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "ninja $targets"; }
meson install -C "$build" --no-rebuild >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "meson install"; }

[ -f "$plugin_dir/libgstimagestream.so" ] || fail "no $plugin_dir/libgstimagestream.so; installed: $(cat "$tmp/installed.json")"
ok "plugin in $plugin_dir"
[ -x "$prefix/bin/imagestream-launch" ] || fail "no $prefix/bin/imagestream-launch"
"$prefix/bin/imagestream-launch" --version >/dev/null || fail "$prefix/bin/imagestream-launch --version"
ok "launcher in $prefix/bin"
for script in initiate_screen.sh stop_screen.sh; do
  [ -x "$prefix/share/imagestream/$script" ] || fail "no executable $prefix/share/imagestream/$script"
done
ok "scripts in $prefix/share/imagestream"
[ -f "$prefix/share/man/man1/imagestream-launch.1" ] || fail "no man page in $prefix/share/man/man1"
ok "man page in $prefix/share/man/man1"

unit=$prefix/lib/systemd/system/imagestream@.service
[ -f "$unit" ] || fail "no $unit"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
case $exec_start in
  "$prefix/bin/imagestream-launch "*) ok "unit's ExecStart is $prefix/bin/imagestream-launch" ;;
  *) fail "$unit: ExecStart=$exec_start does not start $prefix/bin/imagestream-launch" ;;
esac

# The installed plugin, found through GST_PLUGIN_PATH alone: no build-tree
# path from the test environment, a registry of its own.
unset GST_PLUGIN_PATH_1_0 GST_PLUGIN_SYSTEM_PATH GST_PLUGIN_SYSTEM_PATH_1_0
export GST_PLUGIN_PATH="$plugin_dir"
export GST_REGISTRY_1_0="$tmp/registry.bin"
gst-inspect-1.0 websocketsink >"$tmp/inspect.txt" 2>&1 || { cat "$tmp/inspect.txt"; fail "GST_PLUGIN_PATH=$plugin_dir gst-inspect-1.0 websocketsink"; }
filename=$(sed -n 's/^  Filename *//p' "$tmp/inspect.txt")
[ "$filename" = "$plugin_dir/libgstimagestream.so" ] || fail "websocketsink comes from $filename, not $plugin_dir"
ok "GST_PLUGIN_PATH=$plugin_dir gst-inspect-1.0 websocketsink"
