//! What one sleep-and-wake costs on this machine: a UDP ping-pong over
//! loopback between two threads that block in the kernel, as a phone
//! thread and the mock do for every answer.
//!
//! The harness's CPU per sign-in depends on it. At modest rates the phone
//! thread sleeps until each answer and is woken for it, and every request
//! wakes one of the mock's sleeping threads, charged to the sender on
//! loopback. On bare metal a round trip of that kind costs a few
//! microseconds of CPU; in a virtual machine, where the wake-up is an
//! inter-processor interrupt the hypervisor carries, it can cost ten times
//! that. `bench/README.md` uses this figure to say how much of the
//! harness's CPU is the machine's and how much its own. Run it as is (the
//! threads land on different cores) and under `taskset -c 0` (one core, no
//! interrupt between cores) to see the difference.
//!
//! Traffic stays on 127.0.0.1; the loop is bounded by its count, and
//! each wait by a five-second read timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: failing loudly is right

use std::net::UdpSocket;
use std::time::Instant;

/// CPU time (user + system) of the calling thread, in seconds, from
/// `/proc/thread-self/stat` (fields 14 and 15, in the kernel's fixed 100
/// ticks a second).
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // The command name (field 2) may hold spaces; count from its ')'.
    let (_, rest) = stat.rsplit_once(')').unwrap();
    // `rest` starts with the space before field 3: field n is item n - 2.
    let ticks: u64 = rest
        .split(' ')
        .skip(12)
        .take(2)
        .map(|f| f.parse::<u64>().unwrap())
        .sum();
    ticks as f64 / 100.0
}

#[allow(clippy::disallowed_methods)] // a benchmark reads the clock itself
fn main() {
    let round_trips: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(server.local_addr().unwrap()).unwrap();
    // Loopback does not lose datagrams, but a benchmark must not hang if
    // one ever were: a read that waits this long fails the run instead.
    for s in [&client, &server] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
    }
    let echo = std::thread::spawn(move || {
        let start = thread_cpu();
        let mut buf = [0u8; 64];
        for _ in 0..round_trips {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(buf.get(..n).unwrap(), from).unwrap();
        }
        thread_cpu() - start
    });
    let mut buf = [0u8; 64];
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    for _ in 0..round_trips {
        client.send(&buf[..32]).unwrap();
        client.recv(&mut buf).unwrap();
    }
    let wall = t0.elapsed().as_secs_f64();
    let client_cpu = thread_cpu() - cpu0;
    let echo_cpu = echo.join().unwrap();
    let per = |s: f64| s / f64::from(round_trips) * 1e6;
    println!(
        "{round_trips} round trips: {:.1} us each; CPU per round trip: {:.1} us the sender, {:.1} us the echo",
        per(wall),
        per(client_cpu),
        per(echo_cpu)
    );
    println!(
        "{}",
        serde_json::json!({
            "round_trip_us": per(wall),
            "sender_cpu_us": per(client_cpu),
            "echo_cpu_us": per(echo_cpu),
        })
    );
}
