#!/usr/bin/env bash
# Side by side with the specialist tools, on the same standard servers
# (`just bench-peers <what>`; figures in bench/README.md). Each function is
# self-contained: it starts its peers on loopback, measures, and stops what
# it started by pid. Counts are bounded; nothing leaves 127.0.0.0/8.
#
#   bench/peers.sh sip [N] [RATE]     (default 1000 at 200/s), which runs
#   bench/peers-register.sh register [N] [RATE]
#
# Needs the Debian packages tests/interop/run.sh installs (kamailio,
# kamailio-tls-modules, sip-tester, socat), stunnel4, jq and GNU time.
# KAMAILIO_TCP_CHILDREN (default 1) sets Kamailio's TCP workers: Debian's
# Kamailio 5.6 with OpenSSL 3 corrupts its TLS state and crashes when
# several workers handshake at once (kamailio issues #3205, #4055; the fix,
# tls_threads_mode, came in 5.7), so the bench runs one worker; the
# interop tests' low rates do not trigger it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

# CPU seconds (user+sys) and wall seconds of a command, from GNU time.
timed() { /usr/bin/time -f '%U %S %e' -o "$1" "${@:2}"; }
cpu_of() { awk 'END { printf "%.3f", $1 + $2 }' "$1"; }
wall_of() { awk 'END { print $3 }' "$1"; }
# CPU seconds of a running process and the children it has reaped
# (/proc/<pid>/stat utime+stime+cutime+cstime), read before stopping it.
cpu_proc() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14+$15+$16+$17)/hz }' "/proc/$1/stat"; }
# What the functions start, stopped by pid when the script exits.
PIDS=()
OUT=${PEERS_OUT:-$(mktemp -d)}
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${PEERS_OUT:-}" ] || rm -rf "$OUT"' EXIT

# REGISTER over TLS against the same Kamailio (client certificates
# verified against the mock CA): SIPp as the client sending N
# REGISTER + un-REGISTER pairs, one TLS connection each (socat gives SIPp
# its TLS and client certificate, and is counted with it), against
# phonestorm signing in N phones through all nine stages (mock for the
# others, in its own process and not counted) and signing out at once.
register() {
  local n=${1:-1000} rate=${2:-200}
  local bin=${PHONESTORM_BIN:-target/release/phonestorm}
  [ -n "${PHONESTORM_BIN:-}" ] || cargo build --release -q --bin phonestorm
  local out=$OUT
  mkdir -p "$out/run"

  "$bin" mock --config bench/mock.toml --tls-out "$out/tls" > "$out/endpoints.json" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 300); do [ -s "$out/endpoints.json" ] && break; sleep 0.1; done
  [ -s "$out/endpoints.json" ] || { echo "mock did not start" >&2; exit 1; }
  ep() { jq -r ".$1" "$out/endpoints.json"; }
  port() { ep "$1" | sed 's/.*://'; }

  local kport=15561 sport=15562 uport=15563
  # Long expiry and connection lifetime: the bench measures registration,
  # not refresh.
  sed -e "s#{{port}}#$kport#g; s#{{tls_dir}}#$out/tls#g; s#{{run_dir}}#$out/run#g" \
      -e "s#{{expires}}#600#g; s#{{keepalive}}#300#g; s#{{lifetime}}#600#g; s#{{digest_users}}##g" \
      tests/interop/kamailio/kamailio.cfg > "$out/kamailio.cfg"
  sed -i "s/^tcp_children=.*/tcp_children=${KAMAILIO_TCP_CHILDREN:-1}/" "$out/kamailio.cfg"
  kamailio -DD -E -A BENCH_SHARED_CERT -f "$out/kamailio.cfg" -Y "$out/run" -P "$out/run/k.pid" \
      2> "$out/kamailio.log" &
  PIDS+=($!)
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$kport) 2>/dev/null && break; sleep 0.1; done

  # Debian's SIPp is built without OpenSSL, so a TLS proxy gives it TLS
  # and the client certificate: stunnel (default: one process, threads,
  # certificate and key loaded once) or socat (TLS_PROXY=socat: one forked
  # child per connection, each loading them again). The proxy's CPU is
  # counted with SIPp's, and shown apart.
  local proxy=${TLS_PROXY:-stunnel} proxy_pid
  echo "== SIPp: $n REGISTER + un-REGISTER over TLS ($proxy), $rate/s"
  case $proxy in
    stunnel)
      command -v stunnel >/dev/null || { echo "bench-peers: stunnel missing (Debian package stunnel4)" >&2; exit 2; }
      cat > "$out/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 3
