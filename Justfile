# phonestorm: the one entry point for people. CI (.ci/run) runs the same commands.
# Install just with `cargo install just` if your distribution lacks it.

default:
    @just --list

# Run the tests (the README's test command).
test:
    cargo test --workspace

# rustfmt, clippy and rustdoc, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q

# Format the code.
fmt:
    cargo fmt --all

# What CI runs, installs included.
ci:
    bash .ci/run

# The first user-facing command: DHCP options 43 and 120 for a SIP server.
dhcp-options fqdn="lync.contoso.com" format="text":
    cargo run --release -- dhcp-options --sip-server {{fqdn}} --format {{format}}

# Fuzz each decoder for a short while (default 60 s each): every target
# cargo fuzz lists, so a new one is never left out. Needs cargo-fuzz,
# installed on first use; libFuzzer needs nightly features, which the stable
# toolchain enables with RUSTC_BOOTSTRAP for this one build.
fuzz seconds="60":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    cd crates/proto && for t in $(cargo fuzz list); do RUSTC_BOOTSTRAP=1 cargo fuzz run $t -- -max_total_time={{seconds}} || exit 1; done

# Each run is bounded (the scenario's phone count and hold) and stays on
# loopback. bench/run.sh needs jq and GNU time, installed when missing.
# Benchmarks (not tests); figures and commands in bench/README.md.
bench:
    command -v jq >/dev/null && [ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq time; }
    cargo run --release -p phonestorm-bench --bin crypto-floor
    cargo run --release -p phonestorm-bench --bin paced-floor
    cargo run --release -p phonestorm-bench --bin evicted-floor
    cargo run --release -p phonestorm-bench --bin wake-cost
    cargo run --release -p phonestorm-bench --bin sip-codec
    BENCH_FLOOR=1 bench/run.sh bench/signin.toml
    # The 2x target's run: saturated, one phone thread, the mock on the other core.
    BENCH_FLOOR=1 bench/run.sh bench/signin.toml --set arrival.rate=450 --threads 1
    bench/run.sh bench/held.toml

# Two builds of the harness side by side (paths to phonestorm binaries):
# alternated pairs of the sign-in benchmark with the floor, the medians and
# the pairwise difference. Figures and method in bench/README.md.
bench-compare a b pairs="3" *args:
    bash bench/compare.sh {{a}} {{b}} {{pairs}} bench/signin.toml {{args}}

# Against servers nobody here wrote (Kea, dnsmasq, unbound, nginx, Kamailio,
# SIPp): installs missing peers with apt-get, runs tests/interop as root.
interop *args:
    bash tests/interop/run.sh {{args}}

# Side by side with specialist tools (perfdhcp, SIPp) against the same
# peers; figures and commands in bench/README.md.
bench-peers what="all":
    bash bench/peers.sh {{what}}

# A smoke run's HTML report, rendered by headless Chromium (Debian package
# chromium) to target/report-screenshot.png, to look at the charts.
report-screenshot:
    mkdir -p target
    cargo run --release -- run scenarios/smoke.toml --quiet --report-html target/report-smoke.html
    rm -rf target/chromium-profile
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars --user-data-dir=target/chromium-profile --screenshot="$PWD/target/report-screenshot.png" --window-size=1280,2000 "file://$PWD/target/report-smoke.html"
    @echo "target/report-screenshot.png"

# A live Monday morning seen by Prometheus' own checker: starts
# scenarios/monday-morning.toml with --metrics-listen, scrapes /metrics
# after `seconds`, runs `promtool check metrics` on the page (Debian package
# prometheus), lists the stages on it, then stops the run with Ctrl-C
# (SIGINT), which still writes target/monday-partial.json.
metrics-check seconds="60" addr="127.0.0.1:9464":
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -q
    mkdir -p target
    target/release/phonestorm run scenarios/monday-morning.toml --quiet \
        --metrics-listen {{addr}} --report-json target/monday-partial.json > target/monday-partial.txt 2>&1 &
    run=$!
    trap 'kill -INT $run 2>/dev/null || true' EXIT
    sleep {{seconds}}
    curl -sf http://{{addr}}/metrics > target/monday-metrics.txt
    promtool check metrics < target/monday-metrics.txt && echo "promtool check metrics: no complaints"
    echo "stages on the page:"
    grep -o 'stage="[a-z_]*"' target/monday-metrics.txt | sort -u
    kill -INT $run; wait $run || true
    trap - EXIT
    echo "report of the interrupted run: target/monday-partial.json"
