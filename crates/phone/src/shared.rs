//! What the phones of a run share because real phones would not notice:
//! the crypto provider, a pool of RSA keys, the TLS client configurations
//! of each distinct root chain (web services, registrar, TLS-DSK tunnel,
//! which a phone copies to put in its own certificate and session store),
//! a TLS session store, and the configuration for
//! the one connection made before any chain is known, and the DHCP relay
//! agent when the target names one (see `relay.rs`).
//!
//! Phones on one pool download the same root chain; building a rustls
//! verifier per phone would cost the harness more than the phone's whole
//! handshake, so [`Shared::trust_for`] hands out one per chain. This module
//! does not own what phones learn for themselves (tickets, certificates).

use std::sync::{Arc, Mutex};

use rcgen::{KeyPair, PKCS_RSA_SHA256, RsaKeySize};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::config::{KeySource, PhoneConfig, SessionCache};
use crate::relay::{RelayAgent, RelayStats};
use crate::{Error, Result};

/// Chains kept in the cache; a run talks to one pool, a few at most.
const MAX_CHAINS: usize = 16;

/// Sessions kept by the shared store (rustls evicts the oldest).
const SHARED_SESSIONS: usize = 4096;

/// Sessions kept per phone: one per server a phone talks to.
const PER_PHONE_SESSIONS: usize = 4;

/// A chain as downloaded, and the trust built from it.
type Cached = (Vec<Vec<u8>>, Arc<Trust>);

/// Trust built from one downloaded root chain.
#[derive(Debug)]
pub struct Trust {
    /// The chain as downloaded (DER), also sent after a client
    /// certificate so the registrar can build the path.
    pub chain: Vec<CertificateDer<'static>>,
    /// The roots, shared by every per-phone registrar configuration.
    pub roots: Arc<RootCertStore>,
    /// Web services configuration: verified with the chain, no client
    /// certificate, the run's session store.
    pub web: Arc<ClientConfig>,
    /// Registrar configuration: verified with the chain, no client
    /// certificate, no resumption. A phone's own is a copy of it with its
    /// session store and, where it shows one, its certificate.
    pub sip: Arc<ClientConfig>,
    /// The TLS-DSK tunnel's configuration, less the phone's certificate
    /// (`auth::TunnelParts` adds it).
    pub tunnel: Arc<ClientConfig>,
}

/// Shared state of a run's phones.
#[derive(Debug)]
pub struct Shared {
    provider: Arc<CryptoProvider>,
    keys: Vec<Arc<PhoneKey>>,
    key_bits: u32,
    cache: SessionCache,
    /// The TLS versions phones offer outside the tunnel.
    versions: &'static [&'static rustls::SupportedProtocolVersion],
    store: Arc<ClientSessionMemoryCache>,
    trusts: Mutex<Vec<Cached>>,
    unverified: Arc<ClientConfig>,
    /// `target.dhcp_relay`, and the agent once bound (on first use, as
    /// binding needs the runtime and `Shared` is made off it). A failed
    /// bind is kept as its message, so every phone reports the same reason.
    relay_addr: Option<std::net::Ipv4Addr>,
    relay: tokio::sync::OnceCell<std::result::Result<Arc<RelayAgent>, String>>,
}

impl Shared {
    /// Shared state for phones of `config`: makes the key pool, which takes
    /// a while (tens of milliseconds per RSA-2048 key), so call it once at
    /// start, off the async threads if the pool is large.
    pub fn new(config: &PhoneConfig) -> Result<Self> {
        Self::with_progress(config, &|_, _| {})
    }

    /// As [`Shared::new`], calling `progress(made, of)` after each key of
    /// the pool, so a command line can show how far key generation is.
    pub fn with_progress(config: &PhoneConfig, progress: &dyn Fn(u32, u32)) -> Result<Self> {
        config.validate()?;
        let provider = Arc::new(phone_provider());
        let keys = match config.keys {
            KeySource::Pool(n) => (0..n)
                .map(|i| {
                    let k = PhoneKey::generate(config.key_bits, &provider).map(Arc::new);
                    progress(i + 1, n);
                    k
                })
                .collect::<Result<Vec<_>>>()?,
            KeySource::Fresh => Vec::new(),
        };
        let store = Arc::new(ClientSessionMemoryCache::new(SHARED_SESSIONS));
        let mut unverified = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(config.tls.versions())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth();
        unverified.resumption = Resumption::disabled();
        Ok(Shared {
            provider,
            keys,
            key_bits: config.key_bits,
            cache: config.tls.session_cache,
            versions: config.tls.versions(),
            store,
            trusts: Mutex::new(Vec::new()),
            unverified: Arc::new(unverified),
            relay_addr: config.target.dhcp_relay,
            relay: tokio::sync::OnceCell::new(),
        })
    }

