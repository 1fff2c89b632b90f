#!/usr/bin/env bash
# Installs the servers the tests start (from the system's packages) when they are missing.
# The tests start and stop them themselves; nothing here starts a service.
set -euo pipefail

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]] || need+=(mosquitto)
# The browser tests drive the system's Chromium (Playwright's own browser download is not used).
[[ -x /usr/bin/chromium ]] || need+=(chromium)

if ((${#need[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "missing ${need[*]} and no root rights to install them: apt-get install ${need[*]}" >&2
  exit 1
fi

echo "installing ${need[*]} for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
