//! The registrar's side of the [MS-SIPAE] signing schemes, TLS-DSK and
//! NTLM (3.3.5): the TLS 1.2 handshake tunnelled in `gssapi-data`, run by
//! a rustls `ServerConnection` over in-memory buffers; the connectionless
//! NTLMv2 exchange (a CHALLENGE_MESSAGE answering an empty first token,
//! then the AUTHENTICATE_MESSAGE checked against the directory's
//! password); the security associations (SA) either yields, one per
//! `opaque`; and the checks of every signed request (signature, `cnum`
//! replay, SA lifetime) and the signature on every answer. Both schemes
//! share one SA table and one check / sign path: only the keys differ.
//!
//! It owns that state and those checks. It does not decide what a REGISTER
//! gets once authenticated (see `super::answer`) and owns no wire format:
//! the header values, keys, HMAC, NTLM messages and signature string are
//! `phonestorm_proto::{ntlm, sip::{tlsdsk, signing}}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use phonestorm_proto::ntlm::{self, AvPairs, ChallengeMessage, av_id};
use phonestorm_proto::sip::signing::{SignParams, signature_string};
use phonestorm_proto::sip::tlsdsk::{
    self, DskChallenge, MacAlgorithm, ReplayWindow, SessionKeys, Side, Signed,
};
use phonestorm_proto::sip::{AuthValue, Message};
use rand::RngExt;
use rustls::ServerConnection;
use tokio::time::Instant;

use crate::ca::MockCa;
use crate::clock;

/// Largest `gssapi-data` token accepted on one leg: a client flight with
/// a certificate is a few kilobytes.
const MAX_TOKEN: usize = 32 * 1024;

/// Handshakes in progress kept at most; beyond it the oldest are dropped
/// (a client that never finishes must not grow the table without bound).
const MAX_PENDING: usize = 100_000;

/// How long a half-done handshake is kept.
const PENDING_TTL: Duration = Duration::from_secs(60);

/// New SAs between two sweeps of expired ones: sweeping on every sign-in
/// would walk a 100,000-entry table per handshake during a storm.
const SWEEP_EVERY: u64 = 4096;

/// One handshake in progress.
struct Pending {
    conn: ServerConnection,
    started: Instant,
}

/// The keys of an SA, by scheme.
#[derive(Debug)]
enum Keys {
    /// TLS-DSK: HMAC keys from the tunnel's exporter.
    Dsk(SessionKeys),
    /// NTLM: the session of the accepted AUTHENTICATE_MESSAGE.
    Ntlm(ntlm::Session),
}

impl Keys {
    fn scheme(&self) -> &'static str {
        match self {
            Keys::Dsk(_) => tlsdsk::SCHEME,
            Keys::Ntlm(_) => ntlm::SCHEME,
        }
    }

    /// The server's signature over `text`, sequence number `seq` (NTLM
    /// signs it into the signature, [MS-NLMP] 3.4.4.2).
    fn sign(&self, seq: u32, text: &str) -> String {
        match self {
            Keys::Dsk(k) => k.sign(Side::Server, text),
            Keys::Ntlm(s) => s
                .sign(ntlm::Direction::ServerToClient, seq, text.as_bytes())
                .map(|sig| ntlm::signature_to_hex(&sig))
                .unwrap_or_default(),
        }
    }

    /// Whether `hex` is the client's signature over `text`.
    fn verify(&self, seq: u32, text: &str, hex: &str) -> bool {
        match self {
            Keys::Dsk(k) => k.verify(Side::Client, text, hex),
            Keys::Ntlm(s) => ntlm::signature_from_hex(hex).is_some_and(|sig| {
                s.verify(ntlm::Direction::ClientToServer, seq, text.as_bytes(), &sig)
                    .is_ok()
            }),
        }
    }
}

/// An established security association.
#[derive(Debug)]
struct Sa {
    keys: Keys,
    /// What the tunnelled client certificate vouches for.
    identities: Vec<String>,
    expires_at: Instant,
    window: ReplayWindow,
    snum: u32,
    realm: String,
    targetname: String,
    version: u32,
}

