//! SIP against servers nobody here wrote: Kamailio (TLS, client
//! certificates from the mock CA, registrar + usrloc in memory) and SIPp as
//! a REGISTER-judging UAS. The mock Front End does every stage but the
//! registration. Each test starts its peers on loopback and stops them by
//! pid; what it asserts comes from phonestorm's JSON report AND from the
//! peer itself (Kamailio's log and `kamcmd ul.dump`, SIPp's statistics).
//! DHCP, DNS and HTTPS peers are the `dhcp`, `dns` and `https` modules.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::common::{
    Mock, Proc, TempDir, config_dir, fill, free_port, interop_file, peer, run_scenario,
};

/// A Kamailio started from tests/interop/kamailio/kamailio.cfg.
struct Kamailio {
    port: u16,
    ctl: String,
    kamcmd: Option<PathBuf>,
    proc: Proc,
}

/// Timing of the certificate-mode run: Kamailio grants 10 s, closes a TLS
/// connection idle for 6 s, and asks for keep-alives within 4 s. A phone
/// held 14 s therefore must re-REGISTER (at 80 % of 10 s) and must send
/// keep-alives, or Kamailio drops its connection and its sign-out is lost.
const EXPIRES: &str = "10";
const LIFETIME: &str = "6";
const KEEPALIVE: &str = "4";

