//! Where the time goes: every stage of a run is timed (seconds in the
//! manifest's `timings_seconds` and in `--verbose` logs) and, on a terminal,
//! shown as its own progress line: a spinner with the elapsed time while it
//! runs (a bar with a count where the stage knows its size, as the per-account
//! pass does), a tick and its time when it is done. Nothing is drawn under
//! cron (stderr is not a terminal) or with `--quiet`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Result;

/// Stage timings of one run, and the terminal display of the stages.
#[derive(Default)]
pub struct Timings {
    /// Seconds per stage, to the millisecond.
    pub seconds: BTreeMap<String, f64>,
    /// The process's peak resident memory (MB) when each stage ended, where
    /// the system reports it (Linux): which stage set the peak.
    pub peak_rss_mb: BTreeMap<String, u64>,
    multi: Option<MultiProgress>,
}

impl std::fmt::Debug for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.seconds.fmt(f)
    }
}

/// One running stage: `inc` moves its bar (when it has a length).
pub struct Stage {
    bar: Option<ProgressBar>,
}

impl Stage {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
}

impl Timings {
    /// Timings that also draw progress lines when `show` and stderr is a terminal.
    pub fn with_progress(show: bool) -> Self {
        let multi = (show && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)));
        Timings {
            multi,
            ..Timings::default()
        }
    }

    /// Record `secs` for `part`, a piece of a stage that ran beside another
    /// piece (named `stage.piece`: parts overlap, so they are not added to
    /// the stages' total).
    pub fn part(&mut self, part: &str, secs: f64) {
        tracing::info!(part, seconds = secs, "stage part done");
        self.seconds
            .insert(part.to_string(), (secs * 1000.0).round() / 1000.0);
    }

    /// Time `f` as `stage` (a spinner on a terminal).
    pub fn time<T>(&mut self, stage: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.time_counted(stage, None, |_| f())
    }

    /// Time `f` as `stage`; with `len`, its line is a bar `f` moves with [`Stage::inc`].
    pub fn time_counted<T>(
        &mut self,
        stage: &str,
        len: Option<u64>,
        f: impl FnOnce(&Stage) -> Result<T>,
    ) -> Result<T> {
        let bar = self.multi.as_ref().map(|m| {
            let b = match len {
                Some(n) => ProgressBar::new(n).with_style(
                    ProgressStyle::with_template(
                        "{spinner} {prefix:<18} [{bar:30}] {pos}/{len} {elapsed:>4}",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {prefix:<18} {elapsed:>4}")
                        .expect("template"),
                ),
            };
            let b = m.add(b.with_prefix(stage.to_string()));
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        let handle = Stage { bar };
        let t = Instant::now();
        let cpu0 = cpu_seconds();
        let r = f(&handle);
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_rss_mb();
        // CPU seconds of all threads (user + system): with both cores busy,
        // the work a stage did, less swayed than its wall time by a busy host.
        let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        tracing::info!(
            stage,
            seconds = secs,
            cpu_seconds = cpu,
            peak_rss_mb = peak,
            "stage done"
        );
        if let Some(mb) = peak {
            self.peak_rss_mb.insert(stage.to_string(), mb);
        }
        if let Some(b) = handle.bar {
            b.set_style(ProgressStyle::with_template("✓ {prefix:<18} {msg}").expect("template"));
            b.finish_with_message(format!("{secs:.1} s"));
        }
        self.seconds
            .insert(stage.to_string(), (secs * 1000.0).round() / 1000.0);
        r
    }
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`,
/// Linux, in clock ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace().skip(11);
    let (utime, stime): (u64, u64) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
    Some((utime + stime) as f64 / 100.0)
}

/// Peak resident set size of this process so far, in MB (`VmHWM`, Linux).
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
