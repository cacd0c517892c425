#!/usr/bin/env bash
# Locates PostgreSQL's server binaries (initdb, pg_ctl, postgres) for the tests that keep the
# paper executor's state in a real PostgreSQL, installing Debian's `postgresql` with apt-get
# when they are missing (as root, or with passwordless sudo, as on CI runners).
#
# Prints one line: the folder holding initdb and pg_ctl. Any major version will do; Debian
# and Ubuntu put each in /usr/lib/postgresql/<version>/bin (not on PATH), the newest wins.
# Override: TRADESTREAM_POSTGRES_BIN_DIR (e.g. a PostgreSQL built or unpacked elsewhere).
set -euo pipefail

find_bin_dir() {
  if [ -n "${TRADESTREAM_POSTGRES_BIN_DIR:-}" ]; then
    [ -x "$TRADESTREAM_POSTGRES_BIN_DIR/initdb" ] && echo "$TRADESTREAM_POSTGRES_BIN_DIR" && return 0
    echo "ensure_postgres: TRADESTREAM_POSTGRES_BIN_DIR=$TRADESTREAM_POSTGRES_BIN_DIR holds no initdb" >&2
    exit 1
  fi
  local newest
  newest=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then echo "$newest"; return 0; fi
  local initdb
  initdb=$(command -v initdb) || return 1
  dirname "$(readlink -f "$initdb")"
}

bin_dir=$(find_bin_dir || true)
if [ -z "$bin_dir" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_postgres: PostgreSQL (initdb, pg_ctl) not found and no apt-get; install it or set TRADESTREAM_POSTGRES_BIN_DIR" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "ensure_postgres: need root (or passwordless sudo) to apt-get install postgresql, or set TRADESTREAM_POSTGRES_BIN_DIR" >&2
      exit 1
    fi
  fi
  echo "ensure_postgres: installing postgresql with apt-get" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
  bin_dir=$(find_bin_dir)
fi
echo "$bin_dir"
