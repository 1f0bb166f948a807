#!/usr/bin/env bash
# Runs a command on a fresh Xvfb display with trayer as the system tray, then stops
# both: scripts/with-tray.sh WIDTHxHEIGHT COMMAND [ARG...] (the screenshot scripts'
# display; exits with the command's status).
set -euo pipefail
size=$1
shift

for tool in Xvfb trayer; do
  command -v "$tool" >/dev/null || { echo "with-tray: $tool is missing; run scripts/setup.sh" >&2; exit 1; }
done

# a free display number from :81 on
n=81
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
display=":$n"

Xvfb "$display" -screen 0 "${size}x24" -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trayer_pid=""
cleanup() {
  [ -n "$trayer_pid" ] && kill "$trayer_pid" 2>/dev/null || true
  kill "$xvfb_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done

export DISPLAY="$display" QT_QPA_PLATFORM=xcb DBUS_SESSION_BUS_ADDRESS=disabled:
trayer --edge top --align right --widthtype pixel --width 420 --height 28 \
  --transparent false --tint 0x2f3640 >/dev/null 2>&1 &
trayer_pid=$!
sleep 1  # trayer claims the tray selection

"$@"
