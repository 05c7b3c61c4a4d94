//! The report: a Markdown table per scenario (medians, ratios) and an SVG chart per scenario.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::peers::Kind;
use crate::scenarios::{Better, Scenario};

/// All runs of one scenario for one server: each run is one value per metric, or an error.
pub struct Outcome {
    pub kind: Kind,
    pub runs: Vec<Result<Vec<f64>, String>>,
}

impl Outcome {
    /// Median of each metric over the successful runs (empty when none succeeded).
    pub fn medians(&self) -> Vec<f64> {
        let ok: Vec<&Vec<f64>> = self.runs.iter().filter_map(|r| r.as_ref().ok()).collect();
        let Some(first) = ok.first() else {
            return Vec::new();
        };
        (0..first.len())
            .map(|i| {
                let mut v: Vec<f64> = ok.iter().map(|r| r[i]).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            })
            .collect()
    }

    fn errors(&self) -> Vec<&str> {
        self.runs
            .iter()
            .filter_map(|r| r.as_ref().err().map(String::as_str))
            .collect()
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v);
        // Thousands separators for readability.
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        // Ratios of growths that can be zero or negative would only mislead.
        (Some(a), Some(b)) if a >= 0.0 && b > 0.0 && a.is_finite() && b.is_finite() => {
            format!("{:.2}x", a / b)
        }
        _ => "-".into(),
    }
}

/// Appends the Markdown section of one scenario to `md`.
pub fn section(md: &mut String, sc: &Scenario, outcomes: &[Outcome], runs: usize) {
    let _ = writeln!(
        md,
        "## {}\n\n{} (median of {runs} run(s) per server).\n",
        sc.title, sc.setup
    );
    let _ = write!(md, "| metric |");
    for o in outcomes {
        let _ = write!(md, " {} |", o.kind.label());
    }
    let ours = outcomes.iter().position(|o| o.kind == Kind::Loopcast);
    let peers: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.kind != Kind::Loopcast)
        .collect();
    if ours.is_some() {
        for p in &peers {
            let _ = write!(md, " loopcast / {} |", p.kind.label());
        }
    }
    let _ = write!(md, "\n|---|");
    let cols = outcomes.len() + if ours.is_some() { peers.len() } else { 0 };
    for _ in 0..cols {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    let medians: Vec<Vec<f64>> = outcomes.iter().map(Outcome::medians).collect();
    for (i, metric) in sc.metrics.iter().enumerate() {
        let arrow = match metric.better {
            Better::Higher => " (higher is better)",
            Better::Lower => " (lower is better)",
            Better::Neither => "",
        };
        let _ = write!(md, "| {}{arrow} |", metric.label);
        for m in &medians {
            let _ = write!(md, " {} |", m.get(i).map_or("failed".into(), |v| fmt(*v)));
        }
        if let Some(o) = ours {
            let ov = medians[o].get(i).copied();
            for (j, out) in outcomes.iter().enumerate() {
                if out.kind != Kind::Loopcast {
                    let _ = write!(md, " {} |", ratio(ov, medians[j].get(i).copied()));
                }
            }
        }
        md.push('\n');
    }
    md.push('\n');
    for o in outcomes {
        for e in o.errors() {
            let _ = writeln!(md, "- {}: a run failed: {e}", o.kind.label());
        }
        for (own, core, who) in [
            ("cpu", "cpu0", "server's CPU 0"),
            ("gen_cpu", "cpu1", "generator's CPU 1"),
        ] {
            let pos = |k: &str| sc.metrics.iter().position(|m| m.key == k);
            if let (Some(own), Some(core)) = (pos(own), pos(core)) {
                let noisy = o
                    .runs
                    .iter()
                    .flatten()
                    .filter(|r| r[core] - r[own] > 10.0)
                    .count();
                if noisy > 0 {
                    let _ = writeln!(
                        md,
                        "- NOISE {}: other processes used over 10 % of the {who} in {noisy} run(s)",
                        o.kind.label()
                    );
                }
            }
        }
        if let Some(g) = sc.metrics.iter().position(|m| m.key == "gen_cpu") {
            let hot = o.runs.iter().flatten().filter(|r| r[g] > 90.0).count();
            if hot > 0 {
                let _ = writeln!(
                    md,
                    "- FLAG {}: the generator used over 90 % of its core in {hot} run(s); \
                     the generator may have been the bottleneck",
                    o.kind.label()
                );
            }
        }
    }
    md.push('\n');
}

/// Draws one bar chart per charted metric of a scenario into `dir/<name>-<key>.svg`;
/// returns the file names written.
pub fn charts(
    dir: &Path,
    sc: &Scenario,
    outcomes: &[Outcome],
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    for key in sc.charts {
        if let Some(idx) = sc.metrics.iter().position(|m| m.key == *key) {
            let name = format!("{}-{key}.svg", sc.name);
            if bar_chart(&dir.join(&name), sc, idx, outcomes)? {
                files.push(name);
            }
        }
    }
    Ok(files)
}

