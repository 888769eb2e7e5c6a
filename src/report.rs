//! `phonestorm report compare BASE.json NEW.json [--tolerance 10%]`: two
//! runs' JSON reports side by side, regressions flagged.
//!
//! This module owns the subcommand's flags, output and exit status (0: no
//! regression, 1: a regression past the tolerance, 2: a missing or broken
//! file or flag, one line). The comparison itself is
//! `phonestorm_engine::compare`.

use std::io::Write;
use std::path::PathBuf;

use phonestorm_engine::compare;

use crate::Usage;

/// Flags of `phonestorm report`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Per-stage differences between two JSON reports (`run
    /// --report-json`): corrected p50/p90/p99/p99.9/max and fail rate.
    /// Exit 1 when a figure regressed past the tolerance.
    Compare {
        /// The baseline report.
        base: PathBuf,
        /// The report to judge against it.
        new: PathBuf,
        /// How much worse a figure may get before it is a regression:
        /// `10%` or `0.1`.
        #[arg(long, value_name = "SHARE", default_value = "10%", value_parser = compare::parse_tolerance)]
        tolerance: f64,
    },
}

/// Runs the subcommand; `Ok(false)` when it found a regression.
pub(crate) fn run(args: Args) -> anyhow::Result<bool> {
    match args.command {
        Command::Compare {
            base,
            new,
            tolerance,
        } => {
            let load = |p: &PathBuf| compare::load(p).map_err(|e| Usage(e.to_string()));
            let (base, new) = (load(&base)?, load(&new)?);
            let c = compare::compare(&base, &new, tolerance);
            let _ = write!(std::io::stdout().lock(), "{}", c.table());
            Ok(c.regressions().is_empty())
        }
    }
}
