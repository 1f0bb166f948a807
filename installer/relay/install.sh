#!/bin/sh
# Install a vxassist relay: a dedicated, hardened OpenSSH sshd instance.
# Usage: install.sh [--name NAME] DESK_DB_URL [PORT] [LISTEN] [VXASSIST_PATH]
#   --name NAME   this relay's name in the desk's [[relays]] (a desk with several
#                 relays): its key lookup answers only for the hosts placed on it
#   DESK_DB_URL   the desk's database URL, as for `vxassist desk serve --db`
#                 (no spaces and no '%': sshd would read them as separators/tokens)
#   PORT          the relay's port (default 2222); LISTEN its address (default 0.0.0.0)
#   VXASSIST_PATH the vxassist executable with the desk extra (default /usr/local/bin/vxassist)
set -eu
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
relay=""
if [ "${1:-}" = "--name" ]; then
  [ $# -ge 2 ] || { echo "install.sh: --name needs the relay's name" >&2; exit 2; }
  relay=$2; shift 2
  case "$relay" in *[!A-Za-z0-9_-]*|'') echo "install.sh: a relay name is letters, digits, - or _" >&2; exit 2;; esac
fi
[ $# -ge 1 ] || { echo "usage: install.sh [--name NAME] DESK_DB_URL [PORT] [LISTEN] [VXASSIST_PATH]" >&2; exit 2; }
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
    --vxassist "$vx" ${relay:+--relay "$relay"} > "$etc/sshd_config.new"
chmod 0644 "$etc/sshd_config.new"
/usr/sbin/sshd -t -f "$etc/sshd_config.new"
mv "$etc/sshd_config.new" "$etc/sshd_config"
install -m 0644 "$here/vxassist-relay.service" /etc/systemd/system/vxassist-relay.service
systemctl daemon-reload
systemctl enable --now vxassist-relay.service
echo "relay ${relay:-(unnamed)} listening on $listen:$port; put this host key in the desk's"
echo "relay entry (known_hosts / known_hosts_file${relay:+ of [[relays]] name = \"$relay\"}):"
cat "$etc/ssh_host_ed25519_key.pub"
