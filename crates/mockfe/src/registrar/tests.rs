//! The registrar over real loopback sockets: TLS with and without a user
//! certificate from the mock CA, plain TCP, and every refusal, built and
//! read with the proto codec the phones use.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use phonestorm_proto::sip::{
    Framed, KeepAlive, Message, RegisterParams, Transport, build_register, challenges,
    epid_to_instance_uuid, epid_to_sip_instance, frame,
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::*;
use crate::capacity::{Capacity, ServiceTime};
use crate::config::{Faults, UsersConfig};

/// Long enough for a loaded CI machine; tests never wait this long when
/// the code is right.
const PATIENCE: Duration = Duration::from_secs(20);
const DOMAIN: &str = "contoso.com";

fn ca() -> &'static MockCa {
    static CA: OnceLock<MockCa> = OnceLock::new();
    CA.get_or_init(|| {
        MockCa::new(
            DOMAIN,
            &[
                "pool01.contoso.com".into(),
                "fe01.contoso.com".into(),
                "fe02.contoso.com".into(),
            ],
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
        .unwrap()
    })
}

/// One RSA key and CSR for every test phone: the CA binds the user's URI
/// at issue time, so one request serves every user.
fn csr_and_key() -> &'static (Vec<u8>, Vec<u8>) {
    static KEY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let csr = params.serialize_request(&key).unwrap().der().to_vec();
        (csr, key.serialize_der())
    })
}

fn client_config(user: Option<u32>) -> Arc<rustls::ClientConfig> {
    client_config_from(ca(), user)
}

fn client_config_from(ca: &MockCa, user: Option<u32>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca_der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match user {
        None => builder.with_no_client_auth(),
        Some(n) => {
            let (csr, key) = csr_and_key();
            let cert = ca
                .issue_user(
                    csr,
                    &format!("sip:user{n}@{DOMAIN}"),
                    Duration::from_secs(8 * 3600),
                    1024,
                    4096,
                    u64::from(n) + 1,
                )
                .unwrap();
            builder
                .with_client_auth_cert(
                    vec![cert, ca.ca_der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone())),
                )
                .unwrap()
        }
    };
    Arc::new(config)
}

fn capacity(workers: usize, queue: usize, ms: u64) -> Capacity {
    Capacity {
        workers,
        queue,
        service_time: ServiceTime::Fixed {
            mean: Duration::from_millis(ms),
        },
    }
}

/// Registrars of `n` Front Ends on loopback.
struct Pool {
    listeners: Vec<FrontEndPorts>,
    ctxs: Vec<Arc<RegistrarCtx>>,
    metrics: MockMetrics,
    stop: CancellationToken,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Pool {
    fn tls(&self, fe: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.listeners[fe].sip_tls))
    }
    fn tcp(&self, fe: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.listeners[fe].sip_tcp))
    }
    fn ctx(&self) -> &RegistrarCtx {
        &self.ctxs[0]
    }
}

