#!/usr/bin/env bash
# The tray app's whole story, walked for real under Xvfb with trayer as the tray:
# scripts/walkthrough.py drives it and saves a picture of the screen per step
# into docs/walkthrough/ (arguments pass through, e.g. --out DIR --keep).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in Xvfb trayer ssh; do
  command -v "$tool" >/dev/null || { echo "walkthrough: $tool is missing; run scripts/setup.sh" >&2; exit 1; }
done

# a free display number from :81 on
n=81
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
display=":$n"

Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 &
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

.venv/bin/python scripts/walkthrough.py "$@"
