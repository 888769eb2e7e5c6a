//! `phonestorm bootstrap`: one phone, every stage, with a readable trace of
//! what it sent and what came back, the way Microsoft's
//! `Test-CsPhoneBootstrap` is used to find why a phone will not sign in.
//!
//! This module owns the command's flags and how the trace is printed; the
//! phone and its trace hook are `phonestorm-phone`'s. The PIN is masked by
//! the phone before any line reaches this module.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use phonestorm_engine::fleet::Fleet;
use phonestorm_engine::scenario::Scenario;
use phonestorm_engine::users;
use phonestorm_phone::{Direction, Open, Outcome, PhoneOutcome, Recorder, Stage, StageEvent, User};

use crate::Usage;

/// Flags of `phonestorm bootstrap`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Scenario whose target and stage settings to use (default: the
    /// embedded mock with every stage on). Only its first phone runs.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Phone number or extension typed at the PIN prompt.
    #[arg(long, value_name = "EXT", value_parser = number)]
    ext: String,
    /// The PIN, digits (never printed, not even when it is refused).
    // Checked in `run` rather than by a clap value parser, whose error
    // message would repeat the value.
    #[arg(long, value_name = "PIN")]
    pin: String,
    /// Override a scenario key; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

/// `--ext` as a phone's keypad could enter it.
fn number(s: &str) -> Result<String, String> {
    if users::is_number(s) {
        Ok(s.to_owned())
    } else {
        Err("expected a phone number or extension of digits".into())
    }
}

/// A minimal scenario: the embedded mock, one phone, every stage.
const DEFAULT: &str = "[phones]\ncount = 1\n\n[arrival]\nprofile = \"all_at_once\"\n";

/// Prints each stage attempt as it ends and each traced message.
struct Trace {
    out: Mutex<std::io::Stdout>,
    started: tokio::time::Instant,
}

impl Trace {
    fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

impl Recorder for Trace {
    fn record(&self, e: StageEvent) {
        let took = e.ended.saturating_duration_since(e.started).as_secs_f64() * 1000.0;
        let at = e
            .started
            .saturating_duration_since(self.started)
            .as_secs_f64();
        let verdict = match &e.outcome {
            Outcome::Ok => format!("ok in {took:.1} ms"),
            Outcome::Skipped => {
                "skipped (off, given by the scenario, or nothing to ask: see the lines above)"
                    .to_owned()
            }
            Outcome::Failed(f) => format!("FAILED after {took:.1} ms: {f}"),
        };
        let attempt = if e.attempt > 0 {
            format!(" (attempt {})", e.attempt + 1)
        } else {
            String::new()
        };
        self.line(&format!(
            "[{at:7.3}s] {:<11} {verdict}{attempt}",
            e.stage.name()
        ));
    }

    fn tracing(&self) -> bool {
        true
    }

    fn wire(&self, _phone: u32, stage: Stage, direction: Direction, text: &str) {
        let arrow = match direction {
            Direction::Sent => ">>",
            Direction::Received => "<<",
        };
        let mut block = String::new();
        for (i, l) in text.trim_end().lines().enumerate() {
            let lead = if i == 0 {
                format!("    {:<11} {arrow} ", stage.name())
            } else {
                " ".repeat(19)
            };
            block.push_str(&lead);
            block.push_str(l);
            block.push('\n');
        }
        self.line(block.trim_end());
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<bool> {
    if !users::is_pin(&args.pin) {
        return Err(Usage("--pin: expected a PIN of digits".into()).into());
    }
    let mut sets = args.sets.clone();
    sets.push("phones.count=1".into());
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(path, &sets),
        None => Scenario::from_toml("<built-in>", DEFAULT, std::path::Path::new("."), &sets),
    }
    .map_err(|e| Usage(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let stop = phonestorm_engine::run::stop_on_signal();
        let mut fleet = Fleet::prepare(&scenario)
            .await
            .map_err(|e| Usage(e.to_string()))?;
        // The scenario's password and (for a phone signing in with NTLM or
        // Digest) SIP address stay; the number and PIN are the flags'.
        let kept = fleet.identity(0).map(|i| i.user.clone());
        fleet.set_user(
            0,
            User {
                sip_uri: kept.as_ref().and_then(|u| u.sip_uri.clone()),
                number: args.ext.clone().into_boxed_str(),
                pin: args.pin.clone().into_boxed_str(),
                password: kept.map(|u| u.password).unwrap_or_default(),
            },
        );
        let trace = Trace {
            out: Mutex::new(std::io::stdout()),
            started: tokio::time::Instant::now(),
        };
        if let Some(m) = fleet.mock() {
            trace.line(&format!(
                "embedded mock Front End: dhcp {} dns {} https {} sip_tls {}",
                m.endpoints.dhcp, m.endpoints.dns, m.endpoints.https, m.endpoints.sip_tls
            ));
        }
        let id = fleet.identity(0).context("no phone in the scenario")?;
        trace.line(&format!(
            "phone: {} {} firmware {}, MAC {}, epid {}, signing in as {} with PIN {}",
            id.model.vendor(),
            id.model.name(),
            id.firmware(),
            id.mac_dashed(),
            id.epid(),
            args.ext,
            "*".repeat(args.pin.len())
        ));
        let result = phonestorm_phone::bootstrap(
            id,
            fleet.config(),
            fleet.shared(),
            trace.started,
            &trace,
            &Open,
            stop,
        )
        .await;
        let ok = matches!(
            result.outcome,
            PhoneOutcome::SignedIn | PhoneOutcome::Completed
        );
        let summary = match &result.outcome {
            PhoneOutcome::SignedIn => format!(
                "signed in at {} and signed out",
                result.registrar.as_deref().unwrap_or("the registrar")
            ),
            PhoneOutcome::Completed => "every stage done (register off)".to_owned(),
            PhoneOutcome::Failed { stage, failure } => format!("failed at {stage}: {failure}"),
            PhoneOutcome::Lost(f) => format!("signed in, then lost the registration: {f}"),
            PhoneOutcome::Stopped => "stopped".to_owned(),
        };
        trace.line(&format!("result: {summary}"));
        fleet.shutdown().await;
        anyhow::Ok(ok)
    })
}
