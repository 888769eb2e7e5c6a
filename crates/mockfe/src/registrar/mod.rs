//! The mock Front End's SIP registrar: SIP over TLS and TCP, one listener
//! pair per Front End (stage 9 of PROTOCOL.md).
//!
//! This module owns the connections: one task per connection, stream
//! framing with `phonestorm_proto::sip::frame`, CRLF keep-alives
//! (RFC 5626 section 3.5.1), the idle and partial-message timeouts, the
//! TLS handshake with an optional client certificate, and the fault knobs
//! (reset on accept, slow and garbage answers). What a request gets back
//! is decided in `answer`; the pool-wide binding state lives in
//! [`Registrations`]. It owns no wire format: messages are built and read
//! with the proto codec the phones use too.
//!
//! Authentication follows `registrar.auth`. By default it is [MS-SIPAE]
//! TLS-DSK as a pool runs it ([`dsk`]): the 401 offers NTLM, Kerberos and
//! TLS-DSK, the phone tunnels a TLS 1.2 handshake with its user certificate
//! in `gssapi-data`, and from then on every request and answer is signed.
//! The default mode also accepts [MS-SIPAE] NTLM (a pool's CX700 phones
//! use it), through the same SA table; `auth = "ntlm"` offers NTLM alone.
//! With `auth = "certificate"` a phone whose verified TLS client
//! certificate names its From URI is authenticated at once, as a standard
//! registrar does; any other REGISTER gets the 401. `auth = "digest"`
//! challenges with RFC 3261 Digest against the directory's passwords
//! ([`digest`]).

mod answer;
pub mod digest;
pub mod dsk;
mod table;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use phonestorm_proto::sip::{self, Framed, KeepAlive};
use rand::RngExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use crate::dns::FrontEndPorts;
pub use table::{Binding, Bound, Registrations};

use crate::ca::MockCa;
use crate::capacity::Station;
use crate::config::RegistrarConfig;
use crate::directory::Directory;
use crate::metrics::MockMetrics;
use crate::{Result, clock};
use answer::{Peer, SERVICE};

/// Everything one Front End's registrar needs. Shared by its two listeners.
#[derive(Debug)]
pub struct RegistrarCtx {
    /// This Front End's index in `front_ends`.
    pub index: usize,
    /// Every Front End of the pool with its SIP ports, for 301 targets.
    pub front_ends: Vec<FrontEndPorts>,
    /// Expiry bounds, keep-alive timeout, endpoint limit, faults.
    pub config: RegistrarConfig,
    /// The users.
    pub directory: Arc<Directory>,
    /// The registrar's capacity model (one per Front End).
    pub station: Arc<Station>,
    /// The pool's back-end store, consulted on a user's first registration.
    pub backend: Arc<Station>,
    /// Where answers, malformed input and faults are counted.
    pub metrics: MockMetrics,
    /// The SIP domain.
    pub sip_domain: String,
    /// The Certificate Provisioning URL, offered as TLS-DSK's `sts-uri`.
    pub cert_prov_url: String,
    /// The pool's bindings, shared by every Front End.
    pub registrations: Arc<Registrations>,
    /// Time allowed for a TLS handshake and for the rest of a message
    /// once its first byte arrived.
    pub read_timeout: Duration,
    /// The TLS-DSK security associations; `None` leaves TLS-DSK
    /// unanswered (every REGISTER is challenged) in `auth = "tls-dsk"`.
    pub dsk: Option<Arc<dsk::DskServer>>,
    /// The Digest nonces of `auth = "digest"`; `None` leaves every
    /// REGISTER challenged there.
    pub digest: Option<Arc<digest::DigestServer>>,
}

impl RegistrarCtx {
    /// This Front End's FQDN (empty if `index` is out of range).
    pub fn fqdn(&self) -> &str {
        self.front_ends
            .get(self.index)
            .map_or("", |f| f.fqdn.as_str())
    }
}

/// The TLS server side of the registrar: TLS 1.2 and 1.3, the mock's
/// server chain, and an optional client certificate that must chain to the
/// mock CA when presented (the user certificate a phone got at stage 8).
pub fn tls_acceptor(ca: &MockCa) -> Result<TlsAcceptor> {
    ca.tls_acceptor(true)
}

/// Serves SIP on `listener` (over TLS when `tls` is given) until `stop` is
/// cancelled.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ctx: Arc<RegistrarCtx>,
    stop: CancellationToken,
) {
    while let Some((stream, _)) =
        crate::http::next_connection(&listener, &ctx.metrics, SERVICE, &stop).await
    {
        let (tls, ctx, stop) = (tls.clone(), ctx.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection(stream, tls, &ctx) => {}
            }
        });
    }
}

async fn connection(stream: TcpStream, tls: Option<TlsAcceptor>, ctx: &RegistrarCtx) {
    let faults = &ctx.config.faults;
    if faults.reset > 0.0 && rand::rng().random::<f64>() < faults.reset {
        ctx.metrics.fault(SERVICE, "reset");
        // SO_LINGER 0: the close sends RST, as a crashed worker's would.
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        drop(stream);
        return;
    }
    let _ = stream.set_nodelay(true);
    match tls {
        None => run(stream, Peer::default(), ctx).await,
        Some(acceptor) => {
            let Ok(Ok(tls)) = tokio::time::timeout(ctx.read_timeout, acceptor.accept(stream)).await
            else {
                ctx.metrics.malformed(SERVICE, "tls_handshake");
                return;
            };
            let identities = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|der| certificate_identities(der))
                .unwrap_or_default();
            run(
                tls,
                Peer {
                    tls: true,
                    identities,
                },
                ctx,
            )
            .await;
        }
    }
}

