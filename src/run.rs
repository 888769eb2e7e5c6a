//! `phonestorm run SCENARIO` and `phonestorm validate SCENARIO`: the main
//! job, and a check of a scenario file without running it.
//!
//! This module owns the command-line face: flags, the terminal table, the
//! report files (JSON, HTML, HdrHistogram log) and exit statuses (0 success, 1 thresholds broken or
//! aborted, 2 bad scenario or usage). Scheduling, phones and recording
//! belong to `phonestorm-engine` and `phonestorm-phone`.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use phonestorm_engine::fleet::Fleet;
use phonestorm_engine::openfiles;
use phonestorm_engine::report::Ending;
use phonestorm_engine::run::RunSettings;
use phonestorm_engine::scenario::{Scenario, Target};
use phonestorm_engine::thresholds;

use crate::Usage;

/// Flags of `phonestorm run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The scenario file (see scenarios/ and scenarios/REFERENCE.md).
    scenario: PathBuf,
    /// Override a scenario key, e.g. `--set phones.count=500`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
    /// Write a self-contained HTML report (charts, tables, scenario) here.
    #[arg(long, value_name = "FILE")]
    report_html: Option<PathBuf>,
    /// Write the interval histograms (corrected latency, one tag per
    /// stage) here, in the HdrHistogram interval log format.
    #[arg(long, value_name = "FILE")]
    hdr_log: Option<PathBuf>,
    /// Length of one timeline interval (report charts, HdrHistogram log).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    timeline_interval: std::time::Duration,
    /// No live progress line (the default when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics while the run goes
    /// (e.g. 127.0.0.1:9464; port 0 picks a free one, printed on stderr).
    /// With the embedded mock, its `phonestorm_mock_*` series are there too.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Phone threads, each a single-threaded runtime that new phones fill
    /// before the next (default: one per core); 0 runs the phones on one
    /// work-stealing runtime instead.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=1024))]
    threads: Option<u16>,
    /// How the kernel schedules the phone threads: `batch` (SCHED_BATCH)
    /// costs less CPU a sign-in once the machine is saturated, but then
    /// an answer may wait up to a scheduler tick more before it is timed.
    #[arg(long, value_name = "POLICY", default_value = "normal", value_parser = crate::sched_parser())]
    sched: phonestorm_engine::threads::Scheduling,
}

/// `1s`, `500ms`: at least 10 ms, at most an hour.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration such as 1s or 500ms, found {s:?}: {e}"))?;
    if d < std::time::Duration::from_millis(10) || d > std::time::Duration::from_secs(3600) {
        return Err(format!("expected between 10ms and 1h, found {s:?}"));
    }
    Ok(d)
}

/// Flags of `phonestorm validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Overrides, as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

