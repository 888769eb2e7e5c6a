//! Phones get their leases and options 43 and 120 from Kea and dnsmasq
//! through the relay path: each server runs in a network namespace the
//! test creates (a real interface, as DHCP servers want), the phones'
//! relay agent owns 198.18.<n>.1:67 on the host side of the veth pair, and
//! the server answers it there as RFC 2131 section 4.1 says ("the server
//! sends any return messages to the 'DHCP server' port on the BOOTP relay
//! agent whose address appears in 'giaddr'"). The options come from
//! `phonestorm dhcp-options --format kea|dnsmasq`, pasted into each
//! server's configuration as a user would.
//!
//! Option 43 names `fe01.contoso.com` as the web server, a name only DHCP
//! gives (the scenario names no web server): phones that sign in got it
//! from the peer. The mock serves everything after DHCP.

use crate::common::{
    Mock, Netns, PATIENCE, Proc, TempDir, assert_stage_ok, bootstrap, mock_ports, need_root, peer,
    phones, phonestorm, run_scenario, wait_until, write_config,
};

/// Phones per run: enough that replies interleave at the relay.
const PHONES: u32 = 20;

/// The web server and registrar DHCP names (a Front End of the mock's pool,
/// in its certificate and its DNS, but not what the mock's own DHCP says).
const FROM_DHCP: &str = "fe01.contoso.com";

