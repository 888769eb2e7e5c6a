//! How a phone authenticates its REGISTERs: the schemes it can run, the
//! security association (SA) each yields, and the signing of every later
//! request and the check of every answer.
//!
//! Three schemes run:
//! - [MS-SIPAE] TLS-DSK: a TLS 1.2 handshake, rustls' `ClientConnection`
//!   driven over in-memory buffers, the records carried base64 in
//!   `gssapi-data` across REGISTER / 401 legs; the session keys come from
//!   rustls' RFC 5705 exporter.
//! - [MS-SIPAE] NTLM: connectionless NTLMv2 (an empty first token, the
//!   server's CHALLENGE_MESSAGE, the AUTHENTICATE_MESSAGE), with the user
//!   name, domain and password of the user directory.
//! - RFC 3261 section 22.4 Digest, for standard registrars.
//!
//! TLS-DSK and NTLM yield the same kind of SA (`SignedSa`): every later
//! request signed over the [MS-SIPAE] signature string and every answer's
//! `rspauth` checked; only the keys differ. A Digest "SA" is the last
//! challenge, answered again on each request with the next `nc`. The
//! header values, NTLM messages and keys, HMAC and signature string are
//! `phonestorm_proto`'s.
//!
//! This module owns no socket: `sip.rs` sends what it builds.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use phonestorm_proto::ntlm;
use phonestorm_proto::sip::digest::{self, DigestChallenge};
use phonestorm_proto::sip::signing::{SignParams, signature_string};
use phonestorm_proto::sip::tlsdsk::{
    self, DskChallenge, MacAlgorithm, ReplayWindow, SessionKeys, Side, Signed,
};
use phonestorm_proto::sip::{AuthValue, Challenge, Credentials, Message, authentication_info};
use rand::RngExt;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::time::Instant;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::{Failure, FailureKind, clock, net};

/// How a phone authenticates its REGISTER (`stages.register.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Choose from what the 401 offers: TLS-DSK when the phone holds a
    /// certificate. A 200 without any challenge is taken as it comes. As
    /// on a Lync phone, the certificate is not shown on the SIP connection
    /// itself (a registrar that wants it there needs `Certificate`).
    #[default]
    Auto,
    /// [MS-SIPAE] TLS-DSK only.
    TlsDsk,
    /// The TLS client certificate of the SIP connection only: expect 200
    /// without a challenge (a standard registrar checking client
    /// certificates, such as Kamailio); a 401 is a failure.
    Certificate,
    /// [MS-SIPAE] NTLM only, with the user's name, domain and password;
    /// the phone skips the PIN web ticket and certificate stages, as a
    /// CX700 does.
    Ntlm,
    /// RFC 3261 Digest only, with the user's name and password (any
    /// standard registrar).
    Digest,
}

impl AuthMode {
    /// Whether a phone of `model` in this mode signs in with NTLM instead
    /// of a web ticket and a certificate (PROTOCOL.md stage 7: the CX700
    /// "Tanjay" uses NTLM; "auto" follows the model).
    pub fn uses_ntlm(self, model: crate::Model) -> bool {
        match self {
            AuthMode::Ntlm => true,
            AuthMode::Auto => model.is_tanjay(),
            AuthMode::TlsDsk | AuthMode::Certificate | AuthMode::Digest => false,
        }
    }
}

/// Deliberate mistakes, to check that a registrar refuses them (TLS-DSK
/// and NTLM alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DskFault {
    /// Every `response` is corrupted (one hex digit changed).
    TamperSignature,
    /// Every signed request after the first reuses `cnum` 1.
    ReplayCnum,
}

/// Authentication settings of all phones of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// Which scheme to run.
    pub mode: AuthMode,
    /// Longest life of a TLS-DSK SA before the phone runs the handshake
    /// again (default 8 h, [MS-SIPAE] 3.2.2); the certificate's expiry
    /// shortens it, and five minutes are taken off either way.
    pub sa_lifetime: Duration,
    /// A deliberate signing mistake (default none).
    pub fault: Option<DskFault>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::Auto,
            sa_lifetime: Duration::from_secs(8 * 3600),
            fault: None,
        }
    }
}

/// Taken off an SA's life so the phone renews before the server drops it
/// (the "minus 5 minutes").
const SA_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The schemes a phone can run, in its order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// [MS-SIPAE] TLS-DSK.
    TlsDsk,
    /// [MS-SIPAE] NTLM.
    Ntlm,
    /// RFC 3261 Digest.
    Digest,
}

