//! `promtool check metrics` (Debian package `prometheus`) finds nothing to
//! complain of in a live scrape of the harness's endpoint and of the mock
//! Front End's, and `promtool check config` accepts
//! `dashboards/prometheus.yml`.

use std::io::Write;
use std::process::{Command, Stdio};

use tokio_util::sync::CancellationToken;

use crate::common::{page, served_harness, tool};

/// Runs `promtool check metrics` on `page`: its exit status and what it
/// said (it lints on stdout and stderr alike).
fn promtool_check(page: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
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
    (out.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_harness_and_mock_pages() {
    if !tool("promtool", "prometheus") {
        return;
    }
    let stop = CancellationToken::new();
    let harness = page(served_harness(stop.clone()).await).await;
    let mock = phonestorm_mockfe::start(phonestorm_mockfe::MockConfig::default())
        .await
        .unwrap();
    let mock_page = page(mock.endpoints.metrics).await;
    for (side, p) in [("harness", &harness), ("mock", &mock_page)] {
        let (ok, said) = tokio::task::block_in_place(|| promtool_check(p));
        assert!(
            ok && said.trim().is_empty(),
            "{side}: promtool says: {said}"
        );
    }
    // promtool checks what it reads, not that it read much: a page with a
    // lint problem must fail, or this test proves nothing.
    let (ok, said) = tokio::task::block_in_place(|| {
        promtool_check(
            "# HELP phonestorm_bad A counter.\n# TYPE phonestorm_bad counter\nphonestorm_bad 1\n",
        )
    });
    assert!(!ok || !said.trim().is_empty(), "promtool saw no problem");
    stop.cancel();
    mock.shutdown().await;
}

#[test]
fn promtool_accepts_the_scrape_configuration() {
    if !tool("promtool", "prometheus") {
        return;
    }
    let out = Command::new("promtool")
        .args([
            "check",
            "config",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../dashboards/prometheus.yml"
            ),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
