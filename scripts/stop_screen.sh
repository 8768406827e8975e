#!/bin/bash
# Stops a relay started by initiate_screen.sh:
#
#   stop_screen.sh PROJECT_NAME
#
# It types Ctrl-C into the session, so the relay shuts down cleanly and the
# session ends with it; a session still there after a few seconds is quit
# (which sends the relay SIGHUP, also a clean stop).

PROJECT_NAME=$1
STOP_TIMEOUT=${STOP_TIMEOUT:-10}  # seconds to wait for each way of stopping

if [ -z "$PROJECT_NAME" ]; then
    echo "PROJECT_NAME is empty"
    exit 1
fi

# The id (PID.NAME) of the screen session named exactly $1, if any.
session_id() {
    screen -ls 2>/dev/null | awk -v name="$1" '
        $1 ~ /^[0-9]+\./ { id = $1; sub(/^[0-9]+\./, "", id); if (id == name) { print $1; exit } }'
}

# Polls until the session is gone or $1 seconds pass.
wait_gone() {
    local deadline=$((SECONDS + $1))
    while [ -n "$(session_id "$PROJECT_NAME")" ]; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

SESSION=$(session_id "$PROJECT_NAME")
if [ -z "$SESSION" ]; then
    echo "no screen session named $PROJECT_NAME"
    exit 1
fi

echo "stopping screen for project $PROJECT_NAME"
screen -S "$SESSION" -p 0 -X stuff $'\003'
if wait_gone "$STOP_TIMEOUT"; then
    exit 0
fi
screen -S "$SESSION" -X quit
if wait_gone "$STOP_TIMEOUT"; then
    exit 0
fi
echo "screen session $SESSION did not stop"
exit 1
