#!/bin/sh
# The Debian package: scripts/package.sh builds it, apt-get installs it, and
# the installed files work from their installed paths (the plugin found by
# GStreamer with no GST_PLUGIN_PATH, /usr/bin/imagestream-launch relaying its
# demo camera, the man page, the unit, the scripts); then the package is
# removed again, also when a check fails.
#
#   check_package.sh SOURCE_ROOT
#
# Needs root (it installs system-wide; CI runs as root), else it is skipped.
# While it runs, GStreamer's own directory holds a second copy of the plugin:
# meson runs it alone (is_parallel : false) so that no other test sees it.
set -eu
source_root=$1
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: installs a package system-wide, which needs root"
  exit 77
fi
if dpkg-query -W -f='${Status}' imagestream 2>/dev/null | grep -q ' installed$'; then
  echo "SKIP: the imagestream package is installed on this machine already, and this test would remove it"
  exit 77
fi

# apt-get and dpkg run in a session of their own: a signal to this test's
# process group (meson's timeout, Ctrl-C) must not stop dpkg half-way, which
# would leave half-configured packages behind.
as_dpkg() { DEBIAN_FRONTEND=noninteractive setsid -w "$@" </dev/null; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imagestream-package.XXXXXX")
relay_pid=
installed=no
cleanup() {
  status=$?
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; fi
  if [ "$installed" = yes ]; then
    # apt-get waits for dpkg's lock, should an interrupted install still hold it.
    as_dpkg apt-get purge -y -o DPkg::Lock::Timeout=120 imagestream >"$tmp/purge.log" 2>&1 ||
      { cat "$tmp/purge.log"; status=1; }
    if dpkg-query -W -f='${Status}' imagestream 2>/dev/null | grep -q ' installed$'; then
      echo "FAIL: could not remove the imagestream package: apt-get purge imagestream"
      status=1
    fi
  fi
  rm -rf "$tmp"
  exit $status
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"$source_root/scripts/package.sh" >"$tmp/package.log" 2>&1 || { cat "$tmp/package.log"; fail "scripts/package.sh"; }
deb=$(tail -n 1 "$tmp/package.log")
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
case $deb in */imagestream_*_"$arch".deb) ;; *) cat "$tmp/package.log"; fail "package.sh printed no .deb path" ;; esac
[ -f "$deb" ] || fail "no $deb"
ok "scripts/package.sh: $deb"

plugin=/usr/lib/$multiarch/gstreamer-1.0/libgstimagestream.so
launcher=/usr/bin/imagestream-launch
unit=/lib/systemd/system/imagestream@.service
man_page=/usr/share/man/man1/imagestream-launch.1.gz
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|' >"$tmp/contents"
for f in "$plugin" "$launcher" "$unit" "$man_page" \
  /usr/share/imagestream/initiate_screen.sh /usr/share/imagestream/stop_screen.sh \
  /usr/share/doc/imagestream/copyright; do
  grep -qxF "$f" "$tmp/contents" || fail "the package lacks $f; it holds: $(cat "$tmp/contents")"
done
ok "the package holds the plugin, launcher, unit, man page, scripts and copyright"

installed=yes
as_dpkg apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=120 "$deb" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "apt-get install $deb"; }
ok "apt-get install $deb"

# GStreamer as a user without any environment finds it: no plugin path of the
# test's or the build tree's, and a registry of its own (not a stale one).
unset GST_PLUGIN_PATH GST_PLUGIN_PATH_1_0 GST_PLUGIN_SYSTEM_PATH GST_PLUGIN_SYSTEM_PATH_1_0 GST_REGISTRY
export GST_REGISTRY_1_0="$tmp/registry.bin"
gst-inspect-1.0 websocketsink >"$tmp/inspect.txt" 2>&1 || { cat "$tmp/inspect.txt"; fail "gst-inspect-1.0 websocketsink"; }
filename=$(sed -n 's/^  Filename *//p' "$tmp/inspect.txt")
# (On a merged-/usr system GStreamer may name it through /lib.)
[ "$(readlink -f "$filename")" = "$(readlink -f "$plugin")" ] || fail "websocketsink comes from $filename, not $plugin"
ok "gst-inspect-1.0 websocketsink: $plugin"

version=$("$launcher" --version) || fail "$launcher --version"
case $version in "imagestream-launch $(dpkg-parsechangelog -l "$source_root/debian/changelog" -S Version) "*) ;;
  *) fail "$launcher --version: $version" ;; esac
ok "$launcher --version: $version"

# The installed launcher relays its demo camera (videotestsrc and jpegenc from
# the packages it depends on) with the installed plugin in the registry too:
# its built-in elements and the plugin's must not clash (fatal-criticals).
G_DEBUG=fatal-criticals "$launcher" --demo --status-interval=0 0 0 camera >"$tmp/relay.log" 2>&1 &
relay_pid=$!
snapshot=
for _ in $(seq 100); do
  snapshot=$(sed -n 's/^snapshot: //p' "$tmp/relay.log")
  if [ -n "$snapshot" ] && curl -sf -o "$tmp/frame.jpg" "$snapshot"; then break; fi
  kill -0 "$relay_pid" 2>/dev/null || { cat "$tmp/relay.log"; fail "$launcher --demo exited"; }
  sleep 0.1
done
[ -s "$tmp/frame.jpg" ] || { cat "$tmp/relay.log"; fail "no frame from ${snapshot:-the relay}"; }
[ "$(od -An -tx1 -N2 "$tmp/frame.jpg" | tr -d ' ')" = ffd8 ] || fail "$snapshot is not a JPEG"
kill -TERM "$relay_pid"
relay_status=0
wait "$relay_pid" || relay_status=$?
relay_pid=
[ "$relay_status" -eq 0 ] || { cat "$tmp/relay.log"; fail "$launcher exited $relay_status on SIGTERM"; }
ok "$launcher --demo relays a JPEG frame and stops cleanly"

man_path=$(man -w imagestream-launch) || fail "man -w imagestream-launch"
[ "$man_path" = "$man_page" ] || fail "man -w imagestream-launch: $man_path, not $man_page"
ok "man -w imagestream-launch: $man_path"

exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
case $exec_start in "$launcher "*) ;; *) fail "$unit: ExecStart=$exec_start" ;; esac
ok "$unit runs $launcher"
for script in initiate_screen.sh stop_screen.sh; do
  [ -x "/usr/share/imagestream/$script" ] || fail "/usr/share/imagestream/$script is not executable"
done
# The screen script's usage check runs (and names the missing argument).
[ "$(/usr/share/imagestream/initiate_screen.sh)" = "PROJECT_NAME is empty" ] ||
  fail "/usr/share/imagestream/initiate_screen.sh without arguments"
ok "the screen scripts in /usr/share/imagestream"
