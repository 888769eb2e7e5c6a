//! SNTPv4 (RFC 4330) as a phone uses it at stage 2b, and as the mock answers.
//!
//! This file owns the 48-byte packet (section 4), the NTP timestamp and its
//! era rule (section 3), the client request and the reply checks of section
//! 5, the offset and round-trip delay arithmetic, and the server side of
//! section 6 (with the Kiss-o'-Death of section 8) for the mock. It does not
//! own sockets, retries or poll intervals, and it reads no clock: every time
//! is passed in as an [`NtpTimestamp`] by the caller, who also keeps the
//! transmit timestamp it sent. The optional authenticator (key id and
//! digest after the 48 bytes) is ignored, not checked.

use std::fmt;

use crate::{Error, Result};

/// Length of an SNTP packet without authenticator (RFC 4330 section 4).
pub const PACKET_LEN: usize = 48;
/// The NTP port (RFC 4330 section 2: "UDP port number 123").
pub const PORT: u16 = 123;

const WHAT: &str = "SNTP packet";
/// Seconds from 1900-01-01 (the NTP prime epoch) to 1970-01-01.
const NTP_TO_UNIX_SECONDS: i64 = 2_208_988_800;
/// One NTP era: 2^32 seconds.
const ERA_SECONDS: i64 = 1 << 32;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// A 64-bit NTP timestamp: 32 bits of seconds and 32 bits of fraction
/// (RFC 4330 section 3), read with the section 3 era rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    /// All zeros: "by convention ... interpreted as an invalid or
    /// unavailable timestamp" (section 3).
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// From the 64 bits on the wire.
    pub const fn from_bits(bits: u64) -> Self {
        NtpTimestamp(bits)
    }

    /// The 64 bits on the wire.
    pub const fn to_bits(self) -> u64 {
        self.0
    }

    /// From the seconds and fraction fields.
    pub const fn new(seconds: u32, fraction: u32) -> Self {
        NtpTimestamp(((seconds as u64) << 32) | fraction as u64)
    }

    /// The seconds field.
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction field, in units of 2^-32 s.
    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// Whether this is the "invalid or unavailable" zero timestamp.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The earliest Unix time representable: 1968-01-20T03:14:08Z.
    pub const MIN_UNIX_SECONDS: i64 = (1 << 31) - NTP_TO_UNIX_SECONDS;
    /// One past the latest Unix second representable: 2104-02-26T09:42:24Z.
    pub const END_UNIX_SECONDS: i64 = (1 << 31) + ERA_SECONDS - NTP_TO_UNIX_SECONDS;

    /// The timestamp for a Unix time (seconds since 1970-01-01T00:00:00Z,
    /// leap seconds not counted, and nanoseconds below 10^9).
    ///
    /// RFC 4330 section 3: times from 1968 to 2036 are counted from 1900
    /// (bit 0 set), times from 2036 to 2104 from 2036-02-07T06:28:16Z (bit 0
    /// clear); anything else cannot be written. The fraction is rounded up,
    /// so that [`Self::to_unix`] gives the same nanoseconds back.
    pub fn from_unix(seconds: i64, nanos: u32) -> Result<Self> {
        if u64::from(nanos) >= NANOS_PER_SECOND {
            return Err(Error::bad_value(
                "NTP time",
                format!("{nanos} nanoseconds is a second or more"),
            ));
        }
        if !(Self::MIN_UNIX_SECONDS..Self::END_UNIX_SECONDS).contains(&seconds) {
            return Err(Error::bad_value(
                "NTP time",
                format!(
                    "Unix second {seconds} is outside 1968-01-20..2104-02-26 (RFC 4330 section 3)"
                ),
            ));
        }
        let since_1900 = seconds + NTP_TO_UNIX_SECONDS;
        // In range, since_1900 is in 2^31..2^32+2^31; the era-1 part wraps.
        let field = u32::try_from(since_1900.rem_euclid(ERA_SECONDS))
            .map_err(|_| Error::bad_value("NTP time", "seconds out of range"))?;
        let fraction = (u64::from(nanos) << 32).div_ceil(NANOS_PER_SECOND);
        let fraction = u32::try_from(fraction)
            .map_err(|_| Error::bad_value("NTP time", "fraction out of range"))?;
        Ok(NtpTimestamp::new(field, fraction))
    }

    /// The Unix time of this timestamp: seconds since 1970-01-01T00:00:00Z
    /// (negative before) and nanoseconds (rounded down), by the section 3
    /// era rule.
    pub fn to_unix(self) -> (i64, u32) {
        let field = i64::from(self.seconds());
        // "If bit 0 is set, the UTC time is in the range 1968-2036 and UTC
        // time is reckoned from 0h 0m 0s UTC on 1 January 1900. If bit 0 is
        // not set, the time is in the range 2036-2104 and UTC time is
        // reckoned from 6h 28m 16s UTC on 7 February 2036."
        let since_1900 = if field >= 1 << 31 {
            field
        } else {
            field + ERA_SECONDS
        };
        let nanos = (u64::from(self.fraction()) * NANOS_PER_SECOND) >> 32;
        (
            since_1900 - NTP_TO_UNIX_SECONDS,
            u32::try_from(nanos).unwrap_or(0),
        )
    }

    /// `self - earlier` in units of 2^-32 s, as a signed difference: correct
    /// whenever the two are less than 68 years apart, across the 2036 era
    /// boundary too (the difference is taken modulo 2^64).
    fn diff(self, earlier: NtpTimestamp) -> i128 {
        i128::from(i64::from_ne_bytes(
            self.0.wrapping_sub(earlier.0).to_ne_bytes(),
        ))
    }
}

