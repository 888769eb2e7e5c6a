//! What the SIP codec costs on the messages TLS-DSK makes big: the 401
//! that carries the server's handshake flight (ServerHello, Certificate,
//! ServerKeyExchange, CertificateRequest, ServerHelloDone) base64 in
//! `gssapi-data`, and the REGISTER whose `Authorization` carries the
//! phone's (Certificate, ClientKeyExchange, CertificateVerify, Finished).
//! Both sides of every sign-in frame, read and build these, the harness
//! and the mock alike, so their cost is per sign-in, not per run.
//!
//! The token sizes are the embedded mock's, as `phonestorm bootstrap`
//! traces them: 2,948 and 1,580 base64 characters. The bytes are random,
//! as a TLS flight's mostly are. Times are medians of nine trials
//! (`phonestorm_bench::time`); the argument is the budget of each of the
//! three in milliseconds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark binary: failing loudly is right

use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use phonestorm_bench::{budget_from_args, time};
use phonestorm_proto::sip::{self, Challenge, Credentials, Framed, Message};

/// Random bytes, base64 as `gssapi-data` carries them.
fn token(raw_len: usize) -> String {
    let mut raw = vec![0u8; raw_len];
    aws_lc_rs::rand::fill(&mut raw).unwrap();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn main() {
    let budget = budget_from_args();
    // 2,211 and 1,185 bytes make the traced 2,948 and 1,580 characters.
    let (server, client) = (token(2211), token(1185));
    let answer = format!(
        "SIP/2.0 401 Unauthorized\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:40112;branch=z9hG4bK1d5a7e90;received=127.0.0.1;ms-received-port=40112;ms-received-cid=1A2B00\r\n\
         From: <sip:user50007@contoso.com>;tag=7c3f1a2e;epid=01010101ab\r\n\
         To: <sip:user50007@contoso.com>;tag=4D2C9F0B\r\n\
         Call-ID: 9b1e6f44c2d84d0f8e1f6a0c3b2d1e00\r\n\
         CSeq: 2 REGISTER\r\n\
         Date: Fri, 04 Dec 2026 15:00:00 GMT\r\n\
         WWW-Authenticate: TLS-DSK opaque=\"318C2DAF\", gssapi-data=\"{server}\", realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\", version=4\r\n\
         Server: RTC/7.0\r\n\
         Content-Length: 0\r\n\r\n"
    );

    let frame = time(budget, || match sip::frame(black_box(answer.as_bytes())) {
        Ok(Framed::Message { message, .. }) => drop(black_box(message)),
        other => panic!("the 401 did not frame: {other:?}"),
    });
    let framed = sip::parse(answer.as_bytes()).unwrap();
    let read = time(budget, || {
        let value = framed.header("WWW-Authenticate").unwrap();
        let c = Challenge::parse(black_box(value)).unwrap();
        black_box(c.gssapi_data().unwrap().len());
    });
    let build = time(budget, || {
        let c = Credentials::new("TLS-DSK")
            .with("qop", "auth")
            .with("realm", "SIP Communications Service")
            .with("opaque", "318C2DAF")
            .with("targetname", "fe01.contoso.com")
            .with("version", "4")
            .with("gssapi-data", black_box(client.as_str()));
        let mut m = Message::request("REGISTER", "sip:contoso.com").unwrap();
        m.push_header(
            "Via",
            "SIP/2.0/TLS 127.0.0.1:40112;branch=z9hG4bK1d5a7e91;alias",
        )
        .unwrap();
        m.push_header("CSeq", "3 REGISTER").unwrap();
        m.push_header("Authorization", &c.to_string()).unwrap();
        black_box(m.encode());
    });

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("operation                                        time (us)");
    println!(
        "frame the server's leg ({:>5} B)                {:>9.2}",
        answer.len(),
        us(frame)
    );
    println!(
        "read its challenge                               {:>9.2}",
        us(read)
    );
    println!(
        "build and encode the phone's leg                 {:>9.2}",
        us(build)
    );
    println!(
        "{}",
        serde_json::json!({
            "frame_server_leg_us": us(frame),
            "read_challenge_us": us(read),
            "build_client_leg_us": us(build),
            "server_leg_bytes": answer.len(),
        })
    );
}
