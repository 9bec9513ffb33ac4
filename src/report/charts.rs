//! The report's charts as inline SVG: fan chart (quantile bands over time, alone or several
//! overlaid to compare designs), line chart
//! (series with optional confidence bands), histogram and horizontal bar chart, plus the
//! "no data" placeholder every chart falls back to.
//!
//! Invariants:
//! - Every chart is one `<svg>` element, 720 px wide (scaled down by CSS when the page is
//!   narrower), with a title, labelled axes with units, nice ticks and a legend where it
//!   draws more than one thing.
//! - A chart never panics on its data: empty input, NaN, nulls and infinities give a
//!   "no data" chart or gaps in lines and bands, never "NaN" in the output.
//! - Colours come from CSS classes of the page (`c0`..`c7` strokes, `f0`..`f7` fills), so
//!   the SVG holds geometry and text only.
//! - A share (percent format) is drawn from 0, so a move of a fraction of a point does not
//!   fill the plot; event days (shocks) are vertical `shock` lines carrying their day in
//!   `data-day`, so a reader (and a test) can tell where they are drawn.
//! - A bar with a standard error gets a paired error bar (`err`, +-1.96 SE, its ends in
//!   `data-lo` / `data-hi`), and a bar whose effect is within 1.96 SE of zero is drawn grey
//!   (`noise`) with its label saying so: an effect the Monte Carlo cannot tell from zero
//!   must not read like one it can.

use super::svg::{self, band, esc, line, polyline, px, rect, segments, text, Axis, TickFormat};
use std::fmt::Write;

pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 300.0;
/// Number of colours in the palette (`c0`..`c7`).
pub const PALETTE: usize = 8;

const TITLE_Y: f64 = 22.0;
const LEGEND_Y: f64 = 42.0;
const PLOT_TOP: f64 = 56.0;
const BOTTOM_SPACE: f64 = 46.0;
const RIGHT_SPACE: f64 = 18.0;
/// Approximate advance of one character of 12 px text.
const CHAR_W: f64 = 6.8;

/// Histogram bins: `edges.len() - 1` bins, `counts` per bin.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    /// Edges are log-spaced: draw on a log x axis.
    pub log_x: bool,
}

impl Bins {
    pub fn new(edges: Vec<f64>, log_x: bool) -> Bins {
        let n = edges.len().saturating_sub(1);
        Bins {
            edges,
            counts: vec![0; n],
            log_x,
        }
    }