/// The leap indicator (LI, 2 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leap {
    /// 0: no warning.
    NoWarning,
    /// 1: the last minute of the day has 61 seconds.
    LastMinute61,
    /// 2: the last minute of the day has 59 seconds.
    LastMinute59,
    /// 3: "alarm condition (clock not synchronized)".
    Alarm,
}

impl Leap {
    fn from_bits(b: u8) -> Self {
        match b & 0b11 {
            0 => Leap::NoWarning,
            1 => Leap::LastMinute61,
            2 => Leap::LastMinute59,
            _ => Leap::Alarm,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::LastMinute61 => 1,
            Leap::LastMinute59 => 2,
            Leap::Alarm => 3,
        }
    }
}

/// The association mode (3 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// 0: reserved.
    Reserved,
    /// 1: symmetric active.
    SymmetricActive,
    /// 2: symmetric passive.
    SymmetricPassive,
    /// 3: client.
    Client,
    /// 4: server.
    Server,
    /// 5: broadcast.
    Broadcast,
    /// 6: reserved for NTP control messages.
    Control,
    /// 7: reserved for private use.
    Private,
}

impl Mode {
    fn from_bits(b: u8) -> Self {
        match b & 0b111 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }
}

/// The 48-byte SNTP packet (RFC 4330 section 4, Figure 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// LI.
    pub leap: Leap,
    /// VN, 0..=7 (3 bits); 4 for SNTPv4.
    pub version: u8,
    /// Mode.
    pub mode: Mode,
    /// 0 = Kiss-o'-Death, 1 = primary, 2..=15 secondary, 16..=255 reserved.
    pub stratum: u8,
    /// Maximum interval between messages, log2 seconds.
    pub poll: i8,
    /// Precision of the clock, log2 seconds.
    pub precision: i8,
    /// Round-trip delay to the primary source, signed 16.16 seconds.
    pub root_delay: i32,
    /// Dispersion to the primary source, unsigned 16.16 seconds.
    pub root_dispersion: u32,
    /// Reference identifier: four ASCII characters at stratum 0 and 1 (the
    /// kiss code, or the clock source), an IPv4 address or a hash above.
    pub reference_id: [u8; 4],
    /// When the server's clock was last set.
    pub reference: NtpTimestamp,
    /// Originate: the client's transmit time, copied by the server (T1).
    pub originate: NtpTimestamp,
    /// Receive: when the request reached the server (T2).
    pub receive: NtpTimestamp,
    /// Transmit: when the packet left its sender (T3 in a reply).
    pub transmit: NtpTimestamp,
}

impl Packet {
    /// The packet's 48 bytes. Refuses a version over 7 (it has 3 bits).
    pub fn encode(&self) -> Result<[u8; PACKET_LEN]> {
        if self.version > 7 {
            return Err(Error::bad_value(
                "SNTP version",
                format!("{} does not fit in 3 bits", self.version),
            ));
        }
        let mut out = [0u8; PACKET_LEN];
        let fields: [&[u8]; 12] = [
            &[(self.leap.bits() << 6) | (self.version << 3) | self.mode.bits()],
            &[self.stratum],
            &self.poll.to_be_bytes(),
            &self.precision.to_be_bytes(),
            &self.root_delay.to_be_bytes(),
            &self.root_dispersion.to_be_bytes(),
            &self.reference_id,
            &self.reference.0.to_be_bytes(),
            &self.originate.0.to_be_bytes(),
            &self.receive.0.to_be_bytes(),
            &self.transmit.0.to_be_bytes(),
            &[],
        ];
        let mut chunks = fields.iter().flat_map(|f| f.iter());
        for byte in out.iter_mut() {
            *byte = chunks.next().copied().unwrap_or(0);
        }
        Ok(out)
    }

