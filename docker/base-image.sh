#!/bin/bash
# Builds the Debian 12 base image of every TradeStream Dockerfile without a container
# registry: `debootstrap --variant=minbase bookworm` into a directory, then `docker import`.
#
#   docker/base-image.sh [TAG] [WORKDIR]     (root; Debian's debootstrap and a Docker engine)
#
# TAG defaults to tradestream/debian-base:bookworm, the default BASE_IMAGE build argument of
# docker/*.Dockerfile. Elsewhere, skip this and build from a public Debian 12 image instead:
#   docker build --build-arg BASE_IMAGE=debian:bookworm-slim -f docker/python.Dockerfile .
# Idempotent: does nothing when TAG exists. About 1 min and 200 MB.
set -euo pipefail
TAG=${1:-tradestream/debian-base:bookworm}
WORK=${2:-$(mktemp -d)}
[ "$(id -u)" = 0 ] || { echo "base-image: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "base-image: apt-get install debootstrap" >&2; exit 1; }
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base-image: $TAG exists"
  exit 0
fi
# The Debian mirror apt already uses on this host (deb822 sources, else sources.list).
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$WORK"
ROOT=$WORK/rootfs
rm -rf "$ROOT"
echo "base-image: debootstrap bookworm (minbase) from $MIRROR"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
# Small images: no recommends, no docs, apt lists and caches emptied.
cat > "$ROOT/etc/apt/apt.conf.d/90tradestream" <<'EOT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOT
cat > "$ROOT/etc/dpkg/dpkg.cfg.d/90tradestream-nodoc" <<'EOT'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOT
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" > "$ROOT/etc/apt/sources.list"
# Certificate authorities added on this host (/usr/local/share/ca-certificates), e.g. of a
# TLS-intercepting proxy: builds from this base then reach PyPI and Maven Central as the host
# does (pip, Java's cacerts and update-ca-certificates all read them from there).
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates" "$ROOT/etc/ssl/certs"
  cp -rL /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
  cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
fi
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/*
tar -C "$ROOT" --numeric-owner -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  -c 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
rm -rf "$ROOT"
echo "base-image: $TAG ready"
