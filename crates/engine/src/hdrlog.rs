//! `--hdr-log FILE`: the timeline's interval histograms in the
//! HdrHistogram interval log format (the format of HdrHistogram's
//! `HistogramLogWriter`, read by `HistogramLogProcessor`, `hdr-plot` and
//! the other standard tools), so runs can be merged and compared outside
//! phonestorm.
//!
//! What is in it: one line per interval and stage, `Tag=<stage>`, plus
//! `Tag=signin` for the whole sign-in, each a V2-deflate compressed
//! histogram of the *corrected* latency (from each attempt's intended
//! start) in microseconds; interval start times are seconds from the run's
//! start (`#[StartTime: …]` in the header is the wall-clock start), the
//! max column is in milliseconds (`#[MaxValueDivisor: 1000.000]`). The
//! header comments say so. This module owns the file's layout; the
//! histograms come encoded from [`crate::timeline`], and writing uses the
//! hdrhistogram crate's own log writer, reading its log iterator, so the
//! format is theirs, not ours.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use phonestorm_phone::Stage;

use crate::error::{Error, Result};
use crate::timeline::{IntervalStage, Timeline};

/// The tag of the whole sign-in's histograms.
pub const SIGNIN_TAG: &str = "signin";

fn decode(blob: &[u8]) -> Result<Histogram<u64>> {
    Deserializer::new()
        .deserialize(&mut &blob[..])
        .map_err(|e| Error::HdrLog(format!("cannot decode an interval histogram: {e:?}")))
}

/// The timeline as an interval log.
pub fn render(tl: &Timeline) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = UNIX_EPOCH + Duration::from_secs_f64(tl.start_unix_s.max(0.0));
    let mut w = IntervalLogWriterBuilder::new()
        .add_comment("phonestorm interval log: corrected latency (from each attempt's intended start), in microseconds")
        .add_comment(&format!(
            "one histogram per interval ({} s) and tag: Tag=<stage> per bootstrap stage, Tag=signin for the whole sign-in; timestamps are seconds from StartTime",
            tl.interval_s
        ))
        .add_comment("max column in milliseconds (MaxValueDivisor 1000); process with HistogramLogProcessor -csv -outputValueUnitRatio 1000 -tag <stage>")
        .with_start_time(start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| Error::HdrLog(e.to_string()))?;
    for interval in &tl.intervals {
        let from = Duration::from_secs_f64(interval.start_s.max(0.0));
        let length = Duration::from_secs_f64(interval.seconds());
        let tagged = std::iter::once((SIGNIN_TAG, &interval.signin)).chain(
            Stage::ALL
                .iter()
                .filter_map(|s| interval.stage(*s).map(|x| (s.name(), x))),
        );
        for (tag, s) in tagged {
            let s: &IntervalStage = s;
            if s.hdr.is_empty() {
                continue;
            }
            let h = decode(&s.hdr)?;
            w.write_histogram(&h, from, length, Tag::new(tag))
                .map_err(|e| Error::HdrLog(format!("{e:?}")))?;
        }
    }
    Ok(out)
}

/// One interval histogram read back from a log.
#[derive(Debug, Clone)]
pub struct LogInterval {
    /// Its tag (stage name or `signin`), if any.
    pub tag: Option<String>,
    /// Start, from the log's start time.
    pub start: Duration,
    /// Length.
    pub duration: Duration,
    /// The histogram (microseconds).
    pub histogram: Histogram<u64>,
}

/// Reads an interval log (ours or any other's) back.
pub fn read(bytes: &[u8]) -> Result<Vec<LogInterval>> {
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| Error::HdrLog(format!("cannot parse the log: {e:?}")))?;
        if let LogEntry::Interval(i) = entry {
            let blob = base64::engine::general_purpose::STANDARD
                .decode(i.encoded_histogram())
                .map_err(|e| Error::HdrLog(format!("bad base64 in the log: {e}")))?;
            out.push(LogInterval {
                tag: i.tag().map(|t| t.as_str().to_owned()),
                start: i.start_timestamp(),
                duration: i.duration(),
                histogram: decode(&blob)?,
            });
        }
    }
    Ok(out)
}

/// Total count per tag of a log (untagged intervals under `""`).
pub fn counts_per_tag(intervals: &[LogInterval]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for i in intervals {
        *m.entry(i.tag.clone().unwrap_or_default()).or_insert(0) += i.histogram.len();
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Interval;
    use hdrhistogram::serialization::Serializer as _;

    fn blob(values_us: &[u64]) -> Vec<u8> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values_us {
            h.record(*v).unwrap();
        }
        let mut b = Vec::new();
        V2DeflateSerializer::new().serialize(&h, &mut b).unwrap();
        b
    }

    fn stage(values_us: &[u64]) -> IntervalStage {
        IntervalStage {
            ok: values_us.len() as u64,
            hdr: blob(values_us),
            ..Default::default()
        }
    }

    /// HdrHistogram's interval log format (HistogramLogWriter): header
    /// comments, `#[StartTime: …]`, then one line per interval,
    /// `Tag=<tag>,<start>,<length>,<max>,<base64 V2-deflate histogram>`;
    /// read back with the crate's iterator, counts and values survive.
    #[test]
    fn hdrhistogram_interval_log_round_trip() {
        let mut a = Interval {
            start_s: 0.0,
            end_s: 1.0,
            signin: stage(&[900_000, 1_100_000]),
            ..Default::default()
        };
        a.stages.insert("dns".into(), stage(&[1_000, 2_000, 3_000]));
        a.stages.insert("register".into(), stage(&[40_000]));
        let mut b = Interval {
            start_s: 1.0,
            end_s: 2.0,
            ..Default::default()
        };
        b.stages.insert("dns".into(), stage(&[5_000]));
        let tl = Timeline {
            interval_s: 1.0,
            start_unix_s: 1_700_000_000.0,
            intervals: vec![a, b],
        };
        let bytes = render(&tl).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("corrected latency"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("Tag=dns,1.000,1.000,5.")),
            "{text}"
        );
        let back = read(&bytes).unwrap();
        assert_eq!(back.len(), 4, "signin and two stages, then dns");
        let counts = counts_per_tag(&back);
        assert_eq!(counts.get("dns"), Some(&4));
        assert_eq!(counts.get("register"), Some(&1));
        assert_eq!(counts.get("signin"), Some(&2));
        let reg = back
            .iter()
            .find(|i| i.tag.as_deref() == Some("register"))
            .unwrap();
        assert!((reg.histogram.max() as i64 - 40_000).abs() < 50);
        assert_eq!(reg.duration, Duration::from_secs(1));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(b"Tag=dns,0.0,1.0,1.0,not base64!!\n").is_err());
        assert!(read(b"0.0,1.0,1.0,AAAA\n").is_err());
        assert!(read(b"").unwrap().is_empty());
    }
}
