#!/bin/bash
# Starts one relay in a detached GNU screen session, with the interface and
# messages of the original project's initiate_screen.sh:
#
#   initiate_screen.sh PROJECT_NAME DESCRIPTOR PORT VIRTUAL_ENV_NAME WEB_STREAM_PORT WEB_SECRET [LAUNCHER OPTIONS...]
#
# cameras send to PORT; browsers open http://HOST:WEB_STREAM_PORT/WEB_SECRET.
# Arguments after the six go to imagestream-launch as they are, e.g.
# `--camera 5001:OTHER_SECRET --ingest-host 127.0.0.1`.
# Stop it with stop_screen.sh PROJECT_NAME.
#
# VIRTUAL_ENV_NAME is a label only: the relay is a C++ program now and needs
# no Python virtualenv, but the argument stays required so that callers of the
# original keep working unchanged.
#
# The relay is the first of: $IMAGESTREAM_LAUNCH, imagestream-launch on PATH,
# build/launcher/imagestream-launch in this source tree.

PROJECT_NAME=$1
DESCRIPTOR=$2
PORT=$3
# shellcheck disable=SC2034  # a label only, see above
VIRTUAL_ENV_NAME=$4
WEB_STREAM_PORT=$5
WEB_SECRET=$6
LAUNCHER_OPTIONS=("${@:7}")

for name in PROJECT_NAME DESCRIPTOR PORT VIRTUAL_ENV_NAME WEB_STREAM_PORT WEB_SECRET; do
    if [ -z "${!name}" ]; then
        echo "$name is empty"
        exit 1
    fi
done

for name in PORT WEB_STREAM_PORT; do
    if ! [[ ${!name} =~ ^[0-9]+$ ]] || [ "${!name}" -gt 65535 ]; then
        echo "$name is not a port number: ${!name}"
        exit 1
    fi
done

# The id (PID.NAME) of the screen session named exactly $1, if any; `screen -S`
# alone would also match sessions whose names merely start with $1.
session_id() {
    screen -ls 2>/dev/null | awk -v name="$1" '
        $1 ~ /^[0-9]+\./ { id = $1; sub(/^[0-9]+\./, "", id); if (id == name) { print $1; exit } }'
}

find_launcher() {
    if [ -n "$IMAGESTREAM_LAUNCH" ]; then
        echo "$IMAGESTREAM_LAUNCH"
    elif command -v imagestream-launch >/dev/null; then
        command -v imagestream-launch
    else
        local root
        root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
        echo "$root/build/launcher/imagestream-launch"
    fi
}

echo "creating screen for project $PROJECT_NAME, descriptor $DESCRIPTOR"

if [ -n "$(session_id "$PROJECT_NAME")" ]; then
    echo "project name already exists"
    exit 1
fi

LAUNCHER=$(find_launcher)
if ! [ -x "$LAUNCHER" ]; then
    echo "imagestream-launch not found: install it, build it into build/, or set IMAGESTREAM_LAUNCH"
    exit 1
fi

# The window runs the relay under bash rather than alone, so that a relay that
# cannot start (port in use, say) leaves its message on screen for `screen -r`
# instead of the session vanishing; a relay stopped by Ctrl-C, SIGTERM or the
# session quitting exits 0 and the session ends with it. The trap keeps bash
# waiting for the relay's clean shutdown when Ctrl-C reaches both; after a
# failure, Ctrl-C (stop_screen.sh) ends the session as Enter does.
# The relay's first line of output on failure, and its exit status, go to a
# file of their own, so that this script can tell whether it started.
STATUS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/imagestream-screen.XXXXXX") || exit 1
trap 'rm -rf "$STATUS_DIR"' EXIT
# shellcheck disable=SC2016  # expanded by the inner bash
screen -AdmS "$PROJECT_NAME" -t "$DESCRIPTOR" bash -c '
    status_dir=$1
    shift
    trap : INT
    "$@" 2> >(tee "$status_dir/stderr" >&2)
    status=$?
    trap - INT
    echo "$status" > "$status_dir/status.tmp" && mv "$status_dir/status.tmp" "$status_dir/status"
    if [ "$status" -ne 0 ]; then
        echo "imagestream-launch exited with status $status; press Enter to close this session"
        read -r
    fi' imagestream-relay "$STATUS_DIR" "$LAUNCHER" "${LAUNCHER_OPTIONS[@]}" "$PORT" "$WEB_STREAM_PORT" "$WEB_SECRET"

# Started once the relay listens on both ports (ss names the process, so
# another program holding a port does not count); failed if it exits first.
# A port 0 cannot be checked this way: then it counts as listening.
listening() { [ "$1" -eq 0 ] || ss -Hltnp "sport = :$1" 2>/dev/null | grep -q '"imagestream-la'; }
for _ in $(seq 100); do
    if [ -f "$STATUS_DIR/status" ]; then
        echo "imagestream-launch failed to start (exit $(cat "$STATUS_DIR/status")): $(head -n 1 "$STATUS_DIR/stderr")"
        echo "the session $PROJECT_NAME shows the rest: screen -r $PROJECT_NAME"
        exit 1
    fi
    if listening "$PORT" && listening "$WEB_STREAM_PORT"; then
        exit 0
    fi
    sleep 0.1
done
echo "imagestream-launch did not listen on ports $PORT and $WEB_STREAM_PORT within 10 s; see screen -r $PROJECT_NAME"
exit 1
