//! The mock's web services (stages 4, 6, 7 and 8): device update, the
//! anonymous root chain, firmware files, the Web Ticket service (PIN
//! authentication) and Certificate Provisioning (`ResolveUser`,
//! `GetAndPublishCert`).
//!
//! Each service runs its requests through its own capacity station and
//! fault knobs; certificate publication also goes through the pool's shared
//! back-end store, so first sign-ins saturate the provisioning path before
//! anything else, as Microsoft's capacity guidance describes. Bodies come
//! from the codecs of `phonestorm_proto::soap`; this module owns the routes,
//! the issued tickets and the refusals a pool gives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use phonestorm_proto::diag::Diagnostics;
use phonestorm_proto::soap::certprov::{
    BinarySecurityToken, ErrorInfo, GetAndPublishCertRequest, GetAndPublishCertResponse,
    TOKEN_TYPE_X509V3,
};
use phonestorm_proto::soap::envelope::{
    CONTENT_TYPE, Envelope, Fault, FaultCode, MsDiagnosticsFault,
};
use phonestorm_proto::soap::guessed::{self, DeviceUpdate};
use phonestorm_proto::soap::psha1::{self, CK_PSHA1};
use phonestorm_proto::soap::template::TemplateSet;
use phonestorm_proto::soap::wssec::{self, ProofError};
use phonestorm_proto::soap::wstrust::{
    Lifetime, ProofToken, RequestSecurityToken, RequestSecurityTokenResponse, SamlAssertion,
    TOKEN_TYPE_SAML11,
};
use phonestorm_proto::soap::{NS_SAML1, NS_WSSE, xs_datetime};
use rand::RngExt;

use crate::ca::{CsrRefusal, MockCa};
use crate::capacity::Station;
use crate::clock;
use crate::config::{Faults, WebConfig};
use crate::directory::{Directory, PinCheck};
use crate::http::{Body, Reply, Request, Router, full};
use crate::metrics::MockMetrics;

/// Paths, compared case-insensitively as IIS does.
pub mod paths {
    /// Device update check, internal.
    pub const UCDEVICE: &str = "/requesthandler/ucdevice.upx";
    /// Device update check, external (through the reverse proxy).
    pub const UCDEVICE_EXT: &str = "/requesthandlerext/ucdevice.upx";
    /// Firmware images, plain HTTP.
    pub const FILES: &str = "/requesthandler/files/";
    /// Certificate Provisioning: anonymous root chain (HTTP) and
    /// `GetAndPublishCert` (HTTPS).
    pub const CERTPROV: &str = "/certprov/certprovisioningservice.svc";
    /// Web Ticket service.
    pub const WEBTICKET: &str = "/webticket/webticketservice.svc";
}

/// `X-Ms-diagnostics` ids the mock sends. 28000, 28001 and 28020 are the
/// Web Ticket service's documented ones (PROTOCOL.md); a PIN failure and a
/// lockout are reported under 28020 ("no valid security token") with a
/// reason that says which, because the specific ids are not public. 17000
/// is the overload id the registrar uses, reused so one dashboard query
/// finds every overload refusal.
pub mod diag_ids {
    /// The user is not SIP enabled (403).
    pub const NOT_SIP_ENABLED: u32 = 28000;
    /// Internal error (500).
    pub const INTERNAL: u32 = 28001;
    /// No valid security token: bad PIN, lockout, missing or expired ticket (401).
    pub const NO_VALID_TOKEN: u32 = 28020;
    /// The service is overloaded (503).
    pub const OVERLOADED: u32 = 17000;
}

/// Key size of the web ticket proof key, in bits.
const PROOF_KEY_BITS: u32 = 256;

/// One issued web ticket.
#[derive(Debug, Clone)]
struct Ticket {
    user: u32,
    expires: Duration,
    /// The WS-Trust proof key: the key later calls sign with.
    proof_key: Vec<u8>,
}

