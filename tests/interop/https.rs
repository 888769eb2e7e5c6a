//! nginx terminates TLS in front of the mock's web services: phones use it
//! as their web server (update check, web ticket, certificate), verify it
//! with the root chain they downloaded, and sign in; nginx's access log
//! shows their requests. And OpenSSL's `s_server`, limited to what old
//! pools allowed, refuses the phones' handshake: the failure says so.

use std::process::Command;

use crate::common::{
    Mock, PATIENCE, Proc, TempDir, assert_stage_ok, bootstrap, listening, mock_ports, need_root,
    peer, phones, run_scenario, wait_until, write_config,
};

const PHONES: u32 = 20;

/// A free port on the mock's address, for a web server of the pool's to
/// listen on: the pool's names resolve (through the mock's DNS) to that
/// address, and the mock's server certificate carries it.
fn beside(mock: &Mock) -> (std::net::IpAddr, u16) {
    let ip = mock.addr("https").ip();
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    (ip, l.local_addr().unwrap().port())
}

/// `count` phones whose web services are on `port` of the mock's address;
/// DHCP, DNS and the registrar are the mock's.
fn web_at(mock: &Mock, port: u16, count: u32) -> String {
    let domain = mock.domain();
    format!(
        "name = \"interop https\"\n{}\n[target]\nmock = false\ndhcp_server = \"{}\"\ndns_server = \"{}\"\nsip_domain = \"{domain}\"\nweb_server = \"pool01.{domain}\"\n{}",
        phones(count),
        mock.addr("dhcp"),
        mock.addr("dns"),
        mock_ports(mock).replace(
            &format!("https = {}", mock.addr("https").port()),
            &format!("https = {port}")
        ),
    )
}

#[test]
fn nginx_terminates_tls_for_the_web_services() {
    let Some(nginx) = peer("nginx", "nginx-light") else {
        return;
    };
    let Some(()) = need_root("nginx") else {
        return;
    };
    let dir = TempDir::new("nginx");
    let mock = Mock::start(&dir);
    // The pool's names resolve (through the mock's DNS) to the mock's
    // address, and the server certificate carries it: nginx listens there,
    // on a port of its own.
    let (ip, port) = beside(&mock);
    let domain = mock.domain();
    let conf = dir.join("nginx.conf");
    write_config(
        "nginx",
        "nginx.conf.in",
        &conf,
        &[
            ("dir", dir.path().display().to_string()),
            ("ip", ip.to_string()),
            ("port", port.to_string()),
            ("domain", domain.clone()),
            ("tls", mock.tls.display().to_string()),
            ("upstream", mock.addr("https").to_string()),
        ],
    );
    let test = Command::new(&nginx)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
    let mut cmd = Command::new(&nginx);
    cmd.arg("-c").arg(&conf);
    let mut server = Proc::start("nginx", cmd, dir.path());
    server.wait_ready(|| listening((ip, port).into()));

    // DHCP and DNS from the mock; the web server is nginx.
    let report = run_scenario(&dir, "nginx", &web_at(&mock, port, PHONES));
    assert_eq!(
        report["phones"]["registered"], PHONES,
        "{}",
        report["phones"]
    );
    for stage in ["update", "web_ticket", "certificate"] {
        assert_stage_ok(&report, stage, u64::from(PHONES));
    }
    let access = dir.join("nginx-access.log");
    let count = |path: &str| {
        std::fs::read_to_string(&access)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("POST {path}")) && l.contains("\" 200 "))
            .count()
    };
    assert!(
        wait_until(PATIENCE, || count("/WebTicket/WebTicketService.svc")
            >= PHONES as usize),
        "nginx access log:\n{}",
        std::fs::read_to_string(&access).unwrap_or_default()
    );
    assert!(count("/CertProv/CertProvisioningService.svc") >= PHONES as usize);
    assert!(count("/RequestHandler/ucdevice.upx") >= PHONES as usize);
    drop(server);
}

/// A web server that allows only TLS 1.2 with a CBC suite and RSA key
/// exchange (`AES128-SHA`, TLS_RSA_WITH_AES_128_CBC_SHA), as a pool's
/// servers may still be set: rustls speaks neither, so OpenSSL answers
/// the phone's ClientHello with a handshake_failure alert, and the phone's
/// failure names the alert and what the phone offered: at the update
/// check, which the phone goes on without, and at the web ticket, which
/// ends its bootstrap.
#[test]
fn a_web_server_with_cbc_suites_only_is_refused_with_what_the_phone_offers() {
    let Some(openssl) = peer("openssl", "openssl") else {
        return;
    };
    let dir = TempDir::new("openssl-cbc");
    let mock = Mock::start(&dir);
    let (ip, port) = beside(&mock);
    let mut cmd = Command::new(&openssl);
    cmd.arg("s_server")
        .arg("-accept")
        .arg(format!("{ip}:{port}"))
        .arg("-cert")
        .arg(mock.tls.join("server.pem"))
        .arg("-key")
        .arg(mock.tls.join("server-key.pem"))
        .args(["-tls1_2", "-cipher", "AES128-SHA", "-quiet"]);
    let mut server = Proc::start("openssl", cmd, dir.path());
    server.wait_ready(|| listening((ip, port).into()));

    let domain = mock.domain();
    let out = bootstrap(&dir, "cbc", &web_at(&mock, port, 1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let refusal = "received fatal alert: HandshakeFailure: the server takes none of what the phone offers (TLS 1.2; AES-GCM, ChaCha20-Poly1305; key exchange over X25519, secp256r1, secp384r1), or wants a client certificate";
    // The update check is refused first; a phone goes on without it, and
    // the web ticket, which it cannot do without, is refused the same way.
    let update = format!("update failed (tls: tls ucupdates-r2.{domain}: {refusal})");
    let want = format!("result: failed at web_ticket: tls: tls pool01.{domain}: {refusal}");
    for line in [&update, &want] {
        assert!(
            text.contains(line),
            "{line}\nnot in:\n{text}\nserver:\n{}",
            server.output()
        );
    }
    // OpenSSL's side of it.
    assert!(
        wait_until(PATIENCE, || server.output().contains("no shared cipher")),
        "{}",
        server.output()
    );
    drop(server);
}