/// What a tunnelled handshake leg produced.
#[derive(Debug)]
pub(super) enum Leg {
    /// More legs to come: send this challenge in a 401.
    Continue(AuthValue),
    /// The handshake finished: send this challenge (the server's last
    /// flight) in a 401; the client signs from its next request on.
    Done(AuthValue),
    /// The handshake failed (untrusted certificate, bad records, unknown
    /// opaque): the reason, and the challenge carrying any TLS alert.
    Failed(String, Option<AuthValue>),
}

/// What an NTLM leg produced.
#[derive(Debug)]
pub(super) enum NtlmLeg {
    /// The CHALLENGE_MESSAGE for an empty first token: send it in a 401.
    Challenge(AuthValue),
    /// The AUTHENTICATE_MESSAGE proved the password: the SA exists and
    /// signs the answer.
    Established(Authenticated),
    /// Unknown opaque, unknown user, wrong password, bad MIC: the reason.
    Failed(String),
    /// The password was right but for another user than the From URI's.
    WrongUser,
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No SA under this opaque, or its lifetime ended: re-authenticate.
    NoSa(&'static str),
    /// The `response` does not verify.
    BadSignature,
    /// The `cnum` was used before (or is older than the window).
    Replayed,
    /// The SA's certificate does not name the From user.
    WrongUser,
    /// The Authorization is not a readable TLS-DSK signed value.
    Malformed(String),
}

impl Refusal {
    /// The label counted in the mock's metrics.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Refusal::NoSa("expired") => "sa_expired",
            Refusal::NoSa(_) => "sa_unknown",
            Refusal::BadSignature => "bad_signature",
            Refusal::Replayed => "replayed_cnum",
            Refusal::WrongUser => "wrong_user",
            Refusal::Malformed(_) => "malformed_credentials",
        }
    }
}

/// An authenticated request: which SA signs the answer.
#[derive(Debug, Clone)]
pub(super) struct Authenticated {
    opaque: String,
}

/// Every TLS-DSK security association of one Front End.
pub struct DskServer {
    tls: Arc<rustls::ServerConfig>,
    sa_lifetime: Duration,
    pending: Mutex<HashMap<String, Pending>>,
    sas: Mutex<HashMap<String, Sa>>,
    established: std::sync::atomic::AtomicU64,
    /// NTLM challenges sent and not yet answered, by opaque.
    ntlm_pending: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    /// Fault: every `rspauth` is wrong.
    bad_rspauth: bool,
}

impl std::fmt::Debug for DskServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DskServer")
            .field("sa_lifetime", &self.sa_lifetime)
            .finish_non_exhaustive()
    }
}

fn random_hex8() -> String {
    format!("{:08X}", rand::rng().random::<u32>())
}

impl DskServer {
    /// A TLS-DSK server with the mock CA's server chain, TLS 1.2 only (as
    /// current Skype for Business servers run the tunnel) and a client
    /// certificate required and verified against the mock CA.
    pub fn new(ca: &MockCa, sa_lifetime: Duration) -> crate::Result<Self> {
        Ok(DskServer {
            tls: ca.tls_dsk_server_config()?,
            sa_lifetime,
            pending: Mutex::new(HashMap::new()),
            sas: Mutex::new(HashMap::new()),
            established: std::sync::atomic::AtomicU64::new(0),
            ntlm_pending: Mutex::new(HashMap::new()),
            bad_rspauth: false,
        })
    }

    /// Makes every answer's `rspauth` wrong (the `bad_rspauth` fault).
    pub fn with_bad_rspauth(mut self, on: bool) -> Self {
        self.bad_rspauth = on;
        self
    }

