//! The `phonestorm` command line: parses flags into settings and hands them
//! to the crates. It owns argument parsing, error reporting and exit codes;
//! protocol logic lives in `phonestorm-proto`.
//!
//! Every failure ends with one line on stderr, `phonestorm: error: ...`, and
//! exit status 2 for bad input (clap's usage errors included) or 1 for a
//! failure at run time. `--help` and `--version` print normally and exit 0.

mod bootstrap;
mod dhcp_options;
mod mock;
mod report;
mod run;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use phonestorm_engine::threads::Scheduling;

/// mimalloc rather than glibc's malloc, for the harness and the mock: a
/// sign-in makes about 1,500 allocations, and glibc's malloc and free were
/// 7% of the harness's samples at saturation (bench/README.md, "Xeon 167,
/// one phone thread, and mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Capacity test for Lync / Skype for Business desk-phone sign-in storms.
#[derive(Debug, Parser)]
#[command(name = "phonestorm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print DHCP options 120 and 43 for IP phones (DHCPUtil for every DHCP
    /// server), or decode them.
    DhcpOptions(dhcp_options::Args),
    /// Run the mock Front End (DHCP, DNS, SNTP, web services, registrar)
    /// on loopback until Ctrl-C; prints its endpoints as one line of JSON.
    Mock(mock::Args),
    /// Run a scenario: phones sign in against the embedded mock or a real
    /// pool; prints a table per stage, writes the JSON report. Exit 0 on
    /// success, 1 when thresholds broke or the run was aborted.
    Run(run::RunArgs),
    /// Check a scenario file without running it.
    Validate(run::ValidateArgs),
    /// Work with finished runs' reports: `report compare BASE.json
    /// NEW.json` flags regressions (exit 1 past the tolerance).
    Report(report::Args),
    /// One phone through every stage with a readable trace of what it sent
    /// and what came back (PIN masked), and where it failed. Exit 0 when it
    /// signed in, 1 when it did not.
    Bootstrap(bootstrap::Args),
}

/// An error in what the user typed: exit status 2.
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Binds `--metrics-listen` when it was given (`run` and `mock` alike),
/// before any costly preparation, so a taken or foreign address is said
/// at once as a [`Usage`] error.
pub(crate) async fn bind_metrics(
    addr: Option<std::net::SocketAddr>,
) -> Result<Option<tokio::net::TcpListener>, Usage> {
    match addr {
        Some(addr) => phonestorm_metrics::serve::bind(addr)
            .await
            .map(Some)
            .map_err(|e| Usage(format!("--metrics-listen: {e}"))),
        None => Ok(None),
    }
}

/// `--sched` of `run` and `mock`: `normal` (the kernel's default) or
/// `batch` (SCHED_BATCH), parsed straight into the engine's policy.
pub(crate) fn sched_parser() -> impl clap::builder::TypedValueParser<Value = Scheduling> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["normal", "batch"]).map(|s| match s.as_str() {
        "batch" => Scheduling::Batch,
        _ => Scheduling::Normal,
    })
}

/// The policy to use: `want`, or the default with a warning on stderr when
/// the kernel refuses it.
pub(crate) fn checked_sched(want: Scheduling) -> Scheduling {
    want.checked().unwrap_or_else(|e| {
        eprintln!("phonestorm: warning: --sched: {e}; threads keep the default policy");
        Scheduling::Normal
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    let result = match cli.command {
        Command::DhcpOptions(args) => dhcp_options::run(args),
        Command::Mock(args) => mock::run(args),
        Command::Validate(args) => run::validate(args),
        Command::Report(args) => match report::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Bootstrap(args) => match bootstrap::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Run(args) => match run::run(args) {
            Ok(run::Verdict(reasons)) if reasons.is_empty() => Ok(()),
            Ok(_) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = if e.is::<Usage>() { 2 } else { 1 };
            report(&format!("{e:#}"));
            ExitCode::from(code)
        }
    }
}

/// Help and version print as clap renders them; any other clap error is cut
/// to its first line (kind and message, no usage block) so that scripts see
/// one line, like every other error.
fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // Nothing useful is left to do if stdout is gone.
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        report("a subcommand is required; see 'phonestorm --help'");
        return ExitCode::from(2);
    }
    // The message may run over a few lines (a list of missing arguments)
    // before the blank line and the usage block: join those lines.
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
        .collect();
    let message = message.join(" ");
    report(message.strip_prefix("error: ").unwrap_or(&message));
    ExitCode::from(2)
}

/// Writes one line to stderr, whatever newlines the message holds.
fn report(msg: &str) {
    let line = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    let _ = writeln!(std::io::stderr().lock(), "phonestorm: error: {line}");
}
