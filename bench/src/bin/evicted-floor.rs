//! The cryptographic floor of a sign-in with the caches emptied between
//! its operations, as the rest of a harness's work empties them: the
//! operations `crypto-floor` counts, in a sign-in's order, and between
//! each two a write to every cache line of a buffer. Prints their time
//! per sign-in so (the writes not counted), against the same sequence run
//! back to back just before and after.
//!
//! `crypto-floor` times each operation in a tight loop, its code, tables
//! and key in the caches. In the harness a signature comes after a
//! connection's worth of other work: rustls' buffers, the parsers, the
//! kernel's socket buffers, and a thousand other phones' state when the
//! machine is saturated. The difference between the two figures is what
//! that costs the cryptography alone; `bench/README.md` uses it to say how
//! much of the harness's CPU beyond the floor is the floor's own
//! operations run cold.
//!
//!     evicted-floor [KiB written between operations (4096)] [sign-ins (500)]
//!
//! Bounded by its count; no network.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: failing loudly is right

use std::time::{Duration, Instant};

use phonestorm_bench::{Crypto, TLS_DSK_SIGNIN, whole_args};

/// Bytes between two writes: one cache line.
const LINE: usize = 64;

/// Time spent in the operations of `signins` sign-ins, per sign-in; with
/// a buffer, every line of it is written after each operation.
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock itself
fn run(c: &mut Crypto, signins: u32, mut evict: Option<&mut [u8]>) -> Duration {
    let mut spent = Duration::ZERO;
    for i in 0..signins {
        for op in TLS_DSK_SIGNIN {
            let t = Instant::now();
            c.run(op);
            spent += t.elapsed();
            if let Some(buf) = evict.as_deref_mut() {
                // A write, not a read: dirty lines must go back to memory
                // before others take their place, as in the harness.
                for b in buf.iter_mut().step_by(LINE) {
                    *b = b.wrapping_add(i as u8 | 1);
                }
                std::hint::black_box(&buf);
            }
        }
    }
    spent / signins.max(1)
}

fn main() {
    let mut arg = whole_args();
    let kib = arg(4096).clamp(1, 1 << 20);
    let signins = arg(500).max(1);
    let mut buf = vec![0u8; kib as usize * 1024];
    let mut c = Crypto::new();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    // Warm up first, as `crypto-floor` does.
    run(&mut c, 10, None);
    let before = run(&mut c, signins, None);
    let evicted = run(&mut c, signins, Some(&mut buf));
    let after = run(&mut c, signins, None);
    println!(
        "{signins} TLS-DSK sign-ins' cryptography: {:.1} us each back to back, {:.1} us with {kib} KiB written between operations, {:.1} us back to back again",
        us(before),
        us(evicted),
        us(after)
    );
    println!(
        "{}",
        serde_json::json!({
            "kib": kib,
            "signins": signins,
            "back_to_back_before_us": us(before),
            "evicted_us": us(evicted),
            "back_to_back_after_us": us(after),
        })
    );
}
