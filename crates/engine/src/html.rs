//! `--report-html FILE`: one self-contained HTML page a person can send to
//! the people who own the pool.
//!
//! Everything is inline: CSS in a `<style>` element, charts as inline SVG
//! drawn here from the report's numbers; no script, no font, no image and
//! no fetch of any kind, so it opens the same offline, in a mail client's
//! viewer or in a browser years later. Charts: latency over time per stage
//! (corrected p99 per interval), percentile curves per stage, arrivals
//! against completions, phones signed in over time, failures by reason over
//! time. Then the per-stage table (corrected and raw), the bottleneck
//! sentence, a `harness` section when the report has one, and the
//! scenario text that produced the run (escaped).
//!
//! Each chart is a `<figure id="chart-…">` and each line a `<polyline
//! data-series="…">`, so tests (and people with a DOM inspector) can find
//! them. This module owns the page; the figures are the report's.

use std::fmt::Write as _;

use phonestorm_phone::Stage;

use crate::report::Report;
use crate::timeline::Interval;

/// Chart size in SVG user units.
const W: f64 = 1000.0;
const H: f64 = 320.0;
/// Plot area margins: left, right, top, bottom.
const ML: f64 = 70.0;
const MR: f64 = 170.0;
const MT: f64 = 20.0;
const MB: f64 = 45.0;

const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    /// Base 10; values at or below zero are drawn at the axis floor.
    Log,
    /// Percentiles: position by −log10(1 − p/100), so the tail spreads out.
    Percentile,
    /// Run time in seconds: linear from 0 to at least the run's end, so an
    /// empty chart still spans the run.
    Time(f64),
}

/// One line on a chart.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    label: &'static str,
}

/// Highest percentile position drawn (99.999th).
const PCT_MAX: f64 = 5.0;

impl Axis {
    fn fit(scale: Scale, values: impl Iterator<Item = f64>, label: &'static str) -> Axis {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for v in values.filter(|v| v.is_finite()) {
            if scale == Scale::Log && v <= 0.0 {
                continue;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        match scale {
            Scale::Linear | Scale::Time(_) => {
                let hi = match scale {
                    Scale::Time(end) if end.is_finite() => hi.max(end),
                    _ => hi,
                };
                let hi = if hi.is_finite() && hi > 0.0 {
                    nice_ceil(hi)
                } else {
                    1.0
                };
                Axis {
                    scale: Scale::Linear,
                    lo: 0.0,
                    hi,
                    label,
                }
            }
            Scale::Log => {
                let (lo, hi) = if lo.is_finite() {
                    (
                        10f64.powf(lo.log10().floor()),
                        10f64.powf(hi.log10().ceil()),
                    )
                } else {
                    (1.0, 10.0)
                };
                let hi = if hi <= lo { lo * 10.0 } else { hi };
                Axis {
                    scale,
                    lo,
                    hi,
                    label,
                }
            }
            Scale::Percentile => Axis {
                scale,
                lo: 0.0,
                hi: PCT_MAX,
                label,
            },
        }
    }

    /// Position 0..1 along the axis.
    fn pos(&self, v: f64) -> f64 {
        let t = match self.scale {
            Scale::Linear | Scale::Time(_) => (v - self.lo) / (self.hi - self.lo),
            Scale::Log => {
                let v = v.max(self.lo);
                (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
            }
            Scale::Percentile => {
                let rest = (1.0 - v / 100.0).max(10f64.powf(-PCT_MAX));
                -rest.log10() / PCT_MAX
            }
        };
        if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Linear | Scale::Time(_) => (0..=5)
                .map(|k| {
                    let v = self.lo + (self.hi - self.lo) * f64::from(k) / 5.0;
                    (v, number(v))
                })
                .collect(),
            Scale::Log => {
                let mut v = self.lo;
                let mut out = Vec::new();
                while v <= self.hi * 1.0001 && out.len() < 12 {
                    out.push((v, number(v)));
                    v *= 10.0;
                }
                out
            }
            Scale::Percentile => [0.0, 90.0, 99.0, 99.9, 99.99, 99.999]
                .into_iter()
                .map(|p| (p, format!("{p}")))
                .collect(),
        }
    }
}

/// 1, 2, 5 × 10^k at or above `v`.
fn nice_ceil(v: f64) -> f64 {
    let step = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * step >= v {
            return m * step;
        }
    }
    v
}

