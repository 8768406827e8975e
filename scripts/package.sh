#!/usr/bin/env bash
# Builds the Debian package build-deb/imagestream_<version>_<arch>.deb (and its
# -dbgsym package) with debhelper from debian/, and prints the .deb's path as
# the last line of its output.
#
#   scripts/package.sh
#
# dpkg-buildpackage runs in a copy of the tree in a temporary directory (it
# writes its results next to the tree it builds and leaves debian/ and obj-*/
# full of build files), so the only thing written into this tree is
# build-deb/: the .deb files, the .buildinfo and .changes, and build.log. The
# copy holds the files git knows (committed or not, but not ignored ones such
# as build*/ and node_modules/). The test suite does not run in the package
# build (debian/rules, and DEB_BUILD_OPTIONS=nocheck).
#
# Needs debhelper and the Build-Depends of debian/control: scripts/setup.sh
# installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-deb

version=$(dpkg-parsechangelog -S Version)
meson_version=$(meson introspect --projectinfo meson.build |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
if [ "$version" != "$meson_version" ]; then
  echo "package.sh: debian/changelog is at $version but meson.build at $meson_version;" \
    "add a changelog entry: dch -v $meson_version" >&2
  exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

work=$(mktemp -d "${TMPDIR:-/tmp}/imagestream-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/imagestream-$version
mkdir "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files as they are on disk (minus any deleted ones) and new files
  # that are not ignored.
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$src"
else
  tar --exclude=./.git --exclude='./build*' --exclude=./node_modules --exclude=./bench/node_modules \
    -cf - . | tar -xf - -C "$src"
fi

mkdir -p "$out"
rm -f "$out"/imagestream*.deb "$out"/imagestream_*.buildinfo "$out"/imagestream_*.changes "$out"/build.log
echo "package.sh: building imagestream $version for $arch in $src (log: $out/build.log)"
start=$SECONDS
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage --build=binary --no-sign -J"${JOBS:-$(nproc)}") >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log" >&2
  echo "package.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
fi
cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
deb=$out/imagestream_${version}_${arch}.deb
[ -f "$deb" ] || { echo "package.sh: no $deb after the build" >&2; exit 1; }
echo "package.sh: built in $((SECONDS - start)) s:"
echo "$deb"