    /// The run's DHCP relay agent: `None` when the target names no relay,
    /// else the agent (bound on first call) or why it could not be bound.
    /// Call once before phones start to report a bind failure up front.
    pub async fn relay(&self) -> Option<std::result::Result<Arc<RelayAgent>, String>> {
        let addr = self.relay_addr?;
        let r = self
            .relay
            .get_or_init(|| async move {
                RelayAgent::bind(addr)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await;
        Some(r.clone())
    }

    /// The relay agent's counters, once it is bound.
    pub fn relay_stats(&self) -> Option<RelayStats> {
        match self.relay.get() {
            Some(Ok(a)) => Some(a.stats()),
            _ => None,
        }
    }

    /// The crypto provider.
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    /// Phone `index`'s key: from the pool, or made now. Fresh keys are made
    /// on the blocking pool, as they take a while.
    pub async fn key_for(&self, index: u32) -> Result<Arc<PhoneKey>> {
        if let Some(k) = index
            .checked_rem(u32::try_from(self.keys.len()).unwrap_or(u32::MAX))
            .and_then(|i| self.keys.get(i as usize))
        {
            return Ok(k.clone());
        }
        let bits = self.key_bits;
        let provider = self.provider.clone();
        tokio::task::spawn_blocking(move || PhoneKey::generate(bits, &provider).map(Arc::new))
            .await
            .map_err(|e| Error::Config(format!("key generation task: {e}")))?
    }

    /// The TLS versions phones offer outside the tunnel.
    pub fn versions(&self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        self.versions
    }

    /// The session resumption a new configuration of one phone gets.
    pub fn resumption(&self) -> Resumption {
        match self.cache {
            SessionCache::Shared => Resumption::store(self.store.clone()),
            SessionCache::PerPhone => Resumption::in_memory_sessions(PER_PHONE_SESSIONS),
            SessionCache::Off => Resumption::disabled(),
        }
    }

    /// The trust built from `chain` (DER, as downloaded), shared with every
    /// phone that downloaded the same chain.
    pub fn trust_for(&self, chain: Vec<Vec<u8>>) -> Result<Arc<Trust>> {
        let mut trusts = self.trusts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, t)) = trusts.iter().find(|(c, _)| *c == chain) {
            return Ok(t.clone());
        }
        let mut roots = RootCertStore::empty();
        let certs: Vec<CertificateDer<'static>> = chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        for c in &certs {
            roots.add(c.clone())?;
        }
        let roots = Arc::new(roots);
        let mut web = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(self.versions)?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        // Per-phone stores live in the phone's own configs; the shared
        // web config then resumes nothing, rather than resuming across phones.
        web.resumption = match self.cache {
            SessionCache::Shared => Resumption::store(self.store.clone()),
            SessionCache::PerPhone | SessionCache::Off => Resumption::disabled(),
        };
        // The phones' registrar and tunnel configurations are copies of
        // these: a copy is mostly reference counts, where rustls' builder
        // checks the versions against the provider, makes a verifier and a
        // 256-session cache (14 KB) that the phone would at once replace.
        let mut sip = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(self.versions)?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        sip.resumption = Resumption::disabled();
        let tunnel = crate::auth::tunnel_template(self.provider.clone(), roots.clone())?;
        let t = Arc::new(Trust {
            chain: certs,
            roots,
            web: Arc::new(web),
            sip: Arc::new(sip),
            tunnel: Arc::new(tunnel),
        });
        if trusts.len() >= MAX_CHAINS {
            trusts.remove(0);
        }
        trusts.push((chain, t.clone()));
        Ok(t)
    }

    /// The web configuration of one phone: the chain's shared one, or a
    /// copy with the phone's own session store.
    pub fn web_config(&self, trust: &Trust) -> Arc<ClientConfig> {
        match self.cache {
            SessionCache::PerPhone => {
                let mut c = (*trust.web).clone();
                c.resumption = self.resumption();
                Arc::new(c)
            }
            SessionCache::Shared | SessionCache::Off => trust.web.clone(),
        }
    }

    /// The configuration of the update check, made before the phone has a
    /// root chain (PROTOCOL.md puts stage 4 before stage 6): it does not
    /// verify the server, as a phone at that point cannot.
    pub fn unverified(&self) -> Arc<ClientConfig> {
        self.unverified.clone()
    }
}

