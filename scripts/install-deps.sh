#!/usr/bin/env bash
# Installs the Debian packages kmsharness needs, if they are missing:
# softhsm2 (the HSM emulation) and, with --test, awscli (the CLI smoke tests)
# and chromium (the tests open the HTML reports in a real headless browser).
set -euo pipefail

packages=(softhsm2)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(awscli chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
((${#missing[@]} == 0)) && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
echo "installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
