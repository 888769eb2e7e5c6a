//! Binding and starting the mock Front End: the library entry point used by
//! `phonestorm mock`, the engine's embedded default, and tests.
//!
//! Every socket is bound before any service starts, because the DNS zone
//! and DHCP options must carry the ports actually bound. This module owns
//! that ordering, the endpoint report and the stop handle; each service
//! owns its own protocol.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ca::MockCa;
use crate::capacity::Station;
use crate::config::MockConfig;
use crate::dhcp::{Dhcp, Pointers};
use crate::directory::Directory;
use crate::dns::{self, Dns, FrontEndPorts};
use crate::http::{self, Limits, Reply, Request, Router};
use crate::metrics::MockMetrics;
use crate::sntp::Sntp;
use crate::web::{Web, WebRouter, WebStations};
use crate::{Error, Result, registrar, udp};

/// One Front End's SIP listeners.
#[derive(Debug, Clone, Serialize)]
pub struct FrontEndEndpoints {
    /// The Front End's FQDN.
    pub fqdn: String,
    /// SIP over TLS.
    pub sip_tls: SocketAddr,
    /// SIP over TCP.
    pub sip_tcp: SocketAddr,
}

/// Every endpoint the mock bound: printed as one JSON line at start.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    /// DHCP server (relay agents send here).
    pub dhcp: SocketAddr,
    /// DNS over UDP, and over TCP on the same port.
    pub dns: SocketAddr,
    /// SNTP.
    pub sntp: SocketAddr,
    /// Plain HTTP: root chain download, firmware files.
    pub http: SocketAddr,
    /// HTTPS: device update, web ticket, certificate provisioning.
    pub https: SocketAddr,
    /// The first Front End's SIP over TLS.
    pub sip_tls: SocketAddr,
    /// The first Front End's SIP over TCP.
    pub sip_tcp: SocketAddr,
    /// The mock's own Prometheus `/metrics`.
    pub metrics: SocketAddr,
    /// Every Front End's SIP listeners.
    pub front_ends: Vec<FrontEndEndpoints>,
    /// The SIP domain.
    pub sip_domain: String,
    /// The pool FQDN.
    pub pool_fqdn: String,
}

/// A running mock.
#[derive(Debug)]
pub struct Running {
    /// Where everything listens.
    pub endpoints: Endpoints,
    /// The mock CA, whose certificate phones download as the root chain.
    pub ca: Arc<MockCa>,
    /// The metrics every service reports into.
    pub metrics: MockMetrics,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Running {
    /// A token that stops every service when cancelled.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops every service and waits for them.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn tcp(service: &'static str, ip: IpAddr, port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        service,
        addr,
        source,
    })
}

async fn udp(service: &'static str, ip: IpAddr) -> Result<UdpSocket> {
    let addr = SocketAddr::new(ip, 0);
    UdpSocket::bind(addr).await.map_err(|source| Error::Bind {
        service,
        addr,
        source,
    })
}

fn local(
    service: &'static str,
    addr: SocketAddr,
    r: std::io::Result<SocketAddr>,
) -> Result<SocketAddr> {
    r.map_err(|source| Error::Bind {
        service,
        addr,
        source,
    })
}