    /// Read a packet. `bytes` may be longer than 48 (an authenticator
    /// follows); shorter is [`Error::Invalid`] at the length.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let Some((head, _authenticator)) = bytes.split_first_chunk::<PACKET_LEN>() else {
            return Err(Error::invalid_at(
                WHAT,
                bytes.len(),
                format!(
                    "{} bytes, shorter than the 48 of RFC 4330 section 4",
                    bytes.len()
                ),
            ));
        };
        let mut r = Reader(head.as_slice());
        let first = r.u8();
        Ok(Packet {
            leap: Leap::from_bits(first >> 6),
            version: (first >> 3) & 0b111,
            mode: Mode::from_bits(first),
            stratum: r.u8(),
            poll: i8::from_be_bytes([r.u8()]),
            precision: i8::from_be_bytes([r.u8()]),
            root_delay: i32::from_be_bytes(r.array()),
            root_dispersion: u32::from_be_bytes(r.array()),
            reference_id: r.array(),
            reference: NtpTimestamp(u64::from_be_bytes(r.array())),
            originate: NtpTimestamp(u64::from_be_bytes(r.array())),
            receive: NtpTimestamp(u64::from_be_bytes(r.array())),
            transmit: NtpTimestamp(u64::from_be_bytes(r.array())),
        })
    }
}

/// Reads fields off a slice already known to be 48 bytes long; past the
/// end it yields zeros rather than panicking.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        match self.0.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.0 = rest;
                *head
            }
            None => [0; N],
        }
    }

    fn u8(&mut self) -> u8 {
        let [b] = self.array::<1>();
        b
    }
}

/// The version a phone sends (SNTPv4).
pub const VERSION: u8 = 4;

/// The client request of RFC 4330 section 5: LI 0, VN 4, mode 3, every
/// other field zero except the transmit timestamp, which the server copies
/// into its reply's originate field. Keep `transmit` to check the reply.
///
/// Anti-spoofing works only if the transmit timestamp is hard to guess:
/// callers may fill its low fraction bits with random ones (below the
/// clock's precision they carry no time).
pub fn client_request(transmit: NtpTimestamp) -> [u8; PACKET_LEN] {
    let mut out = [0u8; PACKET_LEN];
    // 0b00_100_011: LI 0, VN 4, mode 3.
    if let Some(first) = out.first_mut() {
        *first = (VERSION << 3) | Mode::Client.bits();
    }
    if let Some(field) = out.get_mut(40..48) {
        field.copy_from_slice(&transmit.0.to_be_bytes());
    }
    out
}

/// A four-character Kiss-o'-Death code (RFC 4330 section 8), e.g. `RATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KissCode(pub [u8; 4]);

impl KissCode {
    /// Rate exceeded: the client asks too often; back off.
    pub const RATE: KissCode = KissCode(*b"RATE");
    /// Access denied by the server.
    pub const DENY: KissCode = KissCode(*b"DENY");
    /// Access restricted by the server's local policy.
    pub const RSTR: KissCode = KissCode(*b"RSTR");

    /// The code as text, when it is printable ASCII as section 8 says.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
    }
}

impl fmt::Display for KissCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.write_str(s),
            None => self.0.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// The server's clock, for building replies in the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerClock {
    /// LI to announce.
    pub leap: Leap,
    /// 1 for a primary server, 2..=15 for a secondary.
    pub stratum: u8,
    /// log2 seconds, e.g. -20 for about a microsecond.
    pub precision: i8,
    /// Signed 16.16 seconds; 0 for a primary server.
    pub root_delay: i32,
    /// Unsigned 16.16 seconds; 0 for a primary server.
    pub root_dispersion: u32,
    /// E.g. `*b"LOCL"` at stratum 1, the upstream's IPv4 address above.
    pub reference_id: [u8; 4],
    /// When the clock was last set.
    pub reference: NtpTimestamp,
}

/// Read a request the way RFC 4330 section 6 tells a server to: mode 3
/// (client) is answered in mode 4, mode 1 (symmetric active) in mode 2;
/// "For any other value in the Mode field, the request is discarded."
fn reply_mode(request: &Packet) -> Result<Mode> {
    match request.mode {
        Mode::Client => Ok(Mode::Server),
        Mode::SymmetricActive => Ok(Mode::SymmetricPassive),
        other => Err(Error::invalid_at(
            WHAT,
            0,
            format!("request in mode {other:?}: discarded (RFC 4330 section 6)"),
        )),
    }
}

/// The server's reply to `request` (RFC 4330 section 6): VN and Poll copied
/// from the request, the request's transmit timestamp copied to the
/// originate field, `receive` (T2) and `transmit` (T3) from the server's
/// clock.
pub fn server_reply(
    request: &[u8],
    clock: &ServerClock,
    receive: NtpTimestamp,
    transmit: NtpTimestamp,
) -> Result<[u8; PACKET_LEN]> {
    let req = Packet::decode(request)?;
    Packet {
        leap: clock.leap,
        version: req.version,
        mode: reply_mode(&req)?,
        stratum: clock.stratum,
        poll: req.poll,
        precision: clock.precision,
        root_delay: clock.root_delay,
        root_dispersion: clock.root_dispersion,
        reference_id: clock.reference_id,
        reference: clock.reference,
        originate: req.transmit,
        receive,
        transmit,
    }
    .encode()
}