    /// Counts `v` in its bin (bins are `[lo, hi)`, the last one closed); values outside
    /// the edges (beyond rounding) are ignored.
    pub fn add(&mut self, v: f64) {
        let n = self.counts.len();
        if n == 0 || !v.is_finite() {
            return;
        }
        let (first, last) = (self.edges[0], self.edges[n]);
        let tol = 1e-9 * first.abs().max(last.abs());
        if v < first - tol || v > last + tol {
            return;
        }
        let i = self.edges.partition_point(|&e| e <= v).clamp(1, n) - 1;
        self.counts[i] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The plot area of a chart and its two axes. Pages that draw their own marks (the
/// calibration and backtest pages) use it too, so every chart has the same frame.
pub(crate) struct Plot {
    pub(crate) left: f64,
    pub(crate) right: f64,
    pub(crate) top: f64,
    pub(crate) bottom: f64,
    pub(crate) x: Axis,
    pub(crate) y: Axis,
}

impl Plot {
    /// A plot area for a chart `height` tall, its left margin fitted to the y labels.
    pub(crate) fn new(x: Axis, y: Axis, height: f64) -> Plot {
        let widest = y
            .labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(1);
        Plot {
            left: 34.0 + widest as f64 * CHAR_W,
            right: WIDTH - RIGHT_SPACE,
            top: PLOT_TOP,
            bottom: height - BOTTOM_SPACE,
            x,
            y,
        }
    }

    pub(crate) fn sx(&self, v: f64) -> Option<f64> {
        self.x
            .frac(v)
            .map(|f| self.left + f * (self.right - self.left))
    }

    pub(crate) fn sy(&self, v: f64) -> Option<f64> {
        self.y
            .frac(v)
            .map(|f| self.bottom - f * (self.bottom - self.top))
    }

    /// The x axis title, under the plot.
    fn x_title(&self, x_label: &str, height: f64) -> String {
        text(
            (self.left + self.right) / 2.0,
            height - 8.0,
            "middle",
            "label",
            x_label,
        )
    }

    /// Grid, ticks, tick labels and axis titles.
    pub(crate) fn axes(&self, x_label: &str, y_label: &str, height: f64) -> String {
        let mut s = String::new();
        for (t, l) in self.y.ticks.iter().zip(&self.y.labels) {
            if let Some(y) = self.sy(*t) {
                s += &line(self.left, y, self.right, y, "grid");
                s += &text(self.left - 6.0, y + 4.0, "end", "tick", l);
            }
        }
        for (t, l) in self.x.ticks.iter().zip(&self.x.labels) {
            if let Some(x) = self.sx(*t) {
                s += &line(x, self.bottom, x, self.bottom + 5.0, "axis");
                s += &text(x, self.bottom + 18.0, "middle", "tick", l);
            }
        }
        s += &line(self.left, self.bottom, self.right, self.bottom, "axis");
        s += &line(self.left, self.top, self.left, self.bottom, "axis");
        s += &self.x_title(x_label, height);
        let cy = (self.top + self.bottom) / 2.0;
        let _ = write!(
            s,
            r#"<text transform="translate(14,{}) rotate(-90)" text-anchor="middle" class="label">{}</text>"#,
            px(cy),
            esc(y_label)
        );
        s
    }
}

/// One entry of a chart legend.
pub enum Legend<'a> {
    /// A filled swatch with fill class `class`.
    Swatch(&'a str, String),
    /// A line sample with stroke class `class`.
    Line(&'a str, String),
}

pub(crate) fn legend(items: &[Legend]) -> String {
    let mut s = String::new();
    let mut x = 14.0;
    for item in items {
        let (label, sample) = match item {
            Legend::Swatch(class, label) => (label, rect(x, LEGEND_Y - 9.0, 16.0, 10.0, class)),
            Legend::Line(class, label) => (
                label,
                line(x, LEGEND_Y - 4.0, x + 16.0, LEGEND_Y - 4.0, class),
            ),
        };
        s += &sample;
        s += &text(x + 21.0, LEGEND_Y, "start", "legend", label);
        x += 21.0 + label.chars().count() as f64 * CHAR_W + 16.0;
    }
    s
}

/// The opening of a chart: `<svg>`, its accessible title and the visible title.
pub(crate) fn open(title: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"><title>{t}</title>{text}"#,
        w = px(WIDTH),
        h = px(height),
        t = esc(title),
        text = text(14.0, TITLE_Y, "start", "title", title)
    )
}

/// A note right-aligned on the legend row.
pub(crate) fn note(s: &str) -> String {
    text(WIDTH - RIGHT_SPACE, LEGEND_Y, "end", "note", s)
}

/// A chart with only its title, a frame and a message: what every chart draws when it
/// has nothing to show.
pub fn no_data(title: &str, message: &str) -> String {
    let mut s = open(title, HEIGHT);
    s += &rect(
        50.0,
        PLOT_TOP,
        WIDTH - 50.0 - RIGHT_SPACE,
        HEIGHT - BOTTOM_SPACE - PLOT_TOP,
        "empty",
    );
    s += &text(
        WIDTH / 2.0,
        (PLOT_TOP + HEIGHT - BOTTOM_SPACE) / 2.0 + 5.0,
        "middle",
        "nodata",
        message,
    );
    s + "</svg>"
}

/// Quantile bands and mean of a metric over report days.
#[derive(Debug, Clone, Default)]
pub struct FanData {
    pub x: Vec<f64>,
    pub p05: Vec<Option<f64>>,
    pub p25: Vec<Option<f64>>,
    pub p50: Vec<Option<f64>>,
    pub p75: Vec<Option<f64>>,
    pub p95: Vec<Option<f64>>,
    pub mean: Vec<Option<f64>>,
}

/// How a fan chart is labelled.
pub struct FanSpec<'a> {
    pub title: &'a str,
    /// Unit of the y axis (`USD`, `tokens`, `USD/day`, `ratio`).
    pub unit: &'a str,
    pub format: TickFormat,
    /// A labelled horizontal reference line (e.g. ratio 1).
    pub reference: Option<(f64, &'a str)>,
}

/// Values of `v` that are present and finite.
fn finite(v: &[Option<f64>]) -> impl Iterator<Item = f64> + '_ {
    v.iter().flatten().copied().filter(|x| x.is_finite())
}

/// A labelled vertical line across a chart's plot at `x` (e.g. the day of a shock).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub x: f64,
    /// Short label drawn at the top of the line (e.g. `shock d200`).
    pub label: String,
    /// Longer text shown as the line's tooltip (e.g. `price -50%`).
    pub detail: String,
    /// What it marks: a shock (red) or a governance change (blue).
    pub kind: MarkKind,
}

/// The kinds of [`Mark`], each with its own line style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MarkKind {
    #[default]
    Shock,
    Governance,
}

impl MarkKind {
    /// The CSS classes of the line and of its label.
    fn classes(self) -> (&'static str, &'static str) {
        match self {
            MarkKind::Shock => ("shock", "shocklabel"),
            MarkKind::Governance => ("gov", "govlabel"),
        }
    }
}

