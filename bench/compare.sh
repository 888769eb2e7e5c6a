#!/usr/bin/env bash
# Compares two builds of the harness the way bench/README.md does by hand:
# N pairs of `BENCH_FLOOR=1 bench/run.sh`, the two builds alternated (A B,
# B A, A B, ...) so that the machine's drift over the minutes falls on both
# alike, the same mock for every run. Prints each run in the order it ran (CPU per sign-in of the run
# alone, user and system, the floors beside it, the ratio), then each build's
# median and the median of the pairwise differences (B minus A).
#
#   bench/compare.sh A B [pairs (3)] [scenario (bench/signin.toml)] [--set key=value ...]
#   bench/compare.sh /tmp/ps-old target/release/phonestorm 5 bench/signin.toml \
#       --set arrival.rate=450 --set phones.count=10000
#
# A and B are paths to phonestorm binaries (build the other one with
# `git worktree add` and a CARGO_TARGET_DIR of its own). The mock is
# BENCH_MOCK_BIN, by default this tree's release build, as in bench/run.sh.
# Why pairs and medians: on a shared VM one build's runs spread by 0.15 ms a
# sign-in and more within an hour, wider than most differences sought; only
# runs side by side say anything, and then only their median.
# Bounded: 2 x pairs runs, each bounded by its scenario; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: bench/compare.sh A B [pairs] [scenario] [--set key=value ...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
a=$1 b=$2; shift 2
for bin in "$a" "$b"; do
  [ -x "$bin" ] || { echo "bench/compare.sh: $bin: not an executable phonestorm build" >&2; exit 2; }
done
pairs=3
if [ $# -gt 0 ] && [[ $1 != --* ]]; then
  [[ $1 =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: pairs: '$1' is not a positive whole number" >&2; exit 2; }
  pairs=$1; shift
fi
scenario=bench/signin.toml
if [ $# -gt 0 ] && [[ $1 != --* ]]; then
  scenario=$1; shift
fi
[ -f "$scenario" ] || { echo "bench/compare.sh: $scenario: no such scenario" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench/compare.sh: needs python3" >&2; exit 2; }
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for i in $(seq 1 "$pairs"); do
  # A then B, then B then A: whatever the position in a pair does (the
  # first run after the last one's floor, the page cache) falls on both.
  order="A B"; [ $((i % 2)) = 1 ] || order="B A"
  for which in $order; do
    bin=$a; [ $which = A ] || bin=$b
    out=$(PHONESTORM_BIN=$bin BENCH_FLOOR=1 bench/run.sh "$scenario" "$@" 2>&1) || {
      echo "bench/compare.sh: run $i of $which failed:" >&2; echo "$out" | tail -5 >&2; exit 1; }
    # The two lines bench/run.sh prints for the run alone and its floor.
    alone=$(echo "$out" | grep -m1 '^the run alone (key pool apart):' || true)
    floor=$(echo "$out" | grep -m1 '^floor beside the run' || true)
    failed=$(echo "$out" | grep -m1 -o '[0-9]* failed$' || true)
    [ -n "$alone" ] && [ -n "$floor" ] || { echo "bench/compare.sh: run $i of $which printed no CPU or floor:" >&2; echo "$out" | tail -5 >&2; exit 1; }
    echo "$which|$alone|$floor|${failed:-? failed}" >> "$rows"
    echo "$which $i: $(echo "$alone" | sed 's/.*: //'), $(echo "$floor" | grep -o '[0-9.]*x their mean' | sed 's/ their mean/ the floor/'), ${failed:-? failed}" >&2
  done
done
python3 - "$rows" "$a" "$b" <<'PY'
import re, statistics, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
names = {"A": sys.argv[2], "B": sys.argv[3]}
num = r"([0-9.]+)"
runs = []
for which, alone, floor, failed in rows:
    m = re.search(num + r" ms per sign-in \(" + num + r" user \+ " + num + r" sys\)", alone)
    f = re.search(num + r" ms before, " + num + r" ms after.* = " + num + r"x their mean", floor)
    if not (m and f):
        sys.exit(f"bench/compare.sh: could not read: {alone} / {floor}")
    runs.append((which, *map(float, m.groups()), *map(float, f.groups()), failed))
print("| build | CPU per sign-in (the run alone) | floors before, after | ratio | phones |")
print("|---|---|---|---|---|")
for which, cpu, user, sys_, fb, fa, ratio, failed in runs:
    print(f"| {which} | {cpu:.2f} ms ({user:.2f} user, {sys_:.2f} system) | {fb:.3f}, {fa:.3f} ms | {ratio:.2f}x | {failed} |")
for which in "AB":
    mine = [r for r in runs if r[0] == which]
    print(f"{which} ({names[which]}): median {statistics.median(r[1] for r in mine):.2f} ms a sign-in, "
          f"{statistics.median(r[6] for r in mine):.2f}x, over {len(mine)} run{'' if len(mine) == 1 else 's'}")
# Each pair is two consecutive runs, in either order.
diffs = []
for x, y in zip(runs[0::2], runs[1::2]):
    a, b = (x, y) if x[0] == "A" else (y, x)
    diffs.append(b[1] - a[1])
print(f"B minus A, pair by pair: median {statistics.median(diffs):+.2f} ms "
      f"(from {min(diffs):+.2f} to {max(diffs):+.2f})")
PY
