//! The mock's SNTP server (stage 2b): RFC 4330 section 6 answers stamped
//! with the system clock, or a configured offset from it.
//!
//! The packet logic lives in `phonestorm_proto::sntp`; this module supplies
//! the server's clock and plugs it into the shared datagram loop.

use std::net::SocketAddr;

use phonestorm_proto::sntp::{self, Leap, NtpTimestamp, ServerClock};

use crate::clock;
use crate::udp::{Answer, DatagramHandler};

/// The SNTP service.
#[derive(Debug)]
pub struct Sntp {
    stratum: u8,
    offset_secs: i64,
}

impl Sntp {
    /// A server announcing `stratum`.
    pub fn new(stratum: u8) -> Self {
        Sntp {
            stratum,
            offset_secs: 0,
        }
    }

    /// Serves time `secs` off the system clock (negative: behind).
    pub fn with_offset(mut self, secs: i64) -> Self {
        self.offset_secs = secs;
        self
    }

    fn now(&self) -> NtpTimestamp {
        let wall = clock::wall();
        let secs = i64::try_from(wall.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_add(self.offset_secs);
        NtpTimestamp::from_unix(secs, wall.subsec_nanos()).unwrap_or(NtpTimestamp::ZERO)
    }
}

impl DatagramHandler for Sntp {
    fn service(&self) -> &'static str {
        "sntp"
    }

    fn answer(&self, request: &[u8], from: SocketAddr) -> Answer {
        let receive = self.now();
        let clock = ServerClock {
            leap: Leap::NoWarning,
            stratum: self.stratum,
            // About a microsecond: the system clock's resolution.
            precision: -20,
            root_delay: 0,
            root_dispersion: 0,
            // "LOCL": the mock is its own reference, as a lab DC would be.
            reference_id: *b"LOCL",
            reference: receive,
        };
        match sntp::server_reply(request, &clock, receive, self.now()) {
            Ok(reply) => Answer::Reply(reply.to_vec(), from),
            // RFC 4330 section 6: requests in other modes are discarded.
            Err(_) => Answer::Drop(Some("invalid")),
        }
    }
}