/// Minimum distance in pixels between two mark labels; a closer mark gets no label of its
/// own (its tooltip still says what it is).
const MARK_LABEL_GAP: f64 = 64.0;

impl Plot {
    /// The marks inside the x domain: a dashed line each, labelled where there is room.
    fn marks(&self, marks: &[Mark]) -> String {
        let mut s = String::new();
        // Labels go on the first of two rows with room since its last label.
        let mut last_label = [f64::NEG_INFINITY; 2];
        for m in marks {
            let inside = m.x.is_finite()
                && match self.x.kind {
                    svg::ScaleKind::Linear => m.x >= self.x.lo && m.x <= self.x.hi,
                    svg::ScaleKind::Log => m.x >= self.x.lo && m.x <= self.x.hi && m.x > 0.0,
                };
            let Some(x) = self.sx(m.x).filter(|_| inside) else {
                continue;
            };
            let (line_class, label_class) = m.kind.classes();
            let _ = write!(
                s,
                r#"<line x1="{x}" y1="{t}" x2="{x}" y2="{b}" class="{line_class}" data-day="{d}"><title>{tip}</title></line>"#,
                x = px(x),
                t = px(self.top),
                b = px(self.bottom),
                d = m.x,
                tip = esc(&format!("{}: {}", m.label, m.detail)),
            );
            if let Some(row) = (0..2).find(|&r| x - last_label[r] >= MARK_LABEL_GAP) {
                let anchor = if x > self.right - 40.0 {
                    "end"
                } else {
                    "start"
                };
                let dx = if anchor == "end" { -3.0 } else { 3.0 };
                let y = self.top + 11.0 + 13.0 * row as f64;
                s += &text(x + dx, y, anchor, label_class, &m.label);
                last_label[row] = x;
            }
        }
        s
    }
}

/// The "log scale" note (when `log`) and the axes of a chart over days, the y axis labelled
/// `unit` (with "(log scale)" when `log`): shared by the fan charts.
fn day_axes(plot: &Plot, unit: &str, log: bool) -> String {
    let mut s = String::new();
    if log {
        s += &note("log scale");
    }
    let y_label = if log {
        format!("{unit} (log scale)")
    } else {
        unit.to_string()
    };
    s += &plot.axes("day", &y_label, HEIGHT);
    s
}

/// A fan chart: p05-p95 and p25-p75 bands, median line and dashed mean, over days; log
/// scale when the values span more than two decades.
pub fn fan_chart(spec: &FanSpec, d: &FanData) -> String {
    fan_chart_marked(spec, d, &[])
}

/// [`fan_chart`] with vertical marks (shock days) over the plot.
pub fn fan_chart_marked(spec: &FanSpec, d: &FanData, marks: &[Mark]) -> String {
    let mut values: Vec<f64> = [&d.p05, &d.p25, &d.p50, &d.p75, &d.p95, &d.mean]
        .into_iter()
        .flat_map(|v| finite(v))
        .collect();
    if values.is_empty() || d.x.is_empty() {
        return no_data(spec.title, "no data");
    }
    if let Some((r, _)) = spec.reference {
        values.push(r);
    }
    let (min, max) = min_max(&values);
    // Shares start at 0: a staked share between 24.4% and 25.0% is a flat line, not a cliff.
    let zero = min >= 0.0 && (min <= 0.5 * max || spec.format == TickFormat::Percent);
    let allow_log = spec.format != TickFormat::Percent;
    let Some(y) = Axis::fit(&values, spec.format, zero, allow_log) else {
        return no_data(spec.title, "no data");
    };
    let (x0, x1) = min_max(&d.x);
    let x = Axis::linear_exact(x0, x1, 8, TickFormat::Plain);
    let log = y.kind == svg::ScaleKind::Log;
    let plot = Plot::new(x, y, HEIGHT);
    let mut s = open(spec.title, HEIGHT);
    s += &legend(&[
        Legend::Swatch("f0 outer", "p05–p95".into()),
        Legend::Swatch("f0 inner", "p25–p75".into()),
        Legend::Line("c0 median", "median".into()),
        Legend::Line("c1 mean", "mean".into()),
    ]);
    s += &day_axes(&plot, spec.unit, log);
    let band_pts =
        |hi: &[Option<f64>], lo: &[Option<f64>]| -> Vec<(f64, Option<f64>, Option<f64>)> {
            d.x.iter()
                .enumerate()
                .filter_map(|(i, &x)| {
                    let u = hi.get(i).copied().flatten().and_then(|v| plot.sy(v));
                    let l = lo.get(i).copied().flatten().and_then(|v| plot.sy(v));
                    Some((plot.sx(x)?, u, l))
                })
                .collect()
        };
    s += &band(&band_pts(&d.p95, &d.p05), "f0 outer");
    s += &band(&band_pts(&d.p75, &d.p25), "f0 inner");
    if let Some((r, label)) = spec.reference {
        if let Some(y) = plot.sy(r) {
            s += &line(plot.left, y, plot.right, y, "ref");
            s += &text(plot.right - 4.0, y - 5.0, "end", "note", label);
        }
    }
    let series = |v: &[Option<f64>]| {
        segments(d.x.iter().enumerate().map(|(i, &x)| {
            let y = v.get(i).copied().flatten()?;
            Some((plot.sx(x)?, plot.sy(y)?))
        }))
    };
    s += &polyline(&series(&d.p50), "c0 median");
    s += &polyline(&series(&d.mean), "c1 mean");
    s += &plot.marks(marks);
    s + "</svg>"
}

