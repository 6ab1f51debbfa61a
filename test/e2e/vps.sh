# Sourced (from the repository root) by test/e2e/run.sh and bench/footprint/run.sh: this
# machine plays the VPS. Installs and starts what is missing (Docker engine, sshd on
# 127.0.0.1:2222 with keys made for the run, host nginx with another site on it that must
# survive the kit's destroy) and makes the run's TLS CA. vps_build_images builds the images the
# e2e stack names. The EXIT trap stops what was started here, and nothing else.
ROOT=$PWD
E2E_DIR=/tmp/matrix-kit-e2e
OTHER_SITE=/etc/nginx/conf.d/zz-matrix-kit-e2e-other-site.conf
export E2E_DIR E2E_OTHER_PORT=8481 E2E_SUMMARY=$E2E_DIR/summary.txt
started=()

cleanup() {
  set +e
  rm -f "$OTHER_SITE" /etc/nginx/conf.d/zz-matrix-kit-e2e-tls-front.conf /etc/nginx/conf.d/zz-matrix-kit-e2e-federation-front.conf
  # The second homeserver of test/e2e/federation.ts, if a run stopped before removing it.
  docker rm -f kit-e2e-federation-peer >/dev/null 2>&1
  for what in "${started[@]}"; do
    case $what in
      sshd) kill "$(cat "$E2E_DIR/sshd.pid")" 2>/dev/null ;;
      nginx) nginx -s quit 2>/dev/null ;;
      dockerd)
        # Wait for it to exit: the next run, which may take the lock at once, cannot start its
        # own while this one's pid file is there ("pid file found, ensure docker is not running").
        pid=$(cat "$E2E_DIR/dockerd.pid")
        kill "$pid" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        ;;
      cron) kill "$(cat "$E2E_DIR/cron.pid")" 2>/dev/null ;;
    esac
    echo "vps: stopped $what"
  done
  [ " ${started[*]} " == *" nginx "* ] || nginx -s reload 2>/dev/null
}
trap cleanup EXIT

source infra/cli/packages.sh
need dockerd docker.io
need nginx nginx
need sshd openssh-server
need debootstrap debootstrap
need ss iproute2
# The upkeep job is a cron entry; the sticker picker is checked in a real browser.
need cron cron
# Backups run Debian's restic on the VPS (matrix:backup in the e2e stack).
need restic restic
# HTTPS from an ACME CA (matrix:nginx.tls.source "acme") runs Debian's certbot on the VPS.
need certbot certbot
need chromium chromium
need flock util-linux
need pgrep procps
install_needed vps
mkdir -p "$E2E_DIR"

