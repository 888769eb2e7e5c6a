//! The HTTP and HTTPS plumbing of the mock's web services.
//!
//! hyper serves HTTP/1.1 on a listener, over tokio-rustls when a TLS
//! acceptor is given. This module owns what every web service needs alike:
//! one task per connection, a read timeout on the request head and body,
//! a body size limit, the TLS handshake timeout, connection resets on
//! request of a fault knob, noticing a TLS client that leaves without a
//! close_notify, and graceful stop. What a path answers belongs to the
//! [`Router`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
pub use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::metrics::MockMetrics;

/// A response body: small answers in full, firmware images streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// One request, with its body already read within the limits.
#[derive(Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the request came over TLS.
    pub tls: bool,
}

/// What a route answers: a response, or a connection reset (fault knob).
#[derive(Debug)]
pub enum Reply {
    /// Send this response.
    Response(Response<Body>),
    /// Reset the connection instead of answering.
    Reset,
}

/// Maps requests to answers.
pub trait Router: Send + Sync + 'static {
    /// Answers one request.
    fn route(&self, req: Request) -> impl Future<Output = Reply> + Send;

    /// A TLS client ended its connection without a close_notify, which
    /// RFC 5246 section 7.2.1 (and RFC 8446 section 6.1) requires before
    /// closing; hyper takes it for a plain close, so only the router can
    /// count it.
    fn closed_without_close_notify(&self) {}
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted; 413 beyond.
    pub max_body: usize,
    /// Time allowed for the request head, the body, and a TLS handshake.
    pub read_timeout: Duration,
}

/// A full body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A plain-text response with a status, as used for refusals of bad input.
pub fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(full(msg.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The next connection on `listener`, or `None` once `stop` is cancelled.
/// Accept errors (out of descriptors, a connection that died in the
/// backlog) pause briefly and retry: one bad moment must not stop a server.
/// Running out of descriptors or memory is counted for `service`
/// ([`MockMetrics::accept_shortage`]): the connection waits meanwhile,
/// and its client may blame the server for the wait.
pub async fn next_connection(
    listener: &TcpListener,
    metrics: &MockMetrics,
    service: &str,
    stop: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    use rustix::io::Errno;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return None,
            r = listener.accept() => match r {
                Ok(x) => return Some(x),
                Err(e) => {
                    if Errno::from_io_error(&e).is_some_and(|n| {
                        matches!(n, Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
                    }) {
                        metrics.accept_shortage(service);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            },
        }
    }
}

/// Serves `listener` until `stop` is cancelled.
pub async fn serve<R: Router>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Arc<R>,
    limits: Limits,
    (metrics, service): (MockMetrics, &'static str),
    stop: CancellationToken,
) {
    while let Some((stream, peer)) = next_connection(&listener, &metrics, service, &stop).await {
        let (tls, router, stop) = (tls.clone(), router.clone(), stop.clone());
        tokio::spawn(async move {
            let _ = connection(stream, peer, tls, router, limits, stop).await;
        });
    }
}

async fn connection<R: Router>(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: Arc<R>,
    limits: Limits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    // A reset fault sets SO_LINGER 0 on the socket as hyper drops it, so
    // the close sends RST, which is what a crashing worker process looks
    // like. The socket itself carries the flag ([`Watched`]'s drop), not
    // a duplicate of it: a connection costs the process one open file.
    let reset = Arc::new(AtomicBool::new(false));
    let stream = Watched {
        inner: stream,
        truncated: None,
        reset: Some(reset.clone()),
    };
    let is_tls = tls.is_some();
    let counter = router.clone();
    let service = {
        let reset = reset.clone();
        hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let (router, reset) = (router.clone(), reset.clone());
            async move {
                match handle(req, peer, is_tls, &*router, limits).await {
                    Reply::Response(r) => Ok(r),
                    Reply::Reset => {
                        reset.store(true, Ordering::Release);
                        Err(ResetConnection)
                    }
                }
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout);
    match tls {
        Some(acceptor) => {
            let Ok(Ok(tls_stream)) =
                tokio::time::timeout(limits.read_timeout, acceptor.accept(stream)).await
            else {
                return Ok(());
            };
            let truncated = Arc::new(AtomicBool::new(false));
            let io = Watched {
                inner: tls_stream,
                truncated: Some(truncated.clone()),
                reset: None,
            };
            let r = drive(builder.serve_connection(TokioIo::new(io), service), &stop).await;
            if truncated.load(Ordering::Acquire) {
                counter.closed_without_close_notify();
            }
            r
        }
        None => {
            drive(
                builder.serve_connection(TokioIo::new(stream), service),
                &stop,
            )
            .await
        }
    }
}

/// What [`Watched`] may reset: the TCP socket, not a layer above it.
trait Socket {
    fn socket(&self) -> Option<socket2::SockRef<'_>>;
}

impl Socket for TcpStream {
    fn socket(&self) -> Option<socket2::SockRef<'_>> {
        Some(socket2::SockRef::from(self))
    }
}

impl<S> Socket for tokio_rustls::server::TlsStream<S> {
    fn socket(&self) -> Option<socket2::SockRef<'_>> {
        None
    }
}

/// A served stream that notes whether its client closed a TLS stream
/// without a close_notify (rustls reads that as `UnexpectedEof`), and on a
/// TCP socket, resets the connection as it is dropped when a route asked
/// for a reset.
struct Watched<S: Socket> {
    inner: S,
    truncated: Option<Arc<AtomicBool>>,
    reset: Option<Arc<AtomicBool>>,
}

impl<S: Socket> Drop for Watched<S> {
    fn drop(&mut self) {
        if self
            .reset
            .as_ref()
            .is_some_and(|r| r.load(Ordering::Acquire))
            && let Some(sock) = self.inner.socket()
        {
            let _ = sock.set_linger(Some(Duration::ZERO));
        }
    }
}

impl<S: Socket + AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Err(e)), Some(t)) = (&r, &self.truncated)
            && e.kind() == std::io::ErrorKind::UnexpectedEof
        {
            t.store(true, Ordering::Release);
        }
        r
    }
}

