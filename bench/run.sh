#!/usr/bin/env bash
# Runs one benchmark scenario against `phonestorm mock` in its own process,
# so the harness is measured alone. Prints the harness's CPU (user + sys)
# and peak memory, CPU per registered phone, and, for held runs, the
# resident memory sampled while every phone is signed in.
#
#   bench/run.sh bench/signin.toml [--set key=value ...]
#   BENCH_PIN=1 bench/run.sh ...   # mock on the last core, harness on the rest
#
# BENCH_PIN=1 keeps the two processes off each other's cores (taskset), as
# when the pool is another machine: on a shared core every answer the
# harness waits for may find the mock's work in the caches and the run
# queue. Without it the kernel places both freely.
#
# BENCH_AUTH=certificate runs the mock's registrar and the phones with the
# client certificate of the SIP connection instead of TLS-DSK, to see what
# TLS-DSK itself costs the harness; with BENCH_FLOOR the floor is then the
# one without the tunnel.
#
# BENCH_SCHED=batch runs both the mock and the harness with `--sched
# batch` (SCHED_BATCH): neither preempts the other at each answer, as a
# pool on its own machine would not preempt the harness. It lowers the CPU
# a sign-in once the machine is saturated (bench/README.md, "Xeon 167,
# batch scheduling"); unset, both run under the kernel's default policy.
#
# BENCH_FLOOR=1 times the cryptographic floor of a sign-in (crypto-floor)
# just before the mock starts and again once it has stopped, and prints
# the run's CPU per sign-in against their mean. On a shared VM the
# machine's speed drifts by a fifth over minutes, for the floor and the
# harness alike, so a ratio is only good against a floor measured beside
# it; when the two floors are 10% or more apart the script says so.
# BENCH_FLOOR=certificate is BENCH_FLOOR=1 with BENCH_AUTH=certificate.
# With the TLS-DSK floor it also runs paced-floor at the run's mean
# arrival rate once the mock has stopped: the floor's operations with the
# thread sleeping between them, as the harness meets them (the target
# stays the floor itself; this says how much of the rest is sleeping).
# BENCH_WRAP runs the harness under a profiler, e.g.
# BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out"
# or BENCH_WRAP="perf record -g -o /tmp/perf.data". The figures printed are
# then the profiled run's (valgrind's CPU is the harness's many times over),
# and the resident-memory samples miss the harness (the wrapper is its
# parent); the profile is what such a run is for.
# Traffic stays on 127.0.0.0/8. Both processes stop by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=$1; shift
# PHONESTORM_BIN picks another build of the harness (e.g. to compare two);
# the default is the release build, made here. The mock stays that release
# build whatever PHONESTORM_BIN says (BENCH_MOCK_BIN picks another), so that
# comparing two harnesses does not also compare two mocks: a faster mock
# queues less, and what the harness spends waiting changes with it.
release=target/release/phonestorm
bin=${PHONESTORM_BIN:-$release}
mock_bin=${BENCH_MOCK_BIN:-$release}
for need in "jq jq" "/usr/bin/time time"; do
  command -v "${need% *}" >/dev/null 2>&1 || { echo "bench/run.sh: needs ${need% *} (Debian package ${need#* }: apt-get install ${need#* })" >&2; exit 2; }
done
[ "$bin" != "$release" ] && [ "$mock_bin" != "$release" ] || cargo build --release -q
# What the registrar asks, the phones answer, and the floor counts:
# tls-dsk (the default) or certificate.
kind=tls-dsk
case "${BENCH_AUTH:-}" in
  "") [ "${BENCH_FLOOR:-}" != certificate ] || kind=certificate ;;
  certificate) kind=certificate ;;
  *) echo "bench/run.sh: BENCH_AUTH=${BENCH_AUTH}: only certificate is known (the default is TLS-DSK)" >&2; exit 2 ;;
