//! Sockets as a phone opens them: bound to the phone's own source address
//! before connecting, TLS through rustls (a connection's first request
//! queued behind the handshake), and HTTP/1.1 exchanges.
//!
//! HTTP is a small client of its own rather than hyper's: a phone sends
//! one request at a time (on one kept connection for the web services,
//! else `Connection: close`), needs the `X-Ms-diagnostics` and
//! `Retry-After` headers and the status, must count a firmware image's
//! bytes without keeping them, and must never panic on a server's answer.
//! Reading an answer is `phonestorm_proto::http`'s (sans-IO, fuzzed); this
//! module feeds it what the socket gives, against a connection driver
//! task, body type plumbing and pool per phone with hyper. This module
//! does not own what is sent (the stages do) nor SIP framing (`sip.rs`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use phonestorm_proto::http;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio_rustls::client::TlsStream;

use crate::{Failure, FailureKind, Shortage};

/// Maps a socket error to the report categories.
pub(crate) fn io_failure(what: &str, e: &io::Error) -> Failure {
    if let Some(short) = shortage(e) {
        return Failure::new(
            FailureKind::Local(short),
            format!("{what}: {e} (on this machine)"),
        );
    }
    let kind = match e.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => FailureKind::Refused,
        io::ErrorKind::TimedOut => FailureKind::Timeout,
        io::ErrorKind::InvalidData => FailureKind::Tls,
        _ => FailureKind::Other,
    };
    Failure::new(kind, format!("{what}: {e}"))
}

/// What this machine ran short of, if `e` says it did rather than that
/// the far end failed: no descriptor left for the process (EMFILE) or the
/// system (ENFILE), no free local port for the source address (EADDRINUSE
/// from a bind to port 0, EADDRNOTAVAIL from a connect; a source address
/// not on this machine is refused before the run), no socket buffer
/// (ENOBUFS) or memory (ENOMEM). std files EMFILE, ENFILE and ENOBUFS
/// under "uncategorized", so they are told by their errno.
fn shortage(e: &io::Error) -> Option<Shortage> {
    use rustix::io::Errno;
    match e.kind() {
        io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable => {
            return Some(Shortage::Ports);
        }
        io::ErrorKind::OutOfMemory => return Some(Shortage::Memory),
        _ => {}
    }
    match Errno::from_io_error(e)? {
        Errno::MFILE | Errno::NFILE => Some(Shortage::Files),
        Errno::NOBUFS | Errno::NOMEM => Some(Shortage::Memory),
        _ => None,
    }
}

/// A UDP socket on the phone's source address, any port.
pub(crate) async fn udp(source: Ipv4Addr) -> Result<UdpSocket, Failure> {
    UdpSocket::bind(SocketAddr::from((source, 0)))
        .await
        .map_err(|e| io_failure(&format!("bind udp {source}"), &e))
}

/// TCP to `to` from the phone's source address: bind first, so a run can
/// spread its connections over a range of loopback addresses (and, on a
/// real network, over the addresses it was given).
pub(crate) async fn connect(source: Ipv4Addr, to: SocketAddr) -> Result<TcpStream, Failure> {
    let s = bound(source, to)?
        .connect(to)
        .await
        .map_err(|e| io_failure(&format!("connect {to}"), &e))?;
    // SIP and SOAP exchanges are small request/answer pairs: Nagle only
    // adds latency to them.
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A TCP socket for `to`, bound to `source` unless that is `0.0.0.0` or
/// `to` is IPv6, its port left for `connect` to pick.
fn bound(source: Ipv4Addr, to: SocketAddr) -> Result<TcpSocket, Failure> {
    let sock = match to.ip() {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| io_failure(&format!("connect {to}"), &e))?;
    if to.is_ipv4() && !source.is_unspecified() {
        defer_port(&sock);
        sock.bind(SocketAddr::from((source, 0)))
            .map_err(|e| io_failure(&format!("bind {source}"), &e))?;
    }
    Ok(sock)
}

/// Asks the kernel to leave the source port unchosen at `bind` and pick it
/// at `connect` (`IP_BIND_ADDRESS_NO_PORT`, Linux 4.2). A bind to port 0
/// otherwise reserves a port of the address for every destination, so one
/// source address held at most one ephemeral range of connections in all,
/// however many Front Ends and services the phones reach; picked at
/// connect, a port need only be free for that destination, as it is for a
/// socket that never bound. Where the kernel refuses the option the bind
/// reserves as before, which only narrows the ports again.
fn defer_port(sock: &TcpSocket) {
    let _ =
        nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::IpBindAddressNoPort, &true);
}