/// One design of an overlaid fan chart: its label, palette index and bands.
pub struct FanLayer<'a> {
    pub label: &'a str,
    pub color: usize,
    pub data: &'a FanData,
}

/// Several fans on one pair of axes (designs compared): per layer a p05-p95 band and the
/// median line in the layer's colour, with a legend; log scale when the values span more
/// than two decades, as [`fan_chart`].
pub fn fan_overlay(spec: &FanSpec, layers: &[FanLayer]) -> String {
    let mut values: Vec<f64> = layers
        .iter()
        .flat_map(|l| [&l.data.p05, &l.data.p50, &l.data.p95])
        .flat_map(|v| finite(v))
        .collect();
    let xs: Vec<f64> = layers
        .iter()
        .flat_map(|l| l.data.x.iter().copied())
        .collect();
    if values.is_empty() || xs.is_empty() {
        return no_data(spec.title, "no data");
    }
    if let Some((r, _)) = spec.reference {
        values.push(r);
    }
    let (min, max) = min_max(&values);
    let zero = min >= 0.0 && min <= 0.5 * max;
    let allow_log = spec.format != TickFormat::Percent;
    let Some(y) = Axis::fit(&values, spec.format, zero, allow_log) else {
        return no_data(spec.title, "no data");
    };
    let (x0, x1) = min_max(&xs);
    if x1 <= x0 {
        return no_data(spec.title, "no data");
    }
    let x = Axis::linear_exact(x0, x1, 8, TickFormat::Plain);
    let log = y.kind == svg::ScaleKind::Log;
    let plot = Plot::new(x, y, HEIGHT);
    let mut s = open(spec.title, HEIGHT);
    let items: Vec<Legend> = layers
        .iter()
        .map(|l| {
            Legend::Swatch(
                FANS[l.color % PALETTE],
                format!("{}: median, p05–p95", l.label),
            )
        })
        .collect();
    s += &legend(&items);
    s += &day_axes(&plot, spec.unit, log);
    for l in layers {
        let d = l.data;
        let pts: Vec<BandPoint> =
            d.x.iter()
                .enumerate()
                .filter_map(|(i, &x)| {
                    let u = d.p95.get(i).copied().flatten().and_then(|v| plot.sy(v));
                    let lo = d.p05.get(i).copied().flatten().and_then(|v| plot.sy(v));
                    Some((plot.sx(x)?, u, lo))
                })
                .collect();
        s += &band(&pts, FANS[l.color % PALETTE]);
    }
    if let Some((r, label)) = spec.reference {
        if let Some(y) = plot.sy(r) {
            s += &line(plot.left, y, plot.right, y, "ref");
            s += &text(plot.right - 4.0, y - 5.0, "end", "note", label);
        }
    }
    for l in layers {
        let d = l.data;
        let segs = segments(d.x.iter().enumerate().map(|(i, &x)| {
            let y = d.p50.get(i).copied().flatten()?;
            Some((plot.sx(x)?, plot.sy(y)?))
        }));
        s += &polyline(&segs, MEDIANS[l.color % PALETTE]);
    }
    s + "</svg>"
}

const FANS: [&str; PALETTE] = [
    "f0 outer", "f1 outer", "f2 outer", "f3 outer", "f4 outer", "f5 outer", "f6 outer", "f7 outer",
];
const MEDIANS: [&str; PALETTE] = [
    "c0 median",
    "c1 median",
    "c2 median",
    "c3 median",
    "c4 median",
    "c5 median",
    "c6 median",
    "c7 median",
];

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        })
}

/// (x, upper, lower) of a band; None leaves a gap.
pub type BandPoint = (f64, Option<f64>, Option<f64>);

/// One series of a line chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    /// Palette index (`c{n}` / `f{n}`).
    pub color: usize,
    /// (x, y) points; None leaves a gap.
    pub points: Vec<(f64, Option<f64>)>,
    /// Optional band drawn under the line (a confidence interval).
    pub band: Option<Vec<BandPoint>>,
    pub dashed: bool,
    /// Dots at the points (for few, irregular x values).
    pub markers: bool,
}