impl Scheme {
    /// The scheme token of its headers.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Scheme::TlsDsk => tlsdsk::SCHEME,
            Scheme::Ntlm => ntlm::SCHEME,
            Scheme::Digest => "Digest",
        }
    }

    /// The schemes a phone of `model` tries, in order, in `mode`:
    /// - auto: NTLM for the CX700; else TLS-DSK with a certificate, then
    ///   NTLM and Digest with a password (whichever the 401 offers first);
    /// - a named mode: that scheme alone.
    pub(crate) fn preference(
        mode: AuthMode,
        model: crate::Model,
        has_cert: bool,
        has_password: bool,
    ) -> Vec<Scheme> {
        match mode {
            AuthMode::Certificate => Vec::new(),
            AuthMode::TlsDsk => vec![Scheme::TlsDsk],
            AuthMode::Ntlm => vec![Scheme::Ntlm],
            AuthMode::Digest => vec![Scheme::Digest],
            AuthMode::Auto if model.is_tanjay() => vec![Scheme::Ntlm],
            AuthMode::Auto => {
                let mut v = Vec::with_capacity(3);
                if has_cert {
                    v.push(Scheme::TlsDsk);
                }
                if has_password {
                    v.extend([Scheme::Ntlm, Scheme::Digest]);
                }
                v
            }
        }
    }
}

/// An established security association: one signer per scheme.
#[derive(Debug)]
pub(crate) enum Sa {
    /// TLS-DSK or NTLM: every message signed.
    Signed(SignedSa),
    /// Digest: the challenge answered anew on each request.
    Digest(DigestSa),
}

impl Sa {
    /// Whether the SA's life is over (a new handshake is due).
    pub(crate) fn expired(&self, now: Instant) -> bool {
        match self {
            Sa::Signed(sa) => now >= sa.expires_at,
            // The registrar says when a nonce is stale.
            Sa::Digest(_) => false,
        }
    }

    /// Adds the signed `Authorization` to `m` ([MS-SIPAE] 3.2.5.1: every
    /// request after the SA is established is signed; RFC 3261 22.4: a
    /// Digest client answers the last challenge on every request).
    pub(crate) fn sign(&mut self, m: &mut Message) -> Result<(), Failure> {
        match self {
            Sa::Signed(sa) => sa.sign(m),
            Sa::Digest(sa) => sa.sign(m),
        }
    }

    /// Checks the signature of an answer ([MS-SIPAE] 3.2.5.2). A final
    /// success must be signed; any answer that carries a signature must
    /// carry a good one. Digest answers are not signed by the registrars
    /// this project meets (RFC 2617 `rspauth` is optional).
    pub(crate) fn check(&mut self, m: &Message) -> Result<(), Failure> {
        match self {
            Sa::Signed(sa) => sa.check(m),
            Sa::Digest(_) => Ok(()),
        }
    }
}

/// The keys of a signing SA, by scheme.
#[derive(Clone)]
pub(crate) enum SaKeys {
    /// TLS-DSK: HMAC keys from the tunnel's exporter.
    Dsk(SessionKeys),
    /// NTLM: the client's session after its AUTHENTICATE_MESSAGE.
    Ntlm(ntlm::Session),
}

impl SaKeys {
    fn scheme(&self) -> &'static str {
        match self {
            SaKeys::Dsk(_) => tlsdsk::SCHEME,
            SaKeys::Ntlm(_) => ntlm::SCHEME,
        }
    }

    /// The client's signature over `text` with sequence number `seq`
    /// (NTLM signs it in: [MS-NLMP] 3.4.4.2 with the `cnum`).
    fn sign(&self, seq: u32, text: &str) -> Result<String, Failure> {
        match self {
            SaKeys::Dsk(k) => Ok(k.sign(Side::Client, text)),
            SaKeys::Ntlm(s) => s
                .sign(ntlm::Direction::ClientToServer, seq, text.as_bytes())
                .map(|sig| ntlm::signature_to_hex(&sig))
                .map_err(|e| auth_failure(format!("ntlm signing: {e}"))),
        }
    }

    /// Whether `hex` is the server's signature over `text`, `seq` its snum.
    fn verify(&self, seq: u32, text: &str, hex: &str) -> bool {
        match self {
            SaKeys::Dsk(k) => k.verify(Side::Server, text, hex),
            SaKeys::Ntlm(s) => ntlm::signature_from_hex(hex).is_some_and(|sig| {
                s.verify(ntlm::Direction::ServerToClient, seq, text.as_bytes(), &sig)
                    .is_ok()
            }),
        }
    }
}

