//! The configurations `phonestorm dhcp-options` prints are accepted by the
//! servers they are for: `kea-dhcp4 -t` (Debian package `kea-dhcp4-server`),
//! `dnsmasq --test` (Debian package `dnsmasq`) and `dhcpd -t` (Debian
//! package `isc-dhcp-server`). Only syntax checks run; no DHCP server is
//! started. (`netsh` output has no checker off Windows.)
//!
//! A missing checker fails the test under CI (see [`optional_tool`]) and is
//! skipped with a note elsewhere.

use std::path::PathBuf;
use std::process::Command;

use crate::{optional_tool, phonestorm};

/// A file in the temp dir that is removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, contents: &[u8]) -> Self {
        let p = std::env::temp_dir().join(format!("phonestorm-cli-{}-{tag}", std::process::id()));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn config(format: &str) -> Vec<u8> {
    let out = phonestorm(&[
        "dhcp-options",
        "--sip-server",
        "lync.contoso.com",
        "--web-server",
        "web.contoso.com",
        "--format",
        format,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `program` with `args`, where `{}` in an argument stands for the
/// file's path; returns whether it succeeded and what it printed.
fn check(program: &PathBuf, args: &[&str], file: &TempFile) -> (bool, String) {
    let path = file.0.display().to_string();
    let out = Command::new(program)
        .args(args.iter().map(|a| a.replace("{}", &path)))
        .env("KEA_LOCKFILE_DIR", "none")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

#[test]
fn kea_dhcp4_accepts_the_kea_config() {
    let Some(kea) = optional_tool("kea-dhcp4", "kea-dhcp4-server") else {
        return;
    };
    let text = String::from_utf8(config("kea")).unwrap();
    // Loopback and the benchmarking range only.
    assert!(text.contains(r#""interfaces": [ "lo" ]"#));
    assert!(text.contains("198.18.0.0/15"));
    let file = TempFile::new("kea.json", text.as_bytes());
    let (ok, log) = check(&kea, &["-t", "{}"], &file);
    assert!(ok, "kea-dhcp4 -t refused the config:\n{log}\n{text}");
    // The checker really checks: a broken option-data is refused.
    let broken = TempFile::new(
        "kea-broken.json",
        text.replace("\"code\": 120", "\"code\": 999").as_bytes(),
    );
    assert!(
        !check(&kea, &["-t", "{}"], &broken).0,
        "kea-dhcp4 -t accepted code 999"
    );
}

#[test]
fn dnsmasq_accepts_the_dnsmasq_config() {
    let Some(dnsmasq) = optional_tool("dnsmasq", "dnsmasq") else {
        return;
    };
    let text = config("dnsmasq");
    let file = TempFile::new("dnsmasq.conf", &text);
    let (ok, log) = check(&dnsmasq, &["--test", "--conf-file={}"], &file);
    assert!(
        ok,
        "dnsmasq --test refused the config:\n{log}\n{}",
        String::from_utf8_lossy(&text)
    );
    let broken = TempFile::new("dnsmasq-broken.conf", b"no-such-directive=1\n");
    assert!(!check(&dnsmasq, &["--test", "--conf-file={}"], &broken).0);
}

#[test]
fn isc_dhcpd_accepts_the_isc_config() {
    let Some(dhcpd) = optional_tool("dhcpd", "isc-dhcp-server") else {
        return;
    };
    let text = config("isc");
    let file = TempFile::new("dhcpd.conf", &text);
    let (ok, log) = check(&dhcpd, &["-t", "-cf", "{}"], &file);
    assert!(
        ok,
        "dhcpd -t refused the config:\n{log}\n{}",
        String::from_utf8_lossy(&text)
    );
    let broken = TempFile::new("dhcpd-broken.conf", b"option no-such-option 1;\n");
    assert!(!check(&dhcpd, &["-t", "-cf", "{}"], &broken).0);
}