/// Shows the key pool filling up (RSA key generation takes tens of
/// milliseconds a key), as a bar on a terminal and not at all otherwise.
fn key_progress(show: bool) -> Arc<dyn Fn(u32, u32) + Send + Sync> {
    if !show {
        return Arc::new(|_, _| {});
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "phonestorm: key pool {bar:30} {pos}/{len} RSA keys",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Arc::new(move |made, of| {
        bar.set_length(u64::from(of));
        bar.set_position(u64::from(made));
        if made == of {
            bar.finish_and_clear();
        }
    })
}

/// What a run concluded: exit 0, or exit 1 with the reasons.
pub(crate) struct Verdict(pub(crate) Vec<String>);

fn load(path: &std::path::Path, sets: &[String]) -> anyhow::Result<Scenario> {
    Ok(Scenario::load(path, sets).map_err(|e| Usage(e.to_string()))?)
}

pub(crate) fn validate(args: ValidateArgs) -> anyhow::Result<()> {
    let s = load(&args.scenario, &args.sets)?;
    // The schedule is part of the scenario: a curve file or a profile that
    // cannot place every phone is a scenario error too.
    let settings = RunSettings::from_scenario(&s).map_err(|e| Usage(e.to_string()))?;
    // And so are the files it names and what the phones would refuse.
    Fleet::check(&s).map_err(|e| Usage(e.to_string()))?;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    println!(
        "{}: ok ({}, {})",
        args.scenario.display(),
        plural(s.phones.count as usize, "phone"),
        plural(s.thresholds.len(), "threshold")
    );
    for line in pool_notes(&s) {
        println!("{line}");
    }
    for w in fit_warnings(&s, &settings) {
        println!("warning: {w}");
    }
    Ok(())
}

/// Whether this machine can hold the run: open files (after raising the
/// soft limit to the hard one, as `run` does) and local ports for the
/// phones it has at once ([`openfiles`]).
fn fit_warnings(scenario: &Scenario, settings: &RunSettings) -> Vec<String> {
    let limit = openfiles::raise();
    let need = openfiles::need(
        &settings.offsets,
        scenario.hold.duration,
        settings.max_concurrent,
        matches!(scenario.target, Target::Mock { .. }),
    );
    openfiles::warning(need, limit)
        .into_iter()
        .chain(openfiles::port_warning(
            need,
            phonestorm_engine::fleet::bound_sources(scenario),
            openfiles::ephemeral_ports(),
        ))
        .collect()
}

/// What a run against a pool says before it starts (and `validate` after
/// its "ok"): the pool and the abort rule in force, and, when the phones'
/// DHCP goes to a server without a relay agent, why it may stay silent.
fn pool_notes(scenario: &Scenario) -> Vec<String> {
    let phonestorm_engine::scenario::Target::Pool(p) = &scenario.target else {
        return Vec::new();
    };
    let abort = scenario
        .abort
        .map_or_else(|| "no abort rule".to_owned(), |a| a.describe());
    let mut lines = vec![format!(
        "pool {} (DNS {}): {abort}",
        p.sip_domain, p.dns_server
    )];
    let dhcp_runs = scenario
        .stage(phonestorm_phone::Stage::Dhcp)
        .is_some_and(|s| s.enabled);
    if let (true, Some(server), None) = (dhcp_runs, p.dhcp_server, p.dhcp_relay) {
        // Not an error: a `phonestorm mock` elsewhere answers there, and a
        // pool target cannot tell it from a real server.
        lines.push(format!(
            "DHCP to {server}: each phone is its own relay agent on an ephemeral port, where a phonestorm mock answers; a DHCP server answers relays at port 67 (RFC 2131 4.1), so name this host's address in target.dhcp_relay"
        ));
    }
    lines
}

/// The scenario as the run used it: the file's text, then the `--set`
/// overrides (as comments, so the text stays a valid scenario).
fn scenario_text(args: &RunArgs) -> String {
    let mut text = std::fs::read_to_string(&args.scenario)
        .unwrap_or_else(|e| format!("# {}: {e}\n", args.scenario.display()));
    if !args.sets.is_empty() {
        text.push_str("\n# overridden on the command line:\n");
        for s in &args.sets {
            text.push_str(&format!("#   --set {s}\n"));
        }
    }
    text
}

/// A file the run writes when it ends, opened (and so created, or
/// emptied) before it starts: a path that cannot be written is a usage
/// error at once, not a lost report after an hour's run.
struct Output {
    path: PathBuf,
    file: std::fs::File,
}

impl Output {
    fn open(flag: &str, path: Option<&PathBuf>) -> anyhow::Result<Option<Output>> {
        let Some(path) = path else {
            return Ok(None);
        };
        let file = std::fs::File::create(path)
            .map_err(|e| Usage(format!("{flag} {}: cannot write: {e}", path.display())))?;
        Ok(Some(Output {
            path: path.clone(),
            file,
        }))
    }

    /// Writes `bytes`; when that fails after all (a full disk), writes
    /// them to the temporary directory instead. `Err` says what happened
    /// and where the bytes are, as a reason for exit status 1.
    fn write(mut self, bytes: &[u8]) -> Result<(), String> {
        let Err(e) = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.sync_all())
        else {
            return Ok(());
        };
        let name = self
            .path
            .file_name()
            .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
        let spare = std::env::temp_dir().join(format!("phonestorm-{}-{name}", std::process::id()));
        match std::fs::write(&spare, bytes) {
            Ok(()) => Err(format!(
                "could not write {}: {e}; written to {} instead",
                self.path.display(),
                spare.display()
            )),
            Err(e2) => Err(format!(
                "could not write {}: {e}, nor {}: {e2}",
                self.path.display(),
                spare.display()
            )),
        }
    }
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<Verdict> {
    let scenario = load(&args.scenario, &args.sets)?;
    let mut settings = RunSettings::from_scenario(&scenario).map_err(|e| Usage(e.to_string()))?;
    let json_out = Output::open("--report-json", args.report_json.as_ref())?;
    let hdr_out = Output::open("--hdr-log", args.hdr_log.as_ref())?;
    let html_out = Output::open("--report-html", args.report_html.as_ref())?;
    settings.progress = !args.quiet && std::io::stderr().is_terminal();
    settings.timeline_every = args.timeline_interval;
    settings.threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    settings.scheduling = crate::checked_sched(args.sched);
    // Before any socket: a run that cannot have the open files or ports
    // it needs fails phones on the harness's account, so it is said first.
    for w in fit_warnings(&scenario, &settings) {
        eprintln!("phonestorm: warning: {w}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(async {
        // Watch Ctrl-C and SIGTERM before the costly preparation (key pool,
        // mock), so an early stop also ends in a report rather than a killed
        // process.
        let stop = phonestorm_engine::run::stop_on_signal();
        // Bound before the costly preparation, so a taken or foreign
        // address is said at once (exit 2) rather than after the key pool.
        let listener = crate::bind_metrics(args.metrics_listen).await?;
        let fleet = Fleet::prepare_with_progress(&scenario, key_progress(settings.progress))
            .await
            .map_err(|e| Usage(e.to_string()))?;
        let fleet = Arc::new(fleet);
        if let Some(m) = fleet.mock() {
            eprintln!(
                "phonestorm: embedded mock Front End: sip_tls {} https {} metrics {}",
                m.endpoints.sip_tls, m.endpoints.https, m.endpoints.metrics
            );
        }
        for line in pool_notes(&scenario) {
            eprintln!("phonestorm: {line}");
        }
        let serving = tokio_util::sync::CancellationToken::new();
        if let Some(listener) = listener {
            let phones = u32::try_from(settings.offsets.len()).unwrap_or(u32::MAX);
            let metrics =
                Arc::new(phonestorm_metrics::Metrics::new(phones).context("metrics registry")?);
            let mock = fleet.mock().map(|m| m.metrics.clone());
            let own = metrics.clone();
            let page: phonestorm_metrics::serve::Page = Arc::new(move || {
                let mut page = own.render();
                if let Some(m) = &mock {
                    page.extend_from_slice(&m.render());
                }
                page
            });
            let addr = listener.local_addr().context("metrics listener")?;
            tokio::spawn(phonestorm_metrics::serve::serve(
                listener,
                page,
                serving.clone(),
            ));
            eprintln!("phonestorm: metrics on http://{addr}/metrics");
            settings.metrics = Some(metrics);
        }
        let mut report = phonestorm_engine::run::run(settings, fleet.launcher(), stop).await;
        if let Some(m) = fleet.mock() {
            report.embedded_mock_ran_short(m.metrics.accept_shortages());
        }
        serving.cancel();
        if let Ok(fleet) = Arc::try_unwrap(fleet) {
            fleet.shutdown().await;
        }
        anyhow::Ok(report)
    })?;
    // The report is written before anything can go wrong with the
    // terminal, so an interrupted run still leaves its figures. A file
    // that fails now is a reason for exit 1, and the table still prints.
    let mut unwritten = Vec::new();
    if let Some(out) = json_out {
        unwritten.extend(out.write(report.to_json().as_bytes()).err());
    }
    if let Some(out) = hdr_out {
        match phonestorm_engine::hdrlog::render(&report.timeline) {
            Ok(log) => unwritten.extend(out.write(&log).err()),
            Err(e) => unwritten.push(format!("{}: {e}", out.path.display())),
        }
    }
    if let Some(out) = html_out {
        let name = scenario
            .name
            .clone()
            .unwrap_or_else(|| args.scenario.display().to_string());
        let page = phonestorm_engine::html::render(&report, &name, &scenario_text(&args));
        unwritten.extend(out.write(page.as_bytes()).err());
    }
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", report.table());
    let mut reasons = thresholds::evaluate(&scenario.thresholds, &report);
    reasons.extend(unwritten);
    match &report.ending {
        Ending::Completed => {}
        Ending::Aborted(why) => reasons.insert(0, format!("aborted: {why}")),
        Ending::Stopped => reasons.insert(0, "stopped before every phone finished".into()),
        Ending::TimeLimit => {
            reasons.insert(0, "time limit reached before every phone finished".into())
        }
    }
    for r in &reasons {
        let _ = writeln!(out, "FAIL {r}");
    }
    Ok(Verdict(reasons))
}