/// How a line chart is labelled and scaled.
pub struct LineSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_format: TickFormat,
    pub y_format: TickFormat,
    /// Start the y axis at zero.
    pub y_zero: bool,
    pub allow_log_x: bool,
    /// The x axis spans exactly the data (days), instead of widening to round ticks.
    pub x_exact: bool,
    pub note: Option<&'a str>,
}

/// A line chart of one or more series with optional bands and a legend.
pub fn line_chart(spec: &LineSpec, series: &[Series]) -> String {
    line_chart_marked(spec, series, &[])
}

/// [`line_chart`] with vertical marks (shock days) over the plot.
pub fn line_chart_marked(spec: &LineSpec, series: &[Series], marks: &[Mark]) -> String {
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite())
        .collect();
    let mut ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .collect();
    for s in series {
        for &(_, u, l) in s.band.iter().flatten() {
            ys.extend(u.into_iter().chain(l));
        }
    }
    let ys: Vec<f64> = ys.into_iter().filter(|y| y.is_finite()).collect();
    if xs.is_empty() || ys.is_empty() {
        return no_data(spec.title, "no data");
    }
    let (x0, x1) = min_max(&xs);
    let x = if spec.x_exact && x1 > x0 {
        Some(Axis::linear_exact(x0, x1, 8, spec.x_format))
    } else {
        Axis::fit(&xs, spec.x_format, false, spec.allow_log_x)
    };
    let (Some(x), Some(y)) = (x, Axis::fit(&ys, spec.y_format, spec.y_zero, false)) else {
        return no_data(spec.title, "no data");
    };
    let plot = Plot::new(x, y, HEIGHT);
    let mut s = open(spec.title, HEIGHT);
    let items: Vec<Legend> = series
        .iter()
        .flat_map(|se| {
            let c = se.color % PALETTE;
            let mut v = Vec::new();
            v.push(Legend::Line(
                if se.dashed { DASHED[c] } else { STROKES[c] },
                se.label.clone(),
            ));
            if se.band.is_some() {
                v.push(Legend::Swatch(FILLS[c], "95% CI".to_string()));
            }
            v
        })
        .collect();
    if items.len() > 1 || series.iter().any(|s| s.band.is_some()) {
        s += &legend(&items);
    }
    if let Some(n) = spec.note {
        s += &note(n);
    }
    s += &plot.axes(spec.x_label, spec.y_label, HEIGHT);
    for se in series {
        let c = se.color % PALETTE;
        if let Some(b) = &se.band {
            let pts: Vec<_> = b
                .iter()
                .filter_map(|&(x, u, l)| {
                    Some((
                        plot.sx(x)?,
                        u.and_then(|v| plot.sy(v)),
                        l.and_then(|v| plot.sy(v)),
                    ))
                })
                .collect();
            s += &band(&pts, FILLS[c]);
        }
    }
    for se in series {
        let c = se.color % PALETTE;
        let pts: Vec<Option<(f64, f64)>> = se
            .points
            .iter()
            .map(|&(x, y)| Some((plot.sx(x)?, plot.sy(y?)?)))
            .collect();
        s += &polyline(
            &segments(pts.iter().copied()),
            if se.dashed { DASHED[c] } else { STROKES[c] },
        );
        if se.markers {
            for (x, y) in pts.into_iter().flatten() {
                let _ = write!(
                    s,
                    r#"<circle cx="{}" cy="{}" r="3" class="{}"/>"#,
                    px(x),
                    px(y),
                    DOTS[c]
                );
            }
        }
    }
    s += &plot.marks(marks);
    s + "</svg>"
}

const STROKES: [&str; PALETTE] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];
const DASHED: [&str; PALETTE] = [
    "c0 dash", "c1 dash", "c2 dash", "c3 dash", "c4 dash", "c5 dash", "c6 dash", "c7 dash",
];
const FILLS: [&str; PALETTE] = [
    "f0 ci", "f1 ci", "f2 ci", "f3 ci", "f4 ci", "f5 ci", "f6 ci", "f7 ci",
];
const DOTS: [&str; PALETTE] = [
    "f0 dot", "f1 dot", "f2 dot", "f3 dot", "f4 dot", "f5 dot", "f6 dot", "f7 dot",
];

/// How a histogram is labelled.
pub struct HistSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub x_format: TickFormat,
    /// Shown on the legend row, right-aligned (e.g. how many paths are counted).
    pub note: Option<String>,
    /// Labelled vertical lines (e.g. the median).
    pub markers: Vec<(f64, String)>,
    /// Message when no value was counted.
    pub empty: &'a str,
}