/// The stations of the web services.
#[derive(Debug, Clone)]
pub struct WebStations {
    /// Device update.
    pub update: Arc<Station>,
    /// Root chain download.
    pub root_chain: Arc<Station>,
    /// Web Ticket.
    pub web_ticket: Arc<Station>,
    /// Certificate Provisioning.
    pub certificate: Arc<Station>,
    /// The pool's shared back-end store.
    pub backend: Arc<Station>,
}

/// Everything the web services share.
#[derive(Debug)]
pub struct Web {
    cfg: WebConfig,
    pool_fqdn: String,
    http_port: u16,
    ca: Arc<MockCa>,
    directory: Arc<Directory>,
    stations: WebStations,
    metrics: MockMetrics,
    templates: TemplateSet,
    tickets: Mutex<HashMap<String, Ticket>>,
    next_id: AtomicU64,
}

/// The outcome of one request inside a service, before faults apply.
type Answer = Response<Body>;

impl Web {
    /// The web services of a mock.
    #[allow(clippy::too_many_arguments)] // one constructor, called once
    pub fn new(
        cfg: WebConfig,
        pool_fqdn: String,
        http_port: u16,
        ca: Arc<MockCa>,
        directory: Arc<Directory>,
        stations: WebStations,
        metrics: MockMetrics,
    ) -> crate::Result<Self> {
        Ok(Web {
            cfg,
            pool_fqdn,
            http_port,
            ca,
            directory,
            stations,
            metrics,
            templates: TemplateSet::defaults()?,
            tickets: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    fn faults(&self, service: &str) -> Faults {
        match service {
            "update" => self.cfg.update.faults,
            "root_chain" => self.cfg.root_chain.faults,
            "web_ticket" => self.cfg.web_ticket.faults,
            _ => self.cfg.certificate.faults,
        }
    }

    /// Runs one request of `service` through its faults and station, then
    /// `work`, which may itself wait on the back-end store.
    async fn through<F>(&self, service: &'static str, station: &Station, work: F) -> Reply
    where
        F: std::future::Future<Output = Answer>,
    {
        let faults = self.faults(service);
        if chance(faults.reset) {
            self.metrics.fault(service, "reset");
            return Reply::Reset;
        }
        let mut answer = match station.serve().await {
            Ok(_) => work.await,
            Err(_) => overloaded(),
        };
        if let Some(d) = faults.slow {
            self.metrics.fault(service, "slow");
            tokio::time::sleep(d).await;
        }
        if chance(faults.garbage) {
            self.metrics.fault(service, "garbage");
            let mut junk = vec![0u8; 256];
            rand::rng().fill(junk.as_mut_slice());
            *answer.body_mut() = full(junk);
        }
        self.metrics.answer(service, answer.status().as_str());
        Reply::Response(answer)
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Stage 6: the issuer chain of the web server certificate, anonymous.
    fn root_chain(&self) -> Answer {
        match guessed::build_root_chain_response(&self.templates, &[self.ca.ca_der().to_vec()]) {
            Ok(body) => soap(StatusCode::OK, body),
            Err(e) => diagnostic(
                StatusCode::INTERNAL_SERVER_ERROR,
                diag_ids::INTERNAL,
                &format!("root chain: {e}"),
            ),
        }
    }

    /// Stage 4: "no update", or "update to V" for the configured share of
    /// each model, chosen by a hash of the request so a phone gets the same
    /// answer every time it asks.
    fn device_update(&self, body: &[u8]) -> Answer {
        let fields = match guessed::parse_ucdevice_request(body) {
            Ok(f) => f,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("device update request: {e}"),
                );
            }
        };
        // The first of `names` (in that order of preference) present.
        let field = |names: &[&str]| {
            names.iter().find_map(|w| {
                fields
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(w))
                    .map(|(_, v)| v.as_str())
            })
        };
        let model = field(&["Model", "DeviceType"]).unwrap_or("");
        let identity = field(&["MacAddress", "DeviceId", "SerialNumber"]).unwrap_or(model);
        let current = field(&["CurrentVersion", "Version"]).unwrap_or("");
        let share = self
            .cfg
            .update
            .update_share
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(model))
            .map_or(0.0, |(_, s)| *s);
        let offer = &self.cfg.update.offer_version;
        let update = if share > 0.0 && current != offer && bucket(identity) < share {
            DeviceUpdate::Update {
                version: Some(offer.clone()),
                url: format!(
                    "http://{}:{}/RequestHandler/Files/{}/{}/CPE.nbt",
                    self.pool_fqdn, self.http_port, model, offer
                ),
            }
        } else {
            DeviceUpdate::None
        };
        match guessed::build_ucdevice_answer(&self.templates, &update) {
            Ok(b) => soap(StatusCode::OK, b),
            Err(e) => diagnostic(
                StatusCode::INTERNAL_SERVER_ERROR,
                diag_ids::INTERNAL,
                &format!("device update: {e}"),
            ),
        }
    }

    /// Firmware image: generated bytes, streamed in chunks so a 16 MiB
    /// image costs the mock one chunk of memory per download.
    fn firmware(&self) -> Answer {
        let size = self.cfg.update.image_bytes;
        const CHUNK: u64 = 64 * 1024;
        let mut r = Response::new(generated_image(size, CHUNK));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    }

    /// Stage 7: PIN authentication for a web ticket.
    fn web_ticket(&self, body: &[u8]) -> Answer {
        if !self.cfg.web_ticket.pin_auth {
            return diagnostic(
                StatusCode::FORBIDDEN,
                diag_ids::NO_VALID_TOKEN,
                "PIN authentication is disabled",
            );
        }
        let env = match Envelope::parse(body) {
            Ok(e) => e,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("web ticket request: {e}")),
        };
        let rst = match env.body_element().map(RequestSecurityToken::from_element) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                return soap_fault(StatusCode::BAD_REQUEST, "Client", &e.to_string(), None);
            }
            None => {
                return soap_fault(StatusCode::BAD_REQUEST, "Client", "the Body is empty", None);
            }
        };
        let Some((number, pin)) = guessed::parse_pin_credentials(&env) else {
            return soap_fault(
                StatusCode::UNAUTHORIZED,
                "Client",
                "no phone number and PIN in the request",
                Some((diag_ids::NO_VALID_TOKEN, "No credentials")),
            );
        };
        let user = match self.directory.check_pin(&number, &pin) {
            PinCheck::Ok(u) => u,
            PinCheck::UnknownUser => {
                return soap_fault(
                    StatusCode::FORBIDDEN,
                    "Client",
                    "user not found",
                    Some((diag_ids::NOT_SIP_ENABLED, "User is not SIP enabled")),
                );
            }
            PinCheck::WrongPin { .. } => {
                return soap_fault(
                    StatusCode::UNAUTHORIZED,
                    "Client",
                    "wrong PIN",
                    Some((
                        diag_ids::NO_VALID_TOKEN,
                        "The phone number or PIN is not valid",
                    )),
                );
            }
            PinCheck::LockedOut => {
                return soap_fault(
                    StatusCode::UNAUTHORIZED,
                    "Client",
                    "PIN locked out",
                    Some((diag_ids::NO_VALID_TOKEN, "The PIN is locked out")),
                );
            }
        };
        let now = clock::wall();
        let expires = now + self.cfg.web_ticket.ticket_lifetime;
        let id = format!("SamlSecurityToken-{:016x}", self.id());
        let assertion = SamlAssertion::new_unsigned(
            &id,
            &format!("https://{}/WebTicket/WebTicketService.svc", self.pool_fqdn),
            &xs_datetime(now),
            &xs_datetime(now),
            &xs_datetime(expires),
            &user.sip_uri(),
        );
        let mut server_entropy = vec![0u8; (PROOF_KEY_BITS / 8) as usize];
        rand::rng().fill(server_entropy.as_mut_slice());
        let key_bits = rst.key_size.unwrap_or(PROOF_KEY_BITS).clamp(128, 512);
        let proof_key = match &rst.entropy {
            Some(client) => {
                psha1::computed_key(client, &server_entropy, key_bits).unwrap_or_default()
            }
            None => server_entropy.clone(),
        };
        self.tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                Ticket {
                    user: user.index,
                    expires,
                    proof_key,
                },
            );
        let rstr = RequestSecurityTokenResponse {
            context: rst.context.clone(),
            token_type: Some(TOKEN_TYPE_SAML11.to_owned()),
            assertion: Some(assertion),
            applies_to: rst.applies_to.clone(),
            proof: Some(ProofToken::ComputedKey(CK_PSHA1.to_owned())),
            entropy: Some(server_entropy),
            lifetime: Some(Lifetime {
                created: Some(xs_datetime(now)),
                expires: Some(xs_datetime(expires)),
            }),
            key_size: Some(key_bits),
        };
        soap(StatusCode::OK, rstr.to_envelope())
    }

    /// The user a web ticket in `wsse:Security` names, if it is one we
    /// issued and it has not expired; when the configuration requires the
    /// signed proof, only if the header's signature was made with that
    /// ticket's proof key over a fresh timestamp.
    fn ticket_user(&self, env: &Envelope) -> Result<u32, Refusal> {
        if self.cfg.web_ticket.require_signed_proof {
            return self.signed_ticket_user(env);
        }
        let header = env.header.as_ref().ok_or("no SOAP header")?;
        let security = header
            .child(&[NS_WSSE], "Security")
            .ok_or("no wsse:Security header")?;
        let assertion = security
            .find(&[NS_SAML1], "Assertion")
            .ok_or("no web ticket in wsse:Security")?;
        let id = assertion
            .attr("AssertionID")
            .ok_or("web ticket without AssertionID")?;
        let tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        let t = tickets.get(id).ok_or("unknown web ticket")?;
        if t.expires <= clock::wall() {
            return Err("expired web ticket".into());
        }
        Ok(t.user)
    }

    /// [`Web::ticket_user`] with the proof checked ([`wssec`]).
    fn signed_ticket_user(&self, env: &Envelope) -> Result<u32, Refusal> {
        let now = clock::wall();
        let mut found = None;
        wssec::verify_security_header(
            env,
            |id| {
                let tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
                let t = tickets.get(id)?;
                found = Some((t.user, t.expires));
                Some(t.proof_key.clone())
            },
            now,
            PROOF_MAX_SKEW,
        )
        .map_err(Refusal::Proof)?;
        match found {
            Some((_, expires)) if expires <= now => Err("expired web ticket".into()),
            Some((user, _)) => Ok(user),
            None => Err("unknown web ticket".into()),
        }
    }

    /// The envelope of a call made with a web ticket, and the ticket's
    /// user; or the refusal to send (400 for bad XML, 401 for no ticket,
    /// 401 with a WS-Security fault for a missing or bad proof).
    #[allow(clippy::result_large_err)] // the refusal is the answer to send, once per call
    fn ticketed<'b>(&self, body: &'b [u8], what: &str) -> Result<(Envelope<'b>, u32), Answer> {
        let env = Envelope::parse_with(body, wssec::CAPTURE_SCOPE)
            .map_err(|e| text(StatusCode::BAD_REQUEST, &format!("{what} request: {e}")))?;
        let user = self.ticket_user(&env).map_err(|why| match why {
            Refusal::Ticket(why) => {
                diagnostic(StatusCode::UNAUTHORIZED, diag_ids::NO_VALID_TOKEN, why)
            }
            Refusal::Proof(e) => proof_fault(&e),
        })?;
        Ok((env, user))
    }

    /// Stage 8, first call: which SIP URI the phone's number belongs to.
    /// The caller must hold a web ticket, and may only resolve itself.
    fn resolve_user(&self, body: &[u8]) -> Answer {
        let user = match self.ticketed(body, "ResolveUser") {
            Ok((_, user)) => user,
            Err(refusal) => return refusal,
        };
        let number = match guessed::parse_resolve_user_request(body) {
            Ok(n) => n,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("ResolveUser request: {e}"),
                );
            }
        };
        match self.directory.by_phone(&number) {
            Some(u) if u.index == user => {
                match guessed::build_resolve_user_answer(&self.templates, &u.sip_uri()) {
                    Ok(b) => soap(StatusCode::OK, b),
                    Err(e) => diagnostic(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        diag_ids::INTERNAL,
                        &format!("ResolveUser: {e}"),
                    ),
                }
            }
            Some(_) => diagnostic(
                StatusCode::FORBIDDEN,
                diag_ids::NO_VALID_TOKEN,
                "the web ticket was issued to another user",
            ),
            None => diagnostic(
                StatusCode::NOT_FOUND,
                diag_ids::NOT_SIP_ENABLED,
                "no user has that number",
            ),
        }
    }

    /// Stage 8: a certificate from a CSR, published to the user store.
    async fn get_and_publish_cert(&self, body: &[u8]) -> Answer {
        let (env, user) = match self.ticketed(body, "GetAndPublishCert") {
            Ok(x) => x,
            Err(refusal) => return refusal,
        };
        let req = match GetAndPublishCertRequest::from_envelope(&env) {
            Ok(r) => r,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("GetAndPublishCert request: {e}"),
                );
            }
        };
        let Some(u) = self.directory.user(user) else {
            return diagnostic(
                StatusCode::INTERNAL_SERVER_ERROR,
                diag_ids::INTERNAL,
                "ticket names no user",
            );
        };
        let entity = req.entity.strip_prefix("sip:").unwrap_or(&req.entity);
        if !entity.eq_ignore_ascii_case(&u.sip_address) {
            return cert_error(
                "InvalidEntity",
                "the Entity is not the user the web ticket was issued to",
            );
        }
        let c = &self.cfg.certificate;
        let issued = self.ca.issue_user(
            &req.csr_der,
            &u.sip_uri(),
            c.validity,
            c.min_key_bits,
            c.max_key_bits,
            self.id(),
        );
        let cert = match issued {
            Ok(der) => der,
            Err(CsrRefusal::KeySize { bits, min, max }) => {
                return cert_error(
                    "InvalidKeySize",
                    &format!("key is {bits} bits; the pool accepts {min} to {max}"),
                );
            }
            Err(r @ CsrRefusal::NotRsa) | Err(r @ CsrRefusal::Malformed(_)) => {
                return cert_error("InvalidRequest", &r.to_string());
            }
        };
        // Publishing writes to the pool's store; a first sign-in also
        // creates the user's record there, which is what makes Monday
        // mornings heavy on SQL.
        let first = self.directory.publish_certificate(user);
        let writes = if first { 2 } else { 1 };
        for _ in 0..writes {
            if self.stations.backend.serve().await.is_err() {
                self.metrics.answer("backend", "503");
                return overloaded();
            }
        }
        let resp = GetAndPublishCertResponse::Issued(vec![BinarySecurityToken {
            value_type: Some(TOKEN_TYPE_X509V3.to_owned()),
            data: cert.to_vec(),
        }]);
        soap(StatusCode::OK, resp.to_envelope())
    }
}

