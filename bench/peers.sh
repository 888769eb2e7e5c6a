#!/usr/bin/env bash
# Side by side (`just bench-peers`): phonestorm against a specialist tool,
# each driving the same server through the same path, measured in one run.
#
#   bench/peers.sh dhcp     phonestorm vs perfdhcp against Kea
#   bench/peers.sh sip [N] [RATE]  phonestorm vs SIPp against Kamailio
#                           (bench/peers-register.sh; `register` also works)
#   bench/peers.sh all      both
#
# DHCP: Kea (kea-dhcp4-server) in a network namespace made here, behind a
# veth pair (host side 198.19.0.1, the relay; namespace side 198.19.0.2;
# phones' leases in 198.19.128.0/17, routed to the host);
# phonestorm (bench/dhcp.toml: DHCP only, its relay agent on 198.19.0.1:67)
# then perfdhcp (kea-admin) acting as a relay from the same address. Each
# tool gets a freshly started Kea with an empty lease table. Counts and
# times are bounded: DHCP_PHONES phones (3 round trips each), perfdhcp
# the same number of round trips (2 per DORA), at the same offered rate of
# round trips per second; each run is killed after 300 s.
# Needs root; installs nothing (run `just interop` once first).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
bin=${CARGO_TARGET_DIR:-target}/release/phonestorm
export PATH="$PATH:/usr/sbin:/sbin"

need() { command -v "$1" >/dev/null || { echo "bench-peers: $1 missing (Debian package $2; \`just interop\` installs it)" >&2; exit 2; }; }

# CPU seconds (user + system) and wall seconds of a finished /usr/bin/time.
cpu_of() { awk '{printf "%.2f", $2 + $3}' "$1"; }
wall_of() { awk '{printf "%.2f", $1}' "$1"; }

