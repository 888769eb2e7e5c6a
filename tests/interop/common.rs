//! What every interop test needs: finding a peer's binary (a missing peer
//! fails the test unless `PHONESTORM_SKIP_INTEROP=1`, which prints
//! `SKIPPED <peer>: <why>`), temp directories, `{{name}}` templates, a
//! guard that starts a process, waits for it to be ready within a bound
//! and stops it by process id when dropped (SIGTERM, then SIGKILL), a
//! network namespace with a veth pair (torn down on drop), the mock Front
//! End as `phonestorm mock --tls-out DIR`, and `phonestorm run` with its
//! JSON report. One way to do each of these, for every peer's module.
//!
//! It does not configure any peer: each peer's module fills its own
//! template from `tests/interop/<peer>/`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

/// The phonestorm binary under test.
pub(crate) const PHONESTORM: &str = env!("CARGO_BIN_EXE_phonestorm");

/// Where the peers' configuration templates live.
pub(crate) fn config_dir(peer: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(peer)
}

/// A bound on every wait for a peer: generous, as a loaded 2-core machine
/// can be slow to start a daemon, yet finite so a hang fails the test.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// Whether the run asked to skip tests whose peer is missing.
fn skip_allowed() -> bool {
    std::env::var("PHONESTORM_SKIP_INTEROP").as_deref() == Ok("1")
}

/// Finds `name` on PATH or in the sbin directories Debian installs daemons
/// into (often not on a normal user's PATH).
pub(crate) fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A peer's binary. Missing: the test fails with the package to install,
/// unless `PHONESTORM_SKIP_INTEROP=1`, when it prints `SKIPPED <peer>:
/// <why>` and the caller returns (`None`). Never skipped silently.
pub(crate) fn peer(name: &str, package: &str) -> Option<PathBuf> {
    if let Some(p) = find(name) {
        return Some(p);
    }
    skip_or_fail(
        name,
        &format!(
            "{name} not found on PATH or in /usr/sbin (Debian package {package}; `just interop` installs it)"
        ),
    )
}

/// Says a test cannot run here: fails, or with `PHONESTORM_SKIP_INTEROP=1`
/// prints `SKIPPED <peer>: <why>` and returns `None`.
pub(crate) fn skip_or_fail<T>(peer: &str, why: &str) -> Option<T> {
    if skip_allowed() {
        // Straight to stderr, past libtest's capture of print!: a passing
        // test's captured output is never shown, and a skip must be seen.
        let _ = writeln!(std::io::stderr(), "SKIPPED {peer}: {why}");
        return None;
    }
    panic!("{peer}: {why} (set PHONESTORM_SKIP_INTEROP=1 to skip)");
}

/// Network namespaces, veth pairs and port 67 need root.
pub(crate) fn need_root(peer: &str) -> Option<()> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        });
    if uid.as_deref() == Some("0") {
        Some(())
    } else {
        skip_or_fail(peer, "needs root (network namespace, port 67)")
    }
}

/// A directory removed when dropped, kept (and named) when the test failed
/// or `PHONESTORM_KEEP_INTEROP=1`, so its logs can be read.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("phonestorm-interop-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking()
            || std::env::var("PHONESTORM_KEEP_INTEROP").as_deref() == Ok("1")
        {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Fills `{{name}}` placeholders; a placeholder left unfilled is a bug in
/// the test, caught here rather than as a peer's puzzling parse error.
pub(crate) fn fill<V: AsRef<str>>(template: &str, values: &[(&str, V)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v.as_ref());
    }
    if let Some(at) = out.find("{{") {
        panic!(
            "unfilled placeholder: {}",
            &out[at..(at + 40).min(out.len())]
        );
    }
    out
}

