//! The terminal progress line of long commands (`check`, `defects`, `audit`, `docs`): runs
//! done, the runs in flight, executions explored, their rate and the elapsed time, redrawn a few
//! times a second on stderr. Drawn only when stderr is a terminal (indicatif hides it
//! otherwise), so piped output, `--json` and CI logs are unchanged.
//!
//! The engine layer counts every execution here ([`execution`]) and brackets every run
//! ([`running`]); both are harness-side counters outside the engines.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // counters and the redraw thread sit outside the engines (clippy.toml)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
static IN_FLIGHT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// One more execution explored (any engine, any run).
pub fn execution() {
    EXECUTIONS.fetch_add(1, Ordering::Relaxed);
}

/// A run in flight: shown on the line until the guard drops.
pub struct Running(String);

/// Mark the run `label` (e.g. `folio-split-vs-scanner loom`) in flight.
pub fn running(label: String) -> Running {
    IN_FLIGHT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(label.clone());
    Running(label)
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut v = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = v.iter().position(|l| *l == self.0) {
            v.remove(i);
        }
    }
}

/// The progress line of one command: `total` runs. Dropping it clears the line.
pub struct Line {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Line {
    /// Start the line (hidden if stderr is not a terminal).
    pub fn start(total: usize) -> Line {
        Self::with_target(total, ProgressDrawTarget::stderr_with_hz(4))
    }

    fn with_target(total: usize, target: ProgressDrawTarget) -> Line {
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {pos}/{len} runs · {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = if bar.is_hidden() {
            None
        } else {
            let (bar, stop) = (bar.clone(), stop.clone());
            let start = EXECUTIONS.load(Ordering::Relaxed);
            let t0 = std::time::Instant::now();
            Some(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let n = EXECUTIONS.load(Ordering::Relaxed) - start;
                    let rate = n as f64 / t0.elapsed().as_secs_f64().max(1e-3);
                    let now = IN_FLIGHT
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .join(", ");
                    bar.set_message(format!("{n} executions ({rate:.0}/s) · {now}"));
                    std::thread::sleep(Duration::from_millis(250));
                }
            }))
        };
        Line { bar, stop, ticker }
    }

    /// One run finished.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Print a line on stderr above the progress line (plain `eprintln` when it is hidden).
    pub fn eprintln(&self, msg: String) {
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }

    /// Is the line drawn (stderr is a terminal)?
    pub fn is_drawn(&self) -> bool {
        !self.bar.is_hidden()
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not a terminal (the test harness captures stderr): nothing is drawn, no thread runs.
    #[test]
    fn hidden_when_stderr_is_not_a_terminal() {
        let l = Line::with_target(3, ProgressDrawTarget::hidden());
        assert!(!l.is_drawn() && l.ticker.is_none());
        l.inc();
    }

    #[test]
    fn in_flight_runs_are_listed_until_they_end() {
        let g = running("progress-test-run".into());
        assert!(IN_FLIGHT
            .lock()
            .unwrap()
            .contains(&"progress-test-run".to_string()));
        drop(g);
        assert!(!IN_FLIGHT
            .lock()
            .unwrap()
            .contains(&"progress-test-run".to_string()));
    }
}
