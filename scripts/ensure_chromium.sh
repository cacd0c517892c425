#!/usr/bin/env bash
# Locates Chromium and its ChromeDriver for the dashboard's browser test, installing
# Debian's `chromium` + `chromium-driver` with apt-get when they are missing (as root, or
# with passwordless sudo, as on CI runners).
#
# Prints two lines: the browser binary, then the driver binary.
# Overrides: CHROMIUM_BIN, CHROMEDRIVER_BIN (e.g. a preinstalled Chrome and its driver).
set -euo pipefail

find_browser() {
  if [ -n "${CHROMIUM_BIN:-}" ]; then echo "$CHROMIUM_BIN"; return 0; fi
  command -v chromium || command -v chromium-browser || return 1
}

find_driver() {
  if [ -n "${CHROMEDRIVER_BIN:-}" ]; then echo "$CHROMEDRIVER_BIN"; return 0; fi
  command -v chromedriver && return 0
  [ -x /usr/lib/chromium/chromedriver ] && echo /usr/lib/chromium/chromedriver && return 0
  return 1
}

browser=$(find_browser || true)
driver=$(find_driver || true)
if [ -z "$browser" ] || [ -z "$driver" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: chromium/chromedriver not found and no apt-get; install them or set CHROMIUM_BIN and CHROMEDRIVER_BIN" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "ensure_chromium: need root (or passwordless sudo) to apt-get install chromium chromium-driver" >&2
      exit 1
    fi
  fi
  echo "ensure_chromium: installing chromium and chromium-driver with apt-get" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
  browser=$(find_browser)
  driver=$(find_driver)
fi
echo "$browser"
echo "$driver"
