//! Small helpers for the SIP interop tests ([`crate::sip`]): finding a peer
//! binary (a missing one fails unless `PHONESTORM_SKIP_INTEROP=1`), a guard
//! that kills a started process by pid when dropped, temp dirs, `{{name}}`
//! templates, the separately started `phonestorm mock --tls-out`, and a
//! `phonestorm run` whose JSON report is read back. They do not know any
//! SIP; the net side's `common` module covers the same ground for DHCP,
//! DNS and HTTPS and the two are to be folded together.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Finds `name` on PATH or in the sbin directories Debian installs daemons
/// into. `None` means: skip, with `SKIPPED <peer>: <why>` printed, which
/// only `PHONESTORM_SKIP_INTEROP=1` allows; otherwise a missing peer fails
/// the test with the package to install.
pub(crate) fn peer(name: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_some() {
        return found;
    }
    if std::env::var("PHONESTORM_SKIP_INTEROP").as_deref() == Ok("1") {
        println!("SKIPPED {name}: not installed (Debian package {package})");
        return None;
    }
    panic!(
        "{name} not found: install the Debian package `{package}` \
         (tests/interop/run.sh does), or set PHONESTORM_SKIP_INTEROP=1 to skip"
    );
}

/// A directory under the system temp dir, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ps-sip-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Kept when PHONESTORM_KEEP_INTEROP=1, to read a failed run's logs.
        if std::env::var("PHONESTORM_KEEP_INTEROP").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A started process, stopped by its pid when dropped: SIGTERM first (so
/// Kamailio stops its children and SIPp writes its statistics), SIGKILL
/// after a bounded wait.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) name: String,
}

impl Proc {
    pub(crate) fn spawn(name: &str, cmd: &mut Command) -> Self {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_owned(),
        }
    }

    /// SIGTERM, then waits up to `bound` for the exit; true when it exited.
    pub(crate) fn stop(&mut self, bound: Duration) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait(bound).is_some()
    }

    /// Waits up to `bound` for the process to exit on its own.
    pub(crate) fn wait(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        // Counted 50 ms steps, not the clock (clippy.toml keeps clock
        // reads in each crate's clock module).
        for _ in 0..bound.as_millis().div_ceil(50) {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.stop(Duration::from_secs(10)) {
            eprintln!("{} ignored SIGTERM; killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port free at the time of asking (the peer binds it next).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until something accepts TCP connections on `port`, and
/// fails naming the peer and its log when nothing does.
pub(crate) fn wait_listening(proc: &mut Proc, port: u16, log: &Path) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // At most 300 tries of up to 1 s connect plus 100 ms each.
    for _ in 0..300 {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return;
        }
        if let Ok(Some(s)) = proc.child.try_wait() {
            panic!(
                "{} exited ({s}) before listening on {port}:\n{}",
                proc.name,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} not listening on {port} after 300 tries:\n{}",
        proc.name,
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// `{{name}}` substitution; a placeholder left unfilled is a test bug.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    assert!(!out.contains("{{"), "unfilled placeholder in:\n{out}");
    out
}

/// Reads a file under tests/interop.
pub(crate) fn interop_file(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A running `phonestorm mock --tls-out`: its endpoints line and the TLS
/// directory peers present and verify with.
pub(crate) struct Mock {
    pub(crate) endpoints: serde_json::Value,
    pub(crate) tls: PathBuf,
    _proc: Proc,
}

impl Mock {
    pub(crate) fn start(dir: &TempDir) -> Self {
        let tls = dir.path("tls");
        let mut proc = Proc::spawn(
            "phonestorm mock",
            Command::new(env!("CARGO_BIN_EXE_phonestorm"))
                .arg("mock")
                .arg("--tls-out")
                .arg(&tls)
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let out = proc.child.stdout.take().unwrap();
        // The endpoints line comes once everything listens; read it on a
        // thread so a mock that never prints cannot hang the test.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("phonestorm mock prints its endpoints within 60 s");
        let endpoints: serde_json::Value = serde_json::from_str(&line).unwrap();
        Mock {
            endpoints,
            tls,
            _proc: proc,
        }
    }

    /// The port of one endpoint (`"dns"`, `"https"`, ...).
    pub(crate) fn port(&self, key: &str) -> u16 {
        self.addr(key).port()
    }

    pub(crate) fn addr(&self, key: &str) -> SocketAddr {
        self.endpoints[key].as_str().unwrap().parse().unwrap()
    }
}

/// Runs `phones` phones from `tests/interop/sip-phones.toml` against
/// `registrar` (host:port), holding each for `hold`; returns the JSON
/// report and the exit status. Bounded: the run is killed after 5 min.
pub(crate) fn run_phones(
    dir: &TempDir,
    mock: &Mock,
    registrar: &str,
    phones: u32,
    hold: &str,
) -> (serde_json::Value, Option<i32>, String) {
    run_phones_with(dir, mock, registrar, phones, hold, "certificate")
}

/// As [`run_phones`], the phones authenticating with `auth`
/// (`stages.register.auth`: `"certificate"`, `"digest"`, ...).
pub(crate) fn run_phones_with(
    dir: &TempDir,
    mock: &Mock,
    registrar: &str,
    phones: u32,
    hold: &str,
    auth: &str,
) -> (serde_json::Value, Option<i32>, String) {
    let scenario = fill(
        &interop_file("sip-phones.toml").replace(
            "register.auth = \"certificate\"",
            &format!("register.auth = \"{auth}\""),
        ),
        &[
            ("count", &phones.to_string()),
            ("dns", &mock.addr("dns").to_string()),
            ("http", &mock.port("http").to_string()),
            ("https", &mock.port("https").to_string()),
            ("registrar", registrar),
            ("hold", hold),
        ],
    );
    let path = dir.path("phones.toml");
    std::fs::write(&path, scenario).unwrap();
    let report = dir.path("report.json");
    let log = dir.path("run.log");
    let mut proc = Proc::spawn(
        "phonestorm run",
        Command::new(env!("CARGO_BIN_EXE_phonestorm"))
            .arg("run")
            .arg(&path)
            .arg("--quiet")
            .arg("--report-json")
            .arg(&report)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path("run.err")).unwrap()),
    );
    let status = proc
        .wait(Duration::from_secs(300))
        .expect("phonestorm run finishes within 5 min");
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(dir.path("run.err")).unwrap_or_default()
    );
    let r = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no report ({e}); run said:\n{text}"));
    (serde_json::from_str(&r).unwrap(), status.code(), text)
}
