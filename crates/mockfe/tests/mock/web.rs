//! The mock's web services over real HTTP and HTTPS: the phone's path
//! (root chain, PIN web ticket, ResolveUser, certificate), the refusals a pool gives,
//! device updates and firmware files, the capacity model under a burst,
//! fault knobs, and curl agreeing with all of it.

use std::time::Duration;

use phonestorm_mockfe::MockConfig;
use phonestorm_mockfe::capacity::{Capacity, ServiceTime};
use phonestorm_mockfe::config::Faults;
use phonestorm_proto::soap::certprov::{
    GET_AND_PUBLISH_CERT_ACTION, GetAndPublishCertRequest, GetAndPublishCertResponse,
};
use phonestorm_proto::soap::envelope::Fault;
use phonestorm_proto::soap::guessed::{self, DeviceUpdate, ROOT_CHAIN_SOAP_ACTION};
use phonestorm_proto::soap::template::{TemplateKind, TemplateSet, TemplateValues};
use phonestorm_proto::soap::wssec;
use phonestorm_proto::soap::wstrust::{RST_ISSUE_ACTION, RequestSecurityTokenResponse};
use phonestorm_proto::soap::{NS_WSSE, envelope};
use rcgen::{CertificateParams, KeyPair};

use crate::common::{HttpAnswer, http, start, tls_client, tool};

const SOAP_CT: (&str, &str) = ("Content-Type", envelope::CONTENT_TYPE);

fn pin_request(number: &str, pin: &str, entropy: &[u8]) -> String {
    use base64::Engine as _;
    TemplateSet::defaults()
        .unwrap()
        .render(
            TemplateKind::WebTicketPin,
            &TemplateValues::new()
                .text(
                    "web_ticket_url",
                    "https://pool01.contoso.com/WebTicket/WebTicketService.svc",
                )
                .text("created", "2026-11-20T08:00:00Z")
                .text("expires", "2026-11-20T08:05:00Z")
                .text("phone_number", number)
                .text("pin", pin)
                .text("context", "ctx-1")
                .text(
                    "applies_to",
                    "https://pool01.contoso.com/CertProv/CertProvisioningService.svc",
                )
                .text(
                    "entropy_base64",
                    base64::engine::general_purpose::STANDARD.encode(entropy),
                )
                .text("key_size", "256"),
        )
        .unwrap()
}

fn csr(bits: rcgen::RsaKeySize) -> Vec<u8> {
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, bits).unwrap();
    CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec()
}

async fn post_soap(
    mock: &phonestorm_mockfe::Running,
    path: &str,
    action: &str,
    body: &str,
) -> HttpAnswer {
    let tls = tls_client(mock.ca.ca_der());
    let quoted = format!("\"{action}\"");
    http(
        mock.endpoints.https,
        Some((&tls, "pool01.contoso.com")),
        "POST",
        path,
        &[SOAP_CT, ("SOAPAction", &quoted)],
        body.as_bytes(),
    )
    .await
    .unwrap()
}

async fn web_ticket(mock: &phonestorm_mockfe::Running, number: &str, pin: &str) -> HttpAnswer {
    post_soap(
        mock,
        "/WebTicket/WebTicketService.svc",
        RST_ISSUE_ACTION,
        &pin_request(number, pin, &[7u8; 32]),
    )
    .await
}

/// How a test call presents its web ticket.
#[derive(Clone, Copy)]
enum Proof<'a> {
    /// No `wsse:Security` at all.
    None,
    /// The assertion alone, as a bearer token.
    Bare(&'a str),
    /// The assertion with a timestamp signed by `key`, created `age` ago.
    Signed(&'a str, &'a [u8], Duration),
}

fn security_header(proof: Proof<'_>) -> Option<String> {
    match proof {
        Proof::None => None,
        Proof::Bare(a) => Some(format!(
            "<wsse:Security xmlns:wsse=\"{NS_WSSE}\">{a}</wsse:Security>"
        )),
        Proof::Signed(a, key, age) => Some(
            wssec::build_security_header(
                &phonestorm_proto::soap::wstrust::SamlAssertion::parse(a).unwrap(),
                key,
                phonestorm_mockfe::clock::wall() - age,
                Duration::from_secs(300),
            )
            .unwrap(),
        ),
    }
}

