//! The cryptographic floor of a sign-in as the harness meets it: the
//! operations `crypto-floor` counts, in a sign-in's order, with the thread
//! sleeping between them as a phone thread sleeps for each answer, one
//! sign-in after another at a given rate. Prints their time per sign-in
//! so, against the same sequence run back to back just before and after.
//!
//! `crypto-floor` times each operation in a tight loop, every cache warm.
//! A phone thread at 100 sign-ins a second sleeps a dozen times a sign-in,
//! and on a virtual machine a vCPU that sleeps may come back to caches and
//! translations another guest has used. The difference between the two
//! figures is what sleeping costs the cryptography alone, which the
//! harness pays and its floor does not; `bench/README.md` uses it to say
//! how much of the harness's CPU beyond the floor is the machine's.
//!
//!     paced-floor [rate per second (100)] [sign-ins (1000)] [sleeps per sign-in, 0 to 13 (13)]
//!
//! Bounded by its count; no network.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: failing loudly is right

use std::time::{Duration, Instant};

use phonestorm_bench::{Crypto, TLS_DSK_SIGNIN, whole_args};

/// Time spent in the operations of `signins` sign-ins, per sign-in; with
/// `rate`, a sign-in starts every 1/rate s and the thread sleeps after
/// each of its first `sleeps` operations, the sleeps filling half the
/// period (the rest is spent asleep at its end).
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock itself
fn run(c: &mut Crypto, signins: u32, paced: Option<(u32, usize)>) -> Duration {
    let mut spent = Duration::ZERO;
    // The sleep after each of the first `sleeps` operations.
    let gap = paced.map(|(rate, sleeps)| {
        (
            Duration::from_secs(1) / rate / 2 / sleeps.max(1) as u32,
            sleeps,
        )
    });
    let start = Instant::now();
    for i in 0..signins {
        for (j, op) in TLS_DSK_SIGNIN.iter().enumerate() {
            let t = Instant::now();
            c.run(*op);
            spent += t.elapsed();
            if let Some((gap, sleeps)) = gap
                && j < sleeps
            {
                std::thread::sleep(gap);
            }
        }
        if let Some((rate, _)) = paced {
            let next = Duration::from_secs(1) / rate * (i + 1);
            if let Some(rest) = next.checked_sub(start.elapsed()) {
                std::thread::sleep(rest);
            }
        }
    }
    spent / signins.max(1)
}

fn main() {
    let mut arg = whole_args();
    let rate = arg(100).clamp(1, 10_000);
    let signins = arg(1000).max(1);
    let sleeps = (arg(13) as usize).min(TLS_DSK_SIGNIN.len());
    let mut c = Crypto::new();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    // Warm up first, as `crypto-floor` does, so that "before" is not
    // the process's first use of its code and tables.
    run(&mut c, 10, None);
    let before = run(&mut c, signins, None);
    let paced = run(&mut c, signins, Some((rate, sleeps)));
    let after = run(&mut c, signins, None);
    println!(
        "{signins} TLS-DSK sign-ins' cryptography: {:.1} us each back to back, {:.1} us at {rate}/s with {sleeps} sleeps each, {:.1} us back to back again",
        us(before),
        us(paced),
        us(after)
    );
    println!(
        "{}",
        serde_json::json!({
            "rate": rate,
            "signins": signins,
            "sleeps": sleeps,
            "back_to_back_before_us": us(before),
            "paced_us": us(paced),
            "back_to_back_after_us": us(after),
        })
    );
}
