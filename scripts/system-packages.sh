#!/usr/bin/env bash
# Installs the Debian packages the embedded stack and the tests use: prometheus (server and
# promtool), chromium (the browser tests) and a CJK font for their screenshots. Root installs them; anyone else is told how.
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# CJK glyphs for the browser tests' screenshots (the pages work without it).
[ -d /usr/share/fonts/truetype/wqy ] || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "(make run works without them: Prometheus is skipped; the tests need them.)" >&2
  exit 0
fi
echo "Installing Debian packages: ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