esac
auth=()
[ "$kind" = tls-dsk ] || auth=(--set 'stages.register.auth="certificate"')
sched=()
case "${BENCH_SCHED:-}" in
  "" | normal) ;;
  batch) sched=(--sched batch) ;;
  *) echo "bench/run.sh: BENCH_SCHED=${BENCH_SCHED}: only batch and normal are known" >&2; exit 2 ;;
esac
floor_key=
if [ -n "${BENCH_FLOOR:-}" ]; then
  case $kind in
    certificate) floor_key=floor_per_signin_certificate_only_us ;;
    *) floor_key=floor_per_signin_us ;;
  esac
fi
floor() { target/release/crypto-floor 1000 | tail -1 | jq -r ".$floor_key"; }
floor_before=0
floor_after=0
if [ -n "$floor_key" ]; then
  cargo build --release -q -p phonestorm-bench --bin crypto-floor --bin paced-floor
  floor_before=$(floor)
fi
out=$(mktemp -d)
mock=
trap '[ -z "$mock" ] || kill $mock 2>/dev/null || true; rm -rf "$out"' EXIT
mock_config=bench/mock.toml
if [ "$kind" = certificate ]; then
  # The same mock, its registrar taking the connection's certificate.
  sed '/^\[registrar\]$/a auth = "certificate"' bench/mock.toml > "$out/mock.toml"
  grep -q '^auth = "certificate"$' "$out/mock.toml" || { echo "bench/run.sh: certificate sign-ins: bench/mock.toml has no [registrar] table to set auth in" >&2; exit 2; }
  mock_config=$out/mock.toml
fi

mock_pin=()
run_pin=()
if [ -n "${BENCH_PIN:-}" ]; then
  cores=$(nproc)
  command -v taskset >/dev/null 2>&1 || { echo "bench/run.sh: BENCH_PIN needs taskset (Debian package util-linux)" >&2; exit 2; }
  [ "$cores" -ge 2 ] || { echo "bench/run.sh: BENCH_PIN needs 2 cores or more, this machine has $cores" >&2; exit 2; }
  mock_pin=(taskset -c "$((cores - 1))")
  run_pin=(taskset -c "0-$((cores - 2))")
  echo "pinned: mock on core $((cores - 1)), harness on cores 0-$((cores - 2))"
fi
"${mock_pin[@]}" $mock_bin mock --config "$mock_config" "${sched[@]}" > "$out/endpoints.json" &
mock=$!
for _ in $(seq 100); do [ -s "$out/endpoints.json" ] && break; sleep 0.1; done
ep() { jq -r ".$1" "$out/endpoints.json"; }
port() { ep "$1" | sed 's/.*://'; }
targets=(
  --set "target.mock=false"
  --set "target.dhcp_server=\"$(ep dhcp)\""
  --set "target.dns_server=\"$(ep dns)\""
  --set "target.sip_domain=\"$(ep sip_domain)\""
  --set "target.ports.http=$(port http)"
  --set "target.ports.https=$(port https)"
  --set "target.ports.ntp=$(port sntp)"
  --set "target.ports.sip_tls=$(port sip_tls)"
  --set "target.ports.sip_tcp=$(port sip_tcp)"
)

/usr/bin/time -f "%U %S %M" -o "$out/time" \
  "${run_pin[@]}" ${BENCH_WRAP:-} $bin run "$scenario" --quiet --report-json "$out/report.json" "${targets[@]}" "${auth[@]}" "${sched[@]}" "$@" > "$out/table" 2>&1 &
runner=$!
# The harness: the descendant of the `time` wrapper that runs $bin, found
# by its executable rather than its name, so that another build
# (PHONESTORM_BIN, whatever its file is called) and wrappers in between
# (BENCH_WRAP: env, perf) are still found. Under valgrind there is none:
# the process is valgrind's, and its memory would not be the harness's.
bin_real=$(readlink -f "$bin")
harness_pid() {
  local queue=("$runner") p c
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    for c in $(pgrep -P "$p"); do
      if [ "$(readlink -f "/proc/$c/exe" 2>/dev/null)" = "$bin_real" ]; then
        echo "$c"
        return
      fi
      queue+=("$c")
    done
  done
}
# Sample the harness's resident memory once a second.
peak_held=0
base=0
while kill -0 $runner 2>/dev/null; do
  pid=$(harness_pid)
  if [ -n "$pid" ]; then
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    # The first sample, taken before many phones exist, is the baseline.
    [ "$base" -eq 0 ] && base=${rss:-0}
    [ "${rss:-0}" -gt "$peak_held" ] && peak_held=$rss
  fi
  sleep 1
