#!/usr/bin/env bash
# The interop suite (`just interop`, and the last step of .ci/run): installs
# the peers that are missing from Debian's packages, then runs
# `cargo test --test interop` one test at a time (each starts its own peers
# and network namespaces; one at a time keeps a 2-core machine responsive).
# Every peer is started by the tests themselves and stopped by process id;
# nothing here leaves a daemon running. Needs root (namespaces, port 67).
set -euo pipefail
cd "$(dirname "$0")/../.."

# Peer packages: "<binary> <package>" per line.
# net peers:
peers_net=(
  "kea-dhcp4 kea-dhcp4-server"
  "dnsmasq dnsmasq"
  "unbound unbound"
  "nginx nginx-light"
  "perfdhcp kea-admin"
  "dig dnsutils"
  "ip iproute2"
)
# sip peers (Kamailio, SIPp): the sip branch adds its lines here.
peers_sip=(
)

need=()
for entry in "${peers_net[@]}" "${peers_sip[@]}"; do
  bin=${entry%% *}; pkg=${entry#* }
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || [ -x "/sbin/$bin" ] || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  echo "== apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts would start the daemons system-wide; the tests start
  # their own, so forbid it while installing (and restore what was there).
  restore_policy=
  if [ -e /usr/sbin/policy-rc.d ]; then
    cp -p /usr/sbin/policy-rc.d /usr/sbin/policy-rc.d.phonestorm && restore_policy=1
  fi
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  if [ -n "$restore_policy" ]; then
    mv /usr/sbin/policy-rc.d.phonestorm /usr/sbin/policy-rc.d
  else
    rm -f /usr/sbin/policy-rc.d
  fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

echo "== cargo test --test interop"
cargo test --test interop -- --test-threads=1 "$@"