fn number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// An SVG line chart in a figure with id `chart-<id>`.
fn chart(
    id: &str,
    title: &str,
    series: &[Series],
    x: Scale,
    y: Scale,
    xl: &'static str,
    yl: &'static str,
) -> String {
    let xs = Axis::fit(
        x,
        series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        xl,
    );
    let ys = Axis::fit(
        y,
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        yl,
    );
    let pw = W - ML - MR;
    let ph = H - MT - MB;
    let px = |v: f64| ML + xs.pos(v) * pw;
    let py = |v: f64| MT + (1.0 - ys.pos(v)) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<figure class="chart" id="chart-{id}"><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#,
        escape(title),
        escape(title)
    );
    let _ = write!(
        s,
        r##"<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>"##
    );
    for (v, label) in ys.ticks() {
        let y = py(v);
        let _ = write!(
            s,
            r##"<line x1="{ML}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            ML + pw,
            ML - 6.0,
            y + 4.0,
            escape(&label)
        );
    }
    for (v, label) in xs.ticks() {
        let x = px(v);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{MT}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
            MT + ph,
            MT + ph + 16.0,
            escape(&label)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text><text x="14" y="{:.1}" text-anchor="middle" class="axis" transform="rotate(-90 14 {:.1})">{}</text>"#,
        ML + pw / 2.0,
        H - 6.0,
        escape(xs.label),
        MT + ph / 2.0,
        MT + ph / 2.0,
        escape(ys.label)
    );
    if series.iter().all(|s| s.points.is_empty()) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="empty">no data</text>"#,
            ML + pw / 2.0,
            MT + ph / 2.0
        );
    }
    for (n, line) in series.iter().enumerate() {
        let color = PALETTE.get(n % PALETTE.len()).copied().unwrap_or("#000");
        let pts: Vec<String> = line
            .points
            .iter()
            .map(|(a, b)| format!("{:.1},{:.1}", px(*a), py(*b)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline data-series="{}" fill="none" stroke="{color}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            escape(&line.name),
            pts.join(" "),
            escape(&line.name)
        );
        let ly = MT + 14.0 + 18.0 * n as f64;
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{:.1}" class="legend">{}</text>"#,
            ML + pw + 12.0,
            ly - 4.0,
            ML + pw + 32.0,
            ly + 2.0,
            escape(&line.name)
        );
    }
    s.push_str("</svg></figure>\n");
    s
}

fn per_interval(intervals: &[Interval], f: impl Fn(&Interval) -> f64) -> Vec<(f64, f64)> {
    intervals.iter().map(|i| (i.end_s, f(i))).collect()
}

/// A rate per interval, leaving out a last interval shorter than half the
/// others: a few events over a sliver of a second would draw a spike.
fn rates(intervals: &[Interval], every: f64, f: impl Fn(&Interval) -> u64) -> Vec<(f64, f64)> {
    intervals
        .iter()
        .filter(|i| i.seconds() >= every / 2.0)
        .map(|i| (i.end_s, i.per_second(f(i))))
        .collect()
}

