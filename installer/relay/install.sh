#!/bin/sh
# Install a vxassist relay: a dedicated, hardened OpenSSH sshd instance.
# Usage: install.sh DESK_DB_URL [PORT] [LISTEN] [VXASSIST_PATH]
#   DESK_DB_URL   the desk's database URL, as for `vxassist desk serve --db`
#                 (no spaces and no '%': sshd would read them as separators/tokens)
#   PORT          the relay's port (default 2222); LISTEN its address (default 0.0.0.0)
#   VXASSIST_PATH the vxassist executable with the desk extra (default /usr/local/bin/vxassist)
set -eu
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: install.sh DESK_DB_URL [PORT] [LISTEN] [VXASSIST_PATH]" >&2; exit 2; }
url=$1; port=${2:-2222}; listen=${3:-0.0.0.0}; vx=${4:-/usr/local/bin/vxassist}
etc=/etc/vxassist-relay
case "$url" in *' '*|*%*) echo "install.sh: the URL must not contain spaces or '%'" >&2; exit 2;; esac
here=$(cd "$(dirname "$0")" && pwd)

for account in vxagent vxeng vxrelaykeys; do
  id "$account" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$account"
done
install -d -m 0755 "$etc" /run/sshd
[ -f "$etc/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C vxassist-relay \
  -f "$etc/ssh_host_ed25519_key"
# the hardened template ships inside vxassist (src/vxassist/relay/sshd_config)
"$vx" desk relay-config --db "$url" --port "$port" --listen "$listen" --etc "$etc" \
    --vxassist "$vx" > "$etc/sshd_config.new"
chmod 0644 "$etc/sshd_config.new"
/usr/sbin/sshd -t -f "$etc/sshd_config.new"
mv "$etc/sshd_config.new" "$etc/sshd_config"
install -m 0644 "$here/vxassist-relay.service" /etc/systemd/system/vxassist-relay.service
systemctl daemon-reload
systemctl enable --now vxassist-relay.service
echo "relay listening on $listen:$port; give agents this known_hosts key:"
cat "$etc/ssh_host_ed25519_key.pub"
