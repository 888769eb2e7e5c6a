#!/usr/bin/env bash
# The interop suite (`just interop`, and the last step of .ci/run): installs
# the peers that are missing from Debian's packages, then runs
# `cargo test --workspace --test interop` one test at a time (each starts its own peers
# on loopback or in network namespaces it creates, and stops them by
# process id; one at a time keeps a 2-core machine responsive). Nothing
# here leaves a daemon running. Needs root (namespaces, ports 67 and 68).
#
#   tests/interop/run.sh [filter]          e.g. tests/interop/run.sh sip::
#
# PHONESTORM_SKIP_INTEROP=1 installs nothing and lets a test whose peer is
# missing pass with "SKIPPED <peer>: <why>" printed; without it a missing
# peer fails its test.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"

# "<binary or absolute path> <package>" pairs.
peers=(
  # DHCP (in namespaces), DNS, HTTPS, and the DHCP side-by-side bench.
  "kea-dhcp4 kea-dhcp4-server" "dnsmasq dnsmasq" "unbound unbound"
  "nginx nginx-light" "openssl openssl" "perfdhcp kea-admin" "dig dnsutils" "ip iproute2"
  # Kamailio with TLS and htable, SIPp, and socat (TLS in front of
  # Debian's SIPp, which is built without OpenSSL).
  "kamailio kamailio" "kamcmd kamailio"
  "/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so kamailio-tls-modules"
  "/usr/lib/x86_64-linux-gnu/kamailio/modules/htable.so kamailio-extra-modules"
  "sipp sip-tester" "socat socat"
  # stunnel: SIPp's TLS in the side-by-side bench (bench/peers-register.sh).
  "stunnel stunnel4"
  # Prometheus scraping a run (promtool comes with it).
  "prometheus prometheus"
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
  # A daemon that started anyway would hold the ports and files the tests
  # use: stop it through its service script, not by name.
  for svc in kamailio nginx unbound dnsmasq kea-dhcp4-server prometheus stunnel4; do
    if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
  done
fi

# --workspace keeps the features every crate was built with for
# `cargo test --workspace`: the root package alone unifies tokio's and
# hyper's features differently, and cargo would build a second copy of them
# and of every phonestorm crate (a CI run once ran out of disk linking it).
echo "== cargo test --workspace --test interop"
cargo test --workspace --test interop -- --test-threads=1 "$@"
