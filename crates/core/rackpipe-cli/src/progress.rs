//! Progress of long operations, on stderr, and the logging set-up that carries it.
//!
//! # The convention (for every library)
//!
//! An operation that can take more than a couple of seconds (a Proxmox clone or task wait,
//! an etcd snapshot, an NFS copy, a rolling deploy, a kubeadm join, a Vault unseal) reports
//! its progress as a `tracing` event with the fixed target [`TARGET`] (`"progress"`), at
//! `INFO` level, with these fields:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `step` | string | what is being done, for humans (`"clone 9000 -> 101 on pve1"`); never a secret |
//! | `done` | integer, optional | how much of it is done |
//! | `total` | integer, optional | how much there is (absent when unknown) |
//! | `unit` | string, optional | `"bytes"`: `done`/`total` are bytes (shown in MiB); any other unit is shown after the number (`"s"`: seconds waited) |
//!
//! ```
//! tracing::info!(target: "progress", step = "join worker k8s-w1", done = 1u64, total = 3u64);
//! tracing::info!(target: "progress", step = "snapshot", done = 1_048_576u64, unit = "bytes");
//! ```
//!
//! A library only emits events; it never writes to stderr itself and never asks whether it
//! runs on a terminal. Without a subscriber (library tests) the events cost nothing.
//!
//! # How the binaries show it
//!
//! [`init`] (called by [`crate::main`]) installs the log formatter (everything but progress,
//! filtered by `-q`/`-v`/`RACKPIPE_LOG`) and the [`ProgressLayer`]:
//! - on a terminal (stderr), one live line rewritten in place, with a bar when the total is
//!   known (`pve-sync: clone 9000 -> 101 on pve1 [########------------] 2/5`); a step that
//!   reaches its total stays on screen, and a log line first clears the live line;
//! - elsewhere (CI, a file), plain lines: one when a step starts, when it ends
//!   (`done == total`) and at most one every [`PLAIN_INTERVAL`] in between;
//! - `-q` shows none.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// The `tracing` target of progress events.
pub const TARGET: &str = "progress";

/// In plain mode (not a terminal), the longest silence while a step advances.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// On a terminal, the shortest time between two redraws of the live line.
const REDRAW_INTERVAL: Duration = Duration::from_millis(100);

const BAR_WIDTH: usize = 20;
const MAX_STEP: usize = 60;

/// Sets up stderr for a binary: log lines (level from `-q`/`-v`, or `RACKPIPE_LOG`, colour on
/// a terminal unless `NO_COLOR`) and, unless `quiet`, progress lines ([`ProgressLayer`]).
pub fn init(tool: &str, quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let env_filter =
        EnvFilter::try_from_env("RACKPIPE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = crate::output::Style::stderr().color;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(|| {
            clear_live_line();
            std::io::stderr()
        })
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .with_filter(env_filter.and(filter_fn(|m| m.target() != TARGET)));
    let progress = (!quiet).then(|| {
        ProgressLayer::new(
            tool,
            std::io::stderr().is_terminal(),
            Box::new(std::io::stderr),
        )
        .with_filter(filter_fn(|m| m.target() == TARGET))
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(progress)
        .try_init();
}

/// Clears the live progress line, if one is drawn, so the next stderr line starts clean
/// (the error line at the end of [`crate::main`], a log line).
pub fn clear_live_line() {
    if let Ok(mut live) = LIVE.lock()
        && *live
    {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\r\x1b[2K").and_then(|()| err.flush());
        *live = false;
    }
}

/// Whether a live line is on the terminal now (shared by the layer and the log writer).
static LIVE: Mutex<bool> = Mutex::new(false);

/// Where the layer writes (stderr in the binaries, a buffer in tests).
pub type Sink = Box<dyn Fn() -> Box<dyn Write> + Send + Sync>;

/// The `tracing` layer that shows [`TARGET`] events (see the module comment).
pub struct ProgressLayer {
    tool: String,
    terminal: bool,
    sink: Box<dyn Fn() -> Box<dyn Write> + Send + Sync>,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    step: String,
    last: Option<Instant>,
}

impl ProgressLayer {
    /// A layer writing to `sink`: live lines when `terminal`, plain lines otherwise.
    pub fn new<W: Write + 'static>(
        tool: &str,
        terminal: bool,
        sink: impl Fn() -> W + Send + Sync + 'static,
    ) -> Self {
        Self {
            tool: tool.to_owned(),
            terminal,
            sink: Box::new(move || Box::new(sink())),
            state: Arc::new(Mutex::new(State::default())),
        }
    }
}

/// The fields of one progress event.
#[derive(Debug, Default, PartialEq, Eq)]
struct Event {
    step: String,
    done: Option<u64>,
    total: Option<u64>,
    unit: Option<String>,
}

impl Visit for Event {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "step" => value.clone_into(&mut self.step),
            "unit" => self.unit = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, u64::try_from(value).unwrap_or(0));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            // `step = %x` and `unit = ?x` arrive here.
            "step" => self.step = format!("{value:?}").trim_matches('"').to_owned(),
            "unit" => self.unit = Some(format!("{value:?}").trim_matches('"').to_owned()),
            "message" if self.step.is_empty() => self.step = format!("{value:?}"),
            _ => {}
        }
    }
}

