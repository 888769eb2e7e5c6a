//! The datagram loop shared by the mock's DHCP, DNS and SNTP servers.
//!
//! One socket, one receive loop, one task per datagram: each request goes
//! through its service's capacity [`Station`] and fault knobs, then the
//! service's [`DatagramHandler`] builds the answer. The handler owns the
//! protocol; this module owns concurrency, faults and counting.

use std::net::SocketAddr;
use std::sync::Arc;

use rand::RngExt;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::capacity::Station;
use crate::config::Faults;
use crate::metrics::MockMetrics;

/// What a handler does with one datagram.
#[derive(Debug)]
pub enum Answer {
    /// Send these bytes to this address.
    Reply(Vec<u8>, SocketAddr),
    /// Send nothing; `kind` names why, for the malformed counter
    /// (`None` when silence is the protocol's correct answer).
    Drop(Option<&'static str>),
}

/// A datagram protocol's server side.
pub trait DatagramHandler: Send + Sync + 'static {
    /// The service name used in metrics.
    fn service(&self) -> &'static str;
    /// Answers one datagram that the station admitted.
    fn answer(&self, request: &[u8], from: SocketAddr) -> Answer;
    /// What to send when the station is full; by default nothing, as an
    /// overloaded DHCP or SNTP server behaves.
    fn overloaded(&self, _request: &[u8], _from: SocketAddr) -> Option<(Vec<u8>, SocketAddr)> {
        None
    }
}

/// Largest datagram read; anything longer is truncated by the kernel and
/// then refused by the decoders.
const MAX_DATAGRAM: usize = 65_535;

/// Serves `socket` until `stop` is cancelled.
pub async fn serve<H: DatagramHandler>(
    socket: Arc<UdpSocket>,
    handler: Arc<H>,
    station: Arc<Station>,
    faults: Faults,
    metrics: MockMetrics,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP port unreachable from an earlier reply shows up here
                // on some platforms; it is not a reason to stop serving.
                Err(_) => continue,
            },
        };
        let service = handler.service();
        if faults.drop > 0.0 && rand::rng().random::<f64>() < faults.drop {
            metrics.fault(service, "drop");
            continue;
        }
        let request = buf.get(..len).unwrap_or_default().to_vec();
        let (socket, handler, station, metrics) = (
            socket.clone(),
            handler.clone(),
            station.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            let service = handler.service();
            let (reply, outcome) = match station.serve().await {
                Ok(_) => match handler.answer(&request, from) {
                    Answer::Reply(bytes, to) => (Some((bytes, to)), "ok"),
                    Answer::Drop(Some(kind)) => {
                        metrics.malformed(service, kind);
                        (None, "malformed")
                    }
                    Answer::Drop(None) => (None, "silent"),
                },
                Err(_) => (handler.overloaded(&request, from), "overloaded"),
            };
            metrics.answer(service, outcome);
            let Some((mut bytes, to)) = reply else { return };
            if let Some(d) = faults.slow {
                metrics.fault(service, "slow");
                tokio::time::sleep(d).await;
            }
            if faults.garbage > 0.0 && rand::rng().random::<f64>() < faults.garbage {
                metrics.fault(service, "garbage");
                rand::rng().fill(bytes.as_mut_slice());
            }
            let _ = socket.send_to(&bytes, to).await;
        });
    }
}