fn signed<'a>(assertion: &'a str, key: &'a [u8]) -> Proof<'a> {
    Proof::Signed(assertion, key, Duration::ZERO)
}

fn cert_request(entity: &str, proof: Proof<'_>, csr_der: Vec<u8>) -> String {
    let header = security_header(proof);
    GetAndPublishCertRequest {
        device_id: "{8a7d2f0c-1b6e-4c1a-9a0f-0123456789ab}".into(),
        entity: entity.into(),
        csr_der,
        request_id: None,
    }
    .to_envelope(header.as_deref())
}

/// The phone's path, stages 6 to 8: the CA from the anonymous root chain
/// over plain HTTP, then (verifying the server with it) a web ticket for
/// extension + PIN, then a certificate from a CSR, chained to that CA.
#[tokio::test]
async fn root_chain_web_ticket_and_certificate() {
    let mock = start(MockConfig::default()).await;
    let ep = &mock.endpoints;
    let req = TemplateSet::defaults()
        .unwrap()
        .render(TemplateKind::RootChainRequest, &TemplateValues::new())
        .unwrap();
    let action = format!("\"{ROOT_CHAIN_SOAP_ACTION}\"");
    let chain = http(
        ep.http,
        None,
        "POST",
        "/CertProv/CertProvisioningService.svc",
        &[SOAP_CT, ("SOAPAction", &action)],
        req.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(chain.status, 200);
    let certs = guessed::parse_root_chain(&chain.body).unwrap();
    assert_eq!(certs, vec![mock.ca.ca_der().to_vec()]);
    let by_get = http(
        ep.http,
        None,
        "GET",
        "/CertProv/CertProvisioningService.svc",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(guessed::parse_root_chain(&by_get.body).unwrap(), certs);

    // Extension 50007 is user 7 (first number 14255550000, five digits).
    let answer = web_ticket(&mock, "50007", "13579").await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let rstr = RequestSecurityTokenResponse::parse(&answer.body).unwrap();
    let assertion = rstr.assertion.clone().unwrap();
    assert!(assertion.raw.contains("sip:user7@contoso.com"));
    let key = rstr.proof_key(&[7u8; 32]).unwrap();
    assert_eq!(key.len(), 32);

    let body = cert_request(
        "user7@contoso.com",
        signed(&assertion.raw, &key),
        csr(rcgen::RsaKeySize::_2048),
    );
    let answer = post_soap(
        &mock,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &body,
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let GetAndPublishCertResponse::Issued(tokens) =
        GetAndPublishCertResponse::parse(&answer.body).unwrap()
    else {
        panic!("refused: {}", String::from_utf8_lossy(&answer.body))
    };
    let (_, cert) = x509_parser::parse_x509_certificate(&tokens[0].data).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(mock.ca.ca_der()).unwrap();
    cert.verify_signature(Some(ca.public_key())).unwrap();
    let m = String::from_utf8(mock.metrics.render()).unwrap();
    // A first sign-in writes to the back-end store twice.
    assert!(
        m.contains(r#"phonestorm_mock_requests_total{service="backend"} 2"#),
        "{m}"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn refusals_a_pool_gives() {
    let mut cfg = MockConfig::default();
    cfg.web.web_ticket.lockout_after = 3;
    let mock = start(cfg).await;
    // Wrong PIN: 401 and X-Ms-diagnostics, then lockout.
    for _ in 0..2 {
        let a = web_ticket(&mock, "50001", "0000").await;
        assert_eq!(a.status, 401);
        assert!(
            a.header("x-ms-diagnostics").unwrap().starts_with("28020;"),
            "{a:?}"
        );
    }
    let locked = web_ticket(&mock, "50001", "0000").await;
    assert!(
        locked
            .header("x-ms-diagnostics")
            .unwrap()
            .contains("locked out"),
        "{locked:?}"
    );
    assert_eq!(web_ticket(&mock, "50001", "13579").await.status, 401);
    // Unknown user: 403 / 28000.
    let unknown = web_ticket(&mock, "59999", "13579").await;
    assert_eq!(unknown.status, 403);
    assert!(
        unknown
            .header("x-ms-diagnostics")
            .unwrap()
            .starts_with("28000;")
    );

    // A certificate without a ticket: 401 / 28020.
    let body = cert_request(
        "user2@contoso.com",
        Proof::None,
        csr(rcgen::RsaKeySize::_2048),
    );
    let a = post_soap(
        &mock,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &body,
    )
    .await;
    assert_eq!(a.status, 401);
    // A ticket for user 2 used for user 3: ErrorInfo in a 200, as
    // [MS-OCAUTHWS] 3.1.4.1 says errors travel; for user 2 it works.
    let t = RequestSecurityTokenResponse::parse(&web_ticket(&mock, "50002", "13579").await.body)
        .unwrap();
    let key = t.proof_key(&[7u8; 32]).unwrap();
    let raw = t.assertion.unwrap().raw;
    let wrong = cert_request(
        "user3@contoso.com",
        signed(&raw, &key),
        csr(rcgen::RsaKeySize::_2048),
    );
    let a = post_soap(
        &mock,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &wrong,
    )
    .await;
    assert_eq!(a.status, 200);
    let r = GetAndPublishCertResponse::parse(&a.body).unwrap();
    assert!(
        matches!(r, GetAndPublishCertResponse::Error(ref e) if e.reason.contains("Entity")),
        "{r:?}"
    );
    let right = cert_request(
        "user2@contoso.com",
        signed(&raw, &key),
        csr(rcgen::RsaKeySize::_2048),
    );
    let a = post_soap(
        &mock,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &right,
    )
    .await;
    assert!(matches!(
        GetAndPublishCertResponse::parse(&a.body).unwrap(),
        GetAndPublishCertResponse::Issued(_)
    ));
    // Malformed SOAP: 400 with a reason.
    let bad = post_soap(
        &mock,
        "/WebTicket/WebTicketService.svc",
        RST_ISSUE_ACTION,
        "<s:Envelope",
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("web ticket request"));
    mock.shutdown().await;
}

#[tokio::test]
async fn key_size_policy() {
    let mut cfg = MockConfig::default();
    cfg.web.certificate.max_key_bits = 2048;
    let mock = start(cfg).await;
    let t = RequestSecurityTokenResponse::parse(&web_ticket(&mock, "50004", "13579").await.body)
        .unwrap();
    let key = t.proof_key(&[7u8; 32]).unwrap();
    let body = cert_request(
        "user4@contoso.com",
        signed(&t.assertion.unwrap().raw, &key),
        csr(rcgen::RsaKeySize::_3072),
    );
    let a = post_soap(
        &mock,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &body,
    )
    .await;
    let r = GetAndPublishCertResponse::parse(&a.body).unwrap();
    assert!(
        matches!(r, GetAndPublishCertResponse::Error(ref e) if e.reason.contains("3072 bits")),
        "{r:?}"
    );
    mock.shutdown().await;
}

/// The fault a refused proof gets: 401, `X-Ms-diagnostics` 28020, a SOAP
/// fault with the WSS 1.0 section 12 code and an [MS-OCAUTHWS] 2.2.4.1
/// `OCSDiagnosticsFault` detail with the same id.
fn assert_proof_fault(a: &HttpAnswer, wss_code: &str, reason: &str) {
    assert_eq!(a.status, 401, "{a:?}");
    let diag = a.header("x-ms-diagnostics").unwrap();
    assert!(diag.starts_with("28020;"), "{diag}");
    let fault = Fault::parse(&a.body).unwrap();
    assert_eq!(fault.code.namespace.as_deref(), Some(NS_WSSE));
    assert_eq!(fault.code.local, wss_code);
    let d = fault.diagnostics.unwrap();
    assert_eq!(d.error_id, 28020);
    assert!(d.reason.contains(reason), "{}", d.reason);
}

/// Calls made with a web ticket must prove possession of its key (the
/// default, `require_signed_proof = true`): a signed fresh timestamp is
/// accepted, and a missing, tampered or expired proof, or one signed with
/// another key, is refused with the fault a pool sends. With the setting
/// off, the bare assertion is enough.
#[tokio::test]
async fn web_ticket_proof_accepted_missing_tampered_expired() {
    let mock = start(MockConfig::default()).await;
    let t = RequestSecurityTokenResponse::parse(&web_ticket(&mock, "50006", "13579").await.body)
        .unwrap();
    let key = t.proof_key(&[7u8; 32]).unwrap();
    let raw = t.assertion.unwrap().raw;
    let call = |proof: Proof<'_>| {
        let body = cert_request("user6@contoso.com", proof, csr(rcgen::RsaKeySize::_2048));
        let mock = &mock;
        async move {
            post_soap(
                mock,
                "/CertProv/CertProvisioningService.svc",
                GET_AND_PUBLISH_CERT_ACTION,
                &body,
            )
            .await
        }
    };

    let bare = call(Proof::Bare(&raw)).await;
    assert_proof_fault(&bare, "InvalidSecurity", "no wsu:Timestamp");

    let expired = call(Proof::Signed(&raw, &key, Duration::from_secs(3600))).await;
    assert_proof_fault(&expired, "MessageExpired", "expired");

    let wrong_key = call(Proof::Signed(&raw, b"not the proof key", Duration::ZERO)).await;
    assert_proof_fault(&wrong_key, "FailedCheck", "signature value");

    // Tampered: the signed timestamp's Expires pushed out by an hour.
    let good = cert_request(
        "user6@contoso.com",
        signed(&raw, &key),
        csr(rcgen::RsaKeySize::_2048),
    );
    let expires_at = good.find("<wsu:Expires>").unwrap() + "<wsu:Expires>".len();
    let hour = &good[expires_at + 11..expires_at + 13];
    let later = format!("{:02}", (hour.parse::<u32>().unwrap() + 1) % 24);
    let tampered = format!(
        "{}{later}{}",
        &good[..expires_at + 11],
        &good[expires_at + 13..]
    );
    let a = post_soap(
        &mock,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &tampered,
    )
    .await;
    assert_proof_fault(&a, "FailedCheck", "digest");

    let ok = call(signed(&raw, &key)).await;
    assert!(
        matches!(
            GetAndPublishCertResponse::parse(&ok.body).unwrap(),
            GetAndPublishCertResponse::Issued(_)
        ),
        "{ok:?}"
    );
    mock.shutdown().await;

    let mut cfg = MockConfig::default();
    cfg.web.web_ticket.require_signed_proof = false;
    let lax = start(cfg).await;
    let t = RequestSecurityTokenResponse::parse(&web_ticket(&lax, "50006", "13579").await.body)
        .unwrap();
    let body = cert_request(
        "user6@contoso.com",
        Proof::Bare(&t.assertion.unwrap().raw),
        csr(rcgen::RsaKeySize::_2048),
    );
    let a = post_soap(
        &lax,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &body,
    )
    .await;
    assert!(matches!(
        GetAndPublishCertResponse::parse(&a.body).unwrap(),
        GetAndPublishCertResponse::Issued(_)
    ));
    lax.shutdown().await;
}

/// Runs `xmlsec1` with `args` in a blocking thread; its exit status and
/// output.
async fn xmlsec1(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("xmlsec1")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// xmlsec1 (libxmlsec1, an independent XML-DSig implementation) agrees with
/// the web-ticket proof both ways: it verifies the header the phones send
/// (and refuses it tampered), and a signature it makes with the proof key
/// — over a template with other prefixes, whitespace, and `wsu` declared
/// on the Envelope — is accepted by the mock.
#[tokio::test]
async fn xmlsec1_agrees_with_the_web_ticket_proof() {
    if !tool("xmlsec1", "xmlsec1") {
        return;
    }
    let mock = start(MockConfig::default()).await;
    let t = RequestSecurityTokenResponse::parse(&web_ticket(&mock, "50008", "13579").await.body)
        .unwrap();
    let key = t.proof_key(&[7u8; 32]).unwrap();
    let assertion = t.assertion.unwrap();
    let dir = std::env::temp_dir().join(format!("phonestorm-xmlsec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("proof.key");
    std::fs::write(&key_file, &key).unwrap();
    let id_attr = format!("{}:Timestamp", phonestorm_proto::soap::NS_WSU);
    let verify = |file: &std::path::Path| {
        vec![
            "--verify".to_owned(),
            "--hmackey".to_owned(),
            key_file.display().to_string(),
            "--id-attr:Id".to_owned(),
            id_attr.clone(),
            file.display().to_string(),
        ]
    };

    // Ours, checked by xmlsec1.
    let ours = cert_request(
        "user8@contoso.com",
        signed(&assertion.raw, &key),
        csr(rcgen::RsaKeySize::_2048),
    );
    let ours_file = dir.join("ours.xml");
    std::fs::write(&ours_file, &ours).unwrap();
    let out = xmlsec1(verify(&ours_file)).await;
    assert!(out.status.success(), "{out:?}");
    let tampered_file = dir.join("tampered.xml");
    std::fs::write(
        &tampered_file,
        ours.replacen("<wsu:Created>", "<wsu:Created>1", 1),
    )
    .unwrap();
    let out = xmlsec1(verify(&tampered_file)).await;
    assert!(!out.status.success(), "{out:?}");

    // xmlsec1's, checked by the mock.
    let wall = phonestorm_mockfe::clock::wall();
    let ns_wsu = phonestorm_proto::soap::NS_WSU;
    let header = format!(
        "\n  <wsse:Security xmlns:wsse=\"{NS_WSSE}\" s:mustUnderstand=\"1\">\n    \
         <wsu:Timestamp wsu:Id=\"ts-1\">\n      <wsu:Created>{}</wsu:Created>\n      \
         <wsu:Expires>{}</wsu:Expires>\n    </wsu:Timestamp>\n    {}\n    \
         <ds:Signature xmlns:ds=\"{dsig}\">\n      <ds:SignedInfo>\n        \
         <ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>\n        \
         <ds:SignatureMethod Algorithm=\"{hmac}\"/>\n        <ds:Reference URI=\"#ts-1\">\n          \
         <ds:Transforms><ds:Transform Algorithm=\"{c14n}\"/></ds:Transforms>\n          \
         <ds:DigestMethod Algorithm=\"{sha1}\"/>\n          <ds:DigestValue/>\n        \
         </ds:Reference>\n      </ds:SignedInfo>\n      <ds:SignatureValue/>\n      \
         <ds:KeyInfo><wsse:SecurityTokenReference><wsse:KeyIdentifier ValueType=\"{vt}\">{id}\
         </wsse:KeyIdentifier></wsse:SecurityTokenReference></ds:KeyInfo>\n    </ds:Signature>\n  \
         </wsse:Security>\n",
        phonestorm_proto::soap::xs_datetime(wall),
        phonestorm_proto::soap::xs_datetime(wall + Duration::from_secs(300)),
        assertion.raw,
        dsig = wssec::NS_DSIG,
        c14n = wssec::ALG_EXC_C14N,
        hmac = wssec::ALG_HMAC_SHA1,
        sha1 = wssec::ALG_SHA1,
        vt = wssec::VALUE_TYPE_SAML_ASSERTION_ID,
        id = assertion.assertion_id,
    );
    let template = GetAndPublishCertRequest {
        device_id: "{8a7d2f0c-1b6e-4c1a-9a0f-0123456789ab}".into(),
        entity: "user8@contoso.com".into(),
        csr_der: csr(rcgen::RsaKeySize::_2048),
        request_id: None,
    }
    .to_envelope(Some(&header))
    .replacen(
        "<s:Envelope xmlns:s=",
        &format!("<s:Envelope xmlns:wsu=\"{ns_wsu}\" xmlns:s="),
        1,
    );
    let template_file = dir.join("template.xml");
    let theirs_file = dir.join("theirs.xml");
    std::fs::write(&template_file, &template).unwrap();
    let out = xmlsec1(vec![
        "--sign".to_owned(),
        "--hmackey".to_owned(),
        key_file.display().to_string(),
        "--id-attr:Id".to_owned(),
        id_attr.clone(),
        "--output".to_owned(),
        theirs_file.display().to_string(),
        template_file.display().to_string(),
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let theirs = std::fs::read_to_string(&theirs_file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let a = post_soap(
        &mock,
        "/CertProv/CertProvisioningService.svc",
        GET_AND_PUBLISH_CERT_ACTION,
        &theirs,
    )
    .await;
    assert!(
        matches!(
            GetAndPublishCertResponse::parse(&a.body),
            Ok(GetAndPublishCertResponse::Issued(_))
        ),
        "{a:?}\n{theirs}"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn device_update_and_streamed_firmware() {
    let mut cfg = MockConfig::default();
    cfg.web.update.update_share.insert("CX600".into(), 1.0);
    cfg.web.update.image_bytes = 300_000;
    let mock = start(cfg).await;
    let tls = tls_client(mock.ca.ca_der());
    let ask = |model: &'static str| {
        let tls = tls.clone();
        let addr = mock.endpoints.https;
        async move {
            let body = TemplateSet::defaults()
                .unwrap()
                .render(
                    TemplateKind::UcDeviceRequest,
                    &TemplateValues::new()
                        .text("device_type", "OCPhone")
                        .text("vendor", "Polycom")
                        .text("model", model)
                        .text("hardware_revision", "1")
                        .text("version", "4.0.7577.4100")
                        .text("locale", "en-US")
                        .text("mac_address", "00-04-f2-00-00-01"),
                )
                .unwrap();
            let a = http(
                addr,
                Some((&tls, "pool01.contoso.com")),
                "POST",
                "/RequestHandler/ucdevice.upx",
                &[SOAP_CT],
                body.as_bytes(),
            )
            .await
            .unwrap();
            guessed::parse_ucdevice_answer(&a.body).unwrap()
        }
    };
    assert_eq!(ask("CX500").await, DeviceUpdate::None);
    let DeviceUpdate::Update { version, url } = ask("CX600").await else {
        panic!()
    };
    assert_eq!(version.as_deref(), Some("4.0.7577.4463"));
    let path = url
        .split_once(&format!(":{}", mock.endpoints.http.port()))
        .unwrap()
        .1
        .to_owned();
    let image = http(mock.endpoints.http, None, "GET", &path, &[], b"")
        .await
        .unwrap();
    assert_eq!(image.status, 200);
    assert_eq!(image.body.len(), 300_000);
    assert_eq!(image.header("content-length"), Some("300000"));
    mock.shutdown().await;
}

/// Issue 3's capacity check: 2 workers of fixed 10 ms and a queue of 10
/// take a burst of 100 requests. Queueing theory for c servers of fixed
/// service time S: the k-th completion (0-based) cannot come before
/// (floor(k / c) + 1) * S after the burst, and once c + queue requests are
/// inside, the rest are refused at once. The exact waiting times are
/// checked under tokio's paused clock in `capacity::tests`; here, over real
/// sockets, the bounds that hold whatever the machine's speed.
#[tokio::test]
async fn burst_builds_queueing_delay_then_503s() {
    let mut cfg = MockConfig::default();
    cfg.web.root_chain.capacity = Capacity {
        workers: 2,
        queue: 10,
        service_time: ServiceTime::Fixed {
            mean: Duration::from_millis(10),
        },
    };
    let mock = start(cfg).await;
    let addr = mock.endpoints.http;
    // Connect all 100 first so the requests leave together.
    let mut streams = Vec::new();
    for _ in 0..100 {
        streams.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let t0 = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for mut s in streams {
        tasks.push(tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(b"GET /CertProv/CertProvisioningService.svc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            (String::from_utf8_lossy(&out).into_owned(), t0.elapsed())
        }));
    }
    let mut ok = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (answer, at) = t.await.unwrap();
        if answer.starts_with("HTTP/1.1 200") {
            ok.push(at);
        } else {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.contains("x-ms-diagnostics: 17000;"), "{answer}");
            assert!(answer.contains("retry-after: 10"), "{answer}");
            refused += 1;
        }
    }
    assert!(ok.len() >= 12, "at least workers + queue are served");
    assert!(
        refused >= 50,
        "a burst this size must overflow the queue: {refused}"
    );
    ok.sort();
    for (k, at) in ok.iter().enumerate() {
        let floor = Duration::from_millis(10 * (k as u64 / 2 + 1));
        assert!(
            *at >= floor,
            "completion {k} at {at:?}, before the M/D/2 bound {floor:?}"
        );
    }
    let m = String::from_utf8(mock.metrics.render()).unwrap();
    let line = |name: &str| {
        m.lines()
            .find(|l| l.starts_with(name) && l.contains(r#"service="root_chain""#))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(-1.0)
    };
    assert_eq!(line("phonestorm_mock_rejections_total"), refused as f64);
    assert_eq!(line("phonestorm_mock_requests_total"), ok.len() as f64);
    assert_eq!(line("phonestorm_mock_queue_seconds_count"), ok.len() as f64);
    // Waiting happened: at least the wait of the third request (10 ms).
    assert!(line("phonestorm_mock_queue_seconds_sum") >= 0.010, "{m}");
    mock.shutdown().await;
}

#[tokio::test]
async fn reset_and_garbage_faults() {
    let mut cfg = MockConfig::default();
    cfg.web.web_ticket.faults = Faults {
        reset: 1.0,
        ..Faults::default()
    };
    cfg.web.root_chain.faults = Faults {
        garbage: 1.0,
        ..Faults::default()
    };
    let mock = start(cfg).await;
    let tls = tls_client(mock.ca.ca_der());
    let body = pin_request("50001", "13579", &[1; 32]);
    let r = http(
        mock.endpoints.https,
        Some((&tls, "pool01.contoso.com")),
        "POST",
        "/WebTicket/WebTicketService.svc",
        &[SOAP_CT],
        body.as_bytes(),
    )
    .await;
    assert!(
        r.is_err() || r.as_ref().is_ok_and(|a| a.status == 0),
        "{r:?}"
    );
    let g = http(
        mock.endpoints.http,
        None,
        "GET",
        "/CertProv/CertProvisioningService.svc",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert!(
        guessed::parse_root_chain(&g.body).is_err(),
        "garbage parsed as a chain"
    );
    let m = String::from_utf8(mock.metrics.render()).unwrap();
    assert!(
        m.contains(r#"phonestorm_mock_faults_total{kind="reset",service="web_ticket"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"phonestorm_mock_faults_total{kind="garbage",service="root_chain"} 1"#),
        "{m}"
    );
    mock.shutdown().await;
}

/// curl, a client nobody here wrote, gets the same answers: the root chain
/// over HTTP, and a web ticket over HTTPS verified against the mock CA.
#[tokio::test]
async fn curl_speaks_to_the_web_services() {
    if !tool("curl", "curl") {
        return;
    }
    let mock = start(MockConfig::default()).await;
    let dir = std::env::temp_dir().join(format!("phonestorm-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(mock.ca.ca_der());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        std::fs::write(
            &ca,
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            ),
        )
        .unwrap();
    }
    let body = dir.join("rst.xml");
    std::fs::write(&body, pin_request("50005", "13579", &[3; 32])).unwrap();
    let https_port = mock.endpoints.https.port();
    let http_port = mock.endpoints.http.port();
    let (ca_s, body_s) = (ca.display().to_string(), format!("@{}", body.display()));
    let out = tokio::task::spawn_blocking(move || {
        let chain = std::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                &format!("http://127.0.0.1:{http_port}/CertProv/CertProvisioningService.svc"),
            ])
            .output()
            .unwrap();
        let ticket = std::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "--cacert",
                &ca_s,
                "--resolve",
                &format!("pool01.contoso.com:{https_port}:127.0.0.1"),
                "-H",
                "Content-Type: text/xml; charset=utf-8",
                "-H",
                &format!("SOAPAction: \"{RST_ISSUE_ACTION}\""),
                "--data-binary",
                &body_s,
                &format!("https://pool01.contoso.com:{https_port}/WebTicket/WebTicketService.svc"),
            ])
            .output()
            .unwrap();
        (chain, ticket)
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.0.status.success(), "{:?}", out.0);
    assert_eq!(
        guessed::parse_root_chain(&out.0.stdout).unwrap(),
        vec![mock.ca.ca_der().to_vec()]
    );
    assert!(out.1.status.success(), "{:?}", out.1);
    let rstr = RequestSecurityTokenResponse::parse(&out.1.stdout).unwrap();
    assert!(
        rstr.assertion
            .unwrap()
            .raw
            .contains("sip:user5@contoso.com")
    );
    mock.shutdown().await;
}

/// A reset fault closes with RST (SO_LINGER 0 on the served socket), as a
/// crashing worker does, over plain HTTP and under TLS alike.
#[tokio::test]
async fn reset_fault_sends_a_tcp_reset() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut cfg = MockConfig::default();
    cfg.web.root_chain.faults = Faults {
        reset: 1.0,
        ..Faults::default()
    };
    let mock = start(cfg).await;
    let mut s = tokio::net::TcpStream::connect(mock.endpoints.http)
        .await
        .unwrap();
    s.write_all(
        b"GET /CertProv/CertProvisioningService.svc HTTP/1.1\r\nHost: pool01.contoso.com\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the mock neither answered nor closed");
    assert_eq!(
        r.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    mock.shutdown().await;
}