/// A histogram of path counts per bin (log-x when the bins are log-spaced).
pub fn histogram(spec: &HistSpec, bins: &Bins) -> String {
    let n = bins.counts.len();
    if n == 0 || bins.total() == 0 {
        let mut s = no_data(spec.title, spec.empty);
        if let Some(n) = &spec.note {
            s.truncate(s.len() - "</svg>".len());
            s += &note(n);
            s += "</svg>";
        }
        return s;
    }
    let (e0, e1) = (bins.edges[0], bins.edges[n]);
    let x = if bins.log_x && e0 > 0.0 {
        Axis::log(e0, e1, spec.x_format)
    } else {
        Axis::linear_exact(e0, e1, 8, spec.x_format)
    };
    let max = bins.counts.iter().copied().max().unwrap_or(1) as f64;
    let y = Axis::linear(0.0, max, 5, TickFormat::Plain);
    let plot = Plot::new(x, y, HEIGHT);
    let mut s = open(spec.title, HEIGHT);
    if !spec.markers.is_empty() {
        let items: Vec<Legend> = spec
            .markers
            .iter()
            .map(|(_, l)| Legend::Line("marker", l.clone()))
            .collect();
        s += &legend(&items);
    }
    if let Some(n) = &spec.note {
        s += &note(n);
    }
    let x_label = if bins.log_x {
        format!("{} (log scale)", spec.x_label)
    } else {
        spec.x_label.to_string()
    };
    s += &plot.axes(&x_label, "paths", HEIGHT);
    for (i, &c) in bins.counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (Some(a), Some(b), Some(y)) = (
            plot.sx(bins.edges[i]),
            plot.sx(bins.edges[i + 1]),
            plot.sy(c as f64),
        ) else {
            continue;
        };
        let w = (b - a - 1.0).max(1.0);
        s += &rect(a + 0.5, y, w, plot.bottom - y, "f0 bar");
    }
    for (v, _) in &spec.markers {
        if let Some(x) = plot.sx(*v) {
            s += &line(x, plot.top, x, plot.bottom, "marker");
        }
    }
    s + "</svg>"
}

/// One row of a horizontal bar chart: two bars from `base`, to `low` (drawn in the second
/// colour) and to `high` (the first colour). A plain bar chart of effects has
/// `low == base`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bar {
    pub label: String,
    pub base: f64,
    pub low: f64,
    pub high: f64,
    /// An error bar from `.0` to `.1` (e.g. the effect +-1.96 SE), drawn across the row.
    pub err: Option<(f64, f64)>,
    /// Drawn grey, with this text after the label (e.g. `within noise`).
    pub muted: Option<String>,
}

/// How a bar chart is labelled.
pub struct BarSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub x_format: TickFormat,
    /// Legend labels of the `high` and `low` bars (None: no legend entry).
    pub high_label: Option<&'a str>,
    pub low_label: Option<&'a str>,
    pub note: Option<String>,
}