/// The web services' TLS: the pool's server certificate, no client
/// certificates (phones authenticate with the web ticket here).
pub fn tls_acceptor(ca: &MockCa) -> crate::Result<tokio_rustls::TlsAcceptor> {
    ca.tls_acceptor(false)
}

/// The HTTP or HTTPS face of the web services.
#[derive(Debug, Clone)]
pub struct WebRouter {
    web: Arc<Web>,
}

impl WebRouter {
    /// A router over `web`.
    pub fn new(web: Arc<Web>) -> Self {
        WebRouter { web }
    }
}

impl Router for WebRouter {
    fn closed_without_close_notify(&self) {
        self.web.metrics.malformed("https", "no_close_notify");
    }

    async fn route(&self, req: Request) -> Reply {
        let w = &*self.web;
        let path = req.path.to_ascii_lowercase();
        let st = &w.stations;
        let soap_action = req
            .headers
            .get("soapaction")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default();
        match (&req.method, path.as_str()) {
            (&Method::POST, paths::UCDEVICE | paths::UCDEVICE_EXT) => {
                w.through("update", &st.update, async { w.device_update(&req.body) })
                    .await
            }
            (&Method::GET, p) if p.starts_with(paths::FILES) => {
                w.through("update", &st.update, async { w.firmware() })
                    .await
            }
            (&Method::GET, paths::CERTPROV) if !req.tls => {
                w.through("root_chain", &st.root_chain, async { w.root_chain() })
                    .await
            }
            (&Method::POST, paths::CERTPROV) if soap_action.ends_with("/GetAndPublishCert") => {
                if let Some(refusal) = needs_tls(&req, "GetAndPublishCert") {
                    return refusal;
                }
                w.through(
                    "certificate",
                    &st.certificate,
                    w.get_and_publish_cert(&req.body),
                )
                .await
            }
            (&Method::POST, paths::CERTPROV) if soap_action.ends_with("/ResolveUser") => {
                if let Some(refusal) = needs_tls(&req, "ResolveUser") {
                    return refusal;
                }
                w.through("certificate", &st.certificate, async {
                    w.resolve_user(&req.body)
                })
                .await
            }
            (&Method::POST, paths::CERTPROV) => {
                w.through("root_chain", &st.root_chain, async { w.root_chain() })
                    .await
            }
            (&Method::POST, paths::WEBTICKET)
            | (&Method::POST, "/webticket/webticketservice.svc/pin") => {
                if let Some(refusal) = needs_tls(&req, "the Web Ticket service") {
                    return refusal;
                }
                w.through("web_ticket", &st.web_ticket, async {
                    w.web_ticket(&req.body)
                })
                .await
            }
            (_, paths::UCDEVICE | paths::UCDEVICE_EXT | paths::CERTPROV | paths::WEBTICKET) => {
                let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
                Reply::Response(r)
            }
            _ => Reply::Response(text(StatusCode::NOT_FOUND, "not found")),
        }
    }
}