/// A TLS-DSK or NTLM SA.
pub(crate) struct SignedSa {
    keys: SaKeys,
    opaque: Box<str>,
    realm: Box<str>,
    targetname: Box<str>,
    version: u32,
    cnum: u32,
    snums: ReplayWindow,
    expires_at: Instant,
    fault: Option<DskFault>,
}

impl std::fmt::Debug for SignedSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedSa")
            .field("scheme", &self.keys.scheme())
            .field("opaque", &self.opaque)
            .field("cnum", &self.cnum)
            .finish_non_exhaustive()
    }
}

fn auth_failure(detail: impl Into<String>) -> Failure {
    Failure::new(FailureKind::AuthRejected, detail)
}

fn rspauth_failure(detail: impl Into<String>) -> Failure {
    Failure::new(FailureKind::BadRspauth, detail)
}

impl SignedSa {
    fn params<'a>(&'a self, rand: &'a str, num: &'a str) -> SignParams<'a> {
        SignParams {
            scheme: self.keys.scheme(),
            rand,
            num,
            realm: &self.realm,
            targetname: &self.targetname,
            version: self.version,
        }
    }

    fn sign(&mut self, m: &mut Message) -> Result<(), Failure> {
        self.cnum = match (self.fault, self.cnum) {
            (Some(DskFault::ReplayCnum), n) if n >= 1 => 1,
            (_, n) => n.wrapping_add(1).max(1),
        };
        let crand = format!("{:08x}", rand::rng().random::<u32>());
        let num = self.cnum.to_string();
        let text = signature_string(m, &self.params(&crand, &num))
            .map_err(|e| Failure::new(FailureKind::Other, format!("signing: {e}")))?;
        let mut signature = self.keys.sign(self.cnum, &text)?;
        if self.fault == Some(DskFault::TamperSignature) {
            // Change the first digit: still hex, no longer the signature.
            let first = if signature.starts_with('0') { "1" } else { "0" };
            signature.replace_range(..1, first);
        }
        let creds = Signed {
            opaque: self.opaque.to_string(),
            realm: self.realm.to_string(),
            targetname: self.targetname.to_string(),
            rand: crand,
            num,
            signature,
            version: None,
        }
        .to_credentials_of(self.keys.scheme());
        m.push_header("Authorization", &creds.to_string())
            .map_err(|e| Failure::new(FailureKind::Other, format!("signing: {e}")))
    }

    fn check(&mut self, m: &Message) -> Result<(), Failure> {
        let info = authentication_info(m)
            .map_err(|e| rspauth_failure(format!("Authentication-Info: {e}")))?;
        let scheme = self.keys.scheme();
        let Some(info) = info.filter(|i| i.is_scheme(scheme)) else {
            return if m.status().is_some_and(|s| (200..300).contains(&s)) {
                Err(rspauth_failure("success answer is not signed"))
            } else {
                // Refusals of a pool are not always signed; the status
                // and ms-diagnostics say what happened.
                Ok(())
            };
        };
        let signed = Signed::from_info_of(scheme, &info)
            .map_err(|e| rspauth_failure(format!("Authentication-Info: {e}")))?;
        if signed.opaque != *self.opaque
            || signed.realm != *self.realm
            || signed.targetname != *self.targetname
        {
            return Err(rspauth_failure("Authentication-Info names another SA"));
        }
        let text = signature_string(m, &self.params(&signed.rand, &signed.num))
            .map_err(|e| rspauth_failure(format!("answer cannot be checked: {e}")))?;
        let snum = signed
            .number()
            .map_err(|e| rspauth_failure(e.to_string()))?;
        if !self.keys.verify(snum, &text, &signed.signature) {
            return Err(rspauth_failure("rspauth does not verify"));
        }
        self.snums
            .accept(snum)
            .map_err(|_| rspauth_failure(format!("snum {snum} already seen")))
    }
}

/// What the TLS configuration of the tunnelled handshake is made of: the
/// root chain's tunnel configuration ([`tunnel_template`]) and the user
/// certificate as client certificate.
#[derive(Clone)]
pub(crate) struct TunnelParts {
    /// The chain's configuration, shared by its phones (`Trust::tunnel`).
    pub(crate) template: Arc<ClientConfig>,
    /// The phone's certificate and key, shared with its SIP connection's
    /// configuration.
    pub(crate) client: Arc<rustls::sign::SingleCertAndKey>,
}

impl TunnelParts {
    /// A configuration for one tunnel handshake: the template with the
    /// phone's certificate.
    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        let mut config = (*self.template).clone();
        config.client_auth_cert_resolver = self.client.clone();
        Arc::new(config)
    }
}