fn bar_chart(
    path: &Path,
    sc: &Scenario,
    idx: usize,
    outcomes: &[Outcome],
) -> Result<bool, Box<dyn std::error::Error>> {
    let metric = &sc.metrics[idx];
    let bars: Vec<(&str, f64)> = outcomes
        .iter()
        .filter_map(|o| o.medians().get(idx).map(|v| (o.kind.label(), *v)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    if bars.is_empty() {
        return Ok(false);
    }
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max) * 1.15 + f64::EPSILON;
    let mut ch = ChartBuilder::on(&root)
        .caption(
            format!("{}: {}", sc.title, metric.label),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..bars.len() as f64, 0.0..top)?;
    let names: Vec<String> = bars.iter().map(|b| b.0.to_string()).collect();
    ch.configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| fmt(*y))
        .draw()?;
    let colors = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x2c, 0xa0, 0x2c),
    ];
    ch.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
        let x = i as f64;
        Rectangle::new([(x + 0.15, 0.0), (x + 0.85, *v)], colors[i % 3].filled())
    }))?;
    ch.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
        Text::new(
            fmt(*v),
            (i as f64 + 0.3, *v + top * 0.02),
            ("sans-serif", 14),
        )
    }))?;
    root.present()?;
    Ok(true)
}

/// Median of metric `key` of scenario `name` for server `kind`, if measured.
fn median_of(all: &[(&Scenario, Vec<Outcome>)], name: &str, key: &str, kind: Kind) -> Option<f64> {
    let (sc, outcomes) = all.iter().find(|(sc, _)| sc.name == name)?;
    let idx = sc.metrics.iter().position(|m| m.key == key)?;
    let o = outcomes.iter().find(|o| o.kind == kind)?;
    o.medians().get(idx).copied().filter(|v| v.is_finite())
}

/// Appends the targets with the measured figures and a verdict each.
pub fn targets(md: &mut String, all: &[(&Scenario, Vec<Outcome>)]) {
    let get = |name, key, kind| median_of(all, name, key, kind);
    let better_peer = |name, key, higher: bool| {
        let peers = [Kind::Tokio, Kind::Fastws].map(|k| get(name, key, k));
        let vals = peers.into_iter().flatten();
        if higher {
            vals.reduce(f64::max)
        } else {
            vals.reduce(f64::min)
        }
    };
    let us = Kind::Loopcast;
    let mut rows: Vec<(String, Option<bool>, String)> = Vec::new();
    let mut row =
        |what: &str, ok: Option<bool>, detail: String| rows.push((what.to_string(), ok, detail));

    let ours = get("idle", "per_conn", us);
    let fws = get("idle", "per_conn", Kind::Fastws);
    row(
        "idle memory per connection <= 1/40 of fastwebsockets'",
        ours.zip(fws).map(|(a, b)| a <= b / 40.0),
        format!("{} vs {} / 40 bytes", opt(ours), opt(fws)),
    );
    row(
        "idle memory per connection < 256 bytes",
        ours.map(|a| a < 256.0),
        format!("{} bytes", opt(ours)),
    );
    let idle = get("idle", "idle_rss", us);
    row(
        "idle RSS < 2 MiB (2 048 KiB)",
        idle.map(|a| a < 2048.0),
        format!("{} KiB", opt(idle)),
    );
    let cpu = get("fixed", "cpu_per", us);
    for (peer, factor) in [(Kind::Fastws, 0.7), (Kind::Tokio, 0.5)] {
        let theirs = get("fixed", "cpu_per", peer);
        row(
            &format!(
                "fixed-load CPU per delivery <= {factor}x that of {}",
                peer.label()
            ),
            cpu.zip(theirs).map(|(a, b)| a <= b * factor),
            format!("{} vs {} µs", opt(cpu), opt(theirs)),
        );
    }
    for name in ["fanout", "allpub"] {
        let a = get(name, "deliveries", us);
        let b = better_peer(name, "deliveries", true);
        row(
            &format!("{name} deliveries/s >= 1.3x the better peer"),
            a.zip(b).map(|(a, b)| a >= 1.3 * b),
            format!("{} vs {}", opt(a), opt(b)),
        );
    }
    let a = get("smallroom", "p99", us);
    let b = better_peer("smallroom", "p99", false);
    row(
        "small-room p99 no worse than the better peer",
        a.zip(b).map(|(a, b)| a <= b),
        format!("{} vs {} µs", opt(a), opt(b)),
    );

    md.push_str("## Targets\n\n| target | met | loopcast vs peer |\n|---|:---:|---|\n");
    for (what, ok, detail) in rows {
        let verdict = match ok {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "not measured",
        };
        let _ = writeln!(md, "| {what} | {verdict} | {detail} |");
    }
    md.push('\n');
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), fmt)
}
