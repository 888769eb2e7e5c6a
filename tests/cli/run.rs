//! `phonestorm run` and `validate` as a user runs them: the smoke scenario
//! signs in every phone through every stage on the embedded mock and the
//! JSON report says so stage by stage; broken thresholds exit 1; a broken
//! scenario exits 2 with file, line and column; Ctrl-C still writes the
//! report.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{phonestorm, take_report};

const SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.toml");

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("phonestorm-run-{}-{name}", std::process::id()))
}

#[test]
fn smoke_signs_in_every_phone_through_every_stage() {
    let report = temp("smoke.json");
    let out = phonestorm(&[
        "run",
        SMOKE,
        "--quiet",
        "--report-json",
        report.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = take_report(&report);
    assert_eq!(r["phones"]["scheduled"], 100);
    assert_eq!(r["phones"]["registered"], 100);
    assert_eq!(r["phones"]["failed"], 0);
    for stage in crate::STAGES {
        let s = &r["stages"][stage];
        assert_eq!(s["ok"], 100, "{stage}: {s}");
        assert_eq!(s["failed"], 0, "{stage}: {s}");
        for which in ["corrected", "raw"] {
            for p in ["p50", "p90", "p99", "p999", "max"] {
                assert!(
                    s["latency_ms"][which][p].as_f64().unwrap() > 0.0,
                    "{stage}.{which}.{p}"
                );
            }
        }
    }
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("register") && table.contains("100 signed in"),
        "{table}"
    );
}

#[test]
fn broken_threshold_exits_1_and_says_which() {
    let out = phonestorm(&[
        "run",
        SMOKE,
        "--quiet",
        "--set",
        "phones.count=10",
        "--set",
        "thresholds.\"register.p50\"=\"< 1us\"",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FAIL") && text.contains("register.p50"),
        "{text}"
    );
}

#[test]
fn broken_scenario_exits_2_with_file_line_and_column() {
    let path = temp("bad.toml");
    std::fs::write(
        &path,
        "[phones]\ncount = 10\n\n[arrival]\nprofile = \"constant\"\nrate = \"fast\"\n",
    )
    .unwrap();
    for cmd in ["validate", "run"] {
        let out = phonestorm(&[cmd, path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{cmd}: {err}");
        assert!(err.contains("bad.toml: line 6, column 8"), "{cmd}: {err}");
    }
    let _ = std::fs::remove_file(&path);
    let ok = phonestorm(&["validate", SMOKE]);
    assert_eq!(ok.status.code(), Some(0));
}

/// `validate` reads the files a scenario names, as `run` does before it
/// starts anything: a missing one is a usage error from both, in one line.
#[test]
fn validate_reads_the_files_the_scenario_names() {
    for (set, file) in [
        (
            "phones.users={csv=\"missing-users.csv\"}",
            "missing-users.csv",
        ),
        (
            "stages.root_chain.given.root_chain=\"missing-chain.pem\"",
            "missing-chain.pem",
        ),
        (
            "target.mock_config=\"missing-mock.toml\"",
            "missing-mock.toml",
        ),
        (
            "templates=\"missing-templates\"",
            "missing-templates is not a directory",
        ),
    ] {
        usage_error_from_validate_and_run(set, file);
    }
}

/// `validate` and `run` of the smoke scenario with `--set set` both exit 2
/// before anything runs, with one line on stderr that contains `says`.
fn usage_error_from_validate_and_run(set: &str, says: &str) {
    for args in [
        &["validate", SMOKE, "--set", set][..],
        &["run", SMOKE, "--quiet", "--set", set],
    ] {
        let cmd = args[0];
        let out = phonestorm(args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd} --set {set}: {err}");
        assert_eq!(err.lines().count(), 1, "{cmd}: {err}");
        assert!(err.contains(says), "{cmd}: {err}");
    }
}

/// Source addresses that are not this machine's would fail every phone at
/// its first bind, which is the scenario's mistake: `validate` and `run`
/// say so in one line, exit 2, before anything runs. 192.0.2.0/24 is
/// TEST-NET-1 (RFC 5737), on no interface here; nothing is sent to it.
#[test]
fn source_addresses_not_on_this_machine_exit_2() {
    for (set, says) in [
        (
            "phones.source_addresses=\"192.0.2.10-192.0.2.12\"",
            "phones.source_addresses 192.0.2.10-192.0.2.12: 192.0.2.10 is not an address of this machine",
        ),
        (
            "phones.source_addresses=\"0.0.0.0-255.255.255.255\"",
            "the whole IPv4 space",
        ),
    ] {
        usage_error_from_validate_and_run(set, says);
    }
    // The loopback range phones use by default is this machine's.
    let out = phonestorm(&[
        "validate",
        SMOKE,
        "--set",
        "phones.source_addresses=\"127.0.0.2-127.0.0.250\"",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A report path that cannot be written is said before the run starts
/// (exit 2, nothing run), not after it.
#[test]
fn an_unwritable_report_path_exits_2_before_the_run() {
    for flag in ["--report-json", "--report-html", "--hdr-log"] {
        let out = phonestorm(&["run", SMOKE, "--quiet", flag, "/nonexistent-dir/report"]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "phonestorm: error: {flag} /nonexistent-dir/report: cannot write"
            )),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "the run went ahead");
    }
}

/// A report that cannot be written when the run ends (here /dev/full: no
/// space left) is written to the temporary directory instead; the table
/// still prints and the exit status is 1, naming both paths.
#[test]
fn a_report_the_disk_refuses_is_kept_elsewhere() {
    let full = std::path::Path::new("/dev/full");
    assert!(full.exists(), "Linux gives /dev/full");
    let spare_dir = temp("spare");
    std::fs::create_dir_all(&spare_dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args([
            "run",
            SMOKE,
            "--quiet",
            "--set",
            "phones.count=5",
            "--report-json",
            "/dev/full",
        ])
        .env("TMPDIR", &spare_dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("signin "), "the table is missing: {text}");
    let spares: Vec<_> = std::fs::read_dir(&spare_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(spares.len(), 1, "{spares:?}");
    let want = format!(
        "FAIL could not write /dev/full: No space left on device (os error 28); written to {} instead",
        spares[0].display()
    );
    assert!(text.contains(&want), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spares[0]).unwrap()).unwrap();
    assert_eq!(report["phones"]["registered"], 5, "{}", report["phones"]);
    let _ = std::fs::remove_dir_all(&spare_dir);
}

#[test]
fn ctrl_c_stops_arrivals_and_still_writes_the_report() {
    stopped_run_writes_the_report("INT");
}

#[test]
fn sigterm_stops_arrivals_and_still_writes_the_report() {
    stopped_run_writes_the_report("TERM");
}

/// A run stopped by `signal` partway: arrivals end, the status is 1 and
/// the report is written, saying so.
fn stopped_run_writes_the_report(signal: &str) {
    let report = temp(&format!("stopped-by-{signal}.json"));
    // 200 phones at 20 a second: ten seconds of arrivals, interrupted early.
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args([
            "run",
            SMOKE,
            "--quiet",
            "--set",
            "phones.count=200",
            "--set",
            "arrival.rate=20",
            "--report-json",
        ])
        .arg(&report)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run is under way (the mock is up), then a little more.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("embedded mock"), "{line}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut waited = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(waited < 300, "run did not stop within 30 s of SIG{signal}");
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    };
    assert_eq!(
        status.code(),
        Some(1),
        "a run stopped by SIG{signal} is not a success"
    );
    let r = take_report(&report);
    assert_eq!(r["ending"]["how"], "stopped", "{r}");
    let started = r["phones"]["started"].as_u64().unwrap();
    assert!(
        started > 0 && started < 200,
        "arrivals stopped: {started} of 200 started"
    );
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // *.mockfe.toml files configure the mock, not a run.
        if !name.ends_with(".toml") || name.ends_with(".mockfe.toml") {
            continue;
        }
        let out = phonestorm(&["validate", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen += 1;
    }
    assert!(
        seen >= 5,
        "smoke, monday-morning, power-restore, firmware-rollout, steady-state"
    );
}

/// The abort rule protects a pool: when sign-ins fail hard (here every PIN
/// is wrong), the run stops early, says why, and exits 1.
#[test]
fn abort_rule_stops_a_failing_run_with_exit_1() {
    let report = temp("aborted.json");
    let out = phonestorm(&[
        "run",
        SMOKE,
        "--quiet",
        "--report-json",
        report.to_str().unwrap(),
        "--set",
        "phones.count=100",
        "--set",
        "arrival.rate=20",
        "--set",
        "phones.users.pin=\"0000\"",
        "--set",
        "stages.web_ticket.retry.attempts=1",
        "--set",
        "abort.fail_rate=0.2",
        "--set",
        "abort.window=\"30s\"",
        "--set",
        "abort.min_samples=5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("FAIL aborted:"), "{text}");
    let r = take_report(&report);
    assert_eq!(r["ending"]["how"], "aborted", "{r}");
    assert!(
        r["phones"]["started"].as_u64().unwrap() < 100,
        "arrivals stopped early: {r}"
    );
    assert!(
        r["stages"]["web_ticket"]["failures"]["diag_28020"]
            .as_u64()
            .unwrap()
            >= 5,
        "{r}"
    );
}

/// A pool target whose DHCP runs without `target.dhcp_relay`: `validate`
/// and the run's start say that only a phonestorm mock answers a phone
/// relaying from its own port, and a silent server's failure says it
/// again. The DHCP
/// and DNS servers are bound, silent sockets on loopback.
#[test]
fn dhcp_to_a_pool_without_a_relay_agent_says_why_it_may_stay_silent() {
    let dhcp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let scenario = temp("silent-dhcp.toml");
    std::fs::write(
        &scenario,
        format!(
            "[phones]\ncount = 1\n[arrival]\nprofile = \"constant\"\nrate = 1\n[target]\ndhcp_server = \"{}\"\ndns_server = \"{}\"\nsip_domain = \"contoso.com\"\n[stages]\nvlan.enabled = false\ndhcp = {{ timeout = \"1s\", retry = {{ attempts = 1 }} }}\n",
            dhcp.local_addr().unwrap(),
            dns.local_addr().unwrap(),
        ),
    )
    .unwrap();
    let report = temp("silent-dhcp.json");
    let out = phonestorm(&[
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--report-json",
        report.to_str().unwrap(),
    ]);
    // validate says it too, after its "ok".
    let checked = phonestorm(&["validate", scenario.to_str().unwrap()]);
    let _ = std::fs::remove_file(&scenario);
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        said.contains("ok (1 phone, 0 thresholds)") && said.contains("\nDHCP to "),
        "{said}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // No threshold is set and one phone is too few for the abort rule.
    assert_eq!(out.status.code(), Some(0), "{err}");
    let note = format!(
        "phonestorm: DHCP to {}: each phone is its own relay agent on an ephemeral port",
        dhcp.local_addr().unwrap()
    );
    assert!(
        err.contains(&note) && err.contains("target.dhcp_relay"),
        "{err}"
    );
    let r = take_report(&report);
    assert_eq!(r["stages"]["dhcp"]["failures"]["timeout"], 1, "{r}");
    assert_eq!(r["phones"]["failed"], 1, "{r}");
    // The datagrams did arrive: the server was silent, not unreachable.
    dhcp.set_nonblocking(true).unwrap();
    assert!(dhcp.recv(&mut [0u8; 1500]).is_ok());
}

/// `--sched batch` (sched(7) SCHED_BATCH, which needs no privilege) still
/// signs in every phone, with no warning that the kernel refused it; a
/// policy that does not exist is one line and exit status 2, for `run`
/// and `mock` alike.
#[test]
fn batch_scheduling_signs_in_and_an_unknown_policy_exits_2() {
    let out = phonestorm(&["run", SMOKE, "--quiet", "--sched", "batch"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("--sched"), "{err}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("100 signed in, 0 failed"), "{table}\n{err}");

    for cmd in [vec!["run", SMOKE, "--quiet"], vec!["mock"]] {
        let mut args = cmd.clone();
        args.extend(["--sched", "fast"]);
        let out = phonestorm(&args);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--sched"), "{err}");
    }
}