/// The tunnel's configuration for one root chain: TLS 1.2 only (as current
/// Skype for Business servers run TLS-DSK), `roots` to verify the
/// registrar, no resumption (each tunnel is one handshake), and no client
/// certificate until [`TunnelParts::config`] puts the phone's in.
pub(crate) fn tunnel_template(
    provider: Arc<rustls::crypto::CryptoProvider>,
    roots: Arc<RootCertStore>,
) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(TUNNEL_VERSIONS)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// What the phone checks of the certificate `GetAndPublishCert` issued
/// before it signs in with it: that it is X.509 (RFC 5280 section 4.1),
/// that it is for the key whose CSR asked for it (the same
/// subjectPublicKey, RFC 5280 section 4.1.2.7), and that it has not
/// expired at `now` (time since the Unix epoch). Returns its notAfter on
/// the same scale, which bounds every TLS-DSK SA made with it.
///
/// A server that answers with something else fails the certificate stage,
/// where the fault is, instead of the registrar's handshake later.
pub(crate) fn check_issued(
    cert: &[u8],
    key: &dyn rustls::sign::SigningKey,
    now: Duration,
) -> Result<Duration, Failure> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).map_err(|e| {
        Failure::new(
            FailureKind::Parse,
            format!("GetAndPublishCert: the certificate is not X.509: {e}"),
        )
    })?;
    // rustls gives the key's SubjectPublicKeyInfo as it would encode it:
    // compare the keys themselves, so that a CA's other (valid) encoding of
    // the algorithm's parameters is no mismatch. A key rustls cannot
    // describe (none of the phones' kinds) is left to the registrar.
    if let Some(spki) = key.public_key()
        && let Ok((_, ours)) = SubjectPublicKeyInfo::from_der(spki.as_ref())
        && ours.subject_public_key.data != parsed.public_key().subject_public_key.data
    {
        return Err(Failure::new(
            FailureKind::Tls,
            "GetAndPublishCert: the certificate is for another key than the CSR's",
        ));
    }
    let not_after = parsed.validity().not_after.timestamp();
    let expires = Duration::from_secs(u64::try_from(not_after).unwrap_or(0));
    if expires <= now {
        return Err(Failure::new(
            FailureKind::Tls,
            format!(
                "GetAndPublishCert: the certificate expired at {}",
                parsed.validity().not_after
            ),
        ));
    }
    Ok(expires)
}

/// The life of a new TLS-DSK SA made at `now`: `max`, or less when the
/// certificate expires at `cert_expires` sooner (both since the Unix
/// epoch). Read at every handshake, not once a registration, so that the
/// SA after an 8-hour one does not outlive the certificate.
pub(crate) fn sa_life(max: Duration, cert_expires: Duration, now: Duration) -> Duration {
    max.min(cert_expires.saturating_sub(now))
}

/// The TLS-DSK tunnel runs TLS 1.2, as Skype for Business servers run it.
const TUNNEL_VERSIONS: net::Versions = &[&rustls::version::TLS12];

/// Bytes of TLS records read from one `gssapi-data` at most.
const MAX_TOKEN: usize = 64 * 1024;

/// A TLS-DSK handshake in progress.
pub(crate) struct DskHandshake {
    conn: ClientConnection,
    /// What the handshake offers, for the detail of a failure.
    config: Arc<ClientConfig>,
    realm: String,
    targetname: String,
    version: u32,
    opaque: Option<String>,
}

impl DskHandshake {
    /// Starts the handshake the challenge asks for: the ClientHello is the
    /// first token.
    pub(crate) fn start(
        config: Arc<ClientConfig>,
        ch: &DskChallenge,
    ) -> Result<(Self, Vec<u8>), Failure> {
        let name = ServerName::try_from(ch.targetname.clone())
            .map_err(|e| auth_failure(format!("tls-dsk targetname: {e}")))?;
        let conn = ClientConnection::new(config.clone(), name)
            .map_err(|e| Failure::new(FailureKind::Tls, format!("tls-dsk: {e}")))?;
        let mut hs = DskHandshake {
            conn,
            config,
            realm: ch.realm.clone(),
            targetname: ch.targetname.clone(),
            version: ch.version,
            opaque: None,
        };
        let token = hs.output()?;
        Ok((hs, token))
    }