/// TLS over `tcp`, verifying `name` as `config` says.
pub(crate) async fn tls<S: AsyncRead + AsyncWrite + Unpin>(
    config: Arc<ClientConfig>,
    versions: Versions,
    name: &str,
    tcp: S,
) -> Result<TlsStream<S>, Failure> {
    Ok(tls_sending(config, versions, name, tcp, &[]).await?.0)
}

/// The TLS versions a configuration was built with, which rustls does not
/// give back: for the detail of a failure.
pub(crate) type Versions = &'static [&'static rustls::SupportedProtocolVersion];

/// As [`tls`], with `first` queued before the handshake. rustls holds it
/// until the handshake allows application data and then sends it behind
/// the client's Finished, in the same write and segment, rather than in a
/// write of its own a moment later (it is not early data: nothing goes out
/// before the server is verified). Returns how much of `first` was queued:
/// all of it, unless it outgrows rustls' plaintext buffer.
pub(crate) async fn tls_sending<S: AsyncRead + AsyncWrite + Unpin>(
    config: Arc<ClientConfig>,
    versions: Versions,
    name: &str,
    tcp: S,
    first: &[u8],
) -> Result<(TlsStream<S>, usize), Failure> {
    let server = ServerName::try_from(name.to_owned())
        .map_err(|e| Failure::new(FailureKind::Other, format!("server name {name}: {e}")))?;
    let mut queued = 0;
    let stream = tokio_rustls::TlsConnector::from(config.clone())
        .connect_with(server, tcp, |conn| {
            if !first.is_empty() {
                queued = io::Write::write(&mut conn.writer(), first).unwrap_or(0);
            }
        })
        .await
        .map_err(|e| {
            let what = format!("tls {name}");
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return tls_failure(&what, tls, config.crypto_provider(), versions);
            }
            let mut f = io_failure(&what, &e);
            if e.kind() == io::ErrorKind::InvalidData || e.get_ref().is_some() {
                f.kind = FailureKind::Tls;
            }
            f
        })?;
    Ok((stream, queued))
}

/// A TLS error as a failure. When the handshake found nothing in common
/// with the server, the detail also says what the phone offers: against a
/// real pool that is the first thing to compare with the servers' TLS
/// settings (a pool that allows only CBC suites, RSA key exchange or TLS
/// 1.0 and 1.1 meets none of it, as rustls implements none of those).
pub(crate) fn tls_failure(
    what: &str,
    e: &rustls::Error,
    provider: &rustls::crypto::CryptoProvider,
    versions: Versions,
) -> Failure {
    use rustls::AlertDescription as A;
    let detail = match e {
        // RFC 5246 section 7.2.2 (and RFC 8446 section 6.2): the alerts a
        // server sends when it can take nothing the ClientHello offers. In
        // TLS 1.2 handshake_failure is also the answer of a server that
        // insists on a client certificate the phone did not send (RFC
        // 5246 section 7.4.6).
        rustls::Error::AlertReceived(A::HandshakeFailure) => format!(
            "{what}: {e}: the server takes none of what the phone offers ({}), or wants a client certificate",
            offered(provider, versions)
        ),
        rustls::Error::AlertReceived(A::InsufficientSecurity | A::ProtocolVersion) => format!(
            "{what}: {e}: the server takes none of what the phone offers ({})",
            offered(provider, versions)
        ),
        // The pool's chain and the roots the phone holds do not meet: on a
        // real pool, most often an intermediate CA the pool's servers do
        // not send, or a root chain given from another CA.
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => format!(
            "{what}: {e}: the server's certificate does not lead to a root the phone holds (from the root_chain stage, or given)"
        ),
        // The server chose something the phone did not offer, or offered
        // nothing it takes.
        rustls::Error::PeerIncompatible(_) => {
            format!(
                "{what}: {e}: the phone takes only {}",
                offered(provider, versions)
            )
        }
        _ => format!("{what}: {e}"),
    };
    Failure::new(FailureKind::Tls, detail)
}

