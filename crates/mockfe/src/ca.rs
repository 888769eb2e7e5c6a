//! The mock pool's certificate authority, made fresh at every start.
//!
//! A Lync pool's web and SIP certificates come from an enterprise CA, and
//! phones download that CA's chain anonymously before trusting anything
//! (stage 6), then get a user certificate issued from a PKCS#10 CSR
//! (stage 8). This module makes the CA and the server certificate with
//! rcgen, and issues user certificates from CSRs, enforcing the pool's key
//! size policy. It owns no socket and no SOAP.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{
    CertificateDer, CertificateSigningRequestDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use x509_parser::prelude::FromDer;

use crate::{Result, clock};

/// Why a CSR was refused. Each maps to the ErrorInfo a pool answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrRefusal {
    /// Not a PKCS#10 request, or its signature does not verify.
    Malformed(String),
    /// The key is not RSA (Lync phones use RSA).
    NotRsa,
    /// The RSA key is outside the configured bounds.
    KeySize {
        /// The key's size in bits.
        bits: usize,
        /// Smallest accepted.
        min: u32,
        /// Largest accepted.
        max: u32,
    },
}

impl std::fmt::Display for CsrRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsrRefusal::Malformed(why) => write!(f, "malformed certificate request: {why}"),
            CsrRefusal::NotRsa => write!(f, "certificate request key is not RSA"),
            CsrRefusal::KeySize { bits, min, max } => {
                write!(
                    f,
                    "certificate request key is {bits} bits; policy allows {min} to {max}"
                )
            }
        }
    }
}

/// The CA and the pool's server certificate.
pub struct MockCa {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_der: Vec<u8>,
    /// The web services and the registrar accept TLS 1.3 as well as 1.2.
    tls13: bool,
}

/// The versions a pool stopping at TLS 1.2 accepts.
const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
/// The versions a pool accepting TLS 1.3 accepts.
const UP_TO_TLS13: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS12, &rustls::version::TLS13];

impl std::fmt::Debug for MockCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCa").finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, from: Duration, lifetime: Duration) {
    // Backdate by an hour so a phone whose clock is a little behind still
    // accepts the certificate, as enterprise CAs do.
    let start = from.saturating_sub(Duration::from_secs(3600)).as_secs();
    let end = from.saturating_add(lifetime).as_secs();
    params.not_before = offset(start);
    params.not_after = offset(end);
}