    fn output(&mut self) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn
                .write_tls(&mut out)
                .map_err(|e| Failure::new(FailureKind::Tls, format!("tls-dsk: {e}")))?;
        }
        Ok(out)
    }

    /// The `Authorization` of the next leg carrying `token`.
    pub(crate) fn credentials(&self, token: &[u8]) -> Credentials {
        tlsdsk::handshake_credentials(
            &self.realm,
            &self.targetname,
            self.version,
            self.opaque.as_deref(),
            token,
        )
    }

    /// Feeds the server's leg; the next token, or `None` once the
    /// handshake is complete.
    pub(crate) fn step(&mut self, ch: &DskChallenge) -> Result<Option<Vec<u8>>, Failure> {
        match (&self.opaque, &ch.opaque) {
            (_, None) => return Err(auth_failure("tls-dsk leg without opaque")),
            (Some(mine), Some(theirs)) if mine != theirs => {
                return Err(auth_failure("tls-dsk opaque changed mid-handshake"));
            }
            _ => self.opaque.clone_from(&ch.opaque),
        }
        let Some(token) = ch.token.as_deref().filter(|t| t.len() <= MAX_TOKEN) else {
            return Err(auth_failure("tls-dsk leg without usable gssapi-data"));
        };
        let mut input = token;
        while !input.is_empty() {
            let n = self
                .conn
                .read_tls(&mut input)
                .map_err(|e| Failure::new(FailureKind::Tls, format!("tls-dsk: {e}")))?;
            self.conn.process_new_packets().map_err(|e| {
                net::tls_failure(
                    "tls-dsk",
                    &e,
                    self.config.crypto_provider(),
                    TUNNEL_VERSIONS,
                )
            })?;
            if n == 0 {
                break;
            }
        }
        let out = self.output()?;
        if self.conn.is_handshaking() || !out.is_empty() {
            if out.is_empty() {
                return Err(auth_failure("tls-dsk handshake stalled"));
            }
            return Ok(Some(out));
        }
        Ok(None)
    }

    /// The SA of the finished handshake: keys from the exporter at the
    /// [MS-SIPAE] offsets, the suite's HMAC, the lifetime `life`.
    pub(crate) fn finish(
        self,
        life: Duration,
        fault: Option<DskFault>,
    ) -> Result<SignedSa, Failure> {
        let suite = self
            .conn
            .negotiated_cipher_suite()
            .ok_or_else(|| auth_failure("tls-dsk: no cipher suite"))?;
        let name = suite.suite().as_str().unwrap_or("");
        let mac = MacAlgorithm::for_suite_name(name)
            .ok_or_else(|| auth_failure(format!("tls-dsk: no MAC for suite {name}")))?;
        let mut material = [0u8; tlsdsk::KEY_MATERIAL_LEN];
        self.conn
            .export_keying_material(&mut material, tlsdsk::EXPORTER_LABEL.as_bytes(), None)
            .map_err(|e| Failure::new(FailureKind::Tls, format!("tls-dsk exporter: {e}")))?;
        let keys = SessionKeys::from_key_material(&material, mac)
            .map_err(|e| auth_failure(e.to_string()))?;
        Ok(SignedSa {
            keys: SaKeys::Dsk(keys),
            opaque: self.opaque.unwrap_or_default().into(),
            realm: self.realm.into(),
            targetname: self.targetname.into(),
            version: self.version,
            cnum: 0,
            snums: ReplayWindow::default(),
            expires_at: clock::now() + life.saturating_sub(SA_MARGIN),
            fault,
        })
    }
}

/// What NTLM needs from a 401's `NTLM` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NtlmChallenge {
    realm: String,
    targetname: String,
    version: u32,
}

impl NtlmChallenge {
    /// Reads the realm, targetname and version of an `NTLM` challenge.
    pub(crate) fn parse(c: &Challenge) -> Result<Self, Failure> {
        let need = |v: Option<&str>, what: &str| {
            v.map(str::to_owned)
                .ok_or_else(|| auth_failure(format!("ntlm 401 without {what}")))
        };
        Ok(NtlmChallenge {
            realm: need(c.realm(), "realm")?,
            targetname: need(c.targetname(), "targetname")?,
            version: c.version().unwrap_or(3),
        })
    }

    /// An NTLM leg's `Authorization: NTLM qop="auth", [opaque,] realm,
    /// targetname, gssapi-data, version` ([MS-SIPAE] 3.2.5.1; the first
    /// leg of the connectionless form carries an empty `gssapi-data`, as
    /// the 4.1 example's client does because datagram NTLM makes no
    /// NEGOTIATE_MESSAGE).
    pub(crate) fn credentials(&self, opaque: Option<&str>, token: &[u8]) -> Credentials {
        let mut v = AuthValue::new(ntlm::SCHEME).with("qop", tlsdsk::QOP);
        if let Some(o) = opaque {
            v = v.with("opaque", o);
        }
        v.with("realm", self.realm.as_str())
            .with("targetname", self.targetname.as_str())
            .with(
                "gssapi-data",
                base64::engine::general_purpose::STANDARD.encode(token),
            )
            .with("version", self.version.to_string())
    }