/// What a configuration offers, for a person: `TLS 1.2; AES-GCM,
/// ChaCha20-Poly1305; key exchange over X25519, secp256r1, secp384r1`.
fn offered(provider: &rustls::crypto::CryptoProvider, versions: Versions) -> String {
    let names: Vec<&str> = versions
        .iter()
        .map(|v| match v.version {
            rustls::ProtocolVersion::TLSv1_2 => "1.2",
            rustls::ProtocolVersion::TLSv1_3 => "1.3",
            _ => "of another version",
        })
        .collect();
    let mut ciphers: Vec<String> = Vec::new();
    for s in &provider.cipher_suites {
        if !versions.iter().any(|v| v.version == s.version().version) {
            continue;
        }
        let name = s.suite().as_str().unwrap_or("an unnamed suite");
        let cipher = if name.contains("_GCM_") {
            "AES-GCM"
        } else if name.contains("CHACHA20") {
            "ChaCha20-Poly1305"
        } else {
            name
        }
        .to_owned();
        if !ciphers.contains(&cipher) {
            ciphers.push(cipher);
        }
    }
    let groups: Vec<String> = provider
        .kx_groups
        .iter()
        .filter(|g| versions.iter().any(|v| g.usable_for_version(v.version)))
        .map(|g| format!("{:?}", g.name()))
        .collect();
    format!(
        "TLS {}; {}; key exchange over {}",
        names.join(" and "),
        ciphers.join(", "),
        groups.join(", ")
    )
}

/// How long a phone waits to hand its close_notify to the kernel when it
/// leaves a TLS connection: a server that stalls reading does not hold
/// the phone up.
const CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(1);

/// The TCP socket under a phone's connection, plain or TLS.
pub(crate) trait Tcp {
    /// The socket itself, for options tokio does not set (`TCP_CORK`).
    fn tcp(&self) -> &TcpStream;
}

impl Tcp for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl<T: Tcp + ?Sized> Tcp for Box<T> {
    fn tcp(&self) -> &TcpStream {
        (**self).tcp()
    }
}

impl<S: Tcp> Tcp for TlsStream<S> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0.tcp()
    }
}

/// Ends a TLS connection as TLS requires (RFC 5246 section 7.2.1): a
/// close_notify, then the TCP FIN, bounded by [`CLOSE_BOUND`]. The
/// server's own close_notify is not waited for, which the same section
/// allows. Errors change nothing the phone could act on.
///
/// The socket is corked first (`TCP_CORK`): the close_notify then waits in
/// the send queue, and the FIN that `shutdown` adds rides on it, one
/// segment where there were two. `shutdown` sends whatever is queued,
/// cork or not, so nothing waits for the cork's 200 ms ceiling. On a plain
/// TCP connection the FIN goes alone, as before.
pub(crate) async fn close_tls<S: AsyncWrite + Tcp + Unpin>(io: &mut S) {
    let _ = rustix::net::sockopt::set_tcp_cork(io.tcp(), true);
    let _ = tokio::time::timeout(CLOSE_BOUND, io.shutdown()).await;
}

/// What to do with a response body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body {
    /// Keep it, up to this many bytes (more is a parse failure).
    Keep(usize),
    /// Count it and drop it (a firmware image).
    Count,
}

/// One HTTP answer.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) diagnostics: Option<String>,
    pub(crate) retry_after: Option<u32>,
    pub(crate) body: Vec<u8>,
    pub(crate) body_len: u64,
    /// The body's end was known (a length or the last chunk) and the server
    /// did not say `Connection: close`: the connection can carry another
    /// request.
    pub(crate) reusable: bool,
}

/// One request and its answer; with `keep_alive` the connection may serve
/// the next request ([`Answer::reusable`] says whether it can).
#[allow(clippy::too_many_arguments)] // an HTTP request has this many parts
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    keep: Body,
    keep_alive: bool,
) -> Result<Answer, Failure> {
    let raw = request(method, host, path, headers, body, keep_alive);
    send_request(io, &raw, keep, keep_alive).await
}