if ! docker info >/dev/null 2>&1; then
  # A dockerd still shutting down (its pid file there) would make the new one refuse to start.
  for _ in $(seq 60); do
    [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null || break
    sleep 1
  done
  echo "vps: starting dockerd"
  dockerd >"$E2E_DIR/dockerd.log" 2>&1 &
  echo $! >"$E2E_DIR/dockerd.pid"
  started+=(dockerd)
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null
fi

# cron, as on a VPS: it runs the upkeep job the kit installs in /etc/cron.d. The daemon is
# /usr/sbin/cron; a job it started runs under a child renamed /usr/sbin/CRON whose process name
# is still "cron", and one can outlive a stopped daemon (certbot's job sleeps up to 12 hours), so
# the daemon is told apart by its command line, case and all.
cron_daemon() { pgrep -f '^/usr/sbin/cron( |$)' "$@"; }
if ! cron_daemon >/dev/null; then
  echo "vps: starting cron"
  /usr/sbin/cron
  sleep 1
  cron_daemon -n >"$E2E_DIR/cron.pid"
  started+=(cron)
fi

# sshd on loopback: the VPS's ssh, with a client key and a host key made for this run.
rm -f "$E2E_DIR"/id_ed25519* "$E2E_DIR"/host_ed25519*
ssh-keygen -q -t ed25519 -N '' -C matrix-kit-e2e -f "$E2E_DIR/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$E2E_DIR/host_ed25519"
cp "$E2E_DIR/id_ed25519.pub" "$E2E_DIR/authorized_keys"
echo "[127.0.0.1]:2222 $(cut -d' ' -f1,2 "$E2E_DIR/host_ed25519.pub")" >"$E2E_DIR/known_hosts"
cat >"$E2E_DIR/sshd_config" <<CONF
Port 2222
ListenAddress 127.0.0.1
HostKey $E2E_DIR/host_ed25519
PidFile $E2E_DIR/sshd.pid
AuthorizedKeysFile $E2E_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
# The key files live under /tmp (world-writable parent).
StrictModes no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
UsePAM no
CONF
mkdir -p /run/sshd
/usr/sbin/sshd -f "$E2E_DIR/sshd_config"
started+=(sshd)
ssh -i "$E2E_DIR/id_ed25519" -p 2222 -o BatchMode=yes -o UserKnownHostsFile="$E2E_DIR/known_hosts" root@127.0.0.1 true
echo "vps: sshd on 127.0.0.1:2222 answers with the run's key"

# A local CA and the certificates it signs: server.pem for the TLS front that plays Cloudflare's
# edge (for `verify`, and for the second homeserver's federation, test/e2e/federation.ts), and
# peer.pem for that second homeserver, other.e2e.localhost.
# Two CAs more stand in for Cloudflare's (test/e2e/https.ts): its Origin CA in origin-ca/, which
# signs the origin certificate the kit asks for (test/harness/computed.ts makes it there and signs
# with it), and its origin-pull CA, which signs the client certificate its edge presents to the
# origin. pebble.pem is the HTTPS certificate of Pebble, the run's ACME CA, signed by the run's CA.
rm -rf "$E2E_DIR/tls"
node --import tsx -e 'const { makeCertificate, makeCertificateFor } = require("./test/harness/tls");
  makeCertificate(process.argv[1], "server", "e2e.localhost", "matrix.e2e.localhost");
  makeCertificate(process.argv[1], "peer", "other.e2e.localhost");
  makeCertificate(process.argv[1], "pebble", "localhost");
  makeCertificateFor("clientAuth", process.argv[1] + "/origin-pull", "edge", "edge.e2e.localhost");' "$E2E_DIR/tls"
export KIT_ORIGIN_CA_DIR=$E2E_DIR/tls/origin-ca

# Pebble, Let's Encrypt's test ACME CA, and its DNS stand-in, from the Go module proxy
# (test/e2e/https.ts runs them): built once into the run's cache.
PEBBLE_VERSION=v2.10.3
export PEBBLE_BIN=$ROOT/.cache/e2e/pebble-$PEBBLE_VERSION
if [ ! -x "$PEBBLE_BIN/pebble" ] || [ ! -x "$PEBBLE_BIN/pebble-challtestsrv" ]; then
  echo "vps: building Pebble $PEBBLE_VERSION"
  GOBIN=$PEBBLE_BIN go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION" "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$PEBBLE_VERSION"
fi

# Host nginx, with another site on it that must survive the kit's destroy. Server blocks a killed
# earlier run left (the benchmark's baseline front on 127.0.0.1:<port>) go first: nginx could not
# bind the kit's <port> on every address beside them, and every reload of the run would fail.
rm -f /etc/nginx/conf.d/zz-matrix-kit-bench-*.conf /etc/nginx/conf.d/zz-matrix-kit-e2e-*.conf
cat >"$OTHER_SITE" <<'CONF'
server {
    listen 127.0.0.1:8481;
    server_name other.localhost;
    location / { return 200 "other site\n"; }
}
CONF
# A reload fails when the nginx found is one still quitting (the previous run's cleanup sends
# `nginx -s quit` and its pid file goes first): wait for it to go, then start one of our own.
if ! pgrep -x nginx >/dev/null || ! nginx -s reload 2>/dev/null; then
  for _ in $(seq 60); do pgrep -x nginx >/dev/null || break; sleep 1; done
  nginx
  started+=(nginx)
fi
echo "vps: host nginx running"

# The images the e2e stack names: registry images rebuilt locally, and the bridge stand-ins.
vps_build_images() {
  bash test/e2e/images/build.sh
  bash test/e2e/bridge-standin/build-image.sh qq
  bash test/e2e/bridge-standin/build-image.sh wechat
}
