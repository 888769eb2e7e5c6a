//! A real Prometheus (Debian's 2.42) scrapes a running `phonestorm run
//! --metrics-listen`, and every query of `dashboards/phonestorm.json` (each
//! panel's targets, rows' panels included, and each variable's
//! `label_values`) returns data from Prometheus's HTTP API while the run is
//! still going.
//!
//! Grafana variables and macros are expanded as Grafana would for this
//! set-up (a data source whose scrape interval is set to 1 s, matching
//! `tests/interop/prometheus/prometheus.yml.in`):
//!
//! | text | value | why |
//! |---|---|---|
//! | `$__interval` | `1s` | range / max data points (300 s / ~1000 px) is below the data source's minimum interval, the scrape interval, so Grafana uses that |
//! | `$__rate_interval` | `4s` | Grafana: max(`$__interval` + scrape interval, 4 × scrape interval) |
//! | `$instance`, `$stage`, `$mock_instance` | `.*`, then one value | each query runs twice: with "All" (the dashboard's default, its `allValue` `.*`), and with the first value the variable's own `label_values` offers, regex-escaped as Grafana escapes a multi-value variable |
//!
//! Panels Grafana draws over time (`timeseries`, `heatmap`) are asked
//! through `/api/v1/query_range` (step `$__interval`); the single-figure
//! panels (`stat`, `bargauge`) through `/api/v1/query` as well, since their
//! figure is the latest value. Every query must answer `success` with at
//! least one series holding a finite sample.
//!
//! The failure panels filter with `> 0`, so a healthy run leaves them
//! empty: the scenario makes failures happen instead (the embedded mock
//! resets 30% of web-ticket connections, two attempts per stage), so those
//! panels (and retries) show real series. The dashboard is not changed for
//! them: an empty "failures" panel is what Grafana should show when nothing
//! failed.
//!
//! It does not check the figures' values beyond a few sanity checks; the
//! metrics crate's own tests do that.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::common::{
    PATIENCE, PHONESTORM, Proc, TempDir, free_port, peer, wait_until, write_config,
};
use crate::dashboard_queries::{PanelQuery, Variable, panel_queries, variables};

const DASHBOARD: &str = include_str!("../../dashboards/phonestorm.json");

/// The scrape interval in prometheus.yml.in, in seconds.
const SCRAPE_S: u64 = 1;
/// How far back range queries look: the whole run, with room to spare.
const RANGE_S: u64 = 300;

/// The run: 60 phones at 4 a second (15 s of arrivals), each holding 20 s
/// once signed in, so Prometheus scrapes a busy run for half a minute. The
/// embedded mock resets 30% of web-ticket connections (`mock.toml`), with
/// two attempts per stage: attempts fail (the failure panels), some are
/// retried (the retry panel), a few phones fail outright.
const SCENARIO: &str = r#"
name = "interop prometheus: a run Prometheus scrapes"

[target]
mock_config = "mock.toml"

[phones]
count = 60
users = { first_number = 14255550000, extension_digits = 5, pin = "13579" }
keys = "pool:4"

[arrival]
profile = "constant"
rate = 4

[stages]
timeout = "20s"
retry = { attempts = 2, backoff = "200ms", backoff_max = "1s", jitter = 0.2 }

[hold]
duration = "20s"
sign_out = true
"#;

const MOCK: &str = r#"
# Failures on purpose: the dashboard's failure panels need some.
[web.web_ticket.faults]
reset = 0.3
"#;

/// `GET path` from Prometheus: the status code and the body. HTTP/1.0, so
/// the body comes whole (no chunking) and ends when the server closes.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    let (head, body) = page.split_once("\r\n\r\n").unwrap_or((&page, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_owned())
}

/// An API call: `path?k=v&...` (encoded), its JSON answer's `data` after
/// checking `status: success`.
fn api(addr: SocketAddr, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let (code, body) = get(addr, &format!("{path}?{query}"));
    let v: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{path} {params:?}: {code}, not JSON ({e}): {body}"));
    assert_eq!(v["status"], "success", "{path} {params:?}: {code} {body}");
    v["data"].clone()
}

/// The server's own clock (`time()`), so the test reads no clock itself.
fn server_time(addr: SocketAddr) -> f64 {
    let d = api(addr, "/api/v1/query", &[("query", "time()")]);
    d["result"][1].as_str().unwrap().parse().unwrap()
}

/// One number from an instant query (`None` when the result is empty).
fn scalar(addr: SocketAddr, q: &str) -> Option<f64> {
    let d = api(addr, "/api/v1/query", &[("query", q)]);
    let r = d["result"].as_array()?.first()?.clone();
    r["value"][1].as_str()?.parse().ok()
}

