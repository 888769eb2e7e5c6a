//! The `/metrics` endpoint: HTTP/1.1 over hyper, one task per connection.
//!
//! It answers `GET /metrics` (and `HEAD`) with whatever the page function
//! renders, in the Prometheus text format 0.0.4; anything else gets 404.
//! It owns the listener and the connections, not the page: the binary
//! composes the page (the run's metrics, plus the embedded mock's). The
//! mock Front End serves its own page through its web plumbing
//! (`phonestorm_mockfe::http`), which carries TLS, fault knobs and body
//! limits a scrape endpoint does not need.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// The exposition content type (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Time a scraper gets to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Renders the page for each scrape.
pub type Page = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

/// Binds `addr` for [`serve`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

fn answer(req: &Request<Incoming>, page: &Page) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    if req.uri().path() != "/metrics" {
        *r.status_mut() = StatusCode::NOT_FOUND;
        *r.body_mut() = Full::new(Bytes::from_static(b"only /metrics here\n"));
        return r;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(CONTENT_TYPE),
    );
    if req.method() == Method::GET {
        *r.body_mut() = Full::new(Bytes::from(page()));
    }
    r
}

/// Serves `page` at `/metrics` on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, page: Page, stop: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                // Out of descriptors or a connection dead in the backlog:
                // pause and go on, a scrape endpoint must not stop.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let (page, stop) = (page.clone(), stop.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = answer(&req, &page);
                async move { Ok::<_, Infallible>(r) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
}

/// Binds `addr`, serves `page` there in a new task until `stop`, and
/// returns the bound address (the port, when `addr` asked for port 0).
pub async fn spawn(addr: SocketAddr, page: Page, stop: CancellationToken) -> Result<SocketAddr> {
    let listener = bind(addr).await?;
    let local = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    tokio::spawn(serve(listener, page, stop));
    Ok(local)
}
