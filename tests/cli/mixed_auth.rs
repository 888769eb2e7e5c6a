//! A mixed fleet against a pool that runs TLS-DSK and NTLM at once, as a
//! Skype for Business pool does: `phonestorm run` against a separately
//! started `phonestorm mock`, whose metrics say which scheme each phone
//! used; the CX700 share signs in with NTLM (no web ticket, no
//! certificate), the rest with TLS-DSK.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the mock when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn metric(page: &str, prefix: &str) -> u64 {
    page.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn cx700_share_signs_in_with_ntlm_and_the_rest_with_tls_dsk() {
    let dir = std::env::temp_dir().join(format!("phonestorm-mixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .args(["mock", "--tls-out"])
        .arg(dir.join("tls"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut mock = Killed(child);
    let ep = crate::endpoints_line(&mut mock.0);
    let addr = |k: &str| -> std::net::SocketAddr { ep[k].as_str().unwrap().parse().unwrap() };

    // 12 phones, one in four a CX700 (the weights spread evenly).
    let scenario = format!(
        r#"
name = "mixed fleet: CX700 by NTLM, the rest by TLS-DSK"
[target]
mock = false
dns_server = "{dns}"
sip_domain = "contoso.com"
web_server = "pool01.contoso.com"
registrar = "fe01.contoso.com:{sip}"
ports = {{ http = {http}, https = {https} }}
[phones]
count = 12
models = {{ cx700 = 1, cx600 = 3 }}
keys = "pool:2"
[arrival]
profile = "constant"
rate = 20
[stages]
timeout = "20s"
vlan.enabled = false
dhcp.enabled = false
ntp.enabled = false
"#,
        dns = addr("dns"),
        sip = addr("sip_tls").port(),
        http = addr("http").port(),
        https = addr("https").port(),
    );
    let path = dir.join("mixed.toml");
    std::fs::write(&path, scenario).unwrap();
    let report = dir.join("report.json");
    let run = Command::new(env!("CARGO_BIN_EXE_phonestorm"))
        .arg("run")
        .arg(&path)
        .args(["--quiet", "--report-json"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let r = crate::take_report(&report);
    assert_eq!(r["phones"]["registered"], 12, "{r}");
    assert_eq!(r["stages"]["register"]["ok"], 12, "{r}");
    // From the report: the CX700s skipped the PIN web ticket and the
    // certificate (so could not have used TLS-DSK); the others ran both.
    let cx700 = r["stages"]["certificate"]["skipped"].as_u64().unwrap();
    assert!((1..12).contains(&cx700), "{r}");
    assert_eq!(r["stages"]["web_ticket"]["skipped"], cx700, "{r}");
    assert_eq!(r["stages"]["certificate"]["ok"], 12 - cx700, "{r}");

    // From the mock: one NTLM sign-in per CX700, one TLS-DSK per other.
    let mut s = std::net::TcpStream::connect(addr("metrics")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    let signins = |scheme: &str| {
        metric(
            &page,
            &format!(
                r#"phonestorm_mock_auth_signins_total{{scheme="{scheme}",service="registrar"}}"#
            ),
        )
    };
    assert_eq!(signins("ntlm"), cx700, "{page}");
    assert_eq!(signins("tls-dsk"), 12 - cx700, "{page}");
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}