/// A Kiss-o'-Death reply (RFC 4330 section 8): stratum 0 and the kiss code
/// in the reference identifier, LI 3 (unsynchronised); the originate field
/// still echoes the request so the client can tell it is genuine. The
/// timestamps other than originate are zero.
pub fn kiss_of_death(request: &[u8], code: KissCode) -> Result<[u8; PACKET_LEN]> {
    let req = Packet::decode(request)?;
    Packet {
        leap: Leap::Alarm,
        version: req.version,
        mode: reply_mode(&req)?,
        stratum: 0,
        poll: req.poll,
        precision: 0,
        root_delay: 0,
        root_dispersion: 0,
        reference_id: code.0,
        reference: NtpTimestamp::ZERO,
        originate: req.transmit,
        receive: NtpTimestamp::ZERO,
        transmit: NtpTimestamp::ZERO,
    }
    .encode()
}

/// The offset and round-trip delay of one exchange, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetDelay {
    /// t: add to the client's clock to get the server's (positive when the
    /// client is behind).
    pub offset_nanos: i64,
    /// d: the round trip, minus the server's own processing time.
    pub delay_nanos: i64,
}

/// RFC 4330 section 5: "d = (T4 - T1) - (T3 - T2)" and
/// "t = ((T2 - T1) + (T3 - T4)) / 2", with T1 the client's transmit time,
/// T2 the server's receive time, T3 the server's transmit time and T4 the
/// client's receive time.
///
/// Each difference is taken modulo 2^64 and read as signed (correct when
/// the two times are under 68 years apart, across the 2036 era boundary
/// too), the sums in 128 bits so nothing overflows; the results are
/// rounded toward negative infinity to whole nanoseconds and cannot exceed
/// i64 (|d| < 2^33 s).
pub fn offset_and_delay(
    t1: NtpTimestamp,
    t2: NtpTimestamp,
    t3: NtpTimestamp,
    t4: NtpTimestamp,
) -> OffsetDelay {
    let delay = t4.diff(t1) - t3.diff(t2);
    // Halving in 2^-32 s units loses at most 2^-33 s, far below a nanosecond.
    let offset = (t2.diff(t1) + t3.diff(t4)).div_euclid(2);
    OffsetDelay {
        offset_nanos: to_nanos(offset),
        delay_nanos: to_nanos(delay),
    }
}

/// 2^-32 s units to nanoseconds, floored; saturating at i64's ends,
/// which a difference of two 64-bit timestamps cannot reach.
fn to_nanos(units: i128) -> i64 {
    let nanos = (units * i128::from(NANOS_PER_SECOND)) >> 32;
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// A reply that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sample {
    /// Offset and delay computed from T1..T4.
    pub offset_delay: OffsetDelay,
    /// The server's transmit timestamp (T3).
    pub server_transmit: NtpTimestamp,
    /// The server's stratum, 1..=15.
    pub stratum: u8,
    /// The server's leap indicator (never [`Leap::Alarm`] here).
    pub leap: Leap,
    /// The server's reference identifier.
    pub reference_id: [u8; 4],
}

/// Why a reply is not used (RFC 4330 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The originate timestamp is not our transmit timestamp: a stale,
    /// duplicate or spoofed reply. Keep waiting for the real one.
    NotOurs {
        /// The transmit timestamp we sent.
        expected: NtpTimestamp,
        /// The originate timestamp that came back.
        got: NtpTimestamp,
    },
    /// The mode is not 4 (server) or 5 (broadcast).
    Mode(Mode),
    /// The version is not 3 or 4.
    Version(u8),
    /// LI = 3: the server's clock is not synchronised.
    Unsynchronised,
    /// Stratum above 15 (reserved values).
    Stratum(u8),
    /// The transmit timestamp is zero.
    ZeroTransmit,
}

/// What a reply means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply {
    /// A usable time sample.
    Time(Sample),
    /// Stratum 0: the server says stop (RATE), go away (DENY, RSTR) or
    /// something else, in four characters (RFC 4330 section 8).
    KissOfDeath(KissCode),
    /// A reply the checks of section 5 discard.
    Refused(Refusal),
}

