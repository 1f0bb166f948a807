#!/bin/sh
# Install the vxassist desk: a systemd service (own account, several workers on
# loopback) behind nginx with TLS.
# Usage: install.sh SERVER_NAME [VXASSIST_PATH]
#   SERVER_NAME    the desk's public name, e.g. desk.example.com (in the nginx site)
#   VXASSIST_PATH  vxassist with the desk extra (default /usr/local/bin/vxassist)
# Before: `apt-get install nginx postgresql`, a PostgreSQL role and database for the
# desk, the TLS certificate in /etc/ssl/certs/vxassist-desk.crt and its key in
# /etc/ssl/private/vxassist-desk.key. See docs/operating.md.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: install.sh SERVER_NAME [VXASSIST_PATH]" >&2; exit 2; }
name=$1; vx=${2:-/usr/local/bin/vxassist}
case "$name" in *[!A-Za-z0-9.-]*|'') echo "install.sh: $name is not a host name" >&2; exit 2;; esac
[ -x "$vx" ] || { echo "install.sh: $vx is not there; install vxassist[desk] first" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
etc=/etc/vxassist

id vxdesk >/dev/null 2>&1 || useradd --system --home-dir /var/lib/vxassist-desk \
  --no-create-home --shell /usr/sbin/nologin vxdesk
install -d -m 0750 -o root -g vxdesk "$etc"
install -d -m 0700 -o vxdesk -g vxdesk /var/lib/vxassist-desk
for f in desk.env desk.toml; do
  if [ ! -f "$etc/$f" ]; then
    install -m 0640 -o root -g vxdesk "$here/$f.example" "$etc/$f"
    echo "wrote $etc/$f from the example: edit it (database, relays) before the desk starts"
  fi
done

sed "s#/usr/local/bin/vxassist#$vx#g" "$here/vxassist-desk.service" \
  > /etc/systemd/system/vxassist-desk.service
chmod 0644 /etc/systemd/system/vxassist-desk.service

sed "s/desk\.example\.com/$name/g" "$here/vxassist-desk.nginx" \
  > /etc/nginx/sites-available/vxassist-desk
ln -sf /etc/nginx/sites-available/vxassist-desk /etc/nginx/sites-enabled/vxassist-desk
if [ ! -f /etc/ssl/certs/vxassist-desk.crt ] || [ ! -f /etc/ssl/private/vxassist-desk.key ]; then
  echo "install.sh: put the TLS certificate and key in /etc/ssl/certs/vxassist-desk.crt and" >&2
  echo "/etc/ssl/private/vxassist-desk.key, then run: nginx -t && systemctl reload nginx" >&2
else
  nginx -t
  systemctl reload nginx
fi

systemctl daemon-reload
systemctl enable vxassist-desk.service
if grep -q CHANGE-ME "$etc/desk.env"; then
  echo "edit $etc/desk.env (DESK_DB_URL), then: systemctl start vxassist-desk"
else
  systemctl restart vxassist-desk.service
  echo "desk started; check: curl -fsS https://$name/healthz"
fi