done
wait $runner || true
if [ -n "$floor_key" ]; then
  kill $mock 2>/dev/null || true
  wait $mock 2>/dev/null || true
  floor_after=$(floor)
fi
# With the TLS-DSK floor, the same operations at the run's mean arrival
# rate, sleeping between them as a phone thread does (paced-floor): what
# the machine makes of the floor when the thread sleeps, beside the run.
paced=0
if [ "$floor_key" = floor_per_signin_us ]; then
  rate=$(jq '(.phones.started / ([.duration_s, 1] | max)) | round | [., 1] | max' "$out/report.json")
  paced=$(target/release/paced-floor "$rate" 500 | tail -1 | jq -r .paced_us)
fi
cat "$out/table"
read -r user sys maxrss < "$out/time"
registered=$(jq '.phones.registered' "$out/report.json")
duration=$(jq '.duration_s' "$out/report.json")
# The run's own CPU (from its first arrival to its report), which leaves
# out the key pool made before it: the issue's "key generation apart".
run_user=$(jq '.harness.cpu_user_s // 0' "$out/report.json")
run_sys=$(jq '.harness.cpu_system_s // 0' "$out/report.json")
python3 - "$user" "$sys" "$maxrss" "$registered" "$duration" "$base" "$peak_held" "$run_user" "$run_sys" "$floor_before" "$floor_after" "$paced" "$kind" <<'PY'
import sys
user, sys_, maxrss, reg, dur, base, peak, run_user, run_sys, fb, fa, paced = map(float, sys.argv[1:13])
kind = "certificate only" if sys.argv[13] == "certificate" else "TLS-DSK"
cpu = user + sys_
run_cpu = run_user + run_sys
print(f"harness: {cpu:.1f} s CPU ({user:.1f} user + {sys_:.1f} sys) over {dur:.0f} s, peak RSS {maxrss/1024:.0f} MiB")
if reg:
    print(f"registered phones: {reg:.0f}; CPU per sign-in: {cpu/reg*1000:.2f} ms for the whole process; peak RSS per phone: {maxrss*1024/reg/1024:.1f} KiB")
    if run_cpu:
        print(f"the run alone (key pool apart): {run_cpu:.1f} s CPU ({run_user:.1f} user + {run_sys:.1f} sys): {run_cpu/reg*1000:.2f} ms per sign-in ({run_user/reg*1000:.2f} user + {run_sys/reg*1000:.2f} sys)")
    if peak:
        print(f"resident memory: {base/1024:.0f} MiB at start, {peak/1024:.0f} MiB at peak: {(peak-base)/reg:.1f} KiB per registered phone above the start")
    else:
        print("resident memory: not sampled (no process running the harness's executable was found, as under valgrind)")
    if fb and fa and run_cpu:
        mean = (fb + fa) / 2
        print(f"floor beside the run ({kind}): {fb/1000:.3f} ms before, {fa/1000:.3f} ms after; the run alone: {run_cpu/reg*1000:.2f} ms per sign-in = {run_cpu/reg*1e6/mean:.2f}x their mean")
        if abs(fb - fa) >= 0.1 * mean:
            print("the floors are 10% or more apart: the machine's speed moved during the run; run it again before trusting the ratio")
        if paced:
            print(f"the floor's operations at the run's pace, sleeping between them (paced-floor): {paced/1000:.3f} ms a sign-in, {paced/mean:.2f}x the floor; the run alone = {run_cpu/reg*1e6/paced:.2f}x that")
PY