fn offset(unix_secs: u64) -> time::OffsetDateTime {
    i64::try_from(unix_secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl MockCa {
    /// Makes an RSA-2048 CA (as an enterprise CA would be) and a server
    /// certificate for `names`: the pool FQDN, the Front Ends, and the
    /// address the mock listens on, so phones can verify it by either.
    pub fn new(org: &str, names: &[String], listen: IpAddr) -> Result<Self> {
        let now = clock::wall();
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
        let mut ca = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{org} phonestorm mock CA"));
        dn.push(DnType::OrganizationName, org);
        ca.distinguished_name = dn;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut ca, now, Duration::from_secs(5 * 365 * 86400));
        let ca_cert = ca.self_signed(&ca_key)?;
        let ca_der = ca_cert.der().clone();
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
        let mut server = CertificateParams::new(Vec::<String>::new())?;
        for n in names {
            server
                .subject_alt_names
                .push(SanType::DnsName(n.clone().try_into()?));
        }
        server.subject_alt_names.push(SanType::IpAddress(listen));
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_else(|| "localhost".into()),
        );
        server.distinguished_name = dn;
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut server, now, Duration::from_secs(365 * 86400));
        let server_cert = server.signed_by(&server_key, &issuer)?;
        Ok(MockCa {
            issuer,
            server_chain: vec![server_cert.der().clone(), ca_der.clone()],
            ca_der,
            server_key_der: server_key.serialize_der(),
            tls13: false,
        })
    }

    /// Whether [`MockCa::tls_acceptor`] also accepts TLS 1.3 (by default
    /// it stops at 1.2, as a Skype for Business Server pool does).
    pub fn with_tls13(mut self, on: bool) -> Self {
        self.tls13 = on;
        self
    }

    /// The CA certificate, DER: what phones download as the root chain.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// The server certificate followed by the CA, DER.
    pub fn server_chain(&self) -> &[CertificateDer<'static>] {
        &self.server_chain
    }

    /// The server's private key, PKCS#8 DER.
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()))
    }

    /// A TLS server for the pool's names: TLS 1.2, and 1.3 when allowed
    /// ([`MockCa::with_tls13`]), the server chain, and, with `client_certs`, an
    /// optional client certificate that must chain to this CA when sent:
    /// the registrar reads it, the web services do not ask for it.
    pub fn tls_acceptor(&self, client_certs: bool) -> Result<tokio_rustls::TlsAcceptor> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(if self.tls13 { UP_TO_TLS13 } else { TLS12_ONLY })?;
        let builder = if client_certs {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone())?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| rustls::Error::General(format!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_single_cert(self.server_chain.clone(), self.server_key())?;
        Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
    }

    /// The server side of the TLS-DSK tunnel ([MS-SIPAE] TLS-DSK): TLS 1.2
    /// only, as current Skype for Business servers run it, the pool's
    /// server chain, and a client certificate required and verified against
    /// this CA (the user certificate issued at stage 8).
    pub fn tls_dsk_server_config(&self) -> Result<std::sync::Arc<rustls::ServerConfig>> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(format!("client certificate verifier: {e}")))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.server_chain.clone(), self.server_key())?;
        // Each tunnel is one handshake: nothing to resume.
        config.session_storage = std::sync::Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(std::sync::Arc::new(config))
    }

    /// Issues a user certificate for `sip_uri` (`sip:user@domain`) from a
    /// DER PKCS#10 request, if the request verifies and its RSA key lies
    /// within `min_bits..=max_bits`. The certificate names the user in its
    /// subject and as a URI SAN, and allows client authentication: it is
    /// what the phone presents to the registrar.
    pub fn issue_user(
        &self,
        csr_der: &[u8],
        sip_uri: &str,
        lifetime: Duration,
        min_bits: u32,
        max_bits: u32,
        serial: u64,
    ) -> Result<CertificateDer<'static>, CsrRefusal> {
        let (_, req) =
            x509_parser::certification_request::X509CertificationRequest::from_der(csr_der)
                .map_err(|e| CsrRefusal::Malformed(e.to_string()))?;
        let bits = match req.certification_request_info.subject_pki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
            Ok(_) => return Err(CsrRefusal::NotRsa),
            Err(e) => return Err(CsrRefusal::Malformed(e.to_string())),
        };
        if bits < min_bits as usize || bits > max_bits as usize {
            return Err(CsrRefusal::KeySize {
                bits,
                min: min_bits,
                max: max_bits,
            });
        }
        // rcgen verifies the request's self-signature here.
        let csr =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
                .map_err(|e| CsrRefusal::Malformed(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, sip_uri);
        params.distinguished_name = dn;
        params.subject_alt_names =
            vec![SanType::URI(sip_uri.to_owned().try_into().map_err(
                |e: rcgen::Error| CsrRefusal::Malformed(e.to_string()),
            )?)];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
        validity(&mut params, clock::wall(), lifetime);
        let cert = params
            .signed_by(&csr.public_key, &self.issuer)
            .map_err(|e| CsrRefusal::Malformed(e.to_string()))?;
        Ok(cert.der().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// The version a client offering TLS 1.2 and 1.3 gets from `ca`.
    async fn negotiated(ca: MockCa) -> rustls::ProtocolVersion {
        let acceptor = ca.tls_acceptor(false).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.ca_der.clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let (near, far) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { acceptor.accept(far).await.map(|_| ()) });
        let name = rustls_pki_types::ServerName::try_from("pool01.contoso.com").unwrap();
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client))
            .connect(name, near)
            .await
            .unwrap();
        server.await.unwrap().unwrap();
        tls.get_ref().1.protocol_version().unwrap()
    }

    fn pool_ca() -> MockCa {
        MockCa::new(
            "contoso.com",
            &["pool01.contoso.com".to_owned()],
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_pool_stops_at_tls_1_2_as_schannel_does_unless_told() {
        assert_eq!(
            negotiated(pool_ca()).await,
            rustls::ProtocolVersion::TLSv1_2
        );
        assert_eq!(
            negotiated(pool_ca().with_tls13(true)).await,
            rustls::ProtocolVersion::TLSv1_3
        );
    }

    fn csr(bits: usize) -> Vec<u8> {
        let alg = &rcgen::PKCS_RSA_SHA256;
        let key = KeyPair::generate_rsa_for(
            alg,
            match bits {
                2048 => rcgen::RsaKeySize::_2048,
                3072 => rcgen::RsaKeySize::_3072,
                _ => rcgen::RsaKeySize::_4096,
            },
        )
        .unwrap();
        let params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    #[test]
    fn issues_user_certificate_chained_to_the_ca() {
        let ca = MockCa::new(
            "Contoso",
            &["pool01.contoso.com".into()],
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
        .unwrap();
        let der = ca
            .issue_user(
                &csr(2048),
                "sip:user1@contoso.com",
                Duration::from_secs(3600 * 8),
                1024,
                4096,
                7,
            )
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(ca.ca_der()).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert_eq!(cert.issuer(), ca_cert.subject());
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(format!("{:?}", san.value.general_names).contains("sip:user1@contoso.com"));
        let life = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(life, 9 * 3600, "8 h validity plus the 1 h backdating");
    }

    #[test]
    fn refuses_key_size_and_garbage() {
        let ca = MockCa::new(
            "Contoso",
            &["pool01.contoso.com".into()],
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
        .unwrap();
        let err = ca
            .issue_user(
                &csr(3072),
                "sip:a@contoso.com",
                Duration::from_secs(3600),
                1024,
                2048,
                1,
            )
            .unwrap_err();
        assert_eq!(
            err,
            CsrRefusal::KeySize {
                bits: 3072,
                min: 1024,
                max: 2048
            }
        );
        assert!(matches!(
            ca.issue_user(
                b"not a csr",
                "sip:a@contoso.com",
                Duration::from_secs(3600),
                1024,
                4096,
                1
            ),
            Err(CsrRefusal::Malformed(_))
        ));
        let mut bad = csr(2048);
        let n = bad.len();
        bad[n - 10] ^= 0xff; // inside the signature
        assert!(matches!(
            ca.issue_user(
                &bad,
                "sip:a@contoso.com",
                Duration::from_secs(3600),
                1024,
                4096,
                1
            ),
            Err(CsrRefusal::Malformed(_))
        ));
    }
}
