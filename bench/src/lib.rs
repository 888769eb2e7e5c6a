//! Shared pieces of phonestorm's benchmarks. The benchmarks themselves are
//! binaries under `src/bin/`, run by `just bench`; their figures and the
//! commands that produce them are written down in `bench/README.md`.
//! Benchmarks are not tests: nothing here asserts a speed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: failing loudly is right

use std::time::{Duration, Instant};

use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};

/// One cryptographic operation of a sign-in, as aws-lc-rs (the library
/// rustls and rcgen use in phonestorm) does it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// An ephemeral X25519 key pair and one agreement with the peer's key.
    X25519,
    /// An RSA-2048 PKCS#1 v1.5 SHA-256 verification (a CA's signature on
    /// a certificate), the public key parsed as for each certificate.
    VerifyPkcs1,
    /// An RSA-2048 PSS SHA-256 verification (a ServerKeyExchange).
    VerifyPss,
    /// An RSA-2048 PSS SHA-256 signature (a CertificateVerify).
    SignPss,
    /// An RSA-2048 PKCS#1 v1.5 SHA-256 signature (a CSR).
    SignPkcs1,
}

/// The operations of one TLS-DSK sign-in in the order a phone makes them
/// (`crypto-floor.rs` says why each is there): the update check
/// (ServerKeyExchange only: no root chain yet), the web services, the
/// CSR, the registrar, and the tunnel.
pub const TLS_DSK_SIGNIN: [Op; 13] = [
    Op::X25519,
    Op::VerifyPss,
    Op::X25519,
    Op::VerifyPkcs1,
    Op::VerifyPss,
    Op::SignPkcs1,
    Op::X25519,
    Op::VerifyPkcs1,
    Op::VerifyPss,
    Op::X25519,
    Op::VerifyPkcs1,
    Op::VerifyPss,
    Op::SignPss,
];

/// An RSA-2048 key, a peer's X25519 key and signatures to verify: what
/// [`Op`]s run against.
pub struct Crypto {
    rng: SystemRandom,
    key: RsaKeyPair,
    public: Vec<u8>,
    msg: [u8; 128],
    out: Vec<u8>,
    pss: Vec<u8>,
    pkcs1: Vec<u8>,
    peer: Vec<u8>,
}

impl Crypto {
    /// A fresh key (its generation is not part of any figure).
    pub fn new() -> Crypto {
        let rng = SystemRandom::new();
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key().as_ref().to_vec();
        let msg = [0x5au8; 128];
        let mut out = vec![0u8; key.public_modulus_len()];
        key.sign(&signature::RSA_PSS_SHA256, &rng, &msg, &mut out)
            .unwrap();
        let pss = out.clone();
        key.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut out)
            .unwrap();
        let pkcs1 = out.clone();
        let peer = EphemeralPrivateKey::generate(&X25519, &rng)
            .unwrap()
            .compute_public_key()
            .unwrap()
            .as_ref()
            .to_vec();
        Crypto {
            rng,
            key,
            public,
            msg,
            out,
            pss,
            pkcs1,
            peer,
        }
    }

    /// Runs `op` once.
    pub fn run(&mut self, op: Op) {
        match op {
            Op::X25519 => {
                let mine = EphemeralPrivateKey::generate(&X25519, &self.rng).unwrap();
                let _ = mine.compute_public_key().unwrap();
                agreement::agree_ephemeral(
                    mine,
                    UnparsedPublicKey::new(&X25519, &self.peer),
                    (),
                    |k| {
                        std::hint::black_box(k);
                        Ok(())
                    },
                )
                .unwrap();
            }
            Op::VerifyPkcs1 => self.verify(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1),
            Op::VerifyPss => self.verify(&signature::RSA_PSS_2048_8192_SHA256, &self.pss),
            Op::SignPss => self.sign(&signature::RSA_PSS_SHA256),
            Op::SignPkcs1 => self.sign(&signature::RSA_PKCS1_SHA256),
        }
    }

    /// Verifies `sig` over the message with the key's public half, parsed
    /// afresh as for each certificate.
    fn verify(&self, alg: &'static signature::RsaParameters, sig: &[u8]) {
        signature::UnparsedPublicKey::new(alg, &self.public)
            .verify(&self.msg, sig)
            .unwrap();
    }

    fn sign(&mut self, padding: &'static dyn signature::RsaEncoding) {
        self.key
            .sign(padding, &self.rng, &self.msg, &mut self.out)
            .unwrap();
    }
}

impl Default for Crypto {
    fn default() -> Self {
        Crypto::new()
    }
}

/// Trials per operation; each figure is their median.
pub const TRIALS: u32 = 9;

/// The median time per call of `f` over [`TRIALS`] trials sharing about
/// `budget`. On a shared virtual machine a burst from a neighbour can
/// slow one trial by a third; the median leaves such bursts out, which
/// keeps a figure as low as the machine allows (for the floor: the
/// harness run beside it is not spared them, so the ratio errs against the
/// harness).
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock itself
pub fn time<F: FnMut()>(budget: Duration, mut f: F) -> Duration {
    for _ in 0..10 {
        f();
    }
    let mut trials: Vec<Duration> = (0..TRIALS)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u32;
            while start.elapsed() < budget / TRIALS {
                for _ in 0..5 {
                    f();
                }
                n += 5;
            }
            start.elapsed() / n
        })
        .collect();
    trials.sort();
    trials.get(trials.len() / 2).copied().unwrap_or_default()
}

/// The time budget of each timed operation: the first argument, in
/// milliseconds, or one second.
pub fn budget_from_args() -> Duration {
    Duration::from_millis(
        std::env::args()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    )
}

/// The program's arguments as whole numbers, in order: each call takes
/// the next one, or `default` when there is none left.
pub fn whole_args() -> impl FnMut(u32) -> u32 {
    let mut args = std::env::args().skip(1);
    move |default| {
        args.next()
            .map(|s| s.parse().expect("arguments are whole numbers"))
            .unwrap_or(default)
    }
}
