//! The cryptographic floor of one phone sign-in: the private-key
//! operations, key exchanges and certificate checks a sign-in cannot avoid,
//! timed with aws-lc-rs, the library rustls and rcgen use in phonestorm.
//! Key generation is left out (phones draw keys from a pool made at start).
//!
//! The harness's CPU per sign-in is compared with this floor in
//! `bench/README.md`; the operation counts below say what one sign-in
//! needs, and why.

use std::time::Duration;

use phonestorm_bench::{Crypto, Op, TLS_DSK_SIGNIN, budget_from_args, time};

fn main() {
    let budget = budget_from_args();
    let mut c = Crypto::new();
    let mut timed = |op| time(budget, || c.run(op));
    let sign_pss = timed(Op::SignPss);
    let verify_pss = timed(Op::VerifyPss);
    let sign_pkcs1 = timed(Op::SignPkcs1);
    let verify_pkcs1 = timed(Op::VerifyPkcs1);
    let ecdhe = timed(Op::X25519);

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
    // `TLS_DSK_SIGNIN` lists them in a sign-in's order (`paced-floor`
    // runs them so); the tunnel's are its last four.
    let of = |op: &Op| match op {
        Op::X25519 => ecdhe,
        Op::VerifyPkcs1 => verify_pkcs1,
        Op::VerifyPss => verify_pss,
        Op::SignPss => sign_pss,
        Op::SignPkcs1 => sign_pkcs1,
    };
    let (outside, tunnel) = TLS_DSK_SIGNIN.split_at(TLS_DSK_SIGNIN.len() - 4);
    let outside: Duration = outside.iter().map(of).sum();
    let floor = outside + tunnel.iter().map(of).sum::<Duration>();
    let certificate_only = outside + sign_pss;
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