    /// Keeps a new SA, sweeping expired ones now and then.
    fn insert_sa(&self, opaque: &str, sa: Sa, now: Instant) {
        let n = self
            .established
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut sas) = self.sas.lock() {
            if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
                sas.retain(|_, s| s.expires_at > now);
            }
            sas.insert(opaque.to_owned(), sa);
        }
    }

    /// One connectionless NTLM leg ([MS-SIPAE] 3.3.5.1, [MS-NLMP] 3.1.5.1
    /// connectionless): `gssapi-data` empty and no opaque asks for a
    /// CHALLENGE_MESSAGE; with the opaque of that challenge it carries the
    /// AUTHENTICATE_MESSAGE, checked against the directory's password.
    pub(super) fn ntlm_leg(
        &self,
        creds: &AuthValue,
        realm: &str,
        targetname: &str,
        directory: &crate::directory::Directory,
        sip_domain: &str,
        from_user: &str,
    ) -> NtlmLeg {
        let now = clock::now();
        let token = match creds
            .gssapi_data()
            .map(|g| base64::engine::general_purpose::STANDARD.decode(g))
        {
            Some(Ok(t)) if t.len() <= MAX_TOKEN => t,
            Some(Ok(_)) => return NtlmLeg::Failed("oversized gssapi-data".into()),
            Some(Err(_)) => return NtlmLeg::Failed("gssapi-data is not base64".into()),
            None => return NtlmLeg::Failed("no gssapi-data".into()),
        };
        let opaque = creds.opaque().filter(|o| !o.is_empty());
        let Some(opaque) = opaque else {
            if !token.is_empty() {
                // 3.3.5.1: connectionless NTLM starts at the CHALLENGE; a
                // NEGOTIATE_MESSAGE is not expected.
                return NtlmLeg::Failed("first NTLM leg must carry no token".into());
            }
            let opaque = random_hex8();
            let domain = directory.ntlm_domain();
            let computer = targetname
                .split('.')
                .next()
                .unwrap_or(targetname)
                .to_ascii_uppercase();
            let mut info = AvPairs::default()
                .with_name(av_id::NB_DOMAIN_NAME, domain)
                .with_name(av_id::NB_COMPUTER_NAME, &computer)
                .with_name(av_id::DNS_DOMAIN_NAME, sip_domain)
                .with_name(av_id::DNS_COMPUTER_NAME, targetname);
            info.set(
                av_id::TIMESTAMP,
                ntlm::filetime(clock::wall()).to_le_bytes().to_vec(),
            );
            let message = ChallengeMessage {
                flags: ntlm::flags::SIPAE_CHALLENGE,
                target_name: domain.to_owned(),
                server_challenge: rand::rng().random(),
                target_info: info.to_bytes(),
                version: None,
            };
            let Ok(bytes) = message.to_bytes() else {
                return NtlmLeg::Failed("challenge could not be built".into());
            };
            if let Ok(mut p) = self.ntlm_pending.lock() {
                if p.len() >= MAX_PENDING {
                    p.retain(|_, (_, t)| now.duration_since(*t) < PENDING_TTL);
                }
                if p.len() < MAX_PENDING {
                    p.insert(opaque.clone(), (bytes.clone(), now));
                }
            }
            let challenge = AuthValue::new(ntlm::SCHEME)
                .with("opaque", opaque.as_str())
                .with(
                    "gssapi-data",
                    base64::engine::general_purpose::STANDARD.encode(&bytes),
                )
                .with("targetname", targetname)
                .with("realm", realm)
                .with("version", "4");
            return NtlmLeg::Challenge(challenge);
        };
        let pending = self
            .ntlm_pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(opaque));
        let Some((challenge, _)) = pending else {
            return NtlmLeg::Failed("no NTLM challenge outstanding for this opaque".into());
        };
        let mut found = None;
        let accepted = ntlm::accept(&challenge, &token, |user, domain| {
            let u = directory.by_ntlm(user, domain)?;
            let password = directory.password(u.index);
            found = Some(u);
            Some(password)
        });
        let (accepted, user) = match (accepted, found) {
            (Ok(a), Some(u)) => (a, u),
            (Err(e), _) => return NtlmLeg::Failed(e.to_string()),
            (Ok(_), None) => return NtlmLeg::Failed("unknown user".into()),
        };
        if !user.sip_address.eq_ignore_ascii_case(from_user) {
            return NtlmLeg::WrongUser;
        }
        let sa = Sa {
            keys: Keys::Ntlm(accepted.session),
            identities: vec![user.sip_address],
            expires_at: now + self.sa_lifetime,
            window: ReplayWindow::default(),
            snum: 0,
            realm: realm.to_owned(),
            targetname: targetname.to_owned(),
            version: 4,
        };
        self.insert_sa(opaque, sa, now);
        NtlmLeg::Established(Authenticated {
            opaque: opaque.to_owned(),
        })
    }

    /// Runs one handshake leg: `creds` carries the client's records in
    /// `gssapi-data`, and `opaque` after the first leg.
    pub(super) fn leg(&self, creds: &AuthValue, realm: &str, targetname: &str) -> Leg {
        let challenge = |opaque: &str, token: Vec<u8>| DskChallenge {
            realm: realm.to_owned(),
            targetname: targetname.to_owned(),
            version: 4,
            sts_uri: None,
            opaque: Some(opaque.to_owned()),
            token: Some(token),
        };
        let token = match DskChallenge::parse(creds).map(|c| c.token) {
            Ok(Some(t)) if !t.is_empty() && t.len() <= MAX_TOKEN => t,
            Ok(_) => return Leg::Failed("empty or oversized gssapi-data".into(), None),
            Err(e) => return Leg::Failed(e.to_string(), None),
        };
        let now = clock::now();
        let (opaque, mut pending) = match creds.opaque().filter(|o| !o.is_empty()) {
            Some(o) => {
                let found = self.pending.lock().ok().and_then(|mut p| p.remove(o));
                match found {
                    Some(p) => (o.to_owned(), p),
                    None => {
                        return Leg::Failed(
                            "no handshake in progress for this opaque".into(),
                            None,
                        );
                    }
                }
            }
            None => match ServerConnection::new(self.tls.clone()) {
                Ok(conn) => (random_hex8(), Pending { conn, started: now }),
                Err(e) => return Leg::Failed(format!("tls: {e}"), None),
            },
        };
        let conn = &mut pending.conn;
        let mut input = token.as_slice();
        let mut failure = None;
        while !input.is_empty() {
            match conn.read_tls(&mut input) {
                Ok(0) => break,
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        failure = Some(e.to_string());
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        let mut out = Vec::new();
        while conn.wants_write() {
            if conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        if let Some(why) = failure {
            // The alert rustls queued goes back so the client sees why.
            let alert = (!out.is_empty()).then(|| challenge(&opaque, out).to_value());
            return Leg::Failed(why, alert);
        }
        if conn.is_handshaking() {
            if let Ok(mut p) = self.pending.lock() {
                if p.len() >= MAX_PENDING {
                    p.retain(|_, v| now.duration_since(v.started) < PENDING_TTL);
                }
                if p.len() < MAX_PENDING {
                    p.insert(opaque.clone(), pending);
                }
            }
            return Leg::Continue(challenge(&opaque, out).to_value());
        }
        match self.establish(&pending.conn, realm, targetname, now) {
            Ok(sa) => {
                self.insert_sa(&opaque, sa, now);
                Leg::Done(challenge(&opaque, out).to_value())
            }
            Err(why) => Leg::Failed(why, None),
        }
    }

    /// The SA of a finished handshake: keys from the exporter, the
    /// certificate's names, the lifetime.
    fn establish(
        &self,
        conn: &ServerConnection,
        realm: &str,
        targetname: &str,
        now: Instant,
    ) -> Result<Sa, String> {
        let suite = conn
            .negotiated_cipher_suite()
            .ok_or("no cipher suite negotiated")?;
        let name = suite.suite().as_str().unwrap_or("");
        let mac = MacAlgorithm::for_suite_name(name)
            .ok_or_else(|| format!("no TLS-DSK MAC for cipher suite {name}"))?;
        let mut material = [0u8; tlsdsk::KEY_MATERIAL_LEN];
        conn.export_keying_material(&mut material, tlsdsk::EXPORTER_LABEL.as_bytes(), None)
            .map_err(|e| format!("exporter: {e}"))?;
        let keys = SessionKeys::from_key_material(&material, mac).map_err(|e| e.to_string())?;
        let cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no client certificate")?;
        let identities = super::certificate_identities(cert);
        // [MS-SIPAE] 3.2.2: the SA lives until the lesser of the
        // certificate's expiry and the configured cap (eight hours).
        let cert_left = x509_parser::parse_x509_certificate(cert)
            .ok()
            .map(|(_, c)| c.validity().not_after.timestamp())
            .and_then(|t| u64::try_from(t).ok())
            .map(|t| Duration::from_secs(t).saturating_sub(clock::wall()))
            .unwrap_or(Duration::ZERO);
        Ok(Sa {
            keys: Keys::Dsk(keys),
            identities,
            expires_at: now + self.sa_lifetime.min(cert_left),
            window: ReplayWindow::default(),
            snum: 0,
            realm: realm.to_owned(),
            targetname: targetname.to_owned(),
            version: 4,
        })
    }

    /// Checks a signed request ([MS-SIPAE] 3.3.5.2): the SA exists and is
    /// alive, the signature verifies, the cnum is new, and the certificate
    /// names `user` (a SIP address without `sip:`).
    pub(super) fn check(
        &self,
        req: &Message,
        creds: &AuthValue,
        user: &str,
    ) -> Result<Authenticated, Refusal> {
        let signed = Signed::from_credentials_of(&creds.scheme, creds)
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let cnum = signed
            .number()
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let now = clock::now();
        let mut sas = self.sas.lock().map_err(|_| Refusal::NoSa("unknown"))?;
        let Some(sa) = sas.get_mut(&signed.opaque) else {
            return Err(Refusal::NoSa("unknown"));
        };
        if !sa.keys.scheme().eq_ignore_ascii_case(&creds.scheme) {
            return Err(Refusal::NoSa("unknown"));
        }
        if sa.expires_at <= now {
            sas.remove(&signed.opaque);
            return Err(Refusal::NoSa("expired"));
        }
        let text = signature_string(
            req,
            &SignParams {
                scheme: sa.keys.scheme(),
                rand: &signed.rand,
                num: &signed.num,
                realm: &sa.realm,
                targetname: &sa.targetname,
                version: sa.version,
            },
        )
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
        if !sa.keys.verify(cnum, &text, &signed.signature) {
            return Err(Refusal::BadSignature);
        }
        if sa.window.accept(cnum).is_err() {
            return Err(Refusal::Replayed);
        }
        if !sa.identities.iter().any(|i| i.eq_ignore_ascii_case(user)) {
            return Err(Refusal::WrongUser);
        }
        Ok(Authenticated {
            opaque: signed.opaque,
        })
    }

    /// Signs an answer to an authenticated request: `Authentication-Info`
    /// with a fresh `srand`, the next `snum` and `rspauth`.
    pub(super) fn sign(&self, auth: &Authenticated, answer: &mut Message) {
        let Ok(mut sas) = self.sas.lock() else {
            return;
        };
        let Some(sa) = sas.get_mut(&auth.opaque) else {
            return;
        };
        sa.snum = sa.snum.wrapping_add(1);
        let srand = random_hex8();
        let snum = sa.snum.to_string();
        let scheme = sa.keys.scheme();
        let Ok(text) = signature_string(
            answer,
            &SignParams {
                scheme,
                rand: &srand,
                num: &snum,
                realm: &sa.realm,
                targetname: &sa.targetname,
                version: sa.version,
            },
        ) else {
            return;
        };
        let mut signature = sa.keys.sign(sa.snum, &text);
        if self.bad_rspauth {
            // Still hex of the right length, no longer the signature.
            let first = if signature.starts_with('0') { "1" } else { "0" };
            signature.replace_range(..1, first);
        }
        let info = Signed {
            opaque: auth.opaque.clone(),
            realm: sa.realm.clone(),
            targetname: sa.targetname.clone(),
            rand: srand,
            num: snum,
            signature,
            version: Some(sa.version),
        };
        let _ = answer.push_header("Authentication-Info", &info.to_info_of(scheme).to_string());
    }

    /// Security associations held (live or not yet swept).
    pub fn associations(&self) -> usize {
        self.sas.lock().map_or(0, |s| s.len())
    }
}