async fn pool(
    n: usize,
    tweak: impl FnOnce(&mut RegistrarConfig, &mut Capacity, &mut Duration),
) -> Pool {
    let mut config = RegistrarConfig {
        // Plenty of workers and a zero service time unless a test says
        // otherwise, so only the capacity test ever sees a 503.
        capacity: capacity(16, 100, 0),
        // The certificate tests below predate TLS-DSK; the TLS-DSK tests
        // set it back.
        auth: crate::config::RegistrarAuth::Certificate,
        ..RegistrarConfig::default()
    };
    let mut backend = capacity(4, 100, 0);
    let mut read_timeout = PATIENCE;
    tweak(&mut config, &mut backend, &mut read_timeout);
    let metrics = MockMetrics::new().unwrap();
    let mut bound = Vec::new();
    let mut listeners = Vec::new();
    for i in 0..n {
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listeners.push(FrontEndPorts {
            fqdn: format!("fe0{}.{DOMAIN}", i + 1),
            sip_tls: tls.local_addr().unwrap().port(),
            sip_tcp: tcp.local_addr().unwrap().port(),
        });
        bound.push((tls, tcp));
    }
    let directory = Arc::new(Directory::new(
        UsersConfig {
            count: 100,
            ..UsersConfig::default()
        },
        DOMAIN,
        n,
        3,
    ));
    let backend = Station::new(backend, None, metrics.station("backend"));
    let registrations = Arc::new(Registrations::new());
    let acceptor = tls_acceptor(ca()).unwrap();
    let stop = CancellationToken::new();
    let mut ctxs = Vec::new();
    for (index, (tls, tcp)) in bound.into_iter().enumerate() {
        let ctx = Arc::new(RegistrarCtx {
            index,
            front_ends: listeners.clone(),
            station: Station::new(config.capacity, None, metrics.station("registrar")),
            config: config.clone(),
            directory: directory.clone(),
            backend: backend.clone(),
            metrics: metrics.clone(),
            sip_domain: DOMAIN.into(),
            cert_prov_url: "https://pool01.contoso.com:443/CertProv/CertProvisioningService.svc"
                .into(),
            registrations: registrations.clone(),
            read_timeout,
            dsk: Some(Arc::new(
                dsk::DskServer::new(ca(), config.sa_lifetime).unwrap(),
            )),
            digest: Some(Arc::new(super::digest::DigestServer::new(
                phonestorm_proto::sip::digest::Algorithm::Md5,
                config.nonce_lifetime,
            ))),
        });
        tokio::spawn(serve(
            tls,
            Some(acceptor.clone()),
            ctx.clone(),
            stop.clone(),
        ));
        tokio::spawn(serve(tcp, None, ctx.clone(), stop.clone()));
        ctxs.push(ctx);
    }
    Pool {
        listeners,
        ctxs,
        metrics,
        stop,
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A test phone: one connection and its receive buffer.
struct Phone {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    transport: Transport,
}

impl Phone {
    async fn tcp(addr: SocketAddr) -> Phone {
        Phone {
            io: Box::new(TcpStream::connect(addr).await.unwrap()),
            buf: Vec::new(),
            transport: Transport::Tcp,
        }
    }

    /// TLS to `fe01`, with user `cert`'s certificate when given.
    async fn tls(addr: SocketAddr, cert: Option<u32>) -> Phone {
        Phone::tls_with(addr, client_config(cert)).await
    }

    async fn tls_with(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Phone {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = ServerName::try_from("fe01.contoso.com").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        Phone {
            io: Box::new(tls),
            buf: Vec::new(),
            transport: Transport::Tls,
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.io.flush().await.unwrap();
    }

    async fn send(&mut self, m: &Message) {
        self.send_raw(&m.encode()).await;
    }

    /// The next frame, or `None` once the server closed.
    async fn recv(&mut self) -> Option<Framed> {
        let mut chunk = [0u8; 4096];
        loop {
            match frame(&self.buf) {
                Ok(f) => {
                    let n = match &f {
                        Framed::Message { consumed, .. } | Framed::KeepAlive { consumed, .. } => {
                            *consumed
                        }
                    };
                    self.buf.drain(..n);
                    return Some(f);
                }
                Err(phonestorm_proto::Error::Incomplete { .. }) => {}
                Err(e) => panic!("server sent unframeable bytes: {e}"),
            }
            let n = tokio::time::timeout(PATIENCE, self.io.read(&mut chunk))
                .await
                .expect("no answer in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn response(&mut self) -> Message {
        match self.recv().await {
            Some(Framed::Message { message, .. }) => message,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    async fn exchange(&mut self, m: &Message) -> Message {
        self.send(m).await;
        self.response().await
    }

    /// Whether the server closes (EOF or reset) within the patience.
    async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 256];
        loop {
            match tokio::time::timeout(PATIENCE, self.io.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    fn register(&self, user: u32, epid: &str, cseq: u32, expires: Option<u32>) -> Message {
        let aor = format!("sip:user{user}@{DOMAIN}");
        let branch = format!("z9hG4bK{epid}{cseq}");
        let call_id = format!("call-{user}-{epid}");
        build_register(&RegisterParams {
            domain: DOMAIN,
            aor: &aor,
            transport: self.transport,
            local: "127.0.0.1:50123",
            branch: &branch,
            from_tag: "8c3a1f02e4",
            epid,
            call_id: &call_id,
            cseq,
            max_forwards: 70,
            user_agent: "CPE/4.0.7577.4100 OCPhone/4.0.7577.4100 (Microsoft Lync 2010 Phone Edition)",
            mac: [0x00, 0x04, 0xf2, 0xaa, 0xbb, 0xcc],
            vendor: "Polycom",
            firmware: "4.0.7577.4100",
            expires,
            authorization: None,
        })
        .unwrap()
    }
}

fn diag_id(m: &Message) -> u32 {
    m.diagnostics().unwrap().expect("ms-diagnostics").id
}

#[tokio::test]
async fn certificate_phone_registers_refreshes_pings_and_unregisters() {
    let pool = pool(1, |_, _, _| {}).await;
    let mut phone = Phone::tls(pool.tls(0), Some(1)).await;
    let ok = phone
        .exchange(&phone.register(1, "5ad3b61ae6", 1, None))
        .await;
    assert_eq!(
        (ok.status(), ok.reason()),
        (Some(200), Some("OK")),
        "{ok:?}"
    );
    // [MS-SIPREGE] 4.1.1: Expires, the contact with expires and gruu, and
    // ms-keep-alive with the registrar's timeout.
    assert_eq!(ok.expires().unwrap(), Some(600), "default expiry");
    let binding = ok.contacts().unwrap().remove(0);
    assert_eq!(binding.expires(), Some(600));
    let uuid = epid_to_instance_uuid("5ad3b61ae6");
    assert_eq!(
        binding.gruu(),
        Some(
            format!(
                "sip:user1@{DOMAIN};opaque=user:epid:{};gruu",
                answer::gruu_opaque(&uuid)
            )
            .as_str()
        )
    );
    assert_eq!(
        binding.param("+sip.instance"),
        Some(epid_to_sip_instance("5ad3b61ae6").trim_matches('"'))
    );
    let ka = ok.ms_keep_alive().unwrap().unwrap();
    assert_eq!(
        ka.to_string(),
        "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300"
    );
    assert!(ok.to_addr().unwrap().tag().is_some(), "To tag added");
    assert!(ok.header_values("Supported").any(|t| t == "gruu-10"));
    assert_eq!(
        ok.header("presence-state"),
        Some("register-action=\"added\"")
    );
    assert_eq!(
        pool.ctx().backend.served(),
        1,
        "first sign-in hits the store"
    );

    // Refresh asking for more than the maximum: clamped, same binding.
    let again = phone
        .exchange(&phone.register(1, "5ad3b61ae6", 2, Some(100_000)))
        .await;
    assert_eq!(again.status(), Some(200));
    assert_eq!(again.expires().unwrap(), Some(900), "clamped to max");
    assert_eq!(
        again.header("presence-state"),
        Some("register-action=\"refreshed\"")
    );
    assert_eq!(again.to_addr().unwrap().tag(), ok.to_addr().unwrap().tag());
    let short = phone
        .exchange(&phone.register(1, "5ad3b61ae6", 3, Some(1)))
        .await;
    assert_eq!(short.expires().unwrap(), Some(300), "clamped to min");
    let live = pool.ctx().registrations.bindings(1, clock::now());
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].instance, uuid);
    assert_eq!(pool.ctx().backend.served(), 1, "refreshes skip the store");

    // RFC 5626 3.5.1: a ping gets a pong.
    phone.send_raw(b"\r\n\r\n").await;
    assert_eq!(
        phone.recv().await,
        Some(Framed::KeepAlive {
            kind: KeepAlive::Pong,
            consumed: 2
        })
    );

    let gone = phone
        .exchange(&phone.register(1, "5ad3b61ae6", 4, Some(0)))
        .await;
    assert_eq!(gone.status(), Some(200));
    assert_eq!(gone.expires().unwrap(), Some(0));
    assert!(gone.contacts().unwrap().is_empty());
    assert!(
        pool.ctx()
            .registrations
            .bindings(1, clock::now())
            .is_empty()
    );
    let text = String::from_utf8(pool.metrics.render()).unwrap();
    assert!(
        text.contains(r#"phonestorm_mock_answers_total{outcome="200",service="registrar"} 4"#),
        "{text}"
    );
}

#[tokio::test]
async fn idle_connection_closes_after_keepalive_timeout() {
    let pool = pool(1, |c, _, _| {
        c.keepalive_timeout = Duration::from_millis(200)
    })
    .await;
    let mut phone = Phone::tcp(pool.tcp(0)).await;
    // A ping keeps it alive once; silence then ends it.
    phone.send_raw(b"\r\n\r\n").await;
    assert!(matches!(phone.recv().await, Some(Framed::KeepAlive { .. })));
    assert!(phone.closed().await);
    let mut tls = Phone::tls(pool.tls(0), None).await;
    assert!(tls.closed().await);
}

#[tokio::test]
async fn partial_message_times_out() {
    let pool = pool(1, |_, _, t| *t = Duration::from_millis(200)).await;
    let mut phone = Phone::tcp(pool.tcp(0)).await;
    phone
        .send_raw(b"REGISTER sip:contoso.com SIP/2.0\r\nVia: SIP/2.0/TCP")
        .await;
    assert!(phone.closed().await);
    let text = String::from_utf8(pool.metrics.render()).unwrap();
    assert!(
        text.contains(r#"kind="timeout",service="registrar"} 1"#),
        "{text}"
    );
}

fn assert_challenge(m: &Message) {
    assert_eq!((m.status(), m.reason()), (Some(401), Some("Unauthorized")));
    let c = challenges(m).unwrap();
    let schemes: Vec<_> = c.iter().map(|c| c.scheme.as_str()).collect();
    assert_eq!(schemes, ["NTLM", "Kerberos", "TLS-DSK"]);
    for ch in &c {
        assert_eq!(ch.realm(), Some("SIP Communications Service"));
        assert_eq!(ch.version(), Some(4));
    }
    assert_eq!(c[0].targetname(), Some("fe01.contoso.com"));
    assert_eq!(c[1].targetname(), Some("sip/fe01.contoso.com"));
    assert_eq!(c[2].targetname(), Some("fe01.contoso.com"));
    assert_eq!(
        c[2].sts_uri(),
        Some("https://pool01.contoso.com:443/CertProv/CertProvisioningService.svc")
    );
    assert!(m.diagnostics().unwrap().is_none());
}

#[tokio::test]
async fn without_a_matching_certificate_the_answer_is_401() {
    let pool = pool(1, |_, _, _| {}).await;
    let mut no_cert = Phone::tls(pool.tls(0), None).await;
    assert_challenge(&no_cert.exchange(&no_cert.register(1, "01", 1, None)).await);
    // Over TCP every REGISTER is challenged (NTLM is not served yet).
    let mut tcp = Phone::tcp(pool.tcp(0)).await;
    assert_challenge(&tcp.exchange(&tcp.register(1, "01", 1, None)).await);
    // user2's certificate does not authenticate user1.
    let mut other = Phone::tls(pool.tls(0), Some(2)).await;
    assert_challenge(&other.exchange(&other.register(1, "01", 1, None)).await);
    assert!(
        pool.ctx()
            .registrations
            .bindings(1, clock::now())
            .is_empty()
    );
}

#[tokio::test]
async fn refusals_carry_their_diagnostics() {
    let pool = pool(1, |_, _, _| {}).await;
    let mut phone = Phone::tcp(pool.tcp(0)).await;

    // [MS-SIPREGE] 3.1.2.5.1 table.
    let mut m = phone.register(1, "01", 1, None);
    m.set_header("Event", "presence").unwrap();
    let r = phone.exchange(&m).await;
    assert_eq!((r.status(), diag_id(&r)), (Some(489), 4055));

    let mut m = phone.register(1, "01", 2, None);
    m.set_header("Supported", "adhoclist, msrtc-event-categories")
        .unwrap();
    let r = phone.exchange(&m).await;
    assert_eq!((r.status(), diag_id(&r)), (Some(421), 2057));
    assert_eq!(r.header("Require"), Some("gruu-10"));

    let mut m = phone.register(1, "01", 3, None);
    m.set_header("From", "<sip:user1@contoso.com>;tag=1")
        .unwrap();
    let r = phone.exchange(&m).await;
    assert_eq!((r.status(), diag_id(&r)), (Some(400), 4010), "no epid");

    let mut m = phone.register(1, "01", 4, None);
    m.set_header(
        "Contact",
        "<sip:127.0.0.1:50123;transport=tcp>;proxy=replace",
    )
    .unwrap();
    let r = phone.exchange(&m).await;
    assert_eq!((r.status(), diag_id(&r)), (Some(400), 4010), "no instance");

    // [MS-SIPRE] 3.3.5.2: the instance must be the epid's.
    let mut m = phone.register(1, "01", 5, None);
    m.set_header(
        "Contact",
        &format!(
            "<sip:127.0.0.1:50123;transport=tcp>;+sip.instance={}",
            epid_to_sip_instance("02")
        ),
    )
    .unwrap();
    let r = phone.exchange(&m).await;
    assert_eq!((r.status(), diag_id(&r)), (Some(400), 4010), "mismatch");
    assert!(
        r.diagnostics()
            .unwrap()
            .unwrap()
            .reason
            .contains("mismatch")
    );

    for user in [100, 5000] {
        let r = phone.exchange(&phone.register(user, "01", 6, None)).await;
        assert_eq!((r.status(), diag_id(&r)), (Some(404), 4005), "user{user}");
    }

    let mut m = phone.register(1, "01", 7, None);
    m.set_header("Expires", "soon").unwrap();
    assert_eq!(phone.exchange(&m).await.status(), Some(401), "auth first");

    let options = build_request(&phone.register(1, "01", 8, None), "OPTIONS");
    let r = phone.exchange(&options).await;
    assert_eq!(
        (r.status(), r.header("Allow")),
        (Some(405), Some("REGISTER"))
    );
    let r = phone.exchange(&build_request(&options, "FROB")).await;
    assert_eq!(r.status(), Some(501));
    // ACK gets nothing; the next request is still answered.
    phone.send(&build_request(&options, "ACK")).await;
    let r = phone.exchange(&phone.register(1, "01", 9, None)).await;
    assert_eq!(r.status(), Some(401));
}

/// The same request with another method (Request-URI, CSeq).
fn build_request(like: &Message, method: &str) -> Message {
    let mut m = Message::request(method, "sip:contoso.com").unwrap();
    for (n, v) in like.headers() {
        if n == "CSeq" {
            m.push_header(n, &format!("1 {method}")).unwrap();
        } else {
            m.push_header(n, v).unwrap();
        }
    }
    m
}

#[tokio::test]
async fn wrong_front_end_redirects_home_over_the_same_transport() {
    let pool = pool(2, |_, _, _| {}).await;
    // User 1 is homed on the second Front End (round-robin), user 2 here.
    let mut phone = Phone::tls(pool.tls(0), Some(1)).await;
    let r = phone.exchange(&phone.register(1, "01", 1, None)).await;
    assert_eq!(
        (r.status(), r.reason()),
        (Some(301), Some("Moved Permanently"))
    );
    let target = r.redirect_targets().unwrap().remove(0).sip_uri().unwrap();
    assert_eq!(target.host, "fe02.contoso.com");
    assert_eq!(target.port, Some(pool.listeners[1].sip_tls));
    assert_eq!(target.param("transport"), Some("tls"));

    let mut tcp = Phone::tcp(pool.tcp(0)).await;
    let r = tcp.exchange(&tcp.register(1, "01", 1, None)).await;
    let target = r.redirect_targets().unwrap().remove(0).sip_uri().unwrap();
    assert_eq!(
        (target.port, target.param("transport")),
        (Some(pool.listeners[1].sip_tcp), Some("tcp"))
    );
    assert_eq!(
        tcp.exchange(&tcp.register(2, "01", 2, None)).await.status(),
        Some(401)
    );

    // At home, the phone signs in.
    let mut home = Phone::tls(pool.tls(1), Some(1)).await;
    assert_eq!(
        home.exchange(&home.register(1, "01", 2, None))
            .await
            .status(),
        Some(200)
    );
}

#[tokio::test]
async fn one_endpoint_too_many_is_refused() {
    let pool = pool(1, |c, _, _| c.max_endpoints = 2).await;
    let mut phone = Phone::tls(pool.tls(0), Some(3)).await;
    for epid in ["aa01", "aa02"] {
        assert_eq!(
            phone
                .exchange(&phone.register(3, epid, 1, None))
                .await
                .status(),
            Some(200)
        );
    }
    let r = phone.exchange(&phone.register(3, "aa03", 1, None)).await;
    assert_eq!((r.status(), diag_id(&r)), (Some(403), 4000));
    assert_eq!(
        phone
            .exchange(&phone.register(3, "aa01", 2, None))
            .await
            .status(),
        Some(200)
    );
    // Signing one out makes room.
    assert_eq!(
        phone
            .exchange(&phone.register(3, "aa02", 2, Some(0)))
            .await
            .status(),
        Some(200)
    );
    assert_eq!(
        phone
            .exchange(&phone.register(3, "aa03", 2, None))
            .await
            .status(),
        Some(200)
    );
}

async fn until(what: impl Fn() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !what() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition not reached in time");
}

fn assert_overloaded(r: &Message, reason: &str) {
    assert_eq!(
        (r.status(), r.reason()),
        (Some(503), Some("Service Unavailable"))
    );
    let retry = r.retry_after().unwrap().unwrap().seconds;
    assert!((10..=30).contains(&retry), "Retry-After {retry}");
    let d = r.diagnostics().unwrap().unwrap();
    assert_eq!((d.id, d.reason.as_str()), (17000, reason));
    assert_eq!(d.source.as_deref(), Some("fe01.contoso.com"));
}

#[tokio::test]
async fn full_station_answers_503_with_retry_after() {
    let pool = pool(1, |c, _, _| c.capacity = capacity(1, 0, 60_000)).await;
    let mut busy = Phone::tcp(pool.tcp(0)).await;
    busy.send(&busy.register(1, "01", 1, None)).await;
    until(|| pool.ctx().station.in_system() == 1).await;
    let mut late = Phone::tcp(pool.tcp(0)).await;
    let r = late.exchange(&late.register(2, "01", 1, None)).await;
    assert_overloaded(&r, "Server is overloaded");
}

#[tokio::test]
async fn full_backend_refuses_first_sign_ins_only() {
    let pool = pool(1, |_, b, _| *b = capacity(1, 0, 60_000)).await;
    let mut first = Phone::tls(pool.tls(0), Some(4)).await;
    first.send(&first.register(4, "01", 1, None)).await;
    until(|| pool.ctx().backend.in_system() == 1).await;
    let mut second = Phone::tls(pool.tls(0), Some(5)).await;
    let r = second.exchange(&second.register(5, "01", 1, None)).await;
    assert_overloaded(&r, "Back-end database is overloaded");
}

#[tokio::test]
async fn malformed_input_gets_400_or_close_and_the_server_carries_on() {
    let pool = pool(1, |_, _, _| {}).await;
    // Parseable but unframeable on a stream (no Content-Length): 400, close.
    let mut phone = Phone::tcp(pool.tcp(0)).await;
    phone
        .send_raw(b"REGISTER sip:contoso.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK1\r\nFrom: <sip:user1@contoso.com>;tag=1\r\nTo: <sip:user1@contoso.com>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n\r\n")
        .await;
    let r = phone.response().await;
    assert_eq!(r.status(), Some(400));
    assert!(
        r.header("Warning").unwrap().contains("Content-Length"),
        "{r:?}"
    );
    assert!(phone.closed().await);

    // Not SIP at all: closed without an answer.
    let mut http = Phone::tcp(pool.tcp(0)).await;
    http.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(http.recv().await, None);

    // Framed but missing CSeq: 400, and the connection stays usable.
    let mut phone = Phone::tcp(pool.tcp(0)).await;
    let mut m = phone.register(1, "01", 1, None);
    m.remove_header("CSeq");
    let r = phone.exchange(&m).await;
    assert_eq!(r.status(), Some(400));
    assert_eq!(
        phone
            .exchange(&phone.register(1, "01", 2, None))
            .await
            .status(),
        Some(401)
    );

    // A TLS client that sends garbage instead of a handshake.
    let mut junk = Phone::tcp(pool.tls(0)).await;
    junk.send_raw(&[0x42; 64]).await;
    assert!(junk.closed().await);

    let mut fresh = Phone::tls(pool.tls(0), Some(1)).await;
    assert_eq!(
        fresh
            .exchange(&fresh.register(1, "01", 1, None))
            .await
            .status(),
        Some(200)
    );
    let text = String::from_utf8(pool.metrics.render()).unwrap();
    for kind in ["framing", "headers", "tls_handshake"] {
        assert!(
            text.contains(&format!(r#"kind="{kind}",service="registrar"}}"#)),
            "{kind}: {text}"
        );
    }
}

#[tokio::test]
async fn garbage_fault_replaces_answers() {
    let pool = pool(1, |c, _, _| {
        c.faults = Faults {
            garbage: 1.0,
            ..Faults::default()
        }
    })
    .await;
    let mut phone = Phone::tcp(pool.tcp(0)).await;
    phone.send(&phone.register(1, "01", 1, None)).await;
    let mut got = [0u8; 64];
    let n = tokio::time::timeout(PATIENCE, phone.io.read(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(n > 0);
    assert!(!got[..n].starts_with(b"SIP/2.0"), "an answer got through");
    let text = String::from_utf8(pool.metrics.render()).unwrap();
    assert!(
        text.contains(r#"kind="garbage",service="registrar"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn reset_fault_resets_on_accept() {
    let pool = pool(1, |c, _, _| {
        c.faults = Faults {
            reset: 1.0,
            ..Faults::default()
        }
    })
    .await;
    let mut s = TcpStream::connect(pool.tcp(0)).await.unwrap();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .unwrap();
    match r {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
    let text = String::from_utf8(pool.metrics.render()).unwrap();
    assert!(
        text.contains(r#"kind="reset",service="registrar"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn slow_fault_delays_answers() {
    let delay = Duration::from_millis(300);
    let pool = pool(1, |c, _, _| {
        c.faults = Faults {
            slow: Some(delay),
            ..Faults::default()
        }
    })
    .await;
    let mut phone = Phone::tcp(pool.tcp(0)).await;
    let started = tokio::time::Instant::now();
    let r = phone.exchange(&phone.register(1, "01", 1, None)).await;
    assert_eq!(r.status(), Some(401));
    // A lower bound only: sleeping never takes less than asked.
    assert!(started.elapsed() >= delay);
}

#[tokio::test]
async fn start_serves_sip_on_every_front_end() {
    let mut cfg = crate::MockConfig {
        front_ends: vec!["fe01.contoso.com".into(), "fe02.contoso.com".into()],
        ..crate::MockConfig::default()
    };
    cfg.registrar.auth = crate::RegistrarAuth::Certificate;
    let running = crate::start(cfg).await.unwrap();
    let fes = running.endpoints.front_ends.clone();
    // User 1 is homed on fe02: fe01 redirects, fe02 signs the phone in.
    let mut phone = Phone::tls_with(fes[0].sip_tls, client_config_from(&running.ca, Some(1))).await;
    let r = phone.exchange(&phone.register(1, "01", 1, None)).await;
    assert_eq!(r.status(), Some(301));
    let target = r.redirect_targets().unwrap().remove(0).sip_uri().unwrap();
    assert_eq!(target.port, Some(fes[1].sip_tls.port()));
    let mut home = Phone::tls_with(fes[1].sip_tls, client_config_from(&running.ca, Some(1))).await;
    let ok = home.exchange(&home.register(1, "01", 2, None)).await;
    assert_eq!(ok.status(), Some(200));
    let sts = {
        let mut tcp = Phone::tcp(fes[1].sip_tcp).await;
        let r = tcp.exchange(&tcp.register(1, "01", 3, None)).await;
        challenges(&r).unwrap()[2].sts_uri().unwrap().to_owned()
    };
    assert_eq!(
        sts,
        format!(
            "https://pool01.contoso.com:{}/CertProv/CertProvisioningService.svc",
            running.endpoints.https.port()
        )
    );
    running.shutdown().await;
}

/// Keeps the TLS 1.2 master secret rustls logs (`CLIENT_RANDOM` lines of
/// the NSS key log format), to check the exporter against the PRF.
#[derive(Debug, Default)]
struct MasterSecret(std::sync::Mutex<Option<(Vec<u8>, Vec<u8>)>>);

impl rustls::KeyLog for MasterSecret {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if label == "CLIENT_RANDOM" {
            *self.0.lock().unwrap() = Some((client_random.to_vec(), secret.to_vec()));
        }
    }
}

/// The tunnelled client of a TLS-DSK test: user `n`'s certificate, TLS 1.2
/// with the SHA-256 PRF suites only (so RFC 5246's P_SHA256 applies).
fn dsk_client(n: u32, keylog: Arc<MasterSecret>) -> rustls::ClientConnection {
    use rustls::CipherSuite::{
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    };
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|s| {
        [
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ]
        .contains(&s.suite())
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca().ca_der().clone()).unwrap();
    let (csr, key) = csr_and_key();
    let cert = ca()
        .issue_user(
            csr,
            &format!("sip:user{n}@{DOMAIN}"),
            Duration::from_secs(8 * 3600),
            1024,
            4096,
            u64::from(n) + 100,
        )
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![cert],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone())),
        )
        .unwrap();
    config.key_log = keylog;
    rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("fe01.contoso.com").unwrap(),
    )
    .unwrap()
}

fn tls_out(conn: &mut rustls::ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

fn with_auth(mut m: Message, value: &phonestorm_proto::sip::AuthValue) -> Message {
    m.push_header("Authorization", &value.to_string()).unwrap();
    m
}

#[tokio::test]
async fn rfc5705_exporter_matches_rfc5246_prf_and_ms_sipae_signing_holds() {
    use phonestorm_proto::sip::signing::{SignParams, signature_string};
    use phonestorm_proto::sip::tlsdsk::{
        self, DskChallenge, MacAlgorithm, SessionKeys, Side, Signed, handshake_credentials,
        prf_sha256,
    };
    use phonestorm_proto::sip::{AuthValue, authentication_info};

    let pool = pool(1, |c, _, _| c.auth = crate::config::RegistrarAuth::TlsDsk).await;
    let mut phone = Phone::tls(pool.tls(0), None).await;
    let mut cseq = 1;
    let first = phone.exchange(&phone.register(3, "0301", cseq, None)).await;
    assert_eq!(first.status(), Some(401));
    let offered = challenges(&first).unwrap();
    let ch = DskChallenge::parse(offered.iter().find(|c| c.is_scheme("TLS-DSK")).unwrap()).unwrap();
    assert_eq!(ch.targetname, "fe01.contoso.com");
    assert!(ch.sts_uri.is_some());

    // [MS-SIPAE] 3.2.5.1: the handshake, leg by leg, under one opaque.
    let keylog = Arc::new(MasterSecret::default());
    let mut conn = dsk_client(3, keylog.clone());
    let mut token = tls_out(&mut conn);
    let mut opaque: Option<String> = None;
    let mut server_hello = None;
    for _ in 0..4 {
        cseq += 1;
        let creds = handshake_credentials(&ch.realm, &ch.targetname, 4, opaque.as_deref(), &token);
        let r = phone
            .exchange(&with_auth(phone.register(3, "0301", cseq, None), &creds))
            .await;
        assert_eq!(r.status(), Some(401), "{r:?}");
        let leg = DskChallenge::parse(&challenges(&r).unwrap()[0]).unwrap();
        if let Some(o) = &opaque {
            assert_eq!(leg.opaque.as_ref(), Some(o), "one opaque per SA");
        }
        opaque = leg.opaque.clone();
        let server = leg.token.unwrap();
        server_hello.get_or_insert_with(|| server.clone());
        conn.read_tls(&mut server.as_slice()).unwrap();
        conn.process_new_packets().unwrap();
        token = tls_out(&mut conn);
        if !conn.is_handshaking() {
            break;
        }
    }
    assert!(!conn.is_handshaking());
    let opaque = opaque.unwrap();

    // RFC 5705 section 4 with no context is RFC 5246's PRF over the
    // master secret, the label and client_random + server_random.
    let mut exported = [0u8; tlsdsk::KEY_MATERIAL_LEN];
    conn.export_keying_material(&mut exported, tlsdsk::EXPORTER_LABEL.as_bytes(), None)
        .unwrap();
    let (client_random, master) = keylog.0.lock().unwrap().clone().unwrap();
    // ServerHello: record header (5), handshake header (4), version (2),
    // then the 32-byte random (RFC 5246 7.4.1.3).
    let server_random = &server_hello.unwrap()[11..43];
    let seed = [client_random.as_slice(), server_random].concat();
    assert_eq!(
        prf_sha256(
            &master,
            tlsdsk::EXPORTER_LABEL,
            &seed,
            tlsdsk::KEY_MATERIAL_LEN
        ),
        exported.to_vec()
    );

    let suite = conn.negotiated_cipher_suite().unwrap().suite();
    let mac = MacAlgorithm::for_suite_name(suite.as_str().unwrap()).unwrap();
    assert_eq!(mac, MacAlgorithm::HmacSha256);
    let keys = SessionKeys::from_key_material(&exported, mac).unwrap();
    let signed = |m: Message, cnum: u32, tamper: bool| {
        let crand = format!("{:08x}", 0x1234_5678 + cnum);
        let num = cnum.to_string();
        let params = SignParams {
            scheme: "TLS-DSK",
            rand: &crand,
            num: &num,
            realm: &ch.realm,
            targetname: &ch.targetname,
            version: 4,
        };
        let mut signature = keys.sign(Side::Client, &signature_string(&m, &params).unwrap());
        if tamper {
            signature.replace_range(..2, "00");
            signature.replace_range(2..4, "ff");
        }
        let creds = Signed {
            opaque: opaque.clone(),
            realm: ch.realm.clone(),
            targetname: ch.targetname.clone(),
            rand: crand,
            num,
            signature,
            version: None,
        }
        .to_credentials();
        with_auth(m, &creds)
    };

    // A signed REGISTER gets a 200 whose rspauth verifies under the
    // server key ([MS-SIPAE] 3.2.5.2).
    cseq += 1;
    let ok = phone
        .exchange(&signed(phone.register(3, "0301", cseq, None), 1, false))
        .await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let info = Signed::from_info(&authentication_info(&ok).unwrap().unwrap()).unwrap();
    assert_eq!(info.opaque, opaque);
    let text = signature_string(
        &ok,
        &SignParams {
            scheme: "TLS-DSK",
            rand: &info.rand,
            num: &info.num,
            realm: &ch.realm,
            targetname: &ch.targetname,
            version: 4,
        },
    )
    .unwrap();
    assert!(keys.verify(Side::Server, &text, &info.signature));
    assert!(!keys.verify(Side::Client, &text, &info.signature));

    // The same cnum again: refused as a replay.
    cseq += 1;
    let again = phone
        .exchange(&signed(phone.register(3, "0301", cseq, None), 1, false))
        .await;
    assert_eq!((again.status(), diag_id(&again)), (Some(403), 1000));
    // A signature that does not verify: refused.
    cseq += 1;
    let bad = phone
        .exchange(&signed(phone.register(3, "0301", cseq, None), 2, true))
        .await;
    assert_eq!((bad.status(), diag_id(&bad)), (Some(403), 1000));
    // An unknown opaque: a new challenge.
    cseq += 1;
    let mut stranger = phone.register(3, "0301", cseq, None);
    let creds = AuthValue::new("TLS-DSK")
        .with("qop", "auth")
        .with("opaque", "DEADBEEF")
        .with("realm", ch.realm.as_str())
        .with("targetname", ch.targetname.as_str())
        .with("crand", "00000001")
        .with("cnum", "1")
        .with("response", "00");
    stranger
        .push_header("Authorization", &creds.to_string())
        .unwrap();
    let r = phone.exchange(&stranger).await;
    assert_eq!((r.status(), diag_id(&r)), (Some(401), 1000));
    // The SA still works for a fresh cnum; the sign-out is signed too.
    cseq += 1;
    let out = phone
        .exchange(&signed(phone.register(3, "0301", cseq, Some(0)), 3, false))
        .await;
    assert_eq!(out.status(), Some(200));
    assert!(authentication_info(&out).unwrap().is_some());
    let m = String::from_utf8(pool.ctx().metrics.render()).unwrap();
    for reason in ["replayed_cnum", "bad_signature", "sa_unknown"] {
        assert!(
            m.contains(&format!(
                r#"phonestorm_mock_auth_rejections_total{{reason="{reason}",service="registrar"}} 1"#
            )),
            "{reason}: {m}"
        );
    }
}