/// PINs, tickets and certificates travel only over TLS: the same request
/// over plain HTTP is refused, as IIS refuses an SSL-required path (403).
fn needs_tls(req: &Request, what: &str) -> Option<Reply> {
    (!req.tls).then(|| {
        Reply::Response(text(
            StatusCode::FORBIDDEN,
            &format!("{what} requires HTTPS"),
        ))
    })
}

fn chance(share: f64) -> bool {
    share > 0.0 && rand::rng().random::<f64>() < share
}

/// A stable number in [0, 1) from a phone's identity, so the update share
/// picks the same phones every time: FNV-1a, then MurmurHash3's 64-bit
/// finaliser, because FNV alone leaves the high bits nearly equal for MAC
/// addresses that differ only in their last digits.
fn bucket(identity: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in identity.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn soap(status: StatusCode, body: String) -> Answer {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    r
}

fn text(status: StatusCode, msg: &str) -> Answer {
    crate::http::text(status, msg.to_owned())
}

fn with_diagnostics(mut r: Answer, id: u32, reason: &str) -> Answer {
    if let Ok(v) = HeaderValue::from_str(&Diagnostics::new(id, reason).to_header_value()) {
        r.headers_mut().insert("x-ms-diagnostics", v);
    }
    r
}

/// A refusal carried by status and `X-Ms-diagnostics`, as the web services
/// answer what they refuse before reading the SOAP body.
fn diagnostic(status: StatusCode, id: u32, reason: &str) -> Answer {
    with_diagnostics(text(status, reason), id, reason)
}

/// A SOAP fault, with an `OCSDiagnosticsFault` detail and the matching
/// `X-Ms-diagnostics` header when `diag` is given.
fn soap_fault(status: StatusCode, code: &str, string: &str, diag: Option<(u32, &str)>) -> Answer {
    let fault = Fault {
        code: FaultCode::soap(code),
        string: string.to_owned(),
        actor: None,
        diagnostics: diag.map(|(id, reason)| MsDiagnosticsFault {
            error_id: id,
            reason: reason.to_owned(),
        }),
    };
    let r = soap(status, fault.to_envelope());
    match diag {
        Some((id, reason)) => with_diagnostics(r, id, reason),
        None => r,
    }
}

/// Why a call made with a web ticket is refused.
enum Refusal {
    /// No usable ticket (missing, unknown, expired).
    Ticket(&'static str),
    /// The ticket's proof of possession is missing or wrong.
    Proof(ProofError),
}

impl From<&'static str> for Refusal {
    fn from(why: &'static str) -> Self {
        Refusal::Ticket(why)
    }
}

/// Clock skew allowed on a proof's timestamp: 5 minutes, WCF's default
/// `MaxClockSkew`, which the pool's web services run on.
const PROOF_MAX_SKEW: Duration = Duration::from_secs(300);

/// A refused proof as the pool's WCF stack answers it: a SOAP fault with
/// the WSS 1.0 section 12 code, an `OCSDiagnosticsFault` detail with 28020
/// (no valid security token, [MS-OCAUTHWS] 2.2.4.1) and the same id in
/// `X-Ms-diagnostics`, status 401.
fn proof_fault(e: &ProofError) -> Answer {
    let reason = e.to_string();
    let fault = Fault {
        code: FaultCode {
            namespace: Some(NS_WSSE.to_owned()),
            local: e.wss_fault_code().to_owned(),
        },
        string: reason.clone(),
        actor: None,
        diagnostics: Some(MsDiagnosticsFault {
            error_id: diag_ids::NO_VALID_TOKEN,
            reason: reason.clone(),
        }),
    };
    with_diagnostics(
        soap(StatusCode::UNAUTHORIZED, fault.to_envelope()),
        diag_ids::NO_VALID_TOKEN,
        &reason,
    )
}

/// [MS-OCAUTHWS] 3.1.4.1: GetAndPublishCert reports errors in ErrorInfo
/// with a 200, not in a SOAP fault.
fn cert_error(code: &str, reason: &str) -> Answer {
    let resp = GetAndPublishCertResponse::Error(ErrorInfo {
        code: Some(code.to_owned()),
        reason: reason.to_owned(),
    });
    soap(StatusCode::OK, resp.to_envelope())
}

/// A full station: 503 with `Retry-After` and `X-Ms-diagnostics`, so a
/// storm shows up as refusals a client can tell from failures.
fn overloaded() -> Answer {
    let mut r = diagnostic(
        StatusCode::SERVICE_UNAVAILABLE,
        diag_ids::OVERLOADED,
        "Server is overloaded",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    r
}

/// A body of `size` generated bytes, produced chunk by chunk.
fn generated_image(size: u64, chunk: u64) -> Body {
    ChunkBody { left: size, chunk }.boxed()
}

/// Yields `left` bytes of a repeating pattern in frames of `chunk` bytes;
/// its exact size hint gives the response its Content-Length.
struct ChunkBody {
    left: u64,
    chunk: u64,
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(self.chunk);
        self.left -= n;
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(data)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_is_uniform_enough_and_stable() {
        let n = 10_000;
        let below = (0..n)
            .filter(|i| bucket(&format!("00-04-f2-{i:06x}")) < 0.25)
            .count();
        assert!((2000..3000).contains(&below), "{below}");
        assert_eq!(bucket("abc"), bucket("abc"));
    }
}