    /// Answers the server's CHALLENGE_MESSAGE leg (`gssapi-data` and
    /// `opaque` of a 401) for `creds`: the AUTHENTICATE_MESSAGE leg to
    /// send, and the SA it establishes (lifetime `life`).
    pub(crate) fn answer(
        &self,
        leg: &Challenge,
        creds: &ntlm::Credentials,
        life: Duration,
        fault: Option<DskFault>,
    ) -> Result<(Credentials, SignedSa), Failure> {
        let opaque = leg
            .opaque()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| auth_failure("ntlm 401 without opaque"))?;
        let token = leg
            .gssapi_data()
            .filter(|g| !g.is_empty() && g.len() <= MAX_TOKEN)
            .and_then(|g| base64::engine::general_purpose::STANDARD.decode(g).ok())
            .ok_or_else(|| auth_failure("ntlm 401 without a usable CHALLENGE_MESSAGE"))?;
        let mut rng = rand::rng();
        let random = ntlm::ClientRandom {
            client_challenge: rng.random(),
            random_session_key: rng.random(),
            filetime: ntlm::filetime(clock::wall()),
        };
        let answer = ntlm::respond(&token, creds, &random)
            .map_err(|e| auth_failure(format!("ntlm: {e}")))?;
        let sa = SignedSa {
            keys: SaKeys::Ntlm(answer.session),
            opaque: opaque.into(),
            realm: self.realm.as_str().into(),
            targetname: self.targetname.as_str().into(),
            version: self.version,
            cnum: 0,
            snums: ReplayWindow::default(),
            expires_at: clock::now() + life.saturating_sub(SA_MARGIN),
            fault,
        };
        Ok((self.credentials(Some(opaque), &answer.authenticate), sa))
    }
}

/// A Digest "SA": the challenge and the count of requests made under it.
pub(crate) struct DigestSa {
    challenge: DigestChallenge,
    username: Box<str>,
    password: Box<str>,
    nc: u32,
    /// Whether the challenge came in a 407 (`Proxy-Authorization`).
    proxy: bool,
}

impl std::fmt::Debug for DigestSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of logs.
        f.debug_struct("DigestSa")
            .field("username", &self.username)
            .field("nc", &self.nc)
            .finish_non_exhaustive()
    }
}

impl DigestSa {
    /// Takes a `Digest` challenge for `username` / `password`.
    pub(crate) fn new(
        c: &Challenge,
        username: &str,
        password: &str,
        proxy: bool,
    ) -> Result<Self, Failure> {
        let challenge =
            DigestChallenge::from_auth(c).map_err(|e| auth_failure(format!("digest 401: {e}")))?;
        Ok(DigestSa {
            challenge,
            username: username.into(),
            password: password.into(),
            nc: 0,
            proxy,
        })
    }

    /// Whether the challenge said the last nonce was merely stale.
    pub(crate) fn stale(&self) -> bool {
        self.challenge.stale
    }