impl Event {
    fn finished(&self) -> bool {
        matches!((self.done, self.total), (Some(d), Some(t)) if d >= t)
    }

    fn amount(&self, n: u64) -> String {
        match self.unit.as_deref() {
            Some("bytes") => {
                #[allow(clippy::cast_precision_loss)]
                let mib = n as f64 / (1024.0 * 1024.0);
                format!("{mib:.1} MiB")
            }
            Some(unit) if !unit.is_empty() => format!("{n} {}", short(unit)),
            _ => n.to_string(),
        }
    }

    fn counts(&self) -> String {
        match (self.done, self.total) {
            (Some(d), Some(t)) => format!("{}/{}", self.amount(d), self.amount(t)),
            (Some(d), None) => self.amount(d),
            _ => String::new(),
        }
    }

    fn bar(&self) -> String {
        let (Some(d), Some(t)) = (self.done, self.total) else {
            return String::new();
        };
        // A total of 0 is done.
        let filled = d
            .min(t)
            .saturating_mul(BAR_WIDTH as u64)
            .checked_div(t)
            .map_or(BAR_WIDTH, |f| usize::try_from(f).unwrap_or(BAR_WIDTH));
        format!(
            "[{}{}] ",
            "#".repeat(filled),
            "-".repeat(BAR_WIDTH - filled)
        )
    }
}

fn short(step: &str) -> String {
    let clean: String = step
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() > MAX_STEP {
        let cut: String = clean.chars().take(MAX_STEP - 1).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

impl<S: tracing::Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut e = Event::default();
        event.record(&mut e);
        if e.step.is_empty() {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        let new_step = state.step != e.step;
        let finished = e.finished();
        let quiet_for = state.last.map_or(Duration::MAX, |t| now.duration_since(t));
        let mut line = String::new();
        if self.terminal {
            if !new_step && !finished && quiet_for < REDRAW_INTERVAL {
                return;
            }
            let _ = write!(
                line,
                "\r\x1b[2K{}: {} {}{}",
                self.tool,
                short(&e.step),
                e.bar(),
                e.counts()
            );
            if finished {
                line.push('\n');
            }
            if let Ok(mut live) = LIVE.lock() {
                *live = !finished;
            }
        } else {
            if !new_step && !finished && quiet_for < PLAIN_INTERVAL {
                return;
            }
            let counts = e.counts();
            let _ = write!(line, "{}: {}", self.tool, short(&e.step));
            if !counts.is_empty() {
                let _ = write!(line, ": {counts}");
            }
            line.push('\n');
        }
        state.step = if finished { String::new() } else { e.step };
        state.last = Some(now);
        let mut out = (self.sink)();
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackpipe_testkit::Captured;

    fn shown(terminal: bool, events: impl FnOnce()) -> String {
        let buffer = Captured::default();
        let sink = buffer.clone();
        let layer = ProgressLayer::new("tool", terminal, move || sink.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, events);
        buffer.text()
    }

    #[test]
    fn plain_lines_when_not_a_terminal() {
        let text = shown(false, || {
            tracing::info!(target: "progress", step = "join k8s-w1", done = 0u64, total = 2u64);
            // The same step advancing within PLAIN_INTERVAL: no line.
            tracing::info!(target: "progress", step = "join k8s-w1", done = 1u64, total = 2u64);
            tracing::info!(target: "progress", step = "join k8s-w1", done = 2u64, total = 2u64);
            tracing::info!(target: "progress", step = "snapshot", done = 3_145_728u64, unit = "bytes");
            tracing::info!(target: "progress", step = %"wait for task", done = 1u64, unit = "s");
            tracing::info!(target: "other", step = "not progress");
            tracing::info!(target: "progress", done = 1u64);
        });
        assert_eq!(
            text,
            "tool: join k8s-w1: 0/2\n\
             tool: join k8s-w1: 2/2\n\
             tool: snapshot: 3.0 MiB\n\
             tool: wait for task: 1 s\n"
        );
    }

    #[test]
    fn a_live_line_with_a_bar_on_a_terminal() {
        let text = shown(true, || {
            tracing::info!(target: "progress", step = "roll lb1", done = 1u64, total = 4u64);
            tracing::info!(target: "progress", step = "roll lb1", done = 4u64, total = 4u64);
        });
        assert_eq!(
            text,
            "\r\x1b[2Ktool: roll lb1 [#####---------------] 1/4\
             \r\x1b[2Ktool: roll lb1 [####################] 4/4\n"
        );
    }

    #[test]
    fn long_or_hostile_steps_are_one_short_line() {
        assert_eq!(short("a\nb\x1b[31m"), "a b [31m");
        assert_eq!(short(&"x".repeat(100)).chars().count(), MAX_STEP);
    }
}