/// A horizontal bar chart (a tornado chart when rows are sorted by swing): one row per
/// bar, labels on the left, a vertical line at each row's base.
pub fn bar_chart(spec: &BarSpec, bars: &[Bar]) -> String {
    let bars: Vec<&Bar> = bars
        .iter()
        .filter(|b| b.base.is_finite() && b.low.is_finite() && b.high.is_finite())
        .collect();
    if bars.is_empty() {
        return no_data(spec.title, "no data");
    }
    let row = 24.0;
    let height = PLOT_TOP + row * bars.len() as f64 + BOTTOM_SPACE + 6.0;
    let values: Vec<f64> = bars
        .iter()
        .flat_map(|b| {
            let (l, h) = b.err.unwrap_or((b.base, b.base));
            [b.base, b.low, b.high, l, h]
        })
        .collect();
    let (min, max) = min_max(&values);
    let x = Axis::linear(min, max, 7, spec.x_format);
    const MAX_LABEL: usize = 34;
    let label = |l: &str| -> String {
        if l.chars().count() > MAX_LABEL {
            let mut s: String = l.chars().take(MAX_LABEL - 1).collect();
            s.push('…');
            s
        } else {
            l.to_string()
        }
    };
    let full_label = |b: &Bar| match &b.muted {
        Some(m) => format!("{} ({m})", label(&b.label)),
        None => label(&b.label),
    };
    let widest = bars
        .iter()
        .map(|b| full_label(b).chars().count())
        .max()
        .unwrap_or(1);
    let plot = Plot {
        left: 22.0 + widest as f64 * CHAR_W,
        right: WIDTH - RIGHT_SPACE,
        top: PLOT_TOP,
        bottom: height - BOTTOM_SPACE,
        x,
        y: Axis::linear(0.0, 1.0, 2, TickFormat::Number),
    };
    let mut s = open(spec.title, height);
    let mut items = Vec::new();
    if let Some(l) = spec.high_label {
        items.push(Legend::Swatch("f0 bar", l.to_string()));
    }
    if let Some(l) = spec.low_label {
        items.push(Legend::Swatch("f1 bar", l.to_string()));
    }
    s += &legend(&items);
    if let Some(n) = &spec.note {
        s += &note(n);
    }
    for (t, l) in plot.x.ticks.iter().zip(&plot.x.labels) {
        if let Some(x) = plot.sx(*t) {
            s += &line(x, plot.top, x, plot.bottom, "grid");
            s += &text(x, plot.bottom + 18.0, "middle", "tick", l);
        }
    }
    s += &line(plot.left, plot.bottom, plot.right, plot.bottom, "axis");
    s += &plot.x_title(spec.x_label, height);
    for (i, b) in bars.iter().enumerate() {
        let y = plot.top + i as f64 * row;
        s += &text(
            plot.left - 8.0,
            y + row / 2.0 + 4.0,
            "end",
            if b.muted.is_some() {
                "tick mutedlabel"
            } else {
                "tick"
            },
            &full_label(b),
        );
        let Some(x0) = plot.sx(b.base) else { continue };
        let muted = b.muted.is_some();
        for (v, class) in [(b.high, "f0 bar"), (b.low, "f1 bar")] {
            if let Some(x1) = plot.sx(v) {
                if v != b.base {
                    let (l, r) = (x0.min(x1), x0.max(x1));
                    let class = if muted { "noise bar" } else { class };
                    s += &rect(l, y + 4.0, (r - l).max(1.5), row - 8.0, class);
                }
            }
        }
        s += &line(x0, y + 1.0, x0, y + row - 1.0, "axis");
        if let Some((lo, hi)) = b.err {
            if let (Some(a), Some(c)) = (plot.sx(lo), plot.sx(hi)) {
                let cy = y + row / 2.0;
                let _ = write!(
                    s,
                    r#"<g class="err" data-lo="{lo}" data-hi="{hi}">{}{}{}</g>"#,
                    line(a, cy, c, cy, "err"),
                    line(a, cy - 5.0, a, cy + 5.0, "err"),
                    line(c, cy - 5.0, c, cy + 5.0, "err"),
                );
            }
        }
    }
    s + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well_formed(s: &str) {
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"), "{s}");
        assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
    }

    #[test]
    fn charts_survive_bad_data() {
        let spec = FanSpec {
            title: "Price",
            unit: "USD",
            format: TickFormat::Number,
            reference: None,
        };
        well_formed(&fan_chart(&spec, &FanData::default()));
        well_formed(&fan_overlay(&spec, &[]));
        let nan = FanData {
            x: vec![0.0, 7.0],
            p05: vec![Some(f64::NAN), None],
            p25: vec![None, None],
            p50: vec![Some(f64::INFINITY), Some(1.0)],
            p75: vec![None, Some(2.0)],
            p95: vec![None, Some(3.0)],
            mean: vec![None, None],
        };
        let s = fan_chart(&spec, &nan);
        well_formed(&s);
        let two = [
            FanLayer {
                label: "A",
                color: 0,
                data: &nan,
            },
            FanLayer {
                label: "B",
                color: 1,
                data: &nan,
            },
        ];
        let s = fan_overlay(&spec, &two);
        well_formed(&s);
        assert!(s.contains("f1 outer") && s.contains("c1 median"), "{s}");
        let spec = HistSpec {
            title: "h",
            x_label: "x",
            x_format: TickFormat::Number,
            note: None,
            markers: vec![(f64::NAN, "median".into())],
            empty: "none",
        };
        well_formed(&histogram(&spec, &Bins::new(vec![], false)));
        let mut b = Bins::new(vec![1.0, 2.0, 3.0], false);
        b.add(3.0);
        b.add(f64::NAN);
        b.add(9.0);
        assert_eq!(b.counts, vec![0, 1]);
        well_formed(&histogram(&spec, &b));
        let spec = BarSpec {
            title: "t",
            x_label: "x",
            x_format: TickFormat::Number,
            high_label: Some("high"),
            low_label: None,
            note: None,
        };
        well_formed(&bar_chart(&spec, &[]));
        well_formed(&bar_chart(
            &spec,
            &[Bar {
                label: "a".into(),
                base: 0.0,
                low: 0.0,
                high: f64::NAN,
                ..Default::default()
            }],
        ));
        well_formed(&line_chart(
            &LineSpec {
                title: "l",
                x_label: "x",
                y_label: "y",
                x_format: TickFormat::Number,
                y_format: TickFormat::Percent,
                y_zero: true,
                allow_log_x: true,
                x_exact: false,
                note: None,
            },
            &[Series {
                points: vec![(0.0, None), (1.0, Some(f64::NAN))],
                ..Default::default()
            }],
        ));
    }

    /// The values of attribute `attr` of every element with class `class`, in order.
    fn attrs(s: &str, class: &str, attr: &str) -> Vec<String> {
        let needle = format!(r#"class="{class}""#);
        let parts: Vec<&str> = s.split(&needle).collect();
        parts
            .windows(2)
            .filter_map(|w| {
                let before = &w[0][w[0].rfind('<')?..];
                let after = &w[1][..w[1].find('>').unwrap_or(w[1].len())];
                let tag = format!("{before} {after}");
                let key = format!(r#" {attr}=""#);
                let at = tag.find(&key)? + key.len();
                Some(tag[at..].split('"').next()?.to_string())
            })
            .collect()
    }

    fn staked(x: Vec<f64>, lo: f64, hi: f64) -> FanData {
        let n = x.len();
        let v = |f: f64| vec![Some(lo + f * (hi - lo)); n];
        FanData {
            x,
            p05: v(0.0),
            p25: v(0.25),
            p50: v(0.5),
            p75: v(0.75),
            p95: v(1.0),
            mean: v(0.5),
        }
    }

    #[test]
    fn a_narrow_share_is_drawn_from_zero() {
        let spec = FanSpec {
            title: "Staked share of supply",
            unit: "share",
            format: TickFormat::Percent,
            reference: None,
        };
        let s = fan_chart(&spec, &staked(vec![0.0, 100.0, 200.0], 0.244, 0.25));
        well_formed(&s);
        // The lowest y tick is 0%, not 24.4%.
        assert!(s.contains(r#"class="tick">0%</text>"#), "{s}");
        assert!(!s.contains(">24.4%<"), "{s}");
        // A narrow band of a quantity that is not a share keeps its zoom.
        let spec = FanSpec {
            format: TickFormat::Number,
            unit: "USD",
            ..spec
        };
        let s = fan_chart(&spec, &staked(vec![0.0, 100.0, 200.0], 24.4, 25.0));
        assert!(s.contains(r#"class="tick">24.4</text>"#), "{s}");
    }

    #[test]
    fn marks_sit_at_their_day() {
        let spec = FanSpec {
            title: "Token price",
            unit: "USD",
            format: TickFormat::Number,
            reference: None,
        };
        let mark = |x: f64| Mark {
            x,
            label: format!("shock d{x}"),
            detail: "price -50%".into(),
            kind: MarkKind::Shock,
        };
        let s = fan_chart_marked(
            &spec,
            &staked(vec![0.0, 200.0, 400.0], 1.0, 2.0),
            &[mark(0.0), mark(200.0), mark(400.0), mark(900.0)],
        );
        well_formed(&s);
        // The day beyond the horizon is not drawn.
        assert_eq!(attrs(&s, "shock", "data-day"), ["0", "200", "400"]);
        let xs: Vec<f64> = attrs(&s, "shock", "x1")
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(xs[2], WIDTH - RIGHT_SPACE, "{xs:?}");
        assert!((xs[1] - (xs[0] + xs[2]) / 2.0).abs() <= 0.1, "{xs:?}");
        assert!(s.contains("price -50%"), "{s}");
        // Vertical: from the plot's top to its bottom.
        assert_eq!(attrs(&s, "shock", "y1")[0], px(PLOT_TOP));
        assert_eq!(attrs(&s, "shock", "y2")[0], px(HEIGHT - BOTTOM_SPACE));
    }

    #[test]
    fn bars_carry_error_bars_and_noise_marks() {
        let spec = BarSpec {
            title: "t",
            x_label: "x",
            x_format: TickFormat::Number,
            high_label: Some("effect"),
            low_label: None,
            note: None,
        };
        let s = bar_chart(
            &spec,
            &[
                Bar {
                    label: "big".into(),
                    high: 0.5,
                    err: Some((0.3, 0.7)),
                    ..Default::default()
                },
                Bar {
                    label: "small".into(),
                    high: 0.05,
                    err: Some((-0.15, 0.25)),
                    muted: Some("within noise".into()),
                    ..Default::default()
                },
            ],
        );
        well_formed(&s);
        assert_eq!(attrs(&s, "err", "data-lo"), ["0.3", "-0.15"]);
        assert_eq!(attrs(&s, "err", "data-hi"), ["0.7", "0.25"]);
        assert!(s.contains("small (within noise)"), "{s}");
        assert_eq!(s.matches(r#"class="noise bar""#).count(), 1, "{s}");
        assert_eq!(
            s.matches(r#"class="f0 bar""#).count(),
            2,
            "legend + big: {s}"
        );
    }
}