dhcp() {
  need kea-dhcp4 kea-dhcp4-server
  need perfdhcp kea-admin
  need jq jq
  local phones=${DHCP_PHONES:-3000} rate=${DHCP_RATE:-200}
  # Globals, as the EXIT trap reads them after this function returns.
  out="" ns="" host="" nsif="" kea_pid=""
  out=$(mktemp -d)
  ns="ps-bench-$$"; host="psb$$h"; nsif="psb$$n"
  teardown() {
    [ -n "${kea_pid:-}" ] && kill "$kea_pid" 2>/dev/null && wait "$kea_pid" 2>/dev/null || true
    ip link del "$host" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    ip route del local 198.19.128.0/17 dev lo 2>/dev/null || true
    rm -rf "$out"
  }
  trap teardown EXIT
  ip netns add "$ns"
  ip link add "$host" type veth peer name "$nsif"
  ip link set "$nsif" netns "$ns"
  ip addr add 198.19.0.1/24 dev "$host"; ip link set "$host" up
  ip -n "$ns" addr add 198.19.0.2/24 dev "$nsif"
  ip -n "$ns" link set "$nsif" up; ip -n "$ns" link set lo up
  # Phones' addresses are behind the relay, as behind a router: one route
  # rather than thousands of on-link neighbours (the kernel's neighbour
  # table holds 1024 by default, and Kea sends each INFORM's ACK to the
  # phone's own address).
  ip -n "$ns" route add 198.19.128.0/17 via 198.19.0.1
  # The pool is local to this host ("AnyIP"): Kea answers an INFORM to the
  # phone's leased address, port 68 (RFC 2131 4.3.5), and the relay agent
  # receives it there for the phone.
  ip route replace local 198.19.128.0/17 dev lo

  # Kea's configuration: the interop suite's template, options from
  # `phonestorm dhcp-options --format kea`, a /16 pool, logging at WARN so
  # the server's own logging does not shape the figures.
  $bin dhcp-options --sip-server fe01.contoso.com --format kea | grep -v '^ *//' > "$out/generated.json"
  export T_interface="$nsif/198.19.0.2" T_subnet=198.19.0.0/16 \
    T_pool="198.19.128.1 - 198.19.255.254" T_router=198.19.0.1 T_domain=contoso.com \
    T_lease_file="$out/leases.csv" T_log_file="$out/kea.log" T_log_severity=WARN T_log_debuglevel=0 \
    T_option_def="$(jq -c '.Dhcp4["option-def"]' "$out/generated.json")" \
    T_client_classes="$(jq -c '.Dhcp4["client-classes"]' "$out/generated.json")"
  perl -pe 's/\{\{(\w+)\}\}/$ENV{"T_$1"}/g' tests/interop/kea/kea-dhcp4.json.in > "$out/kea.json"

  start_kea() {
    rm -f "$out/leases.csv"*
    KEA_PIDFILE_DIR=$out KEA_LOCKFILE_DIR=$out ip netns exec "$ns" kea-dhcp4 -c "$out/kea.json" > "$out/kea.out" 2>&1 &
    kea_pid=$!
    for _ in $(seq 100); do
      ip netns exec "$ns" ss -lun | grep -q '198.19.0.2:67' && return 0
      sleep 0.1
    done
    echo "bench-peers: Kea did not start:" >&2; cat "$out/kea.out" >&2; exit 1
  }
  stop_kea() { kill "$kea_pid"; wait "$kea_pid" 2>/dev/null || true; kea_pid=""; }

  # phonestorm: `phones` phones at `rate` a second, 3 round trips each.
  start_kea
  timeout 300 /usr/bin/time -f "%e %U %S" -o "$out/ps.time" \
    $bin run bench/dhcp.toml --quiet --report-json "$out/ps.json" \
      --set "phones.count=$phones" --set "arrival.rate=$rate" \
      --set 'target.dhcp_server="198.19.0.2"' --set 'target.dhcp_relay="198.19.0.1"' \
      > "$out/ps.out" 2>&1 || { cat "$out/ps.out" >&2; exit 1; }
  stop_kea
  local ps_ok ps_rt ps_cpu ps_wall
  ps_ok=$(jq '.stages.dhcp.ok' "$out/ps.json")
  ps_rt=$((ps_ok * 3))
  ps_cpu=$(cpu_of "$out/ps.time"); ps_wall=$(wall_of "$out/ps.time")

  # perfdhcp: the same round trips, at the same rate of round trips (a DORA
  # is two), one client per DORA, as a relay from the same address.
  local dora=$((ps_ok * 3 / 2)) dora_rate=$((rate * 3 / 2))
  start_kea
  timeout 300 /usr/bin/time -f "%e %U %S" -o "$out/pd.time" \
    perfdhcp -4 -l 198.19.0.1 -R "$dora" -n "$dora" -r "$dora_rate" -W 2000000 198.19.0.2 \
      > "$out/pd.out" 2>&1 || true
  stop_kea
  local pd_rt pd_cpu pd_wall
  # perfdhcp reports received packets per exchange type (DO then RA).
  pd_rt=$(awk '/received packets:/ {s += $3} END {print s + 0}' "$out/pd.out")
  pd_cpu=$(cpu_of "$out/pd.time"); pd_wall=$(wall_of "$out/pd.time")

  echo "DHCP against Kea $(kea-dhcp4 -v), relay 198.19.0.1 -> 198.19.0.2, offered $((rate * 3)) round trips/s"
  printf '%-11s %10s %10s %10s %12s %16s\n' tool "round trips" "wall s" "CPU s" "trips/s" "CPU us/trip"
  row() { awk -v t="$1" -v n="$2" -v w="$3" -v c="$4" 'BEGIN {printf "%-11s %10d %10.2f %10.2f %12.0f %16.1f\n", t, n, w, c, (w > 0 ? n / w : 0), (n > 0 ? c * 1e6 / n : 0)}'; }
  row phonestorm "$ps_rt" "$ps_wall" "$ps_cpu"
  row perfdhcp "$pd_rt" "$pd_wall" "$pd_cpu"
  echo "phonestorm: $ps_ok of $phones phones leased and got options 43/120 (DORA + INFORM); dhcp stage: $(jq -c '.stages.dhcp | {count, failed, retries, failures}' "$out/ps.json")"
  echo "perfdhcp output:"; grep -E 'sent packets|received packets|drops|rejected' "$out/pd.out" | sed 's/^/  /'
  trap - EXIT
  teardown
}

# REGISTER over TLS against Kamailio: its own script, with its own peers.
sip() {
  PHONESTORM_BIN=$bin bash bench/peers-register.sh register "$@"
}

cargo build --release -q --bin phonestorm
case $what in
  dhcp) dhcp ;;
  sip|register) shift; sip "$@" ;;
  all) dhcp; sip ;;
  *) echo "usage: bench/peers.sh [dhcp|sip|all]" >&2; exit 2 ;;
esac