    /// Adds `Authorization` (or `Proxy-Authorization`) answering the
    /// challenge for `m`, with the next `nc` and a fresh `cnonce`.
    fn sign(&mut self, m: &mut Message) -> Result<(), Failure> {
        self.nc = self.nc.wrapping_add(1).max(1);
        let cnonce = format!("{:016x}", rand::rng().random::<u64>());
        let method = m.method().unwrap_or("REGISTER").to_owned();
        let uri = m.request_uri().unwrap_or("").to_owned();
        let v = digest::authorization(
            &self.challenge,
            &self.username,
            &self.password,
            &method,
            &uri,
            &cnonce,
            self.nc,
        )
        .map_err(|e| auth_failure(format!("digest: {e}")))?;
        let name = if self.proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        m.push_header(name, &v.to_string())
            .map_err(|e| Failure::new(FailureKind::Other, format!("digest: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonestorm_proto::sip::parse;

    fn new_sa(keys: SessionKeys) -> SignedSa {
        SignedSa {
            keys: SaKeys::Dsk(keys),
            opaque: "F755045D".into(),
            realm: "SIP Communications Service".into(),
            targetname: "fe01.contoso.com".into(),
            version: 4,
            cnum: 0,
            snums: ReplayWindow::default(),
            expires_at: clock::now() + Duration::from_secs(60),
            fault: None,
        }
    }

    fn answer(status: &str, info: Option<&str>) -> Message {
        let mut text = format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1\r\n\
             From: <sip:user1@contoso.com>;tag=8c3a1f02e4;epid=01\r\n\
             To: <sip:user1@contoso.com>;tag=ABC\r\nCall-ID: c1\r\nCSeq: 4 REGISTER\r\n\
             Expires: 600\r\n"
        );
        if let Some(i) = info {
            text.push_str(&format!("Authentication-Info: {i}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        parse(text.as_bytes()).unwrap()
    }

    /// The Authentication-Info a registrar holding `keys` puts on `m`.
    fn server_info(keys: &SessionKeys, m: &Message, snum: u32) -> String {
        let num = snum.to_string();
        let text = signature_string(
            m,
            &SignParams {
                scheme: "TLS-DSK",
                rand: "1D9666D9",
                num: &num,
                realm: "SIP Communications Service",
                targetname: "fe01.contoso.com",
                version: 4,
            },
        )
        .unwrap();
        Signed {
            opaque: "F755045D".into(),
            realm: "SIP Communications Service".into(),
            targetname: "fe01.contoso.com".into(),
            rand: "1D9666D9".into(),
            num,
            signature: keys.sign(Side::Server, &text),
            version: Some(4),
        }
        .to_info()
        .to_string()
    }

    #[tokio::test]
    async fn ms_sipae_3_2_5_2_rspauth_is_checked_on_every_answer() {
        // [MS-SIPAE] 3.2.5.2: the client verifies the server's signature
        // over the answer; a bad one, a replayed snum or a success without
        // any signature is a failure, not an answer.
        let material: Vec<u8> = (0u8..128).map(|b| b.wrapping_mul(7)).collect();
        let keys = SessionKeys::from_key_material(&material, MacAlgorithm::HmacSha1).unwrap();
        let mut sa = new_sa(keys.clone());
        let unsigned = answer("200 OK", None);
        let good = answer("200 OK", Some(&server_info(&keys, &unsigned, 1)));
        assert_eq!(sa.check(&good), Ok(()));
        // The same snum again.
        let f = sa.check(&good).unwrap_err();
        assert_eq!(f.kind, FailureKind::BadRspauth);
        assert!(f.detail.contains("snum"), "{f:?}");
        // Signed over a different answer (the status code differs).
        let other = answer("202 Accepted", None);
        let moved = answer("200 OK", Some(&server_info(&keys, &other, 2)));
        assert_eq!(sa.check(&moved).unwrap_err().kind, FailureKind::BadRspauth);
        // Signed with the client's key instead of the server's.
        // (material rotated by 32 bytes: its server key is the real client key)
        let shifted: Vec<u8> = material[96..]
            .iter()
            .chain(&material[..96])
            .copied()
            .collect();
        let wrong = SessionKeys::from_key_material(&shifted, MacAlgorithm::HmacSha1).unwrap();
        assert_eq!(wrong.key(Side::Server), keys.key(Side::Client));
        let forged = answer("200 OK", Some(&server_info(&wrong, &unsigned, 3)));
        assert_eq!(sa.check(&forged).unwrap_err().kind, FailureKind::BadRspauth);
        // A success without a signature; a refusal without one is left to
        // its status and ms-diagnostics.
        assert_eq!(
            sa.check(&unsigned).unwrap_err().kind,
            FailureKind::BadRspauth
        );
        assert_eq!(sa.check(&answer("403 Forbidden", None)), Ok(()));
    }

    #[tokio::test]
    async fn ms_sipae_3_2_5_1_requests_are_signed_with_rising_cnum() {
        // Each signed request carries crand, the next cnum and a response
        // the server key cannot make.
        let material: Vec<u8> = (0u8..128).collect();
        let keys = SessionKeys::from_key_material(&material, MacAlgorithm::HmacSha256).unwrap();
        let mut sa = new_sa(keys.clone());
        let mut cnums = Vec::new();
        for _ in 0..3 {
            let mut m = answer("200 OK", None);
            sa.sign(&mut m).unwrap();
            let creds = phonestorm_proto::sip::AuthValue::parse(m.header("Authorization").unwrap())
                .unwrap();
            let s = Signed::from_credentials(&creds).unwrap();
            let text = signature_string(
                &m,
                &SignParams {
                    scheme: "TLS-DSK",
                    rand: &s.rand,
                    num: &s.num,
                    realm: &s.realm,
                    targetname: &s.targetname,
                    version: 4,
                },
            )
            .unwrap();
            assert!(keys.verify(Side::Client, &text, &s.signature));
            assert!(!keys.verify(Side::Server, &text, &s.signature));
            cnums.push(s.number().unwrap());
        }
        assert_eq!(cnums, [1, 2, 3]);
        // The replay fault keeps cnum at 1.
        let mut replaying = new_sa(keys);
        replaying.fault = Some(DskFault::ReplayCnum);
        for _ in 0..2 {
            let mut m = answer("200 OK", None);
            replaying.sign(&mut m).unwrap();
            assert!(m.header("Authorization").unwrap().contains("cnum=\"1\""));
        }
    }

    /// A key as the pool gives it: for rcgen (to sign with) and rustls.
    fn key() -> (rcgen::KeyPair, Arc<dyn rustls::sign::SigningKey>) {
        let pair = rcgen::KeyPair::generate().unwrap();
        let der = rustls_pki_types::PrivateKeyDer::Pkcs8(pair.serialize_der().into());
        let tls = rustls::crypto::aws_lc_rs::default_provider()
            .key_provider
            .load_private_key(der)
            .unwrap();
        (pair, tls)
    }

    /// A certificate for `subject`'s key, expiring at the start of 2031.
    fn issued(subject: &rcgen::KeyPair) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2031, 1, 1);
        params.self_signed(subject).unwrap().der().to_vec()
    }

    /// 2031-01-01T00:00:00Z.
    const EXPIRY: Duration = Duration::from_secs(1_924_992_000);

    #[test]
    fn issued_certificate_for_the_csr_key_gives_its_expiry() {
        let (pair, tls) = key();
        let now = EXPIRY - Duration::from_secs(86_400);
        assert_eq!(
            check_issued(&issued(&pair), tls.as_ref(), now).unwrap(),
            EXPIRY
        );
    }

    #[test]
    fn issued_certificate_for_another_key_is_refused() {
        let (pair, _) = key();
        let (_, other) = key();
        let f = check_issued(&issued(&pair), other.as_ref(), Duration::ZERO).unwrap_err();
        assert_eq!(f.kind, FailureKind::Tls);
        assert!(f.detail.contains("another key"), "{f}");
    }

    #[test]
    fn issued_certificate_that_is_not_x509_or_expired_is_refused() {
        let (pair, tls) = key();
        let mut cert = issued(&pair);
        let f = check_issued(&cert[..cert.len() / 2], tls.as_ref(), Duration::ZERO).unwrap_err();
        assert_eq!(f.kind, FailureKind::Parse, "{f}");
        cert[0] = 0x04; // an OCTET STRING, not the SEQUENCE of RFC 5280 4.1
        let f = check_issued(&cert, tls.as_ref(), Duration::ZERO).unwrap_err();
        assert_eq!(f.kind, FailureKind::Parse, "{f}");
        let f = check_issued(&issued(&pair), tls.as_ref(), EXPIRY).unwrap_err();
        assert_eq!(f.kind, FailureKind::Tls);
        assert!(f.detail.contains("expired"), "{f}");
    }

    /// RFC 5246 section 7.2: a registrar that takes nothing the tunnel's
    /// ClientHello offers answers with a fatal handshake_failure alert in
    /// its `gssapi-data`; the failure says what the tunnel offered.
    #[test]
    fn tunnel_refused_by_an_alert_says_what_it_offered() {
        let config = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(TUNNEL_VERSIONS)
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
        let ch = DskChallenge {
            realm: "SIP Communications Service".into(),
            targetname: "pool01.contoso.com".into(),
            version: 4,
            sts_uri: None,
            opaque: None,
            token: None,
        };
        let (mut hs, hello) = DskHandshake::start(Arc::new(config), &ch).unwrap();
        assert_eq!(hello.first(), Some(&22), "a ClientHello record");
        let refusal = DskChallenge {
            opaque: Some("9b2f1c07".into()),
            token: Some(vec![21, 3, 3, 0, 2, 2, 40]),
            ..ch
        };
        let f = hs.step(&refusal).unwrap_err();
        assert_eq!(f.kind, FailureKind::Tls);
        assert!(
            f.detail.starts_with(
                "tls-dsk: received fatal alert: HandshakeFailure: the server takes none of what the phone offers (TLS 1.2; AES-GCM"
            ),
            "{f}"
        );
    }

    #[test]
    fn sa_life_is_cut_to_what_is_left_of_the_certificate_at_each_handshake() {
        let hour = Duration::from_secs(3600);
        let max = 8 * hour;
        let expires = 10 * hour;
        assert_eq!(sa_life(max, expires, Duration::ZERO), max);
        // The second SA of a held phone, 7 h 55 min in: 2 h 5 min are left.
        let later = max - Duration::from_secs(300);
        assert_eq!(sa_life(max, expires, later), expires - later);
        assert_eq!(sa_life(max, expires, expires + hour), Duration::ZERO);
    }
}