/// Check a reply against the request we sent and, if it passes, compute
/// the sample (RFC 4330 section 5).
///
/// `sent` is the transmit timestamp of our request (T1); `received` is
/// when the reply arrived, by our clock (T4). `Err` only when the bytes are
/// not a packet at all.
///
/// The order of the checks matters: the originate timestamp is checked
/// before anything the reply says about the server, so a spoofed
/// Kiss-o'-Death cannot silence the client; the Kiss-o'-Death is checked
/// before LI, because a kiss carries LI = 3 too.
pub fn check_reply(bytes: &[u8], sent: NtpTimestamp, received: NtpTimestamp) -> Result<Reply> {
    let p = Packet::decode(bytes)?;
    let refused = |r| Ok(Reply::Refused(r));
    // "the Mode field is not 4 (unicast) or 5 (broadcast)": discard.
    if !matches!(p.mode, Mode::Server | Mode::Broadcast) {
        return refused(Refusal::Mode(p.mode));
    }
    if !matches!(p.version, 3 | 4) {
        return refused(Refusal::Version(p.version));
    }
    // "The Originate Timestamp in the server reply should match the
    // Transmit Timestamp used in the client request."
    if p.originate != sent {
        return refused(Refusal::NotOurs {
            expected: sent,
            got: p.originate,
        });
    }
    // Stratum 0: "Kiss-o'-Death message"; the code is in the reference id.
    if p.stratum == 0 {
        return Ok(Reply::KissOfDeath(KissCode(p.reference_id)));
    }
    // LI 3: "alarm condition (clock not synchronized)".
    if p.leap == Leap::Alarm {
        return refused(Refusal::Unsynchronised);
    }
    // Stratum "16-255 reserved".
    if p.stratum > 15 {
        return refused(Refusal::Stratum(p.stratum));
    }
    if p.transmit.is_zero() {
        return refused(Refusal::ZeroTransmit);
    }
    Ok(Reply::Time(Sample {
        offset_delay: offset_and_delay(sent, p.receive, p.transmit, received),
        server_transmit: p.transmit,
        stratum: p.stratum,
        leap: p.leap,
        reference_id: p.reference_id,
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Unix seconds of a UTC date, from the proleptic Gregorian calendar
    /// (days-from-civil), so the era tests read as dates.
    fn unix(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + hh * 3600 + mm * 60 + ss
    }

    /// RFC 4330 section 3: "If bit 0 is set, the UTC time is in the range
    /// 1968-2036, and UTC time is reckoned from 0h 0m 0s UTC on 1 January
    /// 1900. If bit 0 is not set, the time is in the range 2036-2104 and UTC
    /// time is reckoned from 6h 28m 16s UTC on 7 February 2036."
    #[test]
    fn rfc4330_section_3_era_rule() {
        let cases = [
            // "since some time in 1968 (second 2,147,483,648), the most
            // significant bit ... has been set"
            (0x8000_0000u32, unix(1968, 1, 20, 3, 14, 8)),
            (2_208_988_800, unix(1970, 1, 1, 0, 0, 0)),
            // "2000 is a leap year": 1 Jan 2000 is NTP second 3,155,673,600.
            (0xBC17_C200, unix(2000, 1, 1, 0, 0, 0)),
            (0xFFFF_FFFF, unix(2036, 2, 7, 6, 28, 15)),
            // Bit 0 clear: the second era, from 2036-02-07T06:28:16Z.
            (0, unix(2036, 2, 7, 6, 28, 16)),
            (1, unix(2036, 2, 7, 6, 28, 17)),
            (0x7FFF_FFFF, unix(2104, 2, 26, 9, 42, 23)),
        ];
        for (field, when) in cases {
            let ts = NtpTimestamp::new(field, 0);
            assert_eq!(ts.to_unix(), (when, 0), "field {field:#x}");
            assert_eq!(NtpTimestamp::from_unix(when, 0).unwrap(), ts, "unix {when}");
        }
        assert_eq!(NtpTimestamp::MIN_UNIX_SECONDS, unix(1968, 1, 20, 3, 14, 8));
        assert_eq!(NtpTimestamp::END_UNIX_SECONDS, unix(2104, 2, 26, 9, 42, 24));
        // Outside 1968..2104 there is no timestamp.
        assert!(NtpTimestamp::from_unix(unix(1968, 1, 20, 3, 14, 7), 0).is_err());
        assert!(NtpTimestamp::from_unix(unix(2104, 2, 26, 9, 42, 24), 0).is_err());
        assert!(NtpTimestamp::from_unix(0, 1_000_000_000).is_err());
        // The fraction: half a second is 2^31.
        assert_eq!(
            NtpTimestamp::from_unix(0, 500_000_000).unwrap().fraction(),
            0x8000_0000
        );
        assert_eq!(
            NtpTimestamp::new(0x83AA_7E80, 0x4000_0000).to_unix(),
            (0, 250_000_000)
        );
    }

    /// RFC 4330 section 4, Figure 1: LI(2) VN(3) Mode(3), Stratum, Poll,
    /// Precision, Root Delay, Root Dispersion, Reference Identifier, then the
    /// Reference, Originate, Receive and Transmit timestamps, 64 bits each.
    #[test]
    fn rfc4330_section_4_packet_layout() {
        #[rustfmt::skip]
        let bytes: [u8; 48] = [
            0b00_100_100, 1, 6, 0xEC,          // LI 0, VN 4, mode 4; stratum 1; poll 6; precision -20
            0x00, 0x00, 0x80, 0x00,            // root delay 0.5 s (16.16)
            0x00, 0x01, 0x00, 0x00,            // root dispersion 1.0 s
            b'G', b'P', b'S', 0,               // reference id "GPS"
            0xE9, 0x00, 0x00, 0x00, 0, 0, 0, 0, // reference
            0xE9, 0x00, 0x00, 0x01, 0x80, 0, 0, 0, // originate
            0xE9, 0x00, 0x00, 0x02, 0, 0, 0, 0, // receive
            0xE9, 0x00, 0x00, 0x02, 0x40, 0, 0, 0, // transmit
        ];
        let p = Packet::decode(&bytes).unwrap();
        assert_eq!(p.leap, Leap::NoWarning);
        assert_eq!(p.version, 4);
        assert_eq!(p.mode, Mode::Server);
        assert_eq!(p.stratum, 1);
        assert_eq!(p.poll, 6);
        assert_eq!(p.precision, -20);
        assert_eq!(p.root_delay, 0x8000);
        assert_eq!(p.root_dispersion, 0x1_0000);
        assert_eq!(&p.reference_id, b"GPS\0");
        assert_eq!(p.reference, NtpTimestamp::new(0xE900_0000, 0));
        assert_eq!(p.originate, NtpTimestamp::new(0xE900_0001, 0x8000_0000));
        assert_eq!(p.receive, NtpTimestamp::new(0xE900_0002, 0));
        assert_eq!(p.transmit, NtpTimestamp::new(0xE900_0002, 0x4000_0000));
        assert_eq!(p.encode().unwrap(), bytes);

        // An authenticator after the 48 bytes is ignored; fewer is invalid.
        let mut long = bytes.to_vec();
        long.extend_from_slice(&[0; 20]);
        assert_eq!(Packet::decode(&long).unwrap(), p);
        assert!(matches!(
            Packet::decode(&bytes[..47]),
            Err(Error::Invalid { at: Some(47), .. })
        ));
        assert!(Packet { version: 8, ..p }.encode().is_err());
    }

    /// RFC 4330 section 5: in the request "all the NTP header fields ...
    /// are set to 0, except the Mode, VN, and optional Transmit Timestamp
    /// fields": first octet 0x23 (LI 0, VN 4, mode 3), then zeros, then T1.
    #[test]
    fn rfc4330_section_5_client_request() {
        let t1 = NtpTimestamp::new(0xE900_0000, 0x1234_5678);
        let req = client_request(t1);
        assert_eq!(req[0], 0x23);
        assert!(req[1..40].iter().all(|b| *b == 0));
        assert_eq!(&req[40..], &[0xE9, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
    }

    fn clock() -> ServerClock {
        ServerClock {
            leap: Leap::NoWarning,
            stratum: 2,
            precision: -20,
            root_delay: 0,
            root_dispersion: 0,
            reference_id: [192, 0, 2, 1],
            reference: NtpTimestamp::new(0xE900_0000, 0),
        }
    }

    /// RFC 4330 section 6: "copy the VN and Poll fields of the request
    /// intact", "the Transmit Timestamp field of the request is copied
    /// unchanged to the Originate Timestamp field of the reply", mode 3
    /// answered in mode 4 and 1 in 2, any other mode discarded.
    #[test]
    fn rfc4330_section_6_server_reply() {
        let mut req = client_request(NtpTimestamp::new(0xE900_0010, 7));
        req[0] = 0b00_011_011; // VN 3
        req[2] = 10; // poll
        let t2 = NtpTimestamp::new(0xE900_0011, 0);
        let t3 = NtpTimestamp::new(0xE900_0011, 1);
        let reply = Packet::decode(&server_reply(&req, &clock(), t2, t3).unwrap()).unwrap();
        assert_eq!(reply.version, 3);
        assert_eq!(reply.poll, 10);
        assert_eq!(reply.mode, Mode::Server);
        assert_eq!(reply.originate, NtpTimestamp::new(0xE900_0010, 7));
        assert_eq!((reply.receive, reply.transmit), (t2, t3));
        assert_eq!(reply.stratum, 2);

        req[0] = 0b00_100_001; // symmetric active
        let reply = Packet::decode(&server_reply(&req, &clock(), t2, t3).unwrap()).unwrap();
        assert_eq!(reply.mode, Mode::SymmetricPassive);
        for mode in [0u8, 2, 4, 5, 6, 7] {
            req[0] = 0b00_100_000 | mode;
            assert!(server_reply(&req, &clock(), t2, t3).is_err(), "mode {mode}");
        }
    }

    /// RFC 4330 section 5, the worked example of the formula: the client
    /// is 1 s behind the server, each way takes 0.25 s and the server holds
    /// the request 0.5 s. T1 = 0, T2 = 1.25, T3 = 1.75, T4 = 1.0 (client
    /// clock): d = (1.0 - 0) - (1.75 - 1.25) = 0.5 s and
    /// t = ((1.25 - 0) + (1.75 - 1.0)) / 2 = 1.0 s.
    #[test]
    fn rfc4330_section_5_offset_and_delay_worked_example() {
        let base = 0xE900_0000u32;
        let t1 = NtpTimestamp::new(base, 0);
        let t2 = NtpTimestamp::new(base + 1, 0x4000_0000);
        let t3 = NtpTimestamp::new(base + 1, 0xC000_0000);
        let t4 = NtpTimestamp::new(base + 1, 0);
        let od = offset_and_delay(t1, t2, t3, t4);
        assert_eq!(
            od,
            OffsetDelay {
                offset_nanos: 1_000_000_000,
                delay_nanos: 500_000_000
            }
        );

        // The client 1 s ahead: the offset is negative.
        let od = offset_and_delay(
            t1,
            NtpTimestamp::new(base - 1, 0x4000_0000),
            NtpTimestamp::new(base - 1, 0xC000_0000),
            t4,
        );
        assert_eq!(
            od,
            OffsetDelay {
                offset_nanos: -1_000_000_000,
                delay_nanos: 500_000_000
            }
        );

        // Across the 2036 rollover: client in era 0 just before it, server
        // in era 1 just after it; the differences stay small.
        let t1 = NtpTimestamp::new(0xFFFF_FFFF, 0);
        let t2 = NtpTimestamp::new(0, 0x4000_0000); // 1.25 s later
        let t3 = NtpTimestamp::new(0, 0xC000_0000);
        let t4 = NtpTimestamp::new(0, 0);
        assert_eq!(
            offset_and_delay(t1, t2, t3, t4),
            OffsetDelay {
                offset_nanos: 1_000_000_000,
                delay_nanos: 500_000_000
            }
        );

        // Extreme inputs do not overflow.
        let max = NtpTimestamp::from_bits(u64::MAX);
        let _ = offset_and_delay(NtpTimestamp::ZERO, max, NtpTimestamp::ZERO, max);
        let _ = offset_and_delay(max, NtpTimestamp::ZERO, max, NtpTimestamp::ZERO);
    }

    fn reply_with(edit: impl FnOnce(&mut Packet), t1: NtpTimestamp) -> [u8; 48] {
        let req = client_request(t1);
        let t2 = NtpTimestamp::new(t1.seconds() + 1, 0x4000_0000);
        let t3 = NtpTimestamp::new(t1.seconds() + 1, 0xC000_0000);
        let mut p = Packet::decode(&server_reply(&req, &clock(), t2, t3).unwrap()).unwrap();
        edit(&mut p);
        p.encode().unwrap()
    }

    /// RFC 4330 section 5, the checks on a reply: "The Originate Timestamp
    /// in the server reply should match the Transmit Timestamp used in the
    /// client request", and "The server reply should be discarded if any of
    /// the LI, Stratum, or Transmit Timestamp fields is 0 or the Mode field
    /// is not 4 (unicast) or 5 (broadcast)" — where "LI ... is 0" is read
    /// as LI = 3 (alarm), the value the field table calls "clock not
    /// synchronized" (RFC 4330 erratum), and Stratum 0 is the
    /// Kiss-o'-Death.
    #[test]
    fn rfc4330_section_5_reply_checks() {
        let t1 = NtpTimestamp::new(0xE900_0000, 0xDEAD_BEEF);
        let t4 = NtpTimestamp::new(0xE900_0001, 0xDEAD_BEEF);
        let check = |bytes: [u8; 48]| check_reply(&bytes, t1, t4).unwrap();

        let Reply::Time(s) = check(reply_with(|_| {}, t1)) else {
            panic!()
        };
        assert_eq!(s.stratum, 2);
        assert_eq!(s.offset_delay.delay_nanos, 500_000_000);

        let other = NtpTimestamp::new(0xE900_0000, 1);
        assert_eq!(
            check(reply_with(|p| p.originate = other, t1)),
            Reply::Refused(Refusal::NotOurs {
                expected: t1,
                got: other
            })
        );
        assert_eq!(
            check(reply_with(|p| p.leap = Leap::Alarm, t1)),
            Reply::Refused(Refusal::Unsynchronised)
        );
        assert_eq!(
            check(reply_with(|p| p.stratum = 16, t1)),
            Reply::Refused(Refusal::Stratum(16))
        );
        assert!(matches!(
            check(reply_with(|p| p.stratum = 15, t1)),
            Reply::Time(_)
        ));
        assert_eq!(
            check(reply_with(|p| p.transmit = NtpTimestamp::ZERO, t1)),
            Reply::Refused(Refusal::ZeroTransmit)
        );
        assert!(matches!(
            check(reply_with(|p| p.mode = Mode::Broadcast, t1)),
            Reply::Time(_)
        ));
        for m in [
            Mode::Client,
            Mode::SymmetricPassive,
            Mode::Reserved,
            Mode::Control,
        ] {
            assert_eq!(
                check(reply_with(|p| p.mode = m, t1)),
                Reply::Refused(Refusal::Mode(m))
            );
        }
        assert!(matches!(
            check(reply_with(|p| p.version = 3, t1)),
            Reply::Time(_)
        ));
        for v in [0, 1, 2, 5, 7] {
            assert_eq!(
                check(reply_with(|p| p.version = v, t1)),
                Reply::Refused(Refusal::Version(v))
            );
        }
        assert!(check_reply(&[0; 47], t1, t4).is_err());
    }

    /// RFC 4330 section 8: a reply with stratum 0 is a Kiss-o'-Death, its
    /// four-character kiss code (RATE, DENY, RSTR, ...) in the Reference
    /// Identifier; "an SNTP client should stop sending to a particular
    /// server if that server returns a reply with a Stratum field of 0".
    /// A kiss must still echo our transmit timestamp to be believed.
    #[test]
    fn rfc4330_section_8_kiss_of_death() {
        let t1 = NtpTimestamp::new(0xE900_0000, 42);
        let req = client_request(t1);
        let kod = kiss_of_death(&req, KissCode::RATE).unwrap();
        assert_eq!(kod[1], 0, "stratum 0");
        assert_eq!(&kod[12..16], b"RATE");
        let got = check_reply(&kod, t1, t1).unwrap();
        assert_eq!(got, Reply::KissOfDeath(KissCode::RATE));
        let Reply::KissOfDeath(code) = got else {
            panic!()
        };
        assert_eq!(code.to_string(), "RATE");
        assert_eq!(KissCode([0, 1, 2, 3]).to_string(), "00010203");
        // A kiss with the wrong originate is not ours: ignored, not obeyed.
        let spoof =
            kiss_of_death(&client_request(NtpTimestamp::new(1, 1)), KissCode::DENY).unwrap();
        assert!(matches!(
            check_reply(&spoof, t1, t1).unwrap(),
            Reply::Refused(Refusal::NotOurs { .. })
        ));
    }

    fn packet() -> impl Strategy<Value = Packet> {
        (
            any::<[u8; 4]>(),
            0u8..8,
            any::<[u8; 4]>(),
            any::<(i32, u32, [u64; 4])>(),
        )
            .prop_map(
                |(head, version, reference_id, (root_delay, root_dispersion, ts))| Packet {
                    leap: Leap::from_bits(head[0]),
                    version,
                    mode: Mode::from_bits(head[1]),
                    stratum: head[2],
                    poll: i8::from_be_bytes([head[3]]),
                    precision: i8::from_be_bytes([head[0]]),
                    root_delay,
                    root_dispersion,
                    reference_id,
                    reference: NtpTimestamp(ts[0]),
                    originate: NtpTimestamp(ts[1]),
                    receive: NtpTimestamp(ts[2]),
                    transmit: NtpTimestamp(ts[3]),
                },
            )
    }

    proptest! {
        #[test]
        fn packet_round_trip(p in packet()) {
            prop_assert_eq!(Packet::decode(&p.encode().unwrap()).unwrap(), p);
        }

        #[test]
        fn bytes_round_trip(bytes in any::<[u8; 48]>()) {
            prop_assert_eq!(Packet::decode(&bytes).unwrap().encode().unwrap(), bytes);
        }

        #[test]
        fn unix_round_trip(s in NtpTimestamp::MIN_UNIX_SECONDS..NtpTimestamp::END_UNIX_SECONDS, n in 0u32..1_000_000_000) {
            let ts = NtpTimestamp::from_unix(s, n).unwrap();
            prop_assert_eq!(ts.to_unix(), (s, n));
        }

        #[test]
        fn timestamp_to_unix_and_back_within_a_nanosecond(bits in any::<u64>()) {
            let ts = NtpTimestamp::from_bits(bits);
            let (s, n) = ts.to_unix();
            let back = NtpTimestamp::from_unix(s, n).unwrap();
            prop_assert_eq!(back.seconds(), ts.seconds());
            // One nanosecond is about 4.29 fraction units.
            prop_assert!(ts.fraction().abs_diff(back.fraction()) <= 5);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100), t in any::<u64>()) {
            let t = NtpTimestamp::from_bits(t);
            let _ = Packet::decode(&bytes);
            let _ = check_reply(&bytes, t, t);
            let _ = server_reply(&bytes, &clock(), t, t);
            let _ = kiss_of_death(&bytes, KissCode::RATE);
        }
    }
}