/// Reads `tests/interop/<rel>`; fails naming the file.
pub(crate) fn interop_file(rel: &str) -> String {
    let p = config_dir("").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Reads `tests/interop/<peer>/<file>`, fills it, writes it to `to`.
pub(crate) fn write_config<V: AsRef<str>>(peer: &str, file: &str, to: &Path, values: &[(&str, V)]) {
    let t = interop_file(&format!("{peer}/{file}"));
    std::fs::write(to, fill(&t, values)).unwrap();
}

/// A free port on `ip` for UDP and TCP both (bind port 0, keep the number).
/// Another process could take it before the peer binds; the peer's
/// readiness check then fails loudly, never silently.
pub(crate) fn free_port(ip: Ipv4Addr) -> u16 {
    for _ in 0..100 {
        let u = UdpSocket::bind((ip, 0)).unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

/// A loopback address of this process's own: 127.<a>.<b>.<n>, from the
/// process id, so parallel runs of the suite do not share one.
pub(crate) fn loopback(n: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        100 + (pid % 100) as u8,
        ((pid / 100) % 250) as u8 + 1,
        n,
    )
}

/// Waits until `ready` holds, for at most `bound` (counted in 50 ms
/// sleeps: the clock is read in one place per crate, and a test needs no
/// more precision than that).
pub(crate) fn wait_until(bound: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let step = Duration::from_millis(50);
    let tries = bound.as_millis() / step.as_millis();
    for _ in 0..tries {
        if ready() {
            return true;
        }
        std::thread::sleep(step);
    }
    ready()
}

/// Whether something accepts TCP connections on `addr` (a 1 s bound on
/// each try, so a black-holed address cannot stall a readiness loop).
pub(crate) fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// A process the test started; stopped by its process id when dropped.
pub(crate) struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr to `<dir>/<name>.out`.
    pub(crate) fn start(name: &str, mut cmd: Command, dir: &Path) -> Self {
        let log = dir.join(format!("{name}.out"));
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Waits for `ready` within [`PATIENCE`]; fails with the process's
    /// output if it exits or never gets ready.
    pub(crate) fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) {
        let mut exited = None;
        let ok = wait_until(PATIENCE, || {
            if let Ok(Some(s)) = self.child.try_wait() {
                exited = Some(s);
                return true;
            }
            ready()
        });
        if let Some(s) = exited {
            panic!(
                "{} exited ({s}) before it was ready:\n{}",
                self.name,
                self.output()
            );
        }
        assert!(
            ok,
            "{} not ready within {PATIENCE:?}:\n{}",
            self.name,
            self.output()
        );
    }

    /// Whether it is still running.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for something to accept TCP connections on `127.0.0.1:port`,
    /// as [`Proc::wait_ready`] does.
    pub(crate) fn wait_listening(&mut self, port: u16) {
        self.wait_ready(|| listening(SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
    }

    /// What it printed so far.
    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `bound` for the process to exit on its own.
    pub(crate) fn wait(&mut self, bound: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(bound, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// SIGTERM to its process id, then waits up to `bound`; true when it
    /// exited. SIGTERM first so a peer that forks workers (Kamailio,
    /// nginx) stops them, and SIPp writes its statistics.
    pub(crate) fn stop(&mut self, bound: Duration) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait(bound).is_some()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Child::kill signals this process id only (SIGKILL): the last
        // resort, for a peer that ignored SIGTERM for 10 s.
        if !self.stop(Duration::from_secs(10)) {
            eprintln!("{} ignored SIGTERM; killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `ip` with `args`; fails the test with its output on error.
pub(crate) fn ip(args: &[&str]) {
    let out = Command::new(find("ip").unwrap_or_else(|| PathBuf::from("ip")))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace joined to the host by a veth pair: host side
/// 198.18.<n>.1/24 (where the phones' relay agent lives), namespace side
/// 198.18.<n>.2/24 (where a DHCP server runs). The upper half of the /24,
/// 198.18.<n>.128/25, is the servers' pool and is a `local` route on the
/// host (Linux "AnyIP"): a server sends the ACK to an INFORM straight to
/// the phone's leased address, port 68 (RFC 2131 4.3.5), and the host must
/// receive it for the phone. Torn down (route included) when dropped.
pub(crate) struct Netns {
    /// The namespace's name, `ps-<tag>-<pid>`.
    pub(crate) name: String,
    /// The host side's interface.
    pub(crate) host_if: String,
    /// The namespace side's interface.
    pub(crate) ns_if: String,
    /// 198.18.<n>.1.
    pub(crate) host_ip: Ipv4Addr,
    /// 198.18.<n>.2.
    pub(crate) ns_ip: Ipv4Addr,
    /// The /24's third octet.
    pub(crate) n: u8,
}

impl Netns {
    /// Creates the namespace `ps-<tag>-<pid>` and the pair on 198.18.<n>.0/24.
    /// `n` must differ between tests that may run at once; the pid in the
    /// names keeps parallel runs apart (a stale pair of the same name from
    /// a killed run is removed first).
    pub(crate) fn new(tag: &str, n: u8) -> Self {
        let pid = std::process::id();
        let name = format!("ps-{tag}-{pid}");
        // Interface names are at most 15 bytes.
        let short = pid % 1_000_000;
        let host_if = format!("ps{tag:.2}{short}h");
        let ns_if = format!("ps{tag:.2}{short}n");
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        let _ = Command::new("ip")
            .args([
                "route",
                "del",
                "local",
                &format!("198.18.{n}.128/25"),
                "dev",
                "lo",
            ])
            .output();
        let host_ip = Ipv4Addr::new(198, 18, n, 1);
        let ns_ip = Ipv4Addr::new(198, 18, n, 2);
        let me = Netns {
            name,
            host_if,
            ns_if,
            host_ip,
            ns_ip,
            n,
        };
        ip(&["netns", "add", &me.name]);
        ip(&[
            "link",
            "add",
            &me.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &me.ns_if,
        ]);
        ip(&["link", "set", &me.ns_if, "netns", &me.name]);
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &me.host_if]);
        ip(&["link", "set", &me.host_if, "up"]);
        ip(&[
            "-n",
            &me.name,
            "addr",
            "add",
            &format!("{ns_ip}/24"),
            "dev",
            &me.ns_if,
        ]);
        ip(&["-n", &me.name, "link", "set", &me.ns_if, "up"]);
        ip(&["-n", &me.name, "link", "set", "lo", "up"]);
        ip(&["route", "add", "local", &me.pool_block(), "dev", "lo"]);
        me
    }

    /// The pool block, `198.18.<n>.128/25`.
    pub(crate) fn pool_block(&self) -> String {
        format!("198.18.{}.128/25", self.n)
    }

    /// The pool's first and last address, for a server's configuration.
    pub(crate) fn pool(&self) -> (Ipv4Addr, Ipv4Addr) {
        (
            Ipv4Addr::new(198, 18, self.n, 128),
            Ipv4Addr::new(198, 18, self.n, 254),
        )
    }

    /// `program args...` run inside the namespace (`ip netns exec` execs
    /// the program, so the child's pid is the program's own).
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(find("ip").unwrap_or_else(|| PathBuf::from("ip")));
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// The namespace's /24, e.g. `198.18.61.0/24`.
    pub(crate) fn subnet(&self) -> String {
        format!("198.18.{}.0/24", self.n)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it
        // the host's end; delete both explicitly in case a process still
        // holds the namespace open.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["route", "del", "local", &self.pool_block(), "dev", "lo"])
            .output();
    }
}

/// The mock Front End as `phonestorm mock --tls-out DIR`: its endpoints
/// line, and the pool's CA, server chain and key in `tls`.
pub(crate) struct Mock {
    _proc: Proc,
    /// The endpoints line as JSON.
    pub(crate) endpoints: serde_json::Value,
    /// Where `ca.pem`, `server.pem` and `server-key.pem` are.
    pub(crate) tls: PathBuf,
}

impl Mock {
    pub(crate) fn start(dir: &TempDir) -> Self {
        let tls = dir.join("tls");
        let mut cmd = Command::new(PHONESTORM);
        cmd.arg("mock").arg("--tls-out").arg(&tls);
        let line_file = dir.join("mock.out");
        let proc = Proc::start("mock", cmd, dir.path());
        let mut line = String::new();
        let ok = wait_until(PATIENCE, || {
            line = std::fs::read_to_string(&line_file)
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with('{')).map(str::to_owned))
                .unwrap_or_default();
            !line.is_empty()
        });
        assert!(ok, "mock printed no endpoints line:\n{}", proc.output());
        let endpoints = serde_json::from_str(&line).unwrap();
        assert!(
            tls.join("server-key.pem").is_file(),
            "--tls-out wrote no key"
        );
        Mock {
            _proc: proc,
            endpoints,
            tls,
        }
    }

    /// The endpoint `key` (`dns`, `https`, ...).
    pub(crate) fn addr(&self, key: &str) -> SocketAddr {
        self.endpoints[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.endpoints))
            .parse()
            .unwrap()
    }

    /// The port of the endpoint `key`.
    pub(crate) fn port(&self, key: &str) -> u16 {
        self.addr(key).port()
    }

    /// The SIP domain.
    pub(crate) fn domain(&self) -> String {
        self.endpoints["sip_domain"]
            .as_str()
            .unwrap_or("contoso.com")
            .to_owned()
    }
}

/// Runs phonestorm with `args`, killed after `bound`.
pub(crate) fn phonestorm(args: &[&str], bound: Duration) -> Output {
    let mut child = Command::new(PHONESTORM)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a chatty child cannot block on a full
    // pipe while we wait.
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let mut r = BufReader::new(r);
            while let Ok(buf) = r.fill_buf() {
                if buf.is_empty() {
                    break;
                }
                v.extend_from_slice(buf);
                let n = buf.len();
                r.consume(n);
            }
            v
        })
    };
    let (to, te) = (read(Box::new(out)), read(Box::new(err)));
    let mut status = None;
    wait_until(bound, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let s = child.wait().unwrap();
            eprintln!("phonestorm {} killed after {bound:?}", args.join(" "));
            s
        }
    };
    Output {
        status,
        stdout: to.join().unwrap_or_default(),
        stderr: te.join().unwrap_or_default(),
    }
}