[sip]
client = yes
accept = 127.0.0.1:$sport
connect = 127.0.0.1:$kport
cert = $out/tls/server.pem
key = $out/tls/server-key.pem
CAfile = $out/tls/ca.pem
verifyChain = yes
checkHost = pool01.contoso.com
CONF
      stunnel "$out/stunnel.conf" 2> "$out/proxy.log" &
      ;;
    socat)
      socat \
          "TCP-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" \
          "OPENSSL:127.0.0.1:$kport,cert=$out/tls/server.pem,key=$out/tls/server-key.pem,cafile=$out/tls/ca.pem,commonname=pool01.contoso.com,verify=1" \
          2> "$out/proxy.log" &
      ;;
    *) echo "bench-peers: TLS_PROXY is stunnel or socat" >&2; exit 2 ;;
  esac
  proxy_pid=$!; PIDS+=($proxy_pid)
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$sport) 2>/dev/null && break; sleep 0.1; done
  timed "$out/sipp.time" sipp 127.0.0.1:$sport -sf tests/interop/sipp/register-uac.xml \
      -t tn -i 127.0.0.1 -p $uport -r "$rate" -m "$n" -l 1000 -max_socket 5000 -nostdin -timeout 600s \
      -trace_stat -stf "$out/sipp.csv" > /dev/null 2>&1 || true
  # stunnel's threads are in its own utime/stime; socat reaps its forked
  # children, so its cutime/cstime include them.
  local proxy_cpu
  proxy_cpu=$(cpu_proc $proxy_pid)
  kill -TERM $proxy_pid; wait $proxy_pid 2>/dev/null || true
  local ok fail
  ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="SuccessfulCall(C)") c=i} END{print $c}' "$out/sipp.csv")
  fail=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="FailedCall(C)") c=i} END{print $c}' "$out/sipp.csv")
  local s_cpu s_wall sipp_cpu
  sipp_cpu=$(cpu_of "$out/sipp.time")
  s_cpu=$(awk -v a="$sipp_cpu" -v b="$proxy_cpu" 'BEGIN{printf "%.3f", a+b}')
  s_wall=$(wall_of "$out/sipp.time")

  echo "== phonestorm: $n phones, nine stages, sign-out at once, $rate/s"
  sed -e "s/{{count}}/$n/; s/{{dns}}/$(ep dns)/; s/{{http}}/$(port http)/; s/{{https}}/$(port https)/" \
      -e "s/{{registrar}}/pool01.contoso.com:$kport/; s/{{hold}}/0s/" \
      tests/interop/sip-phones.toml > "$out/phones.toml"
  timed "$out/ps.time" "$bin" run "$out/phones.toml" --quiet --set "arrival.rate=$rate" \
      --report-json "$out/report.json" > /dev/null || true
  local p_ok p_fail p_cpu p_wall
  p_ok=$(jq '.stages.register.ok' "$out/report.json")
  p_fail=$(jq '.phones.failed' "$out/report.json")
  p_cpu=$(cpu_of "$out/ps.time"); p_wall=$(wall_of "$out/ps.time")
  # The same phones without the register stage: the difference is what
  # phonestorm spends on REGISTER over TLS alone (connection, handshake
  # with the client certificate, REGISTER and un-REGISTER), the work SIPp
  # does.
  echo "== phonestorm again, register stage off (for the REGISTER part alone)"
  timed "$out/ps-noreg.time" "$bin" run "$out/phones.toml" --quiet --set "arrival.rate=$rate" \
      --set stages.register.enabled=false --report-json "$out/report-noreg.json" > /dev/null || true
  local r_cpu
  r_cpu=$(awk -v a="$p_cpu" -v b="$(cpu_of "$out/ps-noreg.time")" 'BEGIN{printf "%.3f", a-b}')

  printf '\n%-34s %8s %6s %8s %10s %12s\n' tool registered failed wall_s "reg/s" "cpu_ms/reg"
  row() { awk -v t="$1" -v ok="$2" -v f="$3" -v w="$4" -v c="$5" 'BEGIN {
    printf "%-34s %8d %6d %8.2f %10.1f %12.3f\n", t, ok, f, w, (w>0?ok/w:0), (ok>0?1000*c/ok:0) }'; }
  row "sipp+$proxy (REGISTER only)" "$ok" "$fail" "$s_wall" "$s_cpu"
  row "  of which sipp (plain TCP)" "$ok" "$fail" "$s_wall" "$sipp_cpu"
  row "  of which $proxy (TLS)" "$ok" "$fail" "$s_wall" "$proxy_cpu"
  row "phonestorm (full sign-in)" "$p_ok" "$p_fail" "$p_wall" "$p_cpu"
  row "  of which REGISTER (difference)" "$p_ok" "$p_fail" "$p_wall" "$r_cpu"
  echo "kamailio registered lines: $(grep -c 'PSTORM registered' "$out/kamailio.log")"
}

case "${1:-}" in
  register) shift; register "$@" ;;
  *) echo "usage: bench/peers.sh register [N] [RATE]" >&2; exit 2 ;;
esac
