//! The cryptographic floor of one phone sign-in: the private-key
//! operations, key exchanges and certificate checks a sign-in cannot avoid,
//! timed with aws-lc-rs, the library rustls and rcgen use in phonestorm.
//! Key generation is left out (phones draw keys from a pool made at start).
//!
//! The harness's CPU per sign-in is compared with this floor in
//! `bench/README.md`; the operation counts below say what one sign-in
//! needs, and why.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: failing loudly is right

use std::time::Duration;

use phonestorm_bench::{budget_from_args, time};

use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};

fn main() {
    let budget = budget_from_args();
    let rng = SystemRandom::new();
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = key.public_key().as_ref().to_vec();
    let msg = [0x5au8; 128];
    let mut sig = vec![0u8; key.public_modulus_len()];

    let sign_pss = time(budget, || {
        key.sign(&signature::RSA_PSS_SHA256, &rng, &msg, &mut sig)
            .unwrap();
    });
    key.sign(&signature::RSA_PSS_SHA256, &rng, &msg, &mut sig)
        .unwrap();
    let pss = signature::UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, &public);
    let verify_pss = time(budget, || pss.verify(&msg, &sig).unwrap());

    let sign_pkcs1 = time(budget, || {
        key.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig)
            .unwrap();
    });
    key.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig)
        .unwrap();
    let pkcs1 = signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &public);
    let verify_pkcs1 = time(budget, || pkcs1.verify(&msg, &sig).unwrap());

    let peer = EphemeralPrivateKey::generate(&X25519, &rng)
        .unwrap()
        .compute_public_key()
        .unwrap()
        .as_ref()
        .to_vec();
    let ecdhe = time(budget, || {
        let mine = EphemeralPrivateKey::generate(&X25519, &rng).unwrap();
        let _ = mine.compute_public_key().unwrap();
        agreement::agree_ephemeral(mine, UnparsedPublicKey::new(&X25519, &peer), (), |k| {
            std::hint::black_box(k);
            Ok(())
        })
        .unwrap();
    });

    // One sign-in against a pool with an RSA-2048 CA and server key, TLS 1.2
    // outside (as a Skype for Business Server pool and the mock by default
    // run it; TLS 1.3 has the same counts), registering with TLS-DSK (the
    // default, as a real pool asks):
    // - full handshakes: web services (1) and registrar (1); the
    //   certificate calls (ResolveUser, GetAndPublishCert) reuse the web
    //   ticket's connection, as the phone keeps it and the mock keeps it
    //   open (a pool that closed it would cost one resumed handshake more:
    //   one ECDHE, no checks); the update check cannot check the
    //   certificate (the phone has no root chain yet) but still checks the
    //   server's ServerKeyExchange signature, as any TLS client must (one
    //   ECDHE, one PSS verify). So 3 ECDHE outside the tunnel: the 4 TCP
    //   connections of a sign-in (strace) less the root chain's plain HTTP.
    // - each verified full handshake: the server certificate's signature
    //   by the CA (PKCS#1) and the server's ServerKeyExchange signature
    //   (TLS 1.3: CertificateVerify; PSS): 2 x 2.
    // - the registrar handshake with `register.auth = "certificate"` only:
    //   the phone's CertificateVerify (PSS sign). With TLS-DSK (`auto`,
    //   the default, and `tls-dsk`) the phone shows no certificate there,
    //   as a Lync phone: Skype for Business authenticates clients inside
    //   SIP and runs MTLS between servers only.
    // - the CSR's self-signature (PKCS#1 sign).
    // - the TLS-DSK tunnel ([MS-SIPAE]: a TLS 1.2 handshake inside the
    //   REGISTER / 401 legs, new for every sign-in, the user certificate as
    //   client certificate): one ECDHE, the server certificate (PKCS#1
    //   verify), the ServerKeyExchange signature (PSS verify), the phone's
    //   CertificateVerify (PSS sign).
    // So a TLS-DSK sign-in makes 2 private-key operations (the tunnel's
    // CertificateVerify and the CSR), 4 X25519 and 7 RSA verifications (3
    // chains, 4 handshake signatures), as uprobes on aws-lc count them
    // (bench/README.md). Until `auto` stopped showing the certificate on
    // the connection they counted a third private-key operation.
    let outside = 3 * ecdhe + 2 * verify_pkcs1 + 3 * verify_pss + sign_pkcs1;
    let certificate_only = outside + sign_pss;
    let tunnel = ecdhe + verify_pkcs1 + verify_pss + sign_pss;
    let floor = outside + tunnel;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("operation                       time (us)  per sign-in (TLS-DSK; certificate only)");
    println!("X25519 keygen + agree           {:>9.1}  4; 3", us(ecdhe));
    println!(
        "RSA-2048 PKCS#1 verify          {:>9.1}  3; 2",
        us(verify_pkcs1)
    );
    println!(
        "RSA-2048 PSS verify             {:>9.1}  4; 3",
        us(verify_pss)
    );
    println!(
        "RSA-2048 PSS sign               {:>9.1}  1; 1",
        us(sign_pss)
    );
    println!(
        "RSA-2048 PKCS#1 sign            {:>9.1}  1; 1",
        us(sign_pkcs1)
    );
    println!("floor per sign-in, TLS-DSK      {:>9.1}", us(floor));
    println!(
        "floor per sign-in, certificate  {:>9.1}",
        us(certificate_only)
    );
    println!(
        "{}",
        serde_json::json!({
            "x25519_us": us(ecdhe),
            "rsa2048_pkcs1_verify_us": us(verify_pkcs1),
            "rsa2048_pss_verify_us": us(verify_pss),
            "rsa2048_pss_sign_us": us(sign_pss),
            "rsa2048_pkcs1_sign_us": us(sign_pkcs1),
            "floor_per_signin_us": us(floor),
            "floor_per_signin_certificate_only_us": us(certificate_only),
        })
    );
}