/// `phonestorm bootstrap` for user 50007 (PIN 13579, as [`phones`] makes
/// them) with `scenario` saved as `<name>.toml` in `dir`.
pub(crate) fn bootstrap(dir: &TempDir, name: &str, scenario: &str) -> Output {
    let path = dir.join(&format!("{name}.toml"));
    std::fs::write(&path, scenario).unwrap();
    phonestorm(
        &[
            "bootstrap",
            "--scenario",
            path.to_str().unwrap(),
            "--ext",
            "50007",
            "--pin",
            "13579",
        ],
        Duration::from_secs(120),
    )
}

/// `phonestorm run <scenario> --quiet --report-json`: the report, after
/// checking the exit status is 0.
pub(crate) fn run_scenario(dir: &TempDir, name: &str, scenario: &str) -> serde_json::Value {
    let path = dir.join(&format!("{name}.toml"));
    std::fs::write(&path, scenario).unwrap();
    let report = dir.join(&format!("{name}.json"));
    let out = phonestorm(
        &[
            "run",
            path.to_str().unwrap(),
            "--quiet",
            "--report-json",
            report.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "phonestorm run {name}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
}

/// Asserts that every one of `count` phones passed `stage` (`ok` count).
pub(crate) fn assert_stage_ok(report: &serde_json::Value, stage: &str, count: u64) {
    let s = &report["stages"][stage];
    assert_eq!(s["ok"], count, "{stage}: {s}");
    assert_eq!(s["failed"], 0, "{stage}: {s}");
}

/// The `[target]` ports of the mock's services, as scenario TOML lines.
pub(crate) fn mock_ports(mock: &Mock) -> String {
    format!(
        "[target.ports]\nntp = {}\nhttp = {}\nhttps = {}\nsip_tls = {}\nsip_tcp = {}\n",
        mock.addr("sntp").port(),
        mock.addr("http").port(),
        mock.addr("https").port(),
        mock.addr("sip_tls").port(),
        mock.addr("sip_tcp").port(),
    )
}

/// Phones, users and stage settings every interop scenario shares: the
/// mock's users (PIN 13579), a quick arrival, generous timeouts.
pub(crate) fn phones(count: u32) -> String {
    format!(
        r#"
[phones]
count = {count}
users = {{ first_number = 14255550000, extension_digits = 5, pin = "13579" }}
keys = "pool:4"

[arrival]
profile = "constant"
rate = 20

[stages]
timeout = "30s"
retry = {{ attempts = 3, backoff = "200ms", backoff_max = "2s", jitter = 0.2 }}
"#
    )
}
