//! `dashboards/phonestorm.json` queries only what the code exports: every
//! metric name in every panel's expression is one of
//! `phonestorm_metrics::names` or the mock's `phonestorm_mock_*` (histogram
//! `_bucket`, `_sum` and `_count` understood), and a live scrape of each
//! side really carries every name the dashboard uses.

use std::collections::BTreeSet;

use phonestorm_metrics::names;
use phonestorm_mockfe::metrics as mock;
use tokio_util::sync::CancellationToken;

use crate::common::{page, served_harness};
use crate::queries;

const DASHBOARD: &str = include_str!("../../../../dashboards/phonestorm.json");

const MOCK_NAMES: &[&str] = &[
    mock::REQUESTS_TOTAL,
    mock::REJECTIONS_TOTAL,
    mock::IN_SYSTEM,
    mock::QUEUE_SECONDS,
    mock::SERVICE_SECONDS,
    mock::MALFORMED_TOTAL,
    mock::ANSWERS_TOTAL,
    mock::FAULTS_TOTAL,
];
const MOCK_HISTOGRAMS: &[&str] = &[mock::QUEUE_SECONDS, mock::SERVICE_SECONDS];

/// The metric names a PromQL expression names: identifiers starting
/// `phonestorm_` (functions, labels and keywords never do).
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("phonestorm_"))
        .map(str::to_owned)
        .collect()
}

fn dashboard_names() -> BTreeSet<String> {
    let d: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let all = queries::all_exprs(&d);
    assert!(all.len() >= 30, "only {} queries", all.len());
    // The shared walk finds every query the file holds: as many panel
    // queries as `"expr"` keys in the text.
    assert_eq!(
        queries::panel_queries(&d).len(),
        DASHBOARD.matches("\"expr\":").count(),
        "a panel query the walk over panels and rows missed"
    );
    let mut names = BTreeSet::new();
    for e in &all {
        let n = metric_names(e);
        assert!(!n.is_empty(), "a query naming no phonestorm metric: {e}");
        names.extend(n);
    }
    names
}

/// The base metric of a series name (histogram suffixes dropped).
fn base(series: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| series.strip_suffix(s))
        .filter(|b| names::HISTOGRAMS.contains(b) || MOCK_HISTOGRAMS.contains(b))
        .unwrap_or(series)
}

#[test]
fn every_dashboard_metric_is_exported_by_the_code() {
    for n in dashboard_names() {
        let ours = names::exported_by(&n, names::ALL, names::HISTOGRAMS);
        let mocks = names::exported_by(&n, MOCK_NAMES, MOCK_HISTOGRAMS);
        assert!(
            ours || mocks,
            "the dashboard queries {n}, which nothing exports"
        );
    }
}

#[test]
fn dashboard_is_ready_for_provisioning() {
    let d: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    assert_eq!(d["uid"], "phonestorm");
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |n: &str| vars.iter().find(|v| v["name"] == n).unwrap();
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    assert!(
        var("instance")["definition"]
            .as_str()
            .unwrap()
            .starts_with("label_values(")
    );
    // Every panel with queries uses the datasource variable, so the
    // dashboard works whatever the data source is called.
    for p in d["panels"].as_array().unwrap() {
        if p["targets"].is_array() {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    let names = dashboard_names();
    // The panels the issue lists, by what they query.
    for needed in [
        names::SIGNINS_TOTAL,
        names::PHONES_AT_STAGE,
        names::PHONES_SIGNED_IN,
        "phonestorm_stage_latency_seconds_bucket",
        names::STAGE_FAILURES_TOTAL,
        names::HARNESS_SATURATED,
        names::HARNESS_CPU_SECONDS_TOTAL,
        "phonestorm_scheduler_lag_seconds_bucket",
        mock::IN_SYSTEM,
        "phonestorm_mock_queue_seconds_bucket",
    ] {
        assert!(names.contains(needed), "no panel queries {needed}");
    }
    let text = DASHBOARD;
    assert!(text.contains("\"type\": \"heatmap\""));
    for q in ["0.5", "0.9", "0.99"] {
        assert!(
            text.contains(&format!("histogram_quantile({q}, sum by (le,stage)")),
            "p{q}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_scrape_of_each_side_has_every_dashboard_metric() {
    let stop = CancellationToken::new();
    let harness = page(served_harness(stop.clone()).await).await;
    let mock = phonestorm_mockfe::start(phonestorm_mockfe::MockConfig::default())
        .await
        .unwrap();
    // Answers are counted as they are sent: download the root chain, as
    // stage 6 does, over plain HTTP.
    let http = mock.endpoints.http;
    tokio::task::spawn_blocking(move || {
        crate::common::get(http, "/CertProv/CertProvisioningService.svc")
    })
    .await
    .unwrap();
    let mock_page = page(mock.endpoints.metrics).await;
    for n in dashboard_names() {
        let (p, side) = if n.starts_with("phonestorm_mock_") {
            (&mock_page, "mock")
        } else {
            (&harness, "harness")
        };
        assert!(
            p.contains(&format!("# TYPE {} ", base(&n))),
            "the {side}'s page has no {n}"
        );
    }
    stop.cancel();
    mock.shutdown().await;
}
