//! `--metrics-listen` as a user runs it: during `phonestorm run`, `/metrics`
//! shows every stage, the harness's health and (with the embedded mock)
//! the mock's series, and `promtool check metrics` (Debian package
//! `prometheus`) finds nothing to complain of; `phonestorm mock` serves its
//! page on the address given and names it in its endpoints line; a bad or
//! taken address is one line and exit status 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use phonestorm_metrics::names;

use crate::{endpoints_line, optional_tool, phonestorm, take_report};

const SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.toml");

/// `GET /metrics` at `addr`: the body, after checking the status.
fn scrape(addr: SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// A value from a scrape: the line that starts with `series` and a space.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(series) && l.as_bytes().get(series.len()) == Some(&b' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `promtool check metrics` on `page`: passes, and says nothing.
fn promtool_check(tool: &std::path::Path, page: &str) {
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

/// Waits at most 30 s for `child` to exit after `signal`.
fn stop(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    assert!(
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Counted sleeps, not a clock: at least 30 s however slow the machine.
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no exit within 30 s of {signal}");
}

#[test]
fn run_serves_every_stage_and_promtool_passes() {
    let report =
        std::env::temp_dir().join(format!("phonestorm-metrics-{}.json", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args([
            "run",
            SMOKE,
            "--quiet",
            "--set",
            "phones.count=20",
            // Phones hold, so the run is still going while we look.
            "--set",
            "hold.duration=\"120s\"",
            "--metrics-listen",
            "127.0.0.1:0",
            "--report-json",
        ])
        .arg(&report)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The address comes on stderr; keep reading it so the pipe never fills.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("a 'metrics on' line on stderr");
        if let Some(rest) = line.strip_prefix("phonestorm: metrics on http://") {
            break rest.trim_end_matches("/metrics").parse().unwrap();
        }
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    // Scrape until every phone has signed in (bounded: at least two
    // minutes of counted sleeps). The gauge moves when a phone's register
    // stage ends and the counter a moment later, when the phone reports
    // its sign-in, so a scrape can fall between the two: wait for both.
    let mut tries = 0;
    let page = loop {
        let page = scrape(addr);
        if value(&page, "phonestorm_phones_signed_in") == Some(20.0)
            && value(&page, "phonestorm_signins_total") == Some(20.0)
        {
            break page;
        }
        tries += 1;
        assert!(tries < 480, "phones did not sign in:\n{page}");
        std::thread::sleep(Duration::from_millis(250));
    };
    for stage in crate::STAGES {
        let ok = value(
            &page,
            &format!(r#"phonestorm_stage_attempts_total{{outcome="ok",stage="{stage}"}}"#),
        );
        assert!(ok.is_some_and(|n| n >= 20.0), "{stage}: {ok:?}");
        let hist = value(
            &page,
            &format!(r#"phonestorm_stage_latency_seconds_count{{outcome="ok",stage="{stage}"}}"#),
        );
        assert!(hist.is_some_and(|n| n >= 20.0), "{stage}: {hist:?}");
    }
    assert_eq!(
        value(&page, "phonestorm_arrivals_started_total"),
        Some(20.0)
    );
    for n in names::ALL {
        assert!(page.contains(&format!("# TYPE {n} ")), "{n} missing");
    }
    // The embedded mock's own series are on the same page.
    assert!(page.contains("# TYPE phonestorm_mock_queue_seconds histogram"));
    assert!(!page.contains(" summary\n"), "no summaries");
    if let Some(tool) = optional_tool("promtool", "prometheus") {
        promtool_check(&tool, &page);
    }

    // Stopped runs still report, with the harness's health.
    let status = stop(&mut child, "-INT");
    assert_eq!(status.code(), Some(1), "{status:?}");
    let r = take_report(&report);
    let h = &r["harness"];
    assert!(h["cores"].as_u64().unwrap() >= 1, "{h}");
    assert!(
        h["lag_ms_max"].as_f64().unwrap() >= h["lag_ms_p50"].as_f64().unwrap(),
        "{h}"
    );
    assert!(h["saturated"].is_boolean(), "{h}");
    assert!(!h["reason"].as_str().unwrap().is_empty(), "{h}");
}

#[test]
fn bad_or_taken_metrics_address_is_one_line_and_exit_2() {
    let out = phonestorm(&["run", SMOKE, "--quiet", "--metrics-listen", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--metrics-listen"), "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for cmd in [vec!["run", SMOKE, "--quiet"], vec!["mock"]] {
        let mut args = cmd.clone();
        args.extend(["--metrics-listen", addr.as_str()]);
        let out = phonestorm(&args);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("phonestorm: error: --metrics-listen: cannot listen for /metrics on"),
            "{err}"
        );
    }
}

#[test]
fn mock_serves_its_metrics_where_asked() {
    // A free port: bound, noted, released (a race with another process
    // taking it in between is possible but needs bad luck).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args(["mock", "--metrics-listen", &addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ep = endpoints_line(&mut child);
    assert_eq!(ep["metrics"], addr.to_string());
    let page = scrape(addr);
    assert!(
        page.contains("# TYPE phonestorm_mock_in_system gauge"),
        "{page}"
    );
    if let Some(tool) = optional_tool("promtool", "prometheus") {
        promtool_check(&tool, &page);
    }
    assert!(stop(&mut child, "-TERM").success());
}
