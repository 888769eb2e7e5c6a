//! How a phone authenticates its REGISTERs: the schemes it can run, the
//! security association (SA) each yields, and the signing of every later
//! request and the check of every answer.
//!
//! Today one scheme runs: [MS-SIPAE] TLS-DSK. Its TLS 1.2 handshake is
//! rustls' `ClientConnection` driven over in-memory buffers, the records
//! carried base64 in `gssapi-data` across REGISTER / 401 legs; the session
//! keys come from rustls' RFC 5705 exporter. The header values, key
//! offsets, HMAC and signature string are `phonestorm_proto`'s. NTLM and
//! Digest would be further [`Scheme`]s with their own [`Sa`] variant and
//! signer; nothing else here is TLS-DSK-specific.
//!
//! This module owns no socket: `sip.rs` sends what it builds.

use std::sync::Arc;
use std::time::Duration;

use phonestorm_proto::sip::signing::{SignParams, signature_string};
use phonestorm_proto::sip::tlsdsk::{
    self, DskChallenge, MacAlgorithm, ReplayWindow, SessionKeys, Side, Signed,
};
use phonestorm_proto::sip::{Credentials, Message, authentication_info};
use rand::RngExt;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::time::Instant;

use crate::{Failure, FailureKind, clock};

/// How a phone authenticates its REGISTER (`stages.register.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Choose from what the 401 offers: TLS-DSK when the phone holds a
    /// certificate. A 200 without any challenge is taken as it comes.
    #[default]
    Auto,
    /// [MS-SIPAE] TLS-DSK only.
    TlsDsk,
    /// The TLS client certificate of the SIP connection only: expect 200
    /// without a challenge (a standard registrar checking client
    /// certificates, such as Kamailio); a 401 is a failure.
    Certificate,
}

/// Deliberate mistakes, to check that a registrar refuses them.
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
}

impl Scheme {
    /// The scheme token of its headers.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Scheme::TlsDsk => tlsdsk::SCHEME,
        }
    }
}

/// An established security association: one signer per scheme.
#[derive(Debug)]
pub(crate) enum Sa {
    /// TLS-DSK.
    TlsDsk(DskSa),
}

impl Sa {
    /// Whether the SA's life is over (a new handshake is due).
    pub(crate) fn expired(&self, now: Instant) -> bool {
        match self {
            Sa::TlsDsk(sa) => now >= sa.expires_at,
        }
    }

    /// Adds the signed `Authorization` to `m` ([MS-SIPAE] 3.2.5.1: every
    /// request after the SA is established is signed).
    pub(crate) fn sign(&mut self, m: &mut Message) -> Result<(), Failure> {
        match self {
            Sa::TlsDsk(sa) => sa.sign(m),
        }
    }

    /// Checks the signature of an answer ([MS-SIPAE] 3.2.5.2). A final
    /// success must be signed; any answer that carries a signature must
    /// carry a good one.
    pub(crate) fn check(&mut self, m: &Message) -> Result<(), Failure> {
        match self {
            Sa::TlsDsk(sa) => sa.check(m),
        }
    }
}

/// A TLS-DSK SA.
pub(crate) struct DskSa {
    keys: SessionKeys,
    opaque: Box<str>,
    realm: Box<str>,
    targetname: Box<str>,
    version: u32,
    cnum: u32,
    snums: ReplayWindow,
    expires_at: Instant,
    fault: Option<DskFault>,
}

impl std::fmt::Debug for DskSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DskSa")
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

impl DskSa {
    fn params<'a>(&'a self, rand: &'a str, num: &'a str) -> SignParams<'a> {
        SignParams {
            scheme: tlsdsk::SCHEME,
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
        let mut signature = self.keys.sign(Side::Client, &text);
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
        .to_credentials();
        m.push_header("Authorization", &creds.to_string())
            .map_err(|e| Failure::new(FailureKind::Other, format!("signing: {e}")))
    }

    fn check(&mut self, m: &Message) -> Result<(), Failure> {
        let info = authentication_info(m)
            .map_err(|e| rspauth_failure(format!("Authentication-Info: {e}")))?;
        let Some(info) = info.filter(|i| i.is_scheme(tlsdsk::SCHEME)) else {
            return if m.status().is_some_and(|s| (200..300).contains(&s)) {
                Err(rspauth_failure("success answer is not signed"))
            } else {
                // Refusals of a pool are not always signed; the status
                // and ms-diagnostics say what happened.
                Ok(())
            };
        };
        let signed = Signed::from_info(&info)
            .map_err(|e| rspauth_failure(format!("Authentication-Info: {e}")))?;
        if signed.opaque != *self.opaque
            || signed.realm != *self.realm
            || signed.targetname != *self.targetname
        {
            return Err(rspauth_failure("Authentication-Info names another SA"));
        }
        let text = signature_string(m, &self.params(&signed.rand, &signed.num))
            .map_err(|e| rspauth_failure(format!("answer cannot be checked: {e}")))?;
        if !self.keys.verify(Side::Server, &text, &signed.signature) {
            return Err(rspauth_failure("rspauth does not verify"));
        }
        let snum = signed
            .number()
            .map_err(|e| rspauth_failure(e.to_string()))?;
        self.snums
            .accept(snum)
            .map_err(|_| rspauth_failure(format!("snum {snum} already seen")))
    }
}

/// The TLS configuration of the tunnelled handshake: TLS 1.2 only (as
/// current Skype for Business servers run TLS-DSK), the downloaded root
/// chain, the user certificate as client certificate, no resumption (each
/// tunnel is one handshake).
pub(crate) fn tunnel_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    roots: Arc<RootCertStore>,
    cert: &[u8],
    key: Arc<dyn rustls::sign::SigningKey>,
) -> Result<Arc<ClientConfig>, Failure> {
    let chain = vec![CertificateDer::from(cert.to_vec())];
    let certified = rustls::sign::CertifiedKey::new(chain, key);
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| Failure::new(FailureKind::Tls, format!("tls-dsk: {e}")))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// Time left before `cert` expires (zero if unreadable or past).
pub(crate) fn certificate_left(cert: &[u8]) -> Duration {
    x509_parser::parse_x509_certificate(cert)
        .ok()
        .map(|(_, c)| c.validity().not_after.timestamp())
        .and_then(|t| u64::try_from(t).ok())
        .map(|t| Duration::from_secs(t).saturating_sub(clock::wall()))
        .unwrap_or(Duration::ZERO)
}

/// Bytes of TLS records read from one `gssapi-data` at most.
const MAX_TOKEN: usize = 64 * 1024;

/// A TLS-DSK handshake in progress.
pub(crate) struct DskHandshake {
    conn: ClientConnection,
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
        let conn = ClientConnection::new(config, name)
            .map_err(|e| Failure::new(FailureKind::Tls, format!("tls-dsk: {e}")))?;
        let mut hs = DskHandshake {
            conn,
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
            self.conn
                .process_new_packets()
                .map_err(|e| Failure::new(FailureKind::Tls, format!("tls-dsk: {e}")))?;
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
    pub(crate) fn finish(self, life: Duration, fault: Option<DskFault>) -> Result<DskSa, Failure> {
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
        Ok(DskSa {
            keys,
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

#[cfg(test)]
mod tests {
    use super::*;
    use phonestorm_proto::sip::parse;

    fn new_sa(keys: SessionKeys) -> DskSa {
        DskSa {
            keys,
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
}