impl Kamailio {
    /// `defines` go to `-A` (e.g. `WITH_DIGEST`); `digest_users` fills the
    /// htable of digest mode.
    fn start(dir: &TempDir, tls: &Path, defines: &[&str], digest_users: &str) -> Option<Self> {
        let bin = peer(
            "kamailio",
            "kamailio kamailio-tls-modules kamailio-extra-modules",
        )?;
        let port = free_port(Ipv4Addr::LOCALHOST);
        let run = dir.join("kamailio-run");
        std::fs::create_dir_all(&run).unwrap();
        let cfg = fill::<&str>(
            &interop_file("kamailio/kamailio.cfg"),
            &[
                ("port", &port.to_string()),
                ("tls_dir", tls.to_str().unwrap()),
                ("run_dir", run.to_str().unwrap()),
                ("expires", EXPIRES),
                ("keepalive", KEEPALIVE),
                ("lifetime", LIFETIME),
                ("digest_users", digest_users),
            ],
        );
        let cfg_path = dir.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        let mut args: Vec<String> = Vec::new();
        for d in defines {
            args.push("-A".into());
            args.push((*d).into());
        }
        // The configuration must parse before anything else is judged.
        let check = Command::new(&bin)
            .arg("-c")
            .args(&args)
            .arg("-f")
            .arg(&cfg_path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "kamailio -c {defines:?}:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        // -DD: stay in the foreground (so the pid is ours) but fork the
        // workers; -E: log to stderr, i.e. the log file the test reads.
        let mut cmd = Command::new(&bin);
        cmd.args(["-DD", "-E", "-f"])
            .arg(&cfg_path)
            .args(&args)
            .arg("-Y")
            .arg(&run)
            .arg("-P")
            .arg(run.join("kamailio.pid"));
        let mut proc = Proc::start("kamailio", cmd, dir.path());
        proc.wait_listening(port);
        Some(Kamailio {
            port,
            ctl: format!("unix:{}", run.join("kamailio_ctl").display()),
            kamcmd: peer("kamcmd", "kamailio"),
            proc,
        })
    }

    fn log(&self) -> String {
        self.proc.output()
    }

    /// The AoRs bound in usrloc, from Kamailio's own `ul.dump`.
    fn bound_aors(&self) -> Vec<String> {
        let Some(kamcmd) = &self.kamcmd else {
            return Vec::new();
        };
        ul_dump(kamcmd, &self.ctl)
    }

    /// Polls `ul.dump` on a thread while the phones are held, keeping the
    /// largest set of AoRs bound at once; [`UsrlocWatch::most`] stops it.
    fn watch_usrloc(&self) -> UsrlocWatch {
        let most = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let done = Arc::new(AtomicBool::new(false));
        let (m, d) = (most.clone(), done.clone());
        let kamcmd = self
            .kamcmd
            .clone()
            .expect("kamcmd (package kamailio) is missing");
        let ctl = self.ctl.clone();
        let thread = std::thread::spawn(move || {
            // At most 1000 polls (5 min of 300 ms sleeps).
            for _ in 0..1000 {
                if d.load(Ordering::Relaxed) {
                    break;
                }
                let aors = ul_dump(&kamcmd, &ctl);
                let mut m = m.lock().unwrap();
                if aors.len() > m.len() {
                    *m = aors;
                }
                drop(m);
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        UsrlocWatch { most, done, thread }
    }

    /// `PSTORM registered ...` lines as (user, expires header, cseq).
    fn registered(&self) -> Vec<(String, String, u32)> {
        self.log()
            .lines()
            .filter_map(|l| l.split_once("PSTORM registered ").map(|(_, r)| r))
            .map(|r| {
                let field = |k: &str| {
                    r.split(' ')
                        .find_map(|f| f.strip_prefix(k))
                        .unwrap_or_default()
                        .to_owned()
                };
                (
                    field("user="),
                    field("expires="),
                    field("cseq=").parse().unwrap(),
                )
            })
            .collect()
    }
}

/// The AoRs `kamcmd ul.dump` lists.
fn ul_dump(kamcmd: &Path, ctl: &str) -> Vec<String> {
    let out = Command::new(kamcmd)
        .args(["-s", ctl, "ul.dump"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kamcmd ul.dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("AoR: ").map(str::to_owned))
        .collect()
}

/// A running [`Kamailio::watch_usrloc`].
struct UsrlocWatch {
    most: Arc<std::sync::Mutex<Vec<String>>>,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl UsrlocWatch {
    /// Stops the polling; the most AoRs seen bound at once.
    fn most(self) -> Vec<String> {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.most.lock().unwrap().clone()
    }
}

/// Runs `phones` phones from `tests/interop/sip-phones.toml` against
/// `registrar` (host:port), authenticating with `auth`
/// (`stages.register.auth`: `"certificate"`, `"digest"`, ...) and holding
/// each for `hold`; the JSON report (the run must exit 0).
fn run_phones(
    dir: &TempDir,
    mock: &Mock,
    registrar: &str,
    phones: u32,
    hold: &str,
    auth: &str,
) -> serde_json::Value {
    let scenario = fill(
        &interop_file("sip-phones.toml").replace(
            "register.auth = \"certificate\"",
            &format!("register.auth = \"{auth}\""),
        ),
        &[
            ("count", phones.to_string()),
            ("dns", mock.addr("dns").to_string()),
            ("http", mock.port("http").to_string()),
            ("https", mock.port("https").to_string()),
            ("registrar", registrar.to_owned()),
            ("hold", hold.to_owned()),
        ],
    );
    run_scenario(dir, "phones", &scenario)
}

/// A REGISTER as RFC 3261 10.2 builds it, for the tests that speak SIP
/// themselves (no phone).
fn register(user: &str, port: u16) -> String {
    format!(
        "REGISTER sip:contoso.com SIP/2.0\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:{port};branch=z9hG4bK{user}1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@contoso.com>;tag=t{user}\r\n\
         To: <sip:{user}@contoso.com>\r\n\
         Call-ID: {user}-interop\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@127.0.0.1:{port};transport=tls>\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends `msg` over TLS (trusting `tls/ca.pem`, presenting `client` as
/// (chain, key) when given) and returns what came back before the end of
/// the response headers, EOF or an error (the error as text).
fn tls_exchange(tls: &Path, port: u16, client: Option<(&Path, &Path)>, msg: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(tls.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(chain)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("pool01.contoso.com").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut s = rustls::StreamOwned::new(conn, sock);
    if let Err(e) = s.write_all(msg.as_bytes()).and_then(|()| s.flush()) {
        return format!("error: {e}");
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) => {
                got.extend_from_slice(format!("error: {e}").as_bytes());
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Phones with the certificate GetAndPublishCert gave them register with
/// Kamailio (TLS 1.2+, chain verified against the mock CA, URI SAN = From
/// user), keep the connection alive with CRLF pings (RFC 5626 3.5.1),
/// re-REGISTER before the 10 s Kamailio grants run out (RFC 3261 10.2.1)
/// and sign out with Expires: 0 (RFC 3261 10.2.2). Kamailio's usrloc holds
/// every phone's binding mid-run and none at the end.
#[test]
fn kamailio_binds_refreshes_and_removes_certificate_phones() {
    const PHONES: u32 = 6;
    let dir = TempDir::new("kam-cert");
    let Some(_) = peer("kamailio", "kamailio") else {
        return;
    };
    let mock = Mock::start(&dir);
    let Some(kam) = Kamailio::start(&dir, &mock.tls, &[], "") else {
        return;
    };
    // Watch usrloc from Kamailio's side while the phones are held.
    let watch = kam.watch_usrloc();
    let registrar = format!("pool01.contoso.com:{}", kam.port);
    let report = run_phones(&dir, &mock, &registrar, PHONES, "14s", "certificate");
    let most = watch.most();

    assert_eq!(report["phones"]["registered"], PHONES, "{report}");
    assert_eq!(report["phones"]["failed"], 0, "{report}");
    assert_eq!(report["stages"]["register"]["ok"], PHONES, "{report}");

    let log = kam.log();
    assert!(!log.contains("PSTORM refused"), "{log}");
    let lines = kam.registered();
    assert_eq!(
        most.len(),
        PHONES as usize,
        "bound at once: {most:?}\n{log}"
    );
    for n in 0..PHONES {
        let user = format!("user{n}");
        let mine: Vec<_> = lines.iter().filter(|(u, _, _)| *u == user).collect();
        // Sign-in: the first REGISTER of the Call-ID.
        assert!(
            mine.iter().any(|(_, e, c)| *c == 1 && e != "0"),
            "{user} sign-in: {mine:?}"
        );
        // At least one refresh on the same connection before the end.
        assert!(
            mine.iter().any(|(_, e, c)| *c >= 2 && e != "0"),
            "{user} refresh: {mine:?}"
        );
        // Sign-out, after the refreshes: only possible if the keep-alives
        // kept the 6 s connection lifetime from closing the connection.
        let last = mine.last().unwrap();
        assert!(last.1 == "0" && last.2 >= 3, "{user} sign-out: {mine:?}");
        assert!(
            most.iter().any(|a| a.starts_with(&user)),
            "{user}: {most:?}"
        );
    }
    assert!(
        kam.bound_aors().is_empty(),
        "left bound: {:?}",
        kam.bound_aors()
    );
}

/// RFC 5246 7.4.6 / RFC 8446 4.4.2: with `require_certificate`, a client
/// that presents no certificate never gets to send SIP; and a verified
/// certificate that names another user (the pool's server certificate,
/// which has no sip: URI SAN) is refused by the route with 403.
#[test]
fn kamailio_refuses_phones_without_their_own_certificate() {
    let dir = TempDir::new("kam-refuse");
    let Some(_) = peer("kamailio", "kamailio") else {
        return;
    };
    let mock = Mock::start(&dir);
    let Some(kam) = Kamailio::start(&dir, &mock.tls, &[], "") else {
        return;
    };
    let bare = tls_exchange(&mock.tls, kam.port, None, &register("intruder", 5061));
    assert!(!bare.contains("SIP/2.0 200"), "{bare}");
    assert!(
        bare.is_empty() || bare.starts_with("error"),
        "no certificate, yet an answer: {bare}"
    );
    let other = tls_exchange(
        &mock.tls,
        kam.port,
        Some((
            &mock.tls.join("server.pem"),
            &mock.tls.join("server-key.pem"),
        )),
        &register("user7", 5061),
    );
    assert!(other.starts_with("SIP/2.0 403"), "{other}");
    assert!(kam.bound_aors().is_empty(), "{:?}", kam.bound_aors());
    assert!(!kam.log().contains("PSTORM registered"), "{}", kam.log());
}

/// Digest mode (`-A WITH_DIGEST`) parses, and a REGISTER without
/// credentials gets RFC 3261 22.4's challenge: 401 with a
/// `WWW-Authenticate: Digest` carrying the realm and a nonce (RFC 2617 3.2.1).
#[test]
fn kamailio_digest_mode_challenges_register_without_credentials() {
    let dir = TempDir::new("kam-digest");
    let Some(_) = peer("kamailio", "kamailio") else {
        return;
    };
    let mock = Mock::start(&dir);
    let users = "\t$sht(passwd=>user0) = \"secret0\";\n\t$sht(passwd=>user1) = \"secret1\";";
    let Some(kam) = Kamailio::start(&dir, &mock.tls, &["WITH_DIGEST"], users) else {
        return;
    };
    let answer = tls_exchange(&mock.tls, kam.port, None, &register("user0", 5061));
    assert!(answer.starts_with("SIP/2.0 401"), "{answer}");
    let challenge = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .unwrap_or_else(|| panic!("no WWW-Authenticate: {answer}"));
    assert!(challenge.contains("Digest"), "{challenge}");
    assert!(challenge.contains("realm=\"contoso.com\""), "{challenge}");
    assert!(challenge.contains("nonce=\""), "{challenge}");
    assert!(kam.bound_aors().is_empty());
    assert!(kam.log().contains("PSTORM challenged user=user0"));
    drop(kam);
}

/// Digest mode as a standard registrar runs it (RFC 3261 22.4): phones
/// in `register.auth = "digest"` answer Kamailio's 401 with the users'
/// passwords (the mock's pattern, `Storm-{n}!`, put into Kamailio's
/// htable), are bound in usrloc, refresh under the same nonce with a
/// rising nc, and sign out. The judge is Kamailio's `pv_auth_check`.
#[test]
fn kamailio_digest_binds_refreshes_and_removes_password_phones() {
    const PHONES: u32 = 4;
    let dir = TempDir::new("kam-digest-phones");
    let Some(_) = peer("kamailio", "kamailio") else {
        return;
    };
    let mock = Mock::start(&dir);
    let users: String = (0..PHONES)
        .map(|n| format!("\t$sht(passwd=>user{n}) = \"Storm-{n}!\";\n"))
        .collect();
    let Some(kam) = Kamailio::start(&dir, &mock.tls, &["WITH_DIGEST"], &users) else {
        return;
    };
    let watch = kam.watch_usrloc();
    let registrar = format!("pool01.contoso.com:{}", kam.port);
    let report = run_phones(&dir, &mock, &registrar, PHONES, "14s", "digest");
    let most = watch.most();

    assert_eq!(report["phones"]["registered"], PHONES, "{report}");
    assert_eq!(report["stages"]["register"]["ok"], PHONES, "{report}");
    let log = kam.log();
    assert_eq!(
        most.len(),
        PHONES as usize,
        "bound at once: {most:?}\n{log}"
    );
    let lines = kam.registered();
    for n in 0..PHONES {
        let user = format!("user{n}");
        // 401 first, then 200: Kamailio challenged every phone once.
        assert!(
            log.contains(&format!("PSTORM challenged user={user}")),
            "{user}: {log}"
        );
        let mine: Vec<_> = lines.iter().filter(|(u, _, _)| *u == user).collect();
        assert!(
            mine.iter().any(|(_, e, _)| e != "0"),
            "{user} sign-in: {mine:?}"
        );
        assert!(
            mine.iter().filter(|(_, e, _)| e != "0").count() >= 2,
            "{user} refresh: {mine:?}"
        );
        assert_eq!(
            mine.last().map(|l| l.1.as_str()),
            Some("0"),
            "{user} sign-out: {mine:?}"
        );
    }
    assert!(
        kam.bound_aors().is_empty(),
        "left bound: {:?}",
        kam.bound_aors()
    );
}

/// SIPp as the judge: phones sign in and out against SIPp's UAS scenario
/// (tests/interop/sipp/register-uas.xml), which checks every header RFC 3261
/// 10.2 requires and Expires: 0 on sign-out (10.2.2). Debian's SIPp has no
/// TLS, so socat terminates the phones' TLS (pool certificate, client
/// certificate required from the mock CA) in front of SIPp's TCP.
#[test]
fn sipp_uas_accepts_every_phone_register() {
    const PHONES: u32 = 5;
    let dir = TempDir::new("sipp-uas");
    let (Some(sipp), Some(socat)) = (peer("sipp", "sip-tester"), peer("socat", "socat")) else {
        return;
    };
    let mock = Mock::start(&dir);
    let sipp_port = free_port(Ipv4Addr::LOCALHOST);
    let stat = dir.join("sipp-stat.csv");
    let errors = dir.join("sipp-errors.log");
    let messages = dir.join("sipp-messages.log");
    let mut cmd = Command::new(&sipp);
    cmd.arg("-sf")
        .arg(config_dir("sipp").join("register-uas.xml"))
        .args(["-t", "t1", "-i", "127.0.0.1", "-p", &sipp_port.to_string()])
        .args(["-m", &PHONES.to_string(), "-nostdin", "-timeout", "240s"])
        .args(["-trace_stat", "-fd", "1", "-stf"])
        .arg(&stat)
        .args(["-trace_err", "-error_file"])
        .arg(&errors)
        .args(["-trace_msg", "-message_file"])
        .arg(&messages)
        .args(["-trace_logs", "-log_file"])
        .arg(dir.join("sipp-actions.log"));
    let mut sipp_proc = Proc::start("sipp", cmd, dir.path());
    sipp_proc.wait_listening(sipp_port);
    let tls_port = free_port(Ipv4Addr::LOCALHOST);
    let tls = &mock.tls;
    let mut cmd = Command::new(&socat);
    cmd.arg(format!(
        "OPENSSL-LISTEN:{tls_port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
        tls.join("server.pem").display(),
        tls.join("server-key.pem").display(),
        tls.join("ca.pem").display()
    ))
    .arg(format!("TCP:127.0.0.1:{sipp_port}"));
    let mut socat_proc = Proc::start("socat", cmd, dir.path());
    socat_proc.wait_listening(tls_port);

    let registrar = format!("pool01.contoso.com:{tls_port}");
    let report = run_phones(&dir, &mock, &registrar, PHONES, "0s", "certificate");
    assert_eq!(report["phones"]["registered"], PHONES, "{report}");
    assert_eq!(report["stages"]["register"]["ok"], PHONES, "{report}");

    // SIPp exits by itself after PHONES calls (-m); its last statistics
    // line then holds the totals.
    let status = sipp_proc.wait(Duration::from_secs(60));
    let errs = std::fs::read_to_string(&errors).unwrap_or_default();
    assert!(status.is_some(), "sipp still running; errors:\n{errs}");
    let csv = std::fs::read_to_string(&stat).unwrap();
    let mut rows = csv.lines().filter(|l| !l.trim().is_empty());
    let head: Vec<&str> = rows.next().unwrap().split(';').collect();
    let last: Vec<&str> = rows.next_back().unwrap().split(';').collect();
    let col = |name: &str| -> u64 {
        let i = head.iter().position(|h| *h == name).unwrap();
        last[i].trim().parse().unwrap()
    };
    assert_eq!(col("SuccessfulCall(C)"), u64::from(PHONES), "{csv}\n{errs}");
    assert_eq!(col("FailedCall(C)"), 0, "{csv}\n{errs}");
    assert_eq!(col("OutOfCallMsgs(C)"), 0, "{csv}\n{errs}");
    assert!(errs.trim().is_empty(), "unexpected messages:\n{errs}");
    let msgs = std::fs::read_to_string(&messages).unwrap_or_default();
    let registers = msgs.matches("REGISTER sip:contoso.com SIP/2.0").count();
    assert_eq!(registers, 2 * PHONES as usize, "{msgs}");
}
