#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run, test and package
# (scripts/package.sh: debhelper) imagestream: Debian packages (only those
# missing) and the npm packages of the browser tests and the benchmark. Safe to
# run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  build-essential meson ninja-build pkg-config
  libglib2.0-dev libglib2.0-dev-bin
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libsoup-3.0-dev glib-networking libjson-glib-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-x
  screen openssl curl bc valgrind
  clang libclang-rt-14-dev
  chromium python3-tornado python3-websockets
  firefox-esr python3-gi gir1.2-gstreamer-1.0
  gstreamer1.0-plugins-ugly ffmpeg
  debhelper dpkg-dev man-db
  nats-server libnats-dev haproxy
)
# Node.js 20 comes with this kind of machine; Debian's own is the fallback.
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs npm)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The browser tests (playwright-core driving Debian's chromium, puppeteer-core
# driving Debian's firefox-esr; no browser download) and the WebSocket clients
# of the tests use the root package.json.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