/// The names a (verified) client certificate vouches for: its URI SANs
/// and subject CNs, without `sip:`. [MS-OCAUTHWS] user certificates name
/// the user's SIP URI; the mock CA puts it in both places.
pub(crate) fn certificate_identities(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(u) = name {
                names.push((*u).to_owned());
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            names.push(s.to_owned());
        }
    }
    names
        .into_iter()
        .map(|n| {
            n.get(..4)
                .filter(|p| p.eq_ignore_ascii_case("sip:"))
                .and_then(|_| n.get(4..))
                .map_or_else(|| n.clone(), str::to_owned)
        })
        .collect()
}

/// Room made in the buffer before each read. Reading straight into the
/// message buffer (no second chunk buffer), and dropping a grown buffer
/// once it is empty, keeps a held connection at one 4 KiB buffer: a
/// registrar holds one connection per signed-in phone.
const READ_RESERVE: usize = 4 * 1024;

/// The request/answer loop of one connection.
async fn run<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, peer: Peer, ctx: &RegistrarCtx) {
    let keepalive = ctx.config.keepalive_timeout;
    // The phone sends its CRLF within `timeout` of the last traffic; a
    // tenth more absorbs its timer jitter and the network before the
    // connection is declared dead.
    let idle = keepalive + keepalive / 10;
    let malformed = |kind: &'static str| ctx.metrics.malformed(SERVICE, kind);
    let mut buf: Vec<u8> = Vec::new();
    let mut partial_since = None;
    loop {
        loop {
            match sip::frame(&buf) {
                Ok(Framed::KeepAlive { kind, consumed }) => {
                    buf.drain(..consumed.min(buf.len()));
                    // RFC 5626 3.5.1: a ping gets a pong; a pong needs nothing.
                    if kind == KeepAlive::Ping && write(&mut s, b"\r\n").await.is_err() {
                        return;
                    }
                }
                Ok(Framed::Message { message, consumed }) => {
                    buf.drain(..consumed.min(buf.len()));
                    partial_since = None;
                    let Some(a) = answer::answer(ctx, &peer, &message).await else {
                        continue;
                    };
                    if send(&mut s, a.message.encode(), a.status, ctx)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(phonestorm_proto::Error::Incomplete { .. }) => break,
                Err(e) => {
                    malformed("framing");
                    // The stream cannot be re-synchronised: answer what can
                    // be answered, then close.
                    if let Some((bytes, status)) = bad_framing(ctx, &buf, &e) {
                        let _ = send(&mut s, bytes, status, ctx).await;
                    }
                    close(&mut s, ctx).await;
                    return;
                }
            }
        }
        let now = clock::now();
        let deadline = if buf.is_empty() {
            partial_since = None;
            now + idle
        } else {
            *partial_since.get_or_insert(now) + ctx.read_timeout
        };
        if buf.is_empty() && buf.capacity() > READ_RESERVE {
            buf = Vec::new();
        }
        buf.reserve(READ_RESERVE);
        match tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => {
                if !buf.is_empty() {
                    malformed("timeout");
                }
                close(&mut s, ctx).await;
                return;
            }
        }
    }
}

/// A 400 for a request whose header section parses but whose framing does
/// not (on a stream, a missing Content-Length: RFC 3261 section 18.3),
/// with the framer's reason in a Warning.
fn bad_framing(
    ctx: &RegistrarCtx,
    buf: &[u8],
    e: &phonestorm_proto::Error,
) -> Option<(Vec<u8>, u16)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let req = sip::parse(buf.get(..end + 4)?).ok()?;
    req.method()?;
    let clean: String = e
        .to_string()
        .chars()
        .filter(|c| *c != '"' && *c != '\\')
        .collect();
    let resp = sip::MessageBuilder::reply_to(&req, 400, "Bad Request", None)
        .header("Warning", &format!("399 {} \"{clean}\"", ctx.fqdn()))
        .build()
        .ok()?;
    Some((resp.encode(), 400))
}

/// Sends an answer through the fault knobs and counts it.
async fn send<S: AsyncWrite + Unpin>(
    s: &mut S,
    mut bytes: Vec<u8>,
    status: u16,
    ctx: &RegistrarCtx,
) -> std::io::Result<()> {
    let faults = &ctx.config.faults;
    ctx.metrics.answer(SERVICE, &status.to_string());
    if let Some(d) = faults.slow {
        ctx.metrics.fault(SERVICE, "slow");
        tokio::time::sleep(d).await;
    }
    if faults.garbage > 0.0 && rand::rng().random::<f64>() < faults.garbage {
        ctx.metrics.fault(SERVICE, "garbage");
        rand::rng().fill(bytes.as_mut_slice());
    }
    write(s, &bytes).await
}

async fn write<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    s.write_all(bytes).await?;
    // TLS buffers records until flushed.
    s.flush().await
}

/// Closes politely (TLS close_notify, TCP FIN), bounded so a peer that
/// stopped reading cannot hold the task.
async fn close<S: AsyncWrite + Unpin>(s: &mut S, ctx: &RegistrarCtx) {
    let _ = tokio::time::timeout(ctx.read_timeout, s.shutdown()).await;
}
