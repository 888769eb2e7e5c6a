#!/usr/bin/env bash
# The interop suite (`just interop`, and the last step of .ci/run):
# installs the standard servers that are missing, then runs the `interop`
# test binary, one test at a time (each starts its own peers on loopback
# or in a namespace it creates, and stops them by pid).
#
#   tests/interop/run.sh [filter]          e.g. tests/interop/run.sh sip::
#
# PHONESTORM_SKIP_INTEROP=1 lets a test whose peer is missing pass with
# "SKIPPED <peer>: <why>" printed; without it a missing peer fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"

# Debian packages, "binary package" pairs: the binary that must exist and the
# package that provides it.
peers=(
  # --- sip: Kamailio with TLS and htable, SIPp, socat (TLS in front of
  # Debian's SIPp, which is built without OpenSSL) ---
  "kamailio kamailio" "kamcmd kamailio"
  "/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so kamailio-tls-modules"
  "/usr/lib/x86_64-linux-gnu/kamailio/modules/htable.so kamailio-extra-modules"
  "sipp sip-tester" "socat socat"
  # --- end sip ---
)
need=()
for p in "${peers[@]}"; do
  bin=${p% *}; pkg=${p#* }
  if [[ $bin == /* ]]; then [ -e "$bin" ] && continue
  else command -v "$bin" >/dev/null 2>&1 && continue; fi
  need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ] && [ "${PHONESTORM_SKIP_INTEROP:-0}" != 1 ]; then
  echo "== apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts try to start the daemons; the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  rm -f /usr/sbin/policy-rc.d
  # A daemon that started anyway would hold the ports and files the tests
  # use: stop it through its service script, not by name.
  for svc in kamailio; do
    [ -x "/etc/init.d/$svc" ] && "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  done
fi

cargo test --test interop -- --test-threads=1 "$@"