/// DNS wants UDP and TCP on one port, so a client that gets a truncated
/// answer retries over TCP at the same address. An ephemeral UDP port may
/// be taken for TCP, so try a few.
async fn dns_pair(ip: IpAddr) -> Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..16 {
        let u = udp("dns", ip).await?;
        let port = local("dns", SocketAddr::new(ip, 0), u.local_addr())?.port();
        match tcp("dns", ip, port).await {
            Ok(t) => return Ok((u, t)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(Error::Config {
        path: "<built-in>".into(),
        message: "no port free for DNS over both UDP and TCP".into(),
    }))
}

struct MetricsRouter(MockMetrics);

impl Router for MetricsRouter {
    async fn route(&self, req: Request) -> Reply {
        if req.path != "/metrics" {
            return Reply::Response(http::text(
                http::StatusCode::NOT_FOUND,
                "only /metrics here",
            ));
        }
        let mut r = http::Response::new(http::full(self.0.render()));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        Reply::Response(r)
    }
}

/// Binds every service on `cfg.listen` (ephemeral ports) and starts them.
pub async fn start(cfg: MockConfig) -> Result<Running> {
    let ip = cfg.listen;
    let metrics = MockMetrics::new()?;
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();

    let (dns_udp, dns_tcp) = dns_pair(ip).await?;
    let sntp_sock = udp("sntp", ip).await?;
    let dhcp_sock = udp("dhcp", ip).await?;
    let http_l = tcp("http", ip, 0).await?;
    let https_l = tcp("https", ip, 0).await?;
    let metrics_l = tcp("metrics", ip, 0).await?;
    let mut fe_listeners = Vec::new();
    let mut front_ends = Vec::new();
    for fqdn in &cfg.front_ends {
        let tls = tcp("sip_tls", ip, 0).await?;
        let plain = tcp("sip_tcp", ip, 0).await?;
        front_ends.push(FrontEndEndpoints {
            fqdn: fqdn.clone(),
            sip_tls: local("sip_tls", SocketAddr::new(ip, 0), tls.local_addr())?,
            sip_tcp: local("sip_tcp", SocketAddr::new(ip, 0), plain.local_addr())?,
        });
        fe_listeners.push((tls, plain));
    }
    let any = SocketAddr::new(ip, 0);
    let first = front_ends.first().cloned().ok_or_else(|| Error::Config {
        path: "<built-in>".into(),
        message: "front_ends must name at least one Front End".into(),
    })?;
    let endpoints = Endpoints {
        dhcp: local("dhcp", any, dhcp_sock.local_addr())?,
        dns: local("dns", any, dns_udp.local_addr())?,
        sntp: local("sntp", any, sntp_sock.local_addr())?,
        http: local("http", any, http_l.local_addr())?,
        https: local("https", any, https_l.local_addr())?,
        sip_tls: first.sip_tls,
        sip_tcp: first.sip_tcp,
        metrics: local("metrics", any, metrics_l.local_addr())?,
        front_ends,
        sip_domain: cfg.sip_domain.clone(),
        pool_fqdn: cfg.pool_fqdn.clone(),
    };

    let mut names = vec![cfg.pool_fqdn.clone()];
    names.extend(cfg.front_ends.iter().cloned());
    names.push(
        phonestorm_proto::dns::ucupdates_host(&cfg.sip_domain).map_err(|e| Error::Config {
            path: "<built-in>".into(),
            message: format!("sip_domain: {e}"),
        })?,
    );
    let ca = Arc::new(
        MockCa::new(&cfg.sip_domain, &names, ip)?
            .with_tls13(cfg.tls_max == crate::config::TlsVersion::V13),
    );

    // DNS.
    let fe_ports: Vec<FrontEndPorts> = endpoints
        .front_ends
        .iter()
        .map(|f| FrontEndPorts {
            fqdn: f.fqdn.clone(),
            sip_tls: f.sip_tls.port(),
            sip_tcp: f.sip_tcp.port(),
        })
        .collect();
    let ttl = u32::try_from(cfg.dns.ttl.as_secs()).unwrap_or(u32::MAX);
    let zone = dns::zone(
        &cfg.sip_domain,
        &cfg.pool_fqdn,
        &fe_ports,
        cfg.sntp.published.then_some(endpoints.sntp.port()),
        ip,
        ttl,
        cfg.web.update.dns_record,
    )
    .map_err(|e| Error::Config {
        path: "<built-in>".into(),
        message: format!("DNS zone: {e}"),
    })?;
    let dns_service = Arc::new(Dns::new(vec![zone]));
    let dns_station = Station::new(
        cfg.dns.capacity,
        cfg.dns.faults.pause,
        metrics.station("dns"),
    );
    tasks.spawn(udp::serve(
        Arc::new(dns_udp),
        dns_service.clone(),
        dns_station.clone(),
        cfg.dns.faults,
        metrics.clone(),
        stop.clone(),
    ));
    tasks.spawn(dns::serve_tcp(
        dns_tcp,
        dns_service,
        dns_station,
        metrics.clone(),
        Duration::from_secs(10),
        stop.clone(),
    ));

    // SNTP.
    tasks.spawn(udp::serve(
        Arc::new(sntp_sock),
        Arc::new(Sntp::new(cfg.sntp.stratum).with_offset(cfg.sntp.clock_offset_secs)),
        Station::new(
            cfg.sntp.capacity,
            cfg.sntp.faults.pause,
            metrics.station("sntp"),
        ),
        cfg.sntp.faults,
        metrics.clone(),
        stop.clone(),
    ));

    // DHCP: IPv4 only, as DHCPv4 is.
    if let IpAddr::V4(server) = ip {
        let ptr = Pointers {
            server,
            domain: cfg.sip_domain.clone(),
            sip_server: cfg.pool_fqdn.clone(),
            web_server: cfg.pool_fqdn.clone(),
            web_port: endpoints.https.port(),
            time_server: cfg.sntp.published,
        };
        tasks.spawn(udp::serve(
            Arc::new(dhcp_sock),
            Arc::new(Dhcp::new(cfg.dhcp.clone(), ptr)),
            Station::new(
                cfg.dhcp.capacity,
                cfg.dhcp.faults.pause,
                metrics.station("dhcp"),
            ),
            cfg.dhcp.faults,
            metrics.clone(),
            stop.clone(),
        ));
    }

    // The mock's own metrics.
    let limits = Limits {
        max_body: cfg.web.max_body,
        read_timeout: cfg.web.read_timeout,
    };
    tasks.spawn(http::serve(
        metrics_l,
        None,
        Arc::new(MetricsRouter(metrics.clone())),
        limits,
        (metrics.clone(), "metrics"),
        stop.clone(),
    ));

    // SIP registrar: one station and listener pair per Front End; the
    // directory, the back-end store and the bindings are the pool's.
    let directory = Arc::new(Directory::new(
        cfg.users.clone(),
        &cfg.sip_domain,
        cfg.front_ends.len(),
        cfg.web.web_ticket.lockout_after,
    ));
    let backend = Station::new(cfg.backend.capacity, None, metrics.station("backend"));
    let registrations = Arc::new(registrar::Registrations::new());
    let sip_tls = registrar::tls_acceptor(&ca)?;
    let cert_prov_url = format!(
        "https://{}:{}/CertProv/CertProvisioningService.svc",
        cfg.pool_fqdn,
        endpoints.https.port()
    );
    for (index, (tls_l, tcp_l)) in fe_listeners.into_iter().enumerate() {
        let ctx = Arc::new(registrar::RegistrarCtx {
            index,
            front_ends: fe_ports.clone(),
            config: cfg.registrar.clone(),
            directory: directory.clone(),
            station: Station::new(
                cfg.registrar.capacity,
                cfg.registrar.faults.pause,
                metrics.station("registrar"),
            ),
            backend: backend.clone(),
            metrics: metrics.clone(),
            sip_domain: cfg.sip_domain.clone(),
            cert_prov_url: cert_prov_url.clone(),
            registrations: registrations.clone(),
            read_timeout: Duration::from_secs(10),
            dsk: Some(Arc::new(
                registrar::dsk::DskServer::new(&ca, cfg.registrar.sa_lifetime)?
                    .with_bad_rspauth(cfg.registrar.bad_rspauth),
            )),
            digest: Some(Arc::new(registrar::digest::DigestServer::new(
                match cfg.registrar.digest_algorithm {
                    crate::config::DigestAlgorithm::Md5 => {
                        phonestorm_proto::sip::digest::Algorithm::Md5
                    }
                    crate::config::DigestAlgorithm::Sha256 => {
                        phonestorm_proto::sip::digest::Algorithm::Sha256
                    }
                },
                cfg.registrar.nonce_lifetime,
            ))),
        });
        tasks.spawn(registrar::serve(
            tls_l,
            Some(sip_tls.clone()),
            ctx.clone(),
            stop.clone(),
        ));
        tasks.spawn(registrar::serve(tcp_l, None, ctx, stop.clone()));
    }

    // Web services: plain HTTP (root chain, firmware) and HTTPS (update,
    // web ticket, certificates), sharing one state and one set of stations.
    let web = Arc::new(Web::new(
        cfg.web.clone(),
        cfg.pool_fqdn.clone(),
        endpoints.http.port(),
        ca.clone(),
        directory.clone(),
        WebStations {
            update: Station::new(
                cfg.web.update.capacity,
                cfg.web.update.faults.pause,
                metrics.station("update"),
            ),
            root_chain: Station::new(
                cfg.web.root_chain.capacity,
                cfg.web.root_chain.faults.pause,
                metrics.station("root_chain"),
            ),
            web_ticket: Station::new(
                cfg.web.web_ticket.capacity,
                cfg.web.web_ticket.faults.pause,
                metrics.station("web_ticket"),
            ),
            certificate: Station::new(
                cfg.web.certificate.capacity,
                cfg.web.certificate.faults.pause,
                metrics.station("certificate"),
            ),
            backend: backend.clone(),
        },
        metrics.clone(),
    )?);
    let router = Arc::new(WebRouter::new(web));
    tasks.spawn(http::serve(
        http_l,
        None,
        router.clone(),
        limits,
        (metrics.clone(), "web"),
        stop.clone(),
    ));
    tasks.spawn(http::serve(
        https_l,
        Some(crate::web::tls_acceptor(&ca)?),
        router,
        limits,
        (metrics.clone(), "web"),
        stop.clone(),
    ));

    Ok(Running {
        endpoints,
        ca,
        metrics,
        stop,
        tasks,
    })
}