/// Sends `raw` (what [`request`] made, or the part of it not yet queued)
/// and reads the answer, as [`exchange`].
pub(crate) async fn send_request<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    raw: &[u8],
    keep: Body,
    keep_alive: bool,
) -> Result<Answer, Failure> {
    if !raw.is_empty() {
        io.write_all(raw)
            .await
            .map_err(|e| io_failure("http send", &e))?;
    }
    io.flush().await.map_err(|e| io_failure("http send", &e))?;
    let mut a = read_answer(io, keep).await?;
    a.reusable &= keep_alive;
    Ok(a)
}

/// An HTTP/1.1 request: the request line, `Host`, `Connection`,
/// `Content-Length`, `headers`, and `body`.
pub(crate) fn request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    use std::io::Write as _;
    let connection = if keep_alive { "keep-alive" } else { "close" };
    // Sized once: the fixed lines take under 80 bytes besides their
    // values, each header 4, so the body is never copied into a buffer
    // grown on the way (this runs for every request of every phone).
    let fields: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let mut raw = Vec::with_capacity(
        80 + method.len() + path.len() + host.len() + connection.len() + fields + body.len(),
    );
    // Writing into a Vec cannot fail.
    let _ = write!(
        raw,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        for part in [n.as_bytes(), b": ", v.as_bytes(), b"\r\n"] {
            raw.extend_from_slice(part);
        }
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

/// Reads what the connection has into `into`: `false` at the end of the
/// stream.
async fn read_more<S: AsyncRead + Unpin>(io: &mut S, into: &mut Vec<u8>) -> Result<bool, Failure> {
    into.reserve(READ);
    let n = io
        .read_buf(into)
        .await
        .map_err(|e| io_failure("http read", &e))?;
    Ok(n > 0)
}

fn parse_failure(detail: impl Into<String>) -> Failure {
    Failure::new(FailureKind::Parse, detail)
}

/// Reads one answer: its head by [`http::parse_head`], then its body as
/// the head frames it, each read handed on and not gathered unless `keep`
/// says so. One buffer serves the head and then every read of the body.
async fn read_answer<S: AsyncRead + Unpin>(io: &mut S, keep: Body) -> Result<Answer, Failure> {
    // READ, not less: the first read reserves that much anyway, and a
    // smaller start would only be allocated to be thrown away.
    let mut buf: Vec<u8> = Vec::with_capacity(READ);
    let (head, mut start) = loop {
        match http::parse_head(&buf) {
            Ok(Some(h)) => break h,
            Ok(None) => {
                if !read_more(io, &mut buf).await? {
                    return Err(Failure::new(
                        FailureKind::Refused,
                        "connection closed before an http answer",
                    ));
                }
            }
            Err(e) => return Err(parse_failure(format!("http: {e}"))),
        }
    };
    let mut body = BodyReader {
        keep,
        out: Vec::new(),
        len: 0,
    };
    let mut chunked = http::Chunked::new();
    // Bytes after the body: the connection is out of step with its answers
    // and carries no further request.
    let mut overrun = false;
    loop {
        let tail = buf.get(start..).unwrap_or_default();
        let done = match head.framing {
            http::Framing::Chunked => {
                let left = body.feed(&mut chunked, tail)?;
                overrun = left > 0;
                chunked.is_done()
            }
            http::Framing::Length(length) => {
                let want = usize::try_from(length - body.len).unwrap_or(usize::MAX);
                body.push(tail.get(..want).unwrap_or(tail))?;
                overrun = tail.len() > want;
                body.len >= length
            }
            http::Framing::UntilClose => {
                body.push(tail)?;
                false
            }
        };
        if done {
            break;
        }
        buf.clear();
        start = 0;
        if !read_more(io, &mut buf).await? {
            match head.framing {
                http::Framing::UntilClose => break,
                http::Framing::Chunked => return Err(parse_failure("chunked body cut short")),
                http::Framing::Length(_) => {
                    return Err(parse_failure("http body shorter than content-length"));
                }
            }
        }
    }
    Ok(Answer {
        status: head.status,
        reusable: head.reusable() && !overrun,
        diagnostics: head.diagnostics,
        retry_after: head.retry_after,
        body: body.out,
        body_len: body.len,
    })
}

/// What a read is given room for.
const READ: usize = 4096;

struct BodyReader {
    keep: Body,
    out: Vec<u8>,
    len: u64,
}

impl BodyReader {
    fn push(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.len += data.len() as u64;
        if let Body::Keep(max) = self.keep {
            if self.out.len() + data.len() > max {
                return Err(parse_failure(format!("http body over {max} bytes")));
            }
            self.out.extend_from_slice(data);
        }
        Ok(())
    }

    /// Hands `coded` to the chunked decoder and its data on to
    /// [`BodyReader::push`]; returns how much of `coded` is left once the
    /// decoder is done (0 while it is not).
    fn feed(&mut self, chunked: &mut http::Chunked, mut coded: &[u8]) -> Result<usize, Failure> {
        while !coded.is_empty() && !chunked.is_done() {
            let (used, piece) = chunked
                .step(coded)
                .map_err(|e| parse_failure(format!("http: {e}")))?;
            if let Some(r) = piece {
                self.push(coded.get(r).unwrap_or_default())?;
            }
            coded = coded.get(used..).unwrap_or_default();
        }
        Ok(coded.len())
    }
}

/// The name [`test_server`]'s certificate is for.
#[cfg(test)]
pub(crate) const TEST_SERVER: &str = "pool01.contoso.com";

/// A server configuration for [`TEST_SERVER`] with a fresh self-signed
/// certificate, accepting `versions`; and the certificate, to trust.
#[cfg(test)]
#[allow(clippy::unwrap_used)] // test set-up
pub(crate) fn test_server(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (
    rustls_pki_types::CertificateDer<'static>,
    rustls::ServerConfig,
) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![TEST_SERVER.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    (cert.der().clone(), server)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    /// RFC 9112 section 3 and 5: request line, fields, empty line, body;
    /// built in one buffer sized for it.
    #[test]
    fn rfc9112_3_a_request_is_its_line_fields_and_body() {
        let raw = request(
            "POST",
            "ucupdates-r2.contoso.com",
            "/RequestHandler/ucdevice.upx",
            &[("Content-Type", "text/xml"), ("SOAPAction", "\"x\"")],
            b"<a/>",
            false,
        );
        assert_eq!(
            raw,
            b"POST /RequestHandler/ucdevice.upx HTTP/1.1\r\nHost: ucupdates-r2.contoso.com\r\n\
              Connection: close\r\nContent-Length: 4\r\nContent-Type: text/xml\r\n\
              SOAPAction: \"x\"\r\n\r\n<a/>"
        );
        let big = vec![b'x'; 70_000];
        let raw = request("GET", "h", "/", &[], &big, true);
        assert!(raw.ends_with(&big) && raw.starts_with(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nContent-Length: 70000\r\n\r\n"));
        assert!(
            raw.capacity() - raw.len() < 128,
            "sized to what it holds, give or take the estimate's slack"
        );
    }

    #[tokio::test]
    async fn a_bound_source_leaves_the_port_to_connect() {
        let source = Ipv4Addr::new(127, 0, 0, 3);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        // IP_BIND_ADDRESS_NO_PORT: bound, but no port taken yet, so the
        // port is not held against every other destination.
        let sock = bound(source, to).unwrap();
        assert_eq!(sock.local_addr().unwrap(), SocketAddr::from((source, 0)));
        // connect picks one, and the source is the one asked for.
        let s = sock.connect(to).await.unwrap();
        let local = s.local_addr().unwrap();
        assert_eq!(local.ip(), IpAddr::V4(source));
        assert_ne!(local.port(), 0);
        let s = connect(source, to).await.unwrap();
        assert_eq!(s.local_addr().unwrap().ip(), IpAddr::V4(source));
    }

    #[test]
    fn running_short_on_this_machine_is_local_not_the_pool() {
        use rustix::io::Errno;
        for (errno, short) in [
            (Errno::MFILE, Shortage::Files),
            (Errno::NFILE, Shortage::Files),
            (Errno::ADDRINUSE, Shortage::Ports),
            (Errno::ADDRNOTAVAIL, Shortage::Ports),
            (Errno::NOBUFS, Shortage::Memory),
            (Errno::NOMEM, Shortage::Memory),
        ] {
            let e = io::Error::from_raw_os_error(errno.raw_os_error());
            let f = io_failure("connect 127.0.0.1:5061", &e);
            assert_eq!(f.kind, FailureKind::Local(short), "{errno:?}: {f:?}");
            assert!(f.detail.contains("on this machine"), "{f:?}");
        }
        assert_eq!(
            FailureKind::Local(Shortage::Files).to_string(),
            "local_files"
        );
        // What the far end does stays the pool's.
        for (errno, kind) in [
            (Errno::CONNREFUSED, FailureKind::Refused),
            (Errno::CONNRESET, FailureKind::Refused),
            (Errno::TIMEDOUT, FailureKind::Timeout),
            (Errno::HOSTUNREACH, FailureKind::Other),
        ] {
            let e = io::Error::from_raw_os_error(errno.raw_os_error());
            assert_eq!(io_failure("x", &e).kind, kind, "{errno:?}");
        }
    }

    /// A stream that counts the writes made to it, each vectored write as
    /// one, as a socket's `writev` is one system call and one segment.
    struct Counting<S> {
        inner: S,
        writes: Arc<AtomicUsize>,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let r = Pin::new(&mut self.inner).poll_write(cx, &all);
            if let Poll::Ready(Ok(n)) = &r
                && *n > 0
            {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
            r
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    /// A TLS server on one end of a pipe, whose first 5 bytes of plaintext
    /// the join handle returns; and a TLS 1.3 client configuration that
    /// trusts it, with the other end of the pipe counting its writes.
    fn counted_pair() -> (
        Arc<ClientConfig>,
        Counting<tokio::io::DuplexStream>,
        Arc<AtomicUsize>,
        tokio::task::JoinHandle<Vec<u8>>,
    ) {
        let (cert, server) = test_server(&[&rustls::version::TLS13]);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let (near, far) = tokio::io::duplex(64 * 1024);
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = Counting {
            inner: near,
            writes: writes.clone(),
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let server = tokio::spawn(async move {
            let mut s = acceptor.accept(far).await.unwrap();
            let mut got = vec![0u8; 5];
            s.read_exact(&mut got).await.unwrap();
            got
        });
        (Arc::new(client), counted, writes, server)
    }

    #[tokio::test]
    async fn the_first_request_rides_behind_the_clients_finished() {
        let (client, counted, writes, server) = counted_pair();
        let (mut tls, queued) = tls_sending(client, TLS13, TEST_SERVER, counted, b"hello")
            .await
            .unwrap();
        assert_eq!(queued, 5);
        // ClientHello; then Finished and the request together.
        assert_eq!(writes.load(Ordering::Relaxed), 2);
        tls.flush().await.unwrap();
        assert_eq!(writes.load(Ordering::Relaxed), 2);
        assert_eq!(server.await.unwrap(), b"hello");
    }

    #[tokio::test]
    async fn without_a_first_request_the_handshake_writes_alone() {
        let (client, counted, writes, server) = counted_pair();
        let mut tls = tls(client, TLS13, TEST_SERVER, counted).await.unwrap();
        assert_eq!(writes.load(Ordering::Relaxed), 2);
        tls.write_all(b"hello").await.unwrap();
        tls.flush().await.unwrap();
        assert_eq!(writes.load(Ordering::Relaxed), 3);
        assert_eq!(server.await.unwrap(), b"hello");
    }

    const TLS12: Versions = &[&rustls::version::TLS12];
    const TLS13: Versions = &[&rustls::version::TLS13];

    /// A TLS 1.2 client configuration with no root to trust.
    fn trusting_nothing() -> ClientConfig {
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_protocol_versions(TLS12)
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    }

    /// The failure of a TLS 1.2 handshake with a server that reads the
    /// ClientHello and answers `answer`.
    async fn refused_with(answer: &'static [u8]) -> Failure {
        let config = trusting_nothing();
        let (near, mut far) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut hello = [0u8; 5];
            far.read_exact(&mut hello).await.unwrap();
            assert_eq!(hello[0], 22, "a handshake record comes first");
            far.write_all(answer).await.unwrap();
            far
        });
        let f = match tls(Arc::new(config), TLS12, TEST_SERVER, near).await {
            Ok(_) => panic!("the handshake went through"),
            Err(f) => f,
        };
        drop(server.await.unwrap());
        f
    }

    /// RFC 5246 section 7.2: an alert record (type 21, version 3.3,
    /// length 2), fatal (2), handshake_failure (40), as a pool answers a
    /// ClientHello it has no suite for.
    #[tokio::test]
    async fn rfc5246_7_2_handshake_failure_says_what_the_phone_offers() {
        let f = refused_with(&[21, 3, 3, 0, 2, 2, 40]).await;
        assert_eq!(f.kind, FailureKind::Tls);
        for part in [
            "tls pool01.contoso.com: received fatal alert: HandshakeFailure",
            "(TLS 1.2; AES-GCM, ChaCha20-Poly1305; key exchange over X25519, secp256r1, secp384r1)",
            "client certificate",
        ] {
            assert!(f.detail.contains(part), "{part:?} missing in {f}");
        }
        // ML-KEM hybrids are TLS 1.3 only.
        assert!(
            !f.detail.contains("1.3") && !f.detail.contains("MLKEM"),
            "{f}"
        );
    }

    /// RFC 5246 section 7.2.2: protocol_version (70), as a server limited
    /// to TLS 1.0 answers a TLS 1.2 ClientHello (in a record of its own
    /// version, 3.1).
    #[tokio::test]
    async fn rfc5246_7_2_2_protocol_version_says_what_the_phone_offers() {
        let f = refused_with(&[21, 3, 1, 0, 2, 2, 70]).await;
        assert_eq!(f.kind, FailureKind::Tls);
        assert!(
            f.detail.ends_with(
                "received fatal alert: ProtocolVersion: the server takes none of what the phone offers (TLS 1.2; AES-GCM, ChaCha20-Poly1305; key exchange over X25519, secp256r1, secp384r1)"
            ),
            "{f}"
        );
    }

    /// RFC 5246 section 7.4.1.3 (and RFC 2246's): a ServerHello choosing
    /// TLS 1.0 and TLS_RSA_WITH_AES_128_CBC_SHA, as a server limited to
    /// TLS 1.0 answers. The record and the message carry version 3.1.
    #[tokio::test]
    async fn rfc5246_7_4_1_3_a_tls_1_0_server_hello_says_what_the_phone_takes() {
        const HELLO: [u8; 47] = {
            let mut m = [0u8; 47];
            // Record: handshake (22), version 3.1, 42 bytes.
            m[0] = 22;
            m[1] = 3;
            m[2] = 1;
            m[4] = 42;
            // ServerHello (2), 38 bytes: version 3.1, 32 bytes of random
            // (left zero), no session id, suite 0x002F, no compression.
            m[5] = 2;
            m[8] = 38;
            m[9] = 3;
            m[10] = 1;
            m[44] = 0x00;
            m[45] = 0x2F;
            m
        };
        let f = refused_with(&HELLO).await;
        assert_eq!(f.kind, FailureKind::Tls);
        assert!(f.detail.contains("peer is incompatible"), "{f}");
        assert!(
            f.detail.contains("the phone takes only TLS 1.2; AES-GCM"),
            "{f}"
        );
    }

    /// A server whose certificate chains to no root the phone holds: the
    /// detail says where the phone's roots come from.
    #[tokio::test]
    async fn an_unknown_issuer_says_where_the_roots_come_from() {
        let (_, server) = test_server(TLS12);
        let client = trusting_nothing();
        let (near, far) = tokio::io::duplex(64 * 1024);
        let accept = tokio::spawn(async move {
            tokio_rustls::TlsAcceptor::from(Arc::new(server))
                .accept(far)
                .await
                .is_err()
        });
        let f = match tls(Arc::new(client), TLS12, TEST_SERVER, near).await {
            Ok(_) => panic!("a certificate from no known root was taken"),
            Err(f) => f,
        };
        assert!(accept.await.unwrap(), "the server saw the phone's alert");
        assert_eq!(f.kind, FailureKind::Tls);
        assert_eq!(
            f.detail,
            "tls pool01.contoso.com: invalid peer certificate: UnknownIssuer: the server's certificate does not lead to a root the phone holds (from the root_chain stage, or given)"
        );
    }

    /// Other TLS errors keep rustls' words alone.
    #[test]
    fn other_tls_errors_get_no_list() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let f = tls_failure(
            "tls x",
            &rustls::Error::AlertReceived(rustls::AlertDescription::BadCertificate),
            &provider,
            TLS12,
        );
        assert_eq!(f.detail, "tls x: received fatal alert: BadCertificate");
    }

    /// The hint lists key exchange groups, which is right while every TLS
    /// 1.2 suite offered is ECDHE, as each one rustls has is (TLS 1.3
    /// suites name no key exchange).
    #[test]
    fn every_tls12_suite_offered_is_ecdhe() {
        for s in rustls::crypto::aws_lc_rs::default_provider().cipher_suites {
            let name = s.suite().as_str().unwrap();
            assert!(
                name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_"),
                "{name}"
            );
        }
    }

    async fn read(raw: &[u8], keep: Body) -> Result<Answer, Failure> {
        let mut r = raw;
        read_answer(&mut r, keep).await
    }

    #[tokio::test]
    async fn reads_lengths_chunks_and_headers() {
        let a = read(
            b"HTTP/1.1 401 Unauthorized\r\nX-Ms-diagnostics: 28020;reason=\"x\"\r\nRetry-After: 10\r\nContent-Length: 3\r\n\r\nabc",
            Body::Keep(10),
        )
        .await
        .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (401, &b"abc"[..]));
        assert_eq!(a.diagnostics.as_deref(), Some("28020;reason=\"x\""));
        assert_eq!(a.retry_after, Some(10));
        let c = read(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            Body::Count,
        )
        .await
        .unwrap();
        assert_eq!((c.body_len, c.body.len()), (5, 0));
        assert!(read(b"garbage\r\n\r\n", Body::Count).await.is_err());
        assert!(
            read(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
                Body::Count
            )
            .await
            .is_err()
        );
        assert!(
            read(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789",
                Body::Keep(4)
            )
            .await
            .is_err()
        );
        assert!(
            read(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                Body::Count
            )
            .await
            .is_err()
        );
    }

    /// RFC 9112 section 7.1 asks recipients to guard against chunk sizes
    /// that overflow: a server's garbage is a parse failure with where it
    /// was, never an overflow (a panic in a debug build, a wrong body in a
    /// release one, before the reader moved to `phonestorm_proto::http`).
    #[tokio::test]
    async fn a_chunk_size_past_64_bits_is_a_parse_failure() {
        let f = read(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\n",
            Body::Count,
        )
        .await
        .unwrap_err();
        assert_eq!(f.kind, FailureKind::Parse);
        assert_eq!(
            f.detail,
            "http: invalid HTTP chunked body at byte 16: chunk size over 2^64 - 1"
        );
    }

    /// An interim 100 before the answer is read past (RFC 9110 section
    /// 15.2), where it used to be taken for the answer itself.
    #[tokio::test]
    async fn an_interim_answer_is_read_past() {
        let a = read(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            Body::Keep(10),
        )
        .await
        .unwrap();
        assert_eq!(
            (a.status, a.body.as_slice(), a.reusable),
            (200, &b"hi"[..], true)
        );
    }

    /// What follows a body's end is not kept, and the connection is not
    /// trusted with another request.
    #[tokio::test]
    async fn bytes_past_the_body_end_the_connection() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nextra",
        ] {
            let a = read(raw, Body::Keep(10)).await.unwrap();
            assert_eq!((a.body.as_slice(), a.reusable), (&b"hi"[..], false));
        }
        // Without a length the body runs to the close.
        let a = read(b"HTTP/1.1 200 OK\r\n\r\nto the end", Body::Count)
            .await
            .unwrap();
        assert_eq!((a.body_len, a.reusable), (10, false));
    }
}
