#!/usr/bin/env python3
"""Splits a profile of the harness by bootstrap stage and by what ran.

Reads `perf script -F ip,sym,dso` of a `perf record --call-graph dwarf`
run of the harness (stdin or a file) and prints, for each stage, its share
of all samples and how that share divides between aws-lc (the floor's
operations, and the transcript hashes, PRF and record encryption beside
them), the kernel, and everything else in user mode.

A sample belongs to the innermost stage method of `Phone` on its stack
(`stages::vlan` .. `sip::register`); helpers such as `post` and
`dhcp_exchange` are charged to the stage that called them. Samples with no
stage on the stack are split by what ran them: the key pool (made before
the first arrival, so outside the run-alone figure), the timeline sampler,
the rest of the bootstrap wrapper (timeouts, events, metrics), and the phone
threads' runtime between tasks.

    BENCH_WRAP="perf record -e cpu-clock -F 1999 --call-graph dwarf,32768 -o /tmp/pd.data" \\
        bench/run.sh bench/signin.toml --set arrival.rate=450 --set phones.count=3000
    perf script -i /tmp/pd.data -F ip,sym,dso | bench/stage-split.py
"""

import collections
import re
import sys

STAGE = re.compile(
    r"phonestorm_phone::(?:stages|sip)::<impl phonestorm_phone::bootstrap::Phone>::([a-z_]+)"
)
# Methods that are not stages themselves, charged to their caller.
HELPERS = {
    "post", "ticket_header", "dhcp_exchange", "dhcp_path", "dhcp_client",
    "new_xid", "register_at", "build_sip_tls", "candidates",
}
AWS_LC = re.compile(
    r"aws_lc|Lcurve25519|rsaz|bn_|mulx4x|sha256_block|sha512_block|aes_gcm|gcm_"
)
OUTSIDE = [
    ("key pool (before the run)", "Fleet::prepare"),
    ("timeline sampler", "timeline::sample_until"),
    ("bootstrap, between stages", "bootstrap::bootstrap"),
    ("phone threads' runtime", "PhoneThreads::start"),
]


def kind(leaf: str) -> str:
    if "kernel.kallsyms" in leaf:
        return "kernel"
    if AWS_LC.search(leaf):
        return "aws-lc"
    return "rest"


def stage_of(frames: list[str]) -> str:
    for line in frames:
        m = STAGE.search(line)
        if m and m.group(1) not in HELPERS:
            return m.group(1)
    for name, marker in OUTSIDE:
        if any(marker in line for line in frames):
            return "(outside: " + name + ")"
    return "(outside: other)"


def samples(lines):
    block = []
    for line in lines:
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def main() -> int:
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    split = collections.Counter()
    per_stage = collections.Counter()
    total = 0
    for frames in samples(src):
        total += 1
        s = stage_of(frames)
        per_stage[s] += 1
        split[(s, kind(frames[0]))] += 1
    if total == 0:
        print("stage-split: no samples in the input", file=sys.stderr)
        return 2
    print("| stage | all | aws-lc | kernel | the rest |")
    print("|---|---|---|---|---|")
    for s, n in per_stage.most_common():
        cells = [f"{100 * split[(s, k)] / total:.1f}%" for k in ("aws-lc", "kernel", "rest")]
        print(f"| {s} | {100 * n / total:.1f}% | " + " | ".join(cells) + " |")
    print(f"\n{total} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
