//! Phones resolve through unbound: the SRV records of the SIP domain
//! (`_sipinternaltls._tcp`, `_sipinternal._tcp`, `_sip._tls`, `_ntp._udp`,
//! RFC 2782) and the A records of their targets and `ucupdates-r2`, served
//! from unbound's local zone and pointing at the mock Front End's
//! ephemeral ports. unbound logs each query, and `dig` asks it directly.

use std::process::Command;

use crate::common::{
    Mock, PATIENCE, Proc, TempDir, assert_stage_ok, find, free_port, loopback, mock_ports,
    need_root, peer, phones, run_scenario, wait_until, write_config,
};

const PHONES: u32 = 20;

/// `dig @server -p port <name> <type> +short`, or `None` on no answer.
fn dig(ip: &str, port: u16, name: &str, kind: &str) -> Option<String> {
    let out = Command::new(find("dig")?)
        .args([&format!("@{ip}"), "-p", &port.to_string(), name, kind])
        .args(["+short", "+time=2", "+tries=1"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !s.is_empty() && !s.starts_with(";;")).then_some(s)
}

#[test]
fn unbound_serves_the_srv_records_phones_sign_in_with() {
    let Some(unbound) = peer("unbound", "unbound") else {
        return;
    };
    if peer("dig", "dnsutils").is_none() {
        return;
    }
    let Some(()) = need_root("unbound") else {
        return;
    };
    let dir = TempDir::new("unbound");
    let mock = Mock::start(&dir);
    let ip = loopback(53);
    let port = free_port(ip);
    let conf = dir.join("unbound.conf");
    let log = dir.join("unbound.log");
    let domain = mock.domain();
    write_config(
        "unbound",
        "unbound.conf.in",
        &conf,
        &[
            ("ip", ip.to_string()),
            ("port", port.to_string()),
            ("dir", dir.path().display().to_string()),
            ("log_file", log.display().to_string()),
            ("domain", domain.clone()),
            ("sip_tls_port", mock.addr("sip_tls").port().to_string()),
            ("sip_tcp_port", mock.addr("sip_tcp").port().to_string()),
            ("ntp_port", mock.addr("sntp").port().to_string()),
            ("mock_ip", mock.addr("https").ip().to_string()),
        ],
    );
    if let Some(check) = find("unbound-checkconf") {
        let out = Command::new(check).arg(&conf).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let mut cmd = Command::new(&unbound);
    cmd.arg("-d").arg("-c").arg(&conf);
    let mut server = Proc::start("unbound", cmd, dir.path());
    let ips = ip.to_string();
    server.wait_ready(|| dig(&ips, port, &format!("pool01.{domain}"), "A").is_some());

    // What unbound says is the mock's registrar port, in RFC 2782's form.
    let srv = dig(&ips, port, &format!("_sipinternaltls._tcp.{domain}"), "SRV").unwrap();
    assert_eq!(
        srv,
        format!("0 0 {} pool01.{domain}.", mock.addr("sip_tls").port())
    );

    // The mock's DHCP (each phone its own relay, the mock answers the
    // sender); every name through unbound.
    let scenario = format!(
        "name = \"interop dns\"\n{}\n[target]\nmock = false\ndhcp_server = \"{}\"\ndns_server = \"{ip}:{port}\"\nsip_domain = \"{domain}\"\n{}",
        phones(PHONES),
        mock.addr("dhcp"),
        mock_ports(&mock),
    );
    let report = run_scenario(&dir, "unbound", &scenario);
    assert_eq!(
        report["phones"]["registered"], PHONES,
        "{}",
        report["phones"]
    );
    assert_stage_ok(&report, "dns", u64::from(PHONES));

    // unbound logged the phones' SRV and ucupdates-r2 queries.
    let srv_queries = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("_sipinternaltls._tcp.{domain}. SRV IN")))
            .count()
    };
    assert!(
        wait_until(PATIENCE, || srv_queries() > PHONES as usize),
        "unbound logged {} SRV queries for {PHONES} phones:\n{}",
        srv_queries(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("ucupdates-r2.{domain}. A IN")),
        "{text}"
    );
    drop(server);
}