/// The crypto provider phones use: aws-lc-rs, with the SHA-256 cipher
/// suites offered first. Lync-era phones offered AES-128 suites first, and
/// SHA-256 has hardware help on current CPUs where SHA-384 (whose HKDF
/// otherwise runs on every TLS 1.3 handshake) has none, so this is both
/// nearer the phones and cheaper for the harness.
fn phone_provider() -> CryptoProvider {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    p.cipher_suites.sort_by_key(|s| {
        use rustls::CipherSuite as C;
        matches!(
            s.suite(),
            C::TLS13_AES_256_GCM_SHA384
                | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                | C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        )
    });
    p
}

/// A phone's RSA key, parsed once into both forms it is used in: rcgen's,
/// to sign the CSR, and rustls's, to sign the client CertificateVerify.
/// Parsing a PKCS#8 RSA key runs aws-lc's consistency check, which costs
/// about as much as a signature; doing it per phone (and rustls trying
/// several key types) had been the largest CPU cost of a sign-in.
pub struct PhoneKey {
    /// For the CSR.
    pub(crate) csr: KeyPair,
    /// For TLS client authentication.
    pub(crate) tls: Arc<dyn rustls::sign::SigningKey>,
}

impl std::fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneKey").finish_non_exhaustive()
    }
}

impl PhoneKey {
    /// A new RSA key of `bits`, parsed for rcgen and for rustls.
    pub fn generate(bits: u32, provider: &CryptoProvider) -> Result<Self> {
        let csr = generate_key(bits)?;
        let der = rustls_pki_types::PrivateKeyDer::Pkcs8(csr.serialize_der().into());
        let tls = provider
            .key_provider
            .load_private_key(der)
            .map_err(|e| Error::Config(format!("phone key for TLS: {e}")))?;
        Ok(PhoneKey { csr, tls })
    }
}

/// A new RSA key of `bits` bits (3072 or 4096; anything else gives 2048,
/// which the scenario has already checked).
pub(crate) fn generate_key(bits: u32) -> Result<KeyPair> {
    let size = match bits {
        3072 => RsaKeySize::_3072,
        4096 => RsaKeySize::_4096,
        _ => RsaKeySize::_2048,
    };
    Ok(KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size)?)
}

/// Accepts any server certificate, but still checks the handshake
/// signatures so the connection is a real TLS one. Used only for the
/// update check (see [`Shared::unverified`]).
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;
    use rustls::ProtocolVersion;

    fn shared(tls13: bool) -> Shared {
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
        let mut c = PhoneConfig::new(Target::new(any, any, "contoso.com")).unwrap();
        c.keys = KeySource::Fresh;
        c.tls.tls13 = tls13;
        Shared::new(&c).unwrap()
    }

    /// The version `client` gets from a server that accepts 1.2 and 1.3.
    async fn negotiated(client: Arc<ClientConfig>) -> ProtocolVersion {
        let (_, server) =
            crate::net::test_server(&[&rustls::version::TLS12, &rustls::version::TLS13]);
        let (near, far) = tokio::io::duplex(64 * 1024);
        let accept = tokio::spawn(async move {
            tokio_rustls::TlsAcceptor::from(Arc::new(server))
                .accept(far)
                .await
                .map(|_| ())
        });
        const BOTH: crate::net::Versions = &[&rustls::version::TLS12, &rustls::version::TLS13];
        let tls = crate::net::tls(client, BOTH, crate::net::TEST_SERVER, near)
            .await
            .unwrap();
        accept.await.unwrap().unwrap();
        tls.get_ref().1.protocol_version().unwrap()
    }

    #[tokio::test]
    async fn phones_offer_tls_1_2_only_unless_told_to_offer_1_3() {
        assert_eq!(
            negotiated(shared(false).unverified()).await,
            ProtocolVersion::TLSv1_2
        );
        assert_eq!(
            negotiated(shared(true).unverified()).await,
            ProtocolVersion::TLSv1_3
        );
    }
}