/// Grafana's regex escaping of a value of a multi-value or "All" variable
/// inside a PromQL string: each regex metacharacter gets a backslash,
/// written doubled because the regex sits in a double-quoted string.
fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\\\\\"),
            '$' | '^' | '*' | '{' | '}' | '[' | ']' | '\'' | '+' | '?' | '.' | '(' | ')' | '|' => {
                out.push_str("\\\\");
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Expands `$name` and `${name}` from `values`; a variable the dashboard
/// uses but does not define fails the test.
fn expand(expr: &str, values: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, skip) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {expr}"));
            (&braced[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = values
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{expr} uses ${name}, which the dashboard does not define"));
        out.push_str(&value.1);
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

/// `label_values(metric, label)` (or `label_values(label)`): the values
/// Prometheus has for it within the range, as Grafana asks for them.
fn label_values(addr: SocketAddr, v: &Variable, start: f64, end: f64) -> Vec<String> {
    let args = v
        .definition
        .strip_prefix("label_values(")
        .and_then(|a| a.strip_suffix(')'))
        .unwrap_or_else(|| panic!("${}: not label_values(...): {}", v.name, v.definition));
    let (metric, label) = match args.rsplit_once(',') {
        Some((m, l)) => (Some(m.trim()), l.trim()),
        None => (None, args.trim()),
    };
    let (start, end) = (start.to_string(), end.to_string());
    let mut params = vec![("start", start.as_str()), ("end", end.as_str())];
    if let Some(m) = metric {
        params.push(("match[]", m));
    }
    let d = api(addr, &format!("/api/v1/label/{label}/values"), &params);
    let mut values: Vec<String> = d
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    // `sort: 1` in the dashboard: alphabetical, ascending.
    values.sort();
    values
}

/// Whether a result (matrix or vector) has a series with a finite sample;
/// also the number of series.
fn has_data(data: &serde_json::Value) -> (bool, usize) {
    let series = data["result"].as_array().cloned().unwrap_or_default();
    let finite = |v: &serde_json::Value| {
        v[1].as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    };
    let any = series.iter().any(|s| {
        s["values"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(finite))
            || finite(&s["value"])
    });
    (any, series.len())
}

/// Runs one panel query the way its panel does; panics with the expanded
/// query if it returns nothing. Returns a line for the test's output.
fn check(
    addr: SocketAddr,
    q: &PanelQuery,
    expr: &str,
    start: f64,
    end: f64,
    label: &str,
) -> String {
    let what = format!("[{}] {} {}: {expr}", label, q.title, q.ref_id);
    let mut ways = Vec::new();
    if !q.instant {
        let (s, e, step) = (start.to_string(), end.to_string(), format!("{SCRAPE_S}s"));
        let d = api(
            addr,
            "/api/v1/query_range",
            &[("query", expr), ("start", &s), ("end", &e), ("step", &step)],
        );
        assert_eq!(d["resultType"], "matrix", "{what}");
        let (ok, n) = has_data(&d);
        assert!(ok, "no data over the run: {what}\n{d}");
        ways.push(format!("range {n} series"));
    }
    if q.instant || matches!(q.kind.as_str(), "stat" | "bargauge" | "gauge" | "table") {
        let t = end.to_string();
        let d = api(addr, "/api/v1/query", &[("query", expr), ("time", &t)]);
        let (ok, n) = has_data(&d);
        assert!(ok, "no data now: {what}\n{d}");
        ways.push(format!("instant {n} series"));
    }
    format!("checked {what} -> {}", ways.join(", "))
}

#[test]
fn prometheus_scrapes_a_run_and_every_dashboard_query_has_data() {
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let Some(promtool) = peer("promtool", "prometheus") else {
        return;
    };
    let dir = TempDir::new("prometheus");
    let lo = Ipv4Addr::LOCALHOST;
    let target = SocketAddr::from((lo, free_port(lo)));
    let web = SocketAddr::from((lo, free_port(lo)));

    let conf = dir.join("prometheus.yml");
    write_config(
        "prometheus",
        "prometheus.yml.in",
        &conf,
        &[("target", target.to_string())],
    );
    let check_conf = Command::new(&promtool)
        .arg("check")
        .arg("config")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check_conf.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&check_conf.stdout),
        String::from_utf8_lossy(&check_conf.stderr)
    );
    let mut cmd = Command::new(&prometheus);
    cmd.arg(format!("--config.file={}", conf.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        // The test's data is gone with its directory; keep the head small.
        .arg("--storage.tsdb.retention.time=1h")
        .arg("--log.level=warn");
    let mut server = Proc::start("prometheus", cmd, dir.path());
    server.wait_ready(|| TcpStream::connect(web).is_ok() && get(web, "/-/ready").0 == 200);

    std::fs::write(dir.join("mock.toml"), MOCK).unwrap();
    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let mut run = Command::new(PHONESTORM);
    run.arg("run")
        .arg(&scenario)
        .arg("--quiet")
        .arg("--metrics-listen")
        .arg(target.to_string())
        .arg("--report-json")
        .arg(dir.join("report.json"));
    let mut run = Proc::start("phonestorm-run", run, dir.path());

    // The target is up, a few scrapes have landed, and the run has signed
    // phones in and failed some attempts (the failure panels' data).
    let mut last = String::new();
    let ready = wait_until(Duration::from_secs(120), || {
        let targets = api(web, "/api/v1/targets", &[("state", "active")]);
        let up = targets["activeTargets"].as_array().is_some_and(|ts| {
            ts.iter().any(|t| {
                t["health"] == "up" && t["labels"]["instance"] == target.to_string().as_str()
            })
        });
        let scrapes = scalar(web, "count_over_time(up{job=\"phonestorm\"}[5m])");
        let signins = scalar(web, "sum(phonestorm_signins_total)");
        let failures = scalar(web, "sum(phonestorm_stage_failures_total)");
        last = format!(
            "up {up}, scrapes {scrapes:?}, sign-ins {signins:?}, failed attempts {failures:?}"
        );
        up && scrapes >= Some(5.0) && signins > Some(0.0) && failures > Some(0.0)
    });
    assert!(
        ready,
        "Prometheus never saw the run's data ({last});\nrun:\n{}\nprometheus:\n{}",
        run.output(),
        server.output()
    );
    // Live while checked, as a rule (the phones hold 20 s), but not
    // asserted: a slow machine may take longer, and the data is kept
    // anyway; the output says which it was.
    let live_before = run.running();

    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let end = server_time(web);
    let start = end - RANGE_S as f64;
    let interval = format!("{SCRAPE_S}s");
    let rate_interval = format!("{}s", (SCRAPE_S + SCRAPE_S).max(4 * SCRAPE_S));

    // The variables' own queries, and the two ways each one is set.
    let mut all = vec![
        ("__interval".to_owned(), interval.clone()),
        ("__rate_interval".to_owned(), rate_interval.clone()),
    ];
    let mut first = all.clone();
    let mut lines = Vec::new();
    for v in variables(&dashboard) {
        match v.kind.as_str() {
            // Which data source: not part of any query.
            "datasource" => continue,
            "query" => {}
            other => panic!(
                "${}: a variable of type {other} this test cannot expand",
                v.name
            ),
        }
        let values = label_values(web, &v, start, end);
        assert!(
            !values.is_empty(),
            "${}: {} has no values",
            v.name,
            v.definition
        );
        lines.push(format!(
            "checked ${} = {}: {values:?}",
            v.name, v.definition
        ));
        let all_value = v
            .all_value
            .clone()
            .unwrap_or_else(|| panic!("${} offers no \"All\", the dashboard's default", v.name));
        all.push((v.name.clone(), all_value));
        first.push((v.name.clone(), regex_escape(&values[0])));
    }
    // The harness's instance is the scraped address (what the dashboard
    // selects by), and the embedded mock's series share it.
    let instances = label_values(
        web,
        &Variable {
            name: "instance".into(),
            kind: "query".into(),
            definition: "label_values(phonestorm_arrivals_scheduled, instance)".into(),
            all_value: None,
        },
        start,
        end,
    );
    assert_eq!(instances, vec![target.to_string()]);

    let queries = panel_queries(&dashboard);
    assert!(queries.len() >= 30, "only {} panel queries", queries.len());
    for q in &queries {
        lines.push(check(web, q, &expand(&q.expr, &all), start, end, "All"));
        lines.push(check(web, q, &expand(&q.expr, &first), start, end, "first"));
    }
    // Sanity: phones were signed in at some scrape (they hold for 20 s),
    // and the failures are the ones the mock's resets cause.
    let signed_in = scalar(web, "max_over_time(phonestorm_phones_signed_in[5m])");
    assert!(
        signed_in > Some(0.0),
        "most signed in at once: {signed_in:?}"
    );
    let resets = scalar(
        web,
        "sum(phonestorm_stage_failures_total{stage=\"web_ticket\"})",
    );
    assert!(resets > Some(0.0), "web-ticket failures: {resets:?}");
    let live_after = run.running();

    // Shown whether the test passes or not: the list the brief asks for
    // (written past libtest's capture of print!).
    let mut err = std::io::stderr();
    for l in &lines {
        let _ = writeln!(err, "{l}");
    }
    let _ = writeln!(
        err,
        "prometheus: {} panel queries x 2 variable settings and {} variables returned data \
         ($__interval = {interval}, $__rate_interval = {rate_interval}); the run was {} \
         when the checks began and {} when they ended",
        queries.len(),
        variables(&dashboard)
            .iter()
            .filter(|v| v.kind == "query")
            .count(),
        if live_before { "running" } else { "over" },
        if live_after { "running" } else { "over" },
    );

    // The run ends by itself (arrivals, hold, sign-out) with status 0: no
    // thresholds, and failed phones are results, not errors.
    let status = run.wait(Duration::from_secs(180));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "phonestorm run:\n{}",
        run.output()
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(
        report["phones"]["registered"].as_u64() > Some(0),
        "{}",
        report["phones"]
    );
    drop(server);
}