fn stage_rows(report: &Report) -> String {
    let mut s = String::new();
    for row in report.rows() {
        let (c, r) = (&row.latency.corrected, &row.latency.raw);
        let name = escape(row.name);
        let _ = write!(
            s,
            r#"<tr data-stage="{name}" data-p99="{}"><th>{name}</th><td>{}</td><td>{}</td><td>{}</td>"#,
            c.p99, row.count, row.ok, row.failed,
        );
        let figures = [
            c.p50, c.p90, c.p99, c.p999, c.max, r.p50, r.p90, r.p99, r.p999, r.max,
        ];
        for (i, ms) in figures.into_iter().enumerate() {
            let class = if i >= 5 { r#" class="raw""# } else { "" };
            let _ = match row.none {
                Some(why) => write!(s, "<td{class}>{}</td>", if i == 0 { why } else { "-" }),
                None => write!(s, "<td{class}>{ms:.1}</td>"),
            };
        }
        s.push_str("</tr>\n");
    }
    s
}

/// A `harness` section (added to the report by the harness-health work)
/// as a key / value table, if the report has one.
fn harness(report: &Report) -> String {
    let Ok(v) = serde_json::to_value(report) else {
        return String::new();
    };
    let Some(h) = v.get("harness").and_then(|h| h.as_object()) else {
        return String::new();
    };
    let mut s = String::from("<section id=\"harness\"><h2>Harness health</h2><table>");
    for (k, v) in h {
        let text = match v {
            serde_json::Value::String(t) => t.clone(),
            // `local_failures { files, ports, memory }`: "files 3, ports 0".
            serde_json::Value::Object(o) => o
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        let _ = write!(
            s,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            escape(&text)
        );
    }
    s.push_str("</table></section>\n");
    s
}

/// The whole page. `scenario_name` titles it; `scenario_text` is the
/// scenario file (with any overrides noted by the caller) shown at the end.
pub fn render(report: &Report, scenario_name: &str, scenario_text: &str) -> String {
    let tl = &report.timeline.intervals;
    let every = report.timeline.interval_s;
    let end = tl.last().map_or(report.duration_s, |i| i.end_s);
    let stages_seen: Vec<Stage> = Stage::ALL
        .iter()
        .copied()
        .filter(|s| report.stages.get(*s).is_some_and(|r| r.ok > 0))
        .collect();

    let latency_over_time: Vec<Series> = stages_seen
        .iter()
        .map(|s| Series {
            name: s.name().to_owned(),
            points: tl
                .iter()
                .filter_map(|i| {
                    i.stage(*s)
                        .filter(|x| x.ok > 0)
                        .map(|x| (i.end_s, x.latency_ms.corrected.p99))
                })
                .collect(),
        })
        .collect();
    let curves: Vec<Series> = stages_seen
        .iter()
        .filter_map(|s| {
            let r = report.stages.get(*s)?;
            Some(Series {
                name: s.name().to_owned(),
                points: r.curve_ms.iter().map(|p| (p[0], p[1])).collect(),
            })
        })
        .collect();
    let arrivals = vec![
        Series {
            name: "scheduled/s".into(),
            points: rates(tl, every, |i| i.scheduled),
        },
        Series {
            name: "started/s".into(),
            points: rates(tl, every, |i| i.started),
        },
        Series {
            name: "signed in/s".into(),
            points: rates(tl, every, |i| i.signed_in),
        },
        Series {
            name: "failed/s".into(),
            points: rates(tl, every, |i| i.failed),
        },
    ];
    let mut total = 0u64;
    let signed_in = vec![
        Series {
            name: "signed in now".into(),
            points: per_interval(tl, |i| i.holding as f64),
        },
        Series {
            name: "signed in so far".into(),
            points: tl
                .iter()
                .map(|i| {
                    total += i.signed_in;
                    (i.end_s, total as f64)
                })
                .collect(),
        },
    ];
    let mut reasons: Vec<&String> = tl.iter().flat_map(|i| i.failures.keys()).collect();
    reasons.sort();
    reasons.dedup();
    let failures: Vec<Series> = reasons
        .iter()
        .map(|r| Series {
            name: (*r).clone(),
            points: rates(tl, every, |i| i.failures.get(*r).copied().unwrap_or(0)),
        })
        .collect();

    let p = &report.phones;
    let ending = match &report.ending {
        crate::report::Ending::Completed => "completed".to_owned(),
        crate::report::Ending::Aborted(why) => format!("aborted: {why}"),
        crate::report::Ending::Stopped => "stopped before the end".to_owned(),
        crate::report::Ending::TimeLimit => "stopped at the time limit".to_owned(),
    };
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>phonestorm report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; margin-top: 28px; }}
.summary {{ font-size: 15px; }} .bottleneck {{ font-size: 16px; padding: 8px 12px; background: #fff4e5; border-left: 4px solid #ff7f0e; }}
figure.chart {{ margin: 16px 0; }} figcaption {{ font-weight: 600; margin-bottom: 4px; }}
svg {{ width: 100%; height: auto; font-size: 12px; }} .tick {{ fill: #555; }} .axis {{ fill: #333; font-size: 13px; }} .legend {{ fill: #333; }} .empty {{ fill: #999; font-size: 16px; }}
table {{ border-collapse: collapse; font-size: 13px; }} th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }} th {{ text-align: left; background: #f3f3f3; }} td.raw {{ background: #f7f9ff; }}
pre {{ background: #f6f6f6; padding: 12px; overflow-x: auto; font-size: 12px; }}
</style></head><body>
<h1>phonestorm report: {title}</h1>
<p class="summary">{ending}; {dur:.1} s; {sched} phones scheduled, {started} started, {reg} signed in, {failed} failed.</p>
<p class="bottleneck" id="bottleneck">Bottleneck: {bottleneck}</p>
"#,
        title = escape(scenario_name),
        ending = escape(&ending),
        dur = report.duration_s,
        sched = p.scheduled,
        started = p.started,
        reg = p.registered,
        failed = p.failed,
        bottleneck = escape(&report.bottleneck.sentence),
    );
    // The harness's own shortage beside the finding it qualifies, so a
    // reader of the page does not take it for the pool's.
    if let Some(line) = report.harness.shortage() {
        let _ = writeln!(
            page,
            "<p class=\"bottleneck\" id=\"shortage\">{}</p>",
            escape(&line)
        );
    }
    page.push_str(&chart(
        "latency-over-time",
        "Latency over time per stage (corrected p99 per interval, ms)",
        &latency_over_time,
        Scale::Time(end),
        Scale::Log,
        "run time (s)",
        "p99 ms (log)",
    ));
    page.push_str(&chart(
        "percentiles",
        "Percentile curves per stage (corrected latency, whole run)",
        &curves,
        Scale::Percentile,
        Scale::Log,
        "percentile",
        "ms (log)",
    ));
    page.push_str(&chart(
        "arrivals",
        "Arrivals against completions (per second)",
        &arrivals,
        Scale::Time(end),
        Scale::Linear,
        "run time (s)",
        "phones per second",
    ));
    page.push_str(&chart(
        "signed-in",
        "Phones signed in over time",
        &signed_in,
        Scale::Time(end),
        Scale::Linear,
        "run time (s)",
        "phones",
    ));
    page.push_str(&chart(
        "failures",
        "Failures by reason over time (failed attempts per second)",
        &failures,
        Scale::Time(end),
        Scale::Linear,
        "run time (s)",
        "per second",
    ));
    let _ = write!(
        page,
        r#"<h2>Per stage (ms; corrected from the intended start, raw from the actual start)</h2>
<table id="stages"><tr><th>stage</th><th>count</th><th>ok</th><th>failed</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>raw p50</th><th>raw p90</th><th>raw p99</th><th>raw p99.9</th><th>raw max</th></tr>
{}</table>
"#,
        stage_rows(report)
    );
    page.push_str(&harness(report));
    let _ = write!(
        page,
        "<h2>Scenario</h2>\n<pre id=\"scenario\">{}</pre>\n</body></html>\n",
        escape(scenario_text)
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Phones, StageReport, Stages};
    use crate::timeline::{IntervalStage, Timeline};

    fn report() -> Report {
        let mut cert = StageReport {
            count: 20,
            ok: 20,
            ..Default::default()
        };
        cert.latency_ms.corrected.p99 = 812.5;
        cert.curve_ms = vec![[0.0, 100.0], [50.0, 200.0], [99.0, 812.5], [100.0, 900.0]];
        let intervals = (0..3)
            .map(|n| {
                let mut i = Interval {
                    start_s: f64::from(n),
                    end_s: f64::from(n + 1),
                    scheduled: 10,
                    started: 10,
                    signed_in: 9,
                    failed: 1,
                    holding: 9,
                    ..Default::default()
                };
                let mut s = IntervalStage {
                    ok: 7,
                    ..Default::default()
                };
                s.latency_ms.corrected.p99 = 100.0 * f64::from(n + 1);
                i.stages.insert("certificate".into(), s);
                i.failures.insert("http_503".into(), 1);
                i
            })
            .collect();
        Report {
            phones: Phones {
                scheduled: 30,
                started: 30,
                registered: 27,
                failed: 3,
                completed: 0,
            },
            stages: Stages(vec![(Stage::Certificate, cert)]),
            timeline: Timeline {
                interval_s: 1.0,
                start_unix_s: 0.0,
                intervals,
            },
            ..Default::default()
        }
    }

    /// No zeros for a stage nothing passed, nor for one only skipped.
    #[test]
    fn stage_rows_show_no_latency_where_none_was_measured() {
        let mut r = report();
        for (stage, failed, skipped) in [(Stage::Register, 5, 0), (Stage::Vlan, 0, 5)] {
            let row = StageReport {
                count: 5,
                failed,
                skipped,
                ..Default::default()
            };
            r.stages.0.push((stage, row));
        }
        let rows = stage_rows(&r);
        let row = |name: &str| {
            rows.lines()
                .find(|l| l.contains(&format!("<th>{name}</th>")))
                .unwrap()
                .to_owned()
        };
        let dashes = r#"<td>-</td><td>-</td><td>-</td><td>-</td><td class="raw">-</td>"#;
        assert!(
            row("register").contains(&format!("<td>5</td><td>-</td>{dashes}")),
            "{rows}"
        );
        assert!(
            row("vlan").contains(&format!("<td>0</td><td>skipped</td>{dashes}")),
            "{rows}"
        );
        assert!(!row("certificate").contains("<td>-</td>"), "{rows}");
    }

    #[test]
    fn every_chart_is_drawn_from_the_report() {
        let mut r = report();
        r.bottleneck.sentence = "certificate p99 passed 2 s".into();
        let page = render(&r, "a <test>", "name = \"x\" # <b>&</b>\n");
        for id in [
            "latency-over-time",
            "percentiles",
            "arrivals",
            "signed-in",
            "failures",
        ] {
            assert!(page.contains(&format!("id=\"chart-{id}\"")), "{id}");
        }
        assert_eq!(page.matches("<svg").count(), 5);
        assert!(page.contains(r#"<polyline data-series="certificate""#));
        assert!(page.contains(r#"data-series="http_503""#));
        assert!(page.contains(r#"data-series="signed in so far""#));
        assert!(page.contains(r#"<tr data-stage="certificate" data-p99="812.5">"#));
        assert!(page.contains("<td>812.5</td>"));
        assert!(page.contains("certificate p99 passed 2 s"));
        // Escaped, never live markup; nothing fetched from anywhere.
        assert!(page.contains("a &lt;test&gt;"));
        assert!(page.contains("# &lt;b&gt;&amp;&lt;/b&gt;"));
        for banned in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(banned), "{banned}");
        }
    }

    #[test]
    fn a_harness_short_of_open_files_says_so_beside_the_finding() {
        let mut r = report();
        assert!(!render(&r, "", "").contains("id=\"shortage\""));
        r.harness.local_failures.files = 3;
        r.harness.open_files_limit = Some(128);
        let page = render(&r, "", "");
        assert!(
            page.contains(
                "<p class=\"bottleneck\" id=\"shortage\">harness short of open files (limit 128: raise `ulimit -n`): 3 stage attempts"
            ),
            "{page}"
        );
        assert!(
            page.contains("<tr><th>local_failures</th><td>files 3, memory 0, ports 0</td></tr>"),
            "{page}"
        );
    }

    #[test]
    fn an_empty_report_still_renders() {
        let page = render(&Report::default(), "", "");
        assert_eq!(page.matches("<svg").count(), 5);
        assert!(page.contains("no data"));
        assert!(!page.contains("NaN") && !page.contains("=\"inf") && !page.contains(",inf"));
        // An empty chart still spans the run: 0 to 10 s for a 7 s run.
        let mut r = Report {
            duration_s: 7.0,
            ..Default::default()
        };
        r.timeline.interval_s = 1.0;
        let page = render(&r, "", "");
        assert!(page.contains(">10</text>"), "{page}");
    }

    #[test]
    fn axes_place_values_where_they_belong() {
        let log = Axis::fit(Scale::Log, [3.0, 700.0].into_iter(), "");
        assert_eq!((log.lo, log.hi), (1.0, 1000.0));
        assert!((log.pos(10.0) - 1.0 / 3.0).abs() < 1e-9);
        let pct = Axis::fit(Scale::Percentile, std::iter::empty(), "");
        assert!((pct.pos(99.0) - 0.4).abs() < 1e-9);
        assert_eq!(pct.pos(100.0), 1.0);
        assert_eq!(
            Axis::fit(Scale::Linear, [0.0, 7.0].into_iter(), "").hi,
            10.0
        );
    }
}
