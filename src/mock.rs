//! `phonestorm mock`: the mock Front End as its own process, so a load
//! test can measure the harness alone, and so people can point phones,
//! dig or curl at it by hand.
//!
//! It owns reading the configuration file, the one-line JSON report of the
//! bound endpoints on stdout, and waiting for Ctrl-C or SIGTERM; the
//! services live in `phonestorm-mockfe`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use phonestorm_mockfe::MockConfig;

use crate::Usage;

/// Flags of `phonestorm mock`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Configuration file (see mockfe.toml in the repository for every
    /// knob); the built-in defaults model one SfB 2015 Front End.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address every service binds (ephemeral ports), overriding the file.
    #[arg(long, value_name = "IP")]
    listen: Option<IpAddr>,
    /// Write the mock CA's certificate here (PEM), for curl --cacert and
    /// the like; phones download it themselves as the root chain.
    #[arg(long, value_name = "FILE")]
    ca_out: Option<PathBuf>,
    /// Write the pool's TLS material into this directory: `ca.pem` (the
    /// CA), `server.pem` (server certificate then CA) and `server-key.pem`
    /// (PKCS#8). Standard servers put in front of the mock (nginx,
    /// Kamailio, SIPp) then present the pool's own certificate and check
    /// phones' certificates against the CA that issued them.
    #[arg(long, value_name = "DIR")]
    tls_out: Option<PathBuf>,
    /// Also serve the mock's Prometheus metrics at http://ADDR/metrics
    /// (e.g. 127.0.0.1:9465, for a fixed scrape target); the endpoints
    /// line then names this address as `metrics`. By default they are on
    /// an ephemeral port of the listen address.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// How the kernel schedules the mock's threads (as `run --sched`).
    /// `batch` keeps a mock on the same machine from preempting the
    /// harness at each answer it receives, as a pool on its own machine
    /// would not.
    #[arg(long, value_name = "POLICY", default_value = "normal", value_parser = crate::sched_parser())]
    sched: phonestorm_engine::threads::Scheduling,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = match &args.config {
        Some(path) => MockConfig::load(path).map_err(|e| Usage(e.to_string()))?,
        None => MockConfig::default(),
    };
    if let Some(ip) = args.listen {
        cfg.listen = ip;
    }
    // Each phone's connection is an open file here too.
    phonestorm_engine::openfiles::raise();
    let scheduling = crate::checked_sched(args.sched);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Checked above: a refusal here cannot happen and would only
        // leave the thread as it is.
        .on_thread_start(move || {
            let _ = scheduling.apply_here();
        })
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = crate::bind_metrics(args.metrics_listen).await?;
        let mut mock = phonestorm_mockfe::start(cfg)
            .await
            .context("mock Front End")?;
        if let Some(listener) = listener {
            mock.endpoints.metrics = listener.local_addr().context("metrics listener")?;
            let metrics = mock.metrics.clone();
            tokio::spawn(phonestorm_metrics::serve::serve(
                listener,
                Arc::new(move || metrics.render()),
                mock.stop_token(),
            ));
        }
        if let Some(path) = &args.ca_out {
            std::fs::write(path, pem(mock.ca.ca_der()))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(dir) = &args.tls_out {
            write_tls(dir, &mock.ca)?;
        }
        // Ctrl-C and SIGTERM are watched before the endpoints line goes out:
        // whoever reads it may send SIGTERM at once, and it must find the
        // handler in place.
        let stop = phonestorm_engine::run::stop_on_signal();
        let line = serde_json::to_string(&mock.endpoints).context("endpoints as JSON")?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}").context("stdout")?;
            out.flush().context("stdout")?;
        }
        stop.cancelled().await;
        mock.shutdown().await;
        Ok(())
    })
}

/// The files of `--tls-out`. The key file is readable by its owner only.
fn write_tls(dir: &std::path::Path, ca: &phonestorm_mockfe::ca::MockCa) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("ca.pem", pem(ca.ca_der()))?;
    write(
        "server.pem",
        ca.server_chain().iter().map(|c| pem(c)).collect(),
    )?;
    let key = dir.join("server-key.pem");
    write(
        "server-key.pem",
        pem_block("PRIVATE KEY", ca.server_key().secret_der()),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", key.display()))?;
    }
    Ok(())
}

/// A DER certificate as PEM.
fn pem(der: &[u8]) -> String {
    pem_block("CERTIFICATE", der)
}

/// DER as an RFC 7468 block.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