/// `phonestorm dhcp-options` output for the mock's HTTPS port.
fn dhcp_options(format: &str, https_port: u16) -> String {
    let port = https_port.to_string();
    let out = phonestorm(
        &[
            "dhcp-options",
            "--sip-server",
            FROM_DHCP,
            "--web-server",
            FROM_DHCP,
            "--port",
            &port,
            "--format",
            format,
        ],
        PATIENCE,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A scenario of [`PHONES`] phones whose DHCP goes through the relay on the
/// host side of `ns` to the server on its other side; DNS and the rest at
/// the mock.
fn scenario(ns: &Netns, mock: &Mock, count: u32) -> String {
    format!(
        "name = \"interop dhcp\"\n{}\n[target]\nmock = false\ndhcp_server = \"{}\"\ndhcp_relay = \"{}\"\ndns_server = \"{}\"\nsip_domain = \"{}\"\n{}",
        phones(count),
        ns.ns_ip,
        ns.host_ip,
        mock.addr("dns"),
        mock.domain(),
        mock_ports(mock),
    )
}

/// Every phone signed in, and its DHCP stage passed.
fn assert_signed_in(report: &serde_json::Value, count: u32) {
    assert_eq!(
        report["phones"]["registered"], count,
        "{}",
        report["phones"]
    );
    assert_stage_ok(report, "dhcp", u64::from(count));
}

/// `phonestorm bootstrap` through the same path: its trace shows the ACK
/// to the INFORM carrying option 120 and option 43 with [`FROM_DHCP`], and
/// the phone using that web server.
fn assert_trace_shows_options(dir: &TempDir, scenario_text: &str) {
    let out = bootstrap(dir, "bootstrap", scenario_text);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ack = text
        .lines()
        .find(|l| l.contains("DHCP Ack") && l.contains("uc_options"))
        .unwrap_or_else(|| panic!("no ACK with options in the trace:\n{text}"));
    assert!(
        ack.contains(&format!("web_server: \"{FROM_DHCP}\"")),
        "option 43: {ack}"
    );
    assert!(
        ack.contains(FROM_DHCP) && ack.contains("sip_servers: Some"),
        "option 120: {ack}"
    );
}

#[test]
fn kea_leases_and_uc_options_through_the_relay() {
    let Some(kea) = peer("kea-dhcp4", "kea-dhcp4-server") else {
        return;
    };
    let Some(()) = need_root("kea") else {
        return;
    };
    let dir = TempDir::new("kea");
    let mock = Mock::start(&dir);
    let ns = Netns::new("kea", 61);
    // Kea accepts // comments, but the test takes only the two entries a
    // user copies into an existing configuration.
    let generated = dhcp_options("kea", mock.addr("https").port());
    let json: String = generated
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let conf = dir.join("kea-dhcp4.json");
    let leases = dir.join("leases.csv");
    let log = dir.join("kea.log");
    let n = ns.n;
    write_config(
        "kea",
        "kea-dhcp4.json.in",
        &conf,
        &[
            ("interface", format!("{}/{}", ns.ns_if, ns.ns_ip)),
            ("subnet", ns.subnet()),
            ("pool", format!("{} - {}", ns.pool().0, ns.pool().1)),
            ("router", ns.host_ip.to_string()),
            ("domain", mock.domain()),
            ("lease_file", leases.display().to_string()),
            ("log_file", log.display().to_string()),
            ("log_severity", "DEBUG".into()),
            // Level 55 logs each query's fields, giaddr among them.
            ("log_debuglevel", "55".into()),
            ("option_def", v["Dhcp4"]["option-def"].to_string()),
            ("client_classes", v["Dhcp4"]["client-classes"].to_string()),
        ],
    );
    let mut cmd = ns.command(&kea);
    cmd.arg("-c").arg(&conf);
    // Kea writes its pid and lock files under /run/kea by default.
    cmd.env("KEA_PIDFILE_DIR", dir.path())
        .env("KEA_LOCKFILE_DIR", dir.path());
    let mut server = Proc::start("kea-dhcp4", cmd, dir.path());
    server.wait_ready(|| std::fs::read_to_string(&log).is_ok_and(|l| l.contains("DHCP4_STARTED")));

    let text = scenario(&ns, &mock, PHONES);
    let report = run_scenario(&dir, "kea", &text);
    assert_signed_in(&report, PHONES);

    // Kea leased to every phone's hardware address, in the relay's subnet.
    let lease_text = std::fs::read_to_string(&leases).unwrap();
    let mut macs: Vec<&str> = lease_text
        .lines()
        .filter(|l| l.starts_with(&format!("198.18.{n}.")))
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    macs.sort_unstable();
    macs.dedup();
    assert!(macs.len() >= PHONES as usize, "{lease_text}");
    // And it saw the messages come through the relay: Kea names giaddr
    // its "relay address" when it selects a subnet, and the queries came
    // from the relay's port 67.
    let kea_log = std::fs::read_to_string(&log).unwrap();
    for seen in [
        format!("relay address: {}", ns.host_ip),
        format!("remote_address={}:67", ns.host_ip),
        "DHCP4_INFORM_DIRECT_REPLY".to_owned(),
    ] {
        assert!(kea_log.contains(&seen), "no {seen:?} in Kea's log");
    }
    assert_trace_shows_options(&dir, &scenario(&ns, &mock, 1));
    drop(server);
}

#[test]
fn dnsmasq_leases_and_uc_options_through_the_relay() {
    let Some(dnsmasq) = peer("dnsmasq", "dnsmasq") else {
        return;
    };
    let Some(()) = need_root("dnsmasq") else {
        return;
    };
    let dir = TempDir::new("dnsmasq");
    let mock = Mock::start(&dir);
    let ns = Netns::new("dnsmasq", 62);
    let conf = dir.join("dnsmasq.conf");
    let leases = dir.join("dnsmasq.leases");
    let log = dir.join("dnsmasq.log");
    write_config(
        "dnsmasq",
        "dnsmasq.conf.in",
        &conf,
        &[
            ("interface", ns.ns_if.clone()),
            (
                "range",
                format!("{},{},255.255.255.0", ns.pool().0, ns.pool().1),
            ),
            ("router", ns.host_ip.to_string()),
            ("domain", mock.domain()),
            ("lease_file", leases.display().to_string()),
            ("log_file", log.display().to_string()),
            ("pid_file", dir.join("dnsmasq.pid").display().to_string()),
            (
                "generated",
                dhcp_options("dnsmasq", mock.addr("https").port()),
            ),
        ],
    );
    let mut cmd = ns.command(&dnsmasq);
    cmd.arg("--keep-in-foreground")
        .arg(format!("--conf-file={}", conf.display()));
    let mut server = Proc::start("dnsmasq", cmd, dir.path());
    server.wait_ready(|| std::fs::read_to_string(&log).is_ok_and(|l| l.contains("DHCP, IP range")));

    // Hold port 68 here, so the phones' relay agent has only its port 67:
    // phones that sign in got every reply, the ACKs to their INFORMs
    // included, as relayed replies to giaddr (dnsmasq's log does not print
    // giaddr; this shows it answered the relay). Whatever still comes to
    // port 68 is counted.
    let port68 = std::net::UdpSocket::bind(("0.0.0.0", 68)).expect("port 68 free for the test");
    port68.set_nonblocking(true).unwrap();
    let text = scenario(&ns, &mock, PHONES);
    let report = run_scenario(&dir, "dnsmasq", &text);
    assert_signed_in(&report, PHONES);
    let mut direct = 0;
    let mut buf = [0u8; 1500];
    while port68.recv_from(&mut buf).is_ok() {
        direct += 1;
    }
    assert_eq!(
        direct, 0,
        "dnsmasq sent replies to port 68, not to the relay"
    );
    drop(port68);

    // Its lease file has every phone.
    let ok = wait_until(PATIENCE, || {
        std::fs::read_to_string(&leases).is_ok_and(|l| l.lines().count() >= PHONES as usize)
    });
    assert!(
        ok,
        "{}",
        std::fs::read_to_string(&leases).unwrap_or_default()
    );
    let dlog = std::fs::read_to_string(&log).unwrap();
    assert!(dlog.contains("DHCPINFORM"), "no INFORM in dnsmasq's log");
    assert_trace_shows_options(&dir, &scenario(&ns, &mock, 1));
    drop(server);
}