impl<S: Socket + AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Runs a connection to its end, or closes it gracefully on stop.
async fn drive<I, S>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    stop: &CancellationToken,
) -> std::io::Result<()>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r.map_err(std::io::Error::other),
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await.map_err(std::io::Error::other)
        }
    }
}

/// The error hyper sees when a route asked for a reset; hyper then closes
/// the connection without answering.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
    }
}

impl std::error::Error for ResetConnection {}

async fn handle<R: Router>(
    req: http::Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    router: &R,
    limits: Limits,
) -> Reply {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Reply::Response(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {} bytes", limits.max_body),
        ));
    }
    let body = match tokio::time::timeout(
        limits.read_timeout,
        Limited::new(body, limits.max_body).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Reply::Response(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {} bytes", limits.max_body),
            ));
        }
        Ok(Err(e)) => {
            return Reply::Response(text(
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}"),
            ));
        }
        Err(_) => {
            return Reply::Response(text(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            ));
        }
    };
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        peer,
        tls,
    };
    router.route(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Echo;

    impl Router for Echo {
        async fn route(&self, req: Request) -> Reply {
            if req.path == "/reset" {
                return Reply::Reset;
            }
            Reply::Response(text(
                StatusCode::OK,
                format!("{} {} {}", req.method, req.path, req.body.len()),
            ))
        }
    }

    async fn start(limits: Limits) -> (SocketAddr, CancellationToken) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let stop = CancellationToken::new();
        let metrics = (MockMetrics::new().unwrap(), "web");
        tokio::spawn(serve(
            l,
            None,
            Arc::new(Echo),
            limits,
            metrics,
            stop.clone(),
        ));
        (addr, stop)
    }

    async fn exchange(addr: SocketAddr, raw: &[u8]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(raw).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    const LIMITS: Limits = Limits {
        max_body: 16,
        read_timeout: Duration::from_millis(300),
    };

    #[tokio::test]
    async fn answers_and_enforces_limits() {
        let (addr, stop) = start(LIMITS).await;
        let ok = exchange(
            addr,
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
        .await
        .unwrap();
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.ends_with("POST /x 3"), "{ok}");
        let big = exchange(
            addr,
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        assert!(big.starts_with("HTTP/1.1 413"), "{big}");
        // A body that never arrives: 408 after the read timeout, not a hang.
        let slow = exchange(
            addr,
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nab",
        )
        .await
        .unwrap();
        assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
        let garbage = exchange(addr, b"\x16\x03\x01 not http at all\r\n\r\n")
            .await
            .unwrap();
        assert!(
            garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
            "{garbage}"
        );
        stop.cancel();
    }

    #[tokio::test]
    async fn reset_route_resets_the_connection() {
        let (addr, stop) = start(LIMITS).await;
        let r = exchange(addr, b"GET /reset HTTP/1.1\r\nHost: a\r\n\r\n").await;
        match r {
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
            Ok(s) => panic!("expected a reset, got {s:?}"),
        }
        stop.cancel();
    }

    /// Answers 200 and counts clients that left without a close_notify.
    #[derive(Default)]
    struct Closes(std::sync::atomic::AtomicUsize);

    impl Router for Closes {
        async fn route(&self, _req: Request) -> Reply {
            Reply::Response(text(StatusCode::OK, "ok"))
        }

        fn closed_without_close_notify(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn tls_client_leaving_without_close_notify_is_counted() {
        let ca = crate::ca::MockCa::new(
            "contoso.com",
            &["pool01.contoso.com".to_owned()],
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        )
        .unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let stop = CancellationToken::new();
        let router = Arc::new(Closes::default());
        let acceptor = ca.tls_acceptor(false).unwrap();
        tokio::spawn(serve(
            l,
            Some(acceptor),
            router.clone(),
            LIMITS,
            (MockMetrics::new().unwrap(), "web"),
            stop.clone(),
        ));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.ca_der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        // One request on a kept connection, then the client leaves: with a
        // close_notify (`shutdown`) or without (dropped, a bare FIN).
        let request = async || {
            let name = rustls_pki_types::ServerName::try_from("pool01.contoso.com").unwrap();
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            tls.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let mut buf = vec![0u8; 1024];
            let n = tls.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            tls
        };
        let mut tls = request().await;
        tls.shutdown().await.unwrap();
        // The server answers with its own close_notify and FIN once it has
        // ended the connection.
        assert_eq!(tls.read(&mut [0u8; 64]).await.unwrap(), 0);
        drop(request().await);
        let mut waited = 0;
        while router.0.load(Ordering::SeqCst) == 0 && waited < 100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        // Time for a second count to land, were the first client counted.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(router.0.load(Ordering::SeqCst), 1, "only the second client");
        stop.cancel();
    }
}
