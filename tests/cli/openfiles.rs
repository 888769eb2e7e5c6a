//! The open-file limit as a user meets it: a soft limit below what a run
//! needs is raised to the hard one, and a run that still cannot have
//! enough is warned before it starts, counts what failed for it as the
//! harness's own (`local_files`), and does not blame the pool for it.

use std::process::{Command, Output};

use crate::take_report;

/// 100 phones at once, each held 3 s: about 364 open files with the
/// embedded mock (openfiles::need), far more than 128.
const HELD: &str = r#"
name = "held: 100 phones at once"
[phones]
count = 100
keys = "pool:4"
[arrival]
profile = "all_at_once"
[stages]
timeout = "5s"
retry = { attempts = 2, backoff = "100ms", backoff_max = "200ms", jitter = 0.2 }
[hold]
duration = "3s"
sign_out = false
[thresholds]
"signin.fail_rate" = "< 1%"
"#;

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "phonestorm-openfiles-{}-{name}",
        std::process::id()
    ))
}

/// Runs phonestorm with `args` (the held scenario's path stands in for
/// `SCENARIO`) after `ulimit` sets `limit` (e.g. `-n 128`, or `-Sn 128`
/// for the soft limit alone) in a shell, as a user's login would.
fn phonestorm_with(limit: &str, name: &str, args: &[&str]) -> Output {
    let scenario = temp(&format!("{name}.toml"));
    std::fs::write(&scenario, HELD).unwrap();
    let scenario_arg = scenario.to_str().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit {limit} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_phonestorm"))
        .args(
            args.iter()
                .map(|a| if *a == "SCENARIO" { scenario_arg } else { a }),
        )
        .output()
        .expect("sh runs");
    let _ = std::fs::remove_file(&scenario);
    out
}

/// `run` of the held scenario under `limit`, and its report's JSON.
fn run_with(limit: &str, name: &str) -> (Output, serde_json::Value) {
    let report = temp(&format!("{name}.json"));
    let args = [
        "run",
        "SCENARIO",
        "--quiet",
        "--report-json",
        report.to_str().unwrap(),
    ];
    let out = phonestorm_with(limit, name, &args);
    let json = take_report(&report);
    (out, json)
}

#[test]
fn validate_says_a_run_will_not_fit() {
    let out = phonestorm_with("-n 128", "validate", &["validate", "SCENARIO"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains(
            "warning: up to 100 phones at once need about 364 open files, and phonestorm may have 128 here"
        ),
        "{stdout}"
    );
    // Under the hard limit here, nothing to say.
    if hard_limit().is_none_or(|h| h >= 1024) {
        let out = phonestorm_with("-Sn 128", "validate-soft", &["validate", "SCENARIO"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("warning"), "{stdout}");
    }
}

/// The hard open-file limit of a shell here (`None`: unlimited).
fn hard_limit() -> Option<u64> {
    let out = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn a_soft_limit_too_low_is_raised_to_the_hard_one() {
    let hard = hard_limit();
    if hard.is_some_and(|h| h < 1024) {
        eprintln!("SKIPPED: the hard open-file limit here is {hard:?}, too low to raise to");
        return;
    }
    let (out, json) = run_with("-Sn 128", "soft");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(json["phones"]["registered"], 100, "{json}");
    assert_eq!(
        json["harness"]["local_failures"],
        serde_json::json!({"files": 0, "ports": 0, "memory": 0}),
        "{json}"
    );
    assert_eq!(
        json["harness"]["open_files_limit"].as_u64(),
        hard,
        "the soft limit was not raised to the hard one: {json}"
    );
}

#[test]
fn running_out_is_the_harness_own_failure_said_before_and_after() {
    let (out, json) = run_with("-n 128", "short");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Said before the run: what it needs and what it may have.
    assert!(
        stderr.contains(
            "phonestorm: warning: up to 100 phones at once need about 364 open files, and phonestorm may have 128 here"
        ),
        "{stderr}"
    );
    // Phones failed, and the threshold says so: exit 1, not a crash.
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{stdout}");
    let registered = json["phones"]["registered"].as_u64().unwrap();
    assert!(registered < 100, "{json}");
    assert_eq!(json["harness"]["open_files_limit"], 128, "{json}");
    // Counted as this machine's: the harness's count is the stages'
    // `local_files`, and nothing else ran short.
    let local: u64 = json["stages"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|s| s["failures"]["local_files"].as_u64())
        .sum();
    assert!(local > 0, "{json}");
    assert_eq!(
        json["harness"]["local_failures"],
        serde_json::json!({"files": local, "ports": 0, "memory": 0}),
        "{json}"
    );
    assert!(
        stdout.contains(&format!(
            "harness short of open files (limit 128: raise `ulimit -n`): {local} stage attempts failed on this machine, not the pool (reasons `local_*`)"
        )),
        "{stdout}"
    );
    // The embedded mock shares the limit; its waits make no finding about
    // a pool.
    if json["harness"]["mock_accept_shortages"].as_u64().unwrap() > 0 {
        assert_eq!(
            json["bottleneck"]["sentence"],
            "not judged: the embedded mock ran short of open files on this machine",
            "{json}"
        );
        assert_eq!(json["bottleneck"]["stage"], serde_json::Value::Null);
    }
}
