//! rackpipe's own signals: each run can write OpenMetrics text to a file (`--metrics-file FILE`
//! on every verb, or `RACKPIPE_METRICS_FILE`), written by the driver once the verb has ended,
//! also when it failed (the exit code is the point). The CI template keeps the file as an
//! artifact and pushes it to the site's Pushgateway; the alert rules read it
//! (docs/reference/monitoring.md, "rackpipe's own metrics").
//!
//! The driver fills in what every run has (tool, verb, the site's name, end time, duration,
//! exit code, and a plan's change count). A tool adds what only it knows through the small
//! recording interface here ([`set_changes`], [`backup_size`], [`certificate_expiry`]), never by
//! writing a file itself. Nothing secret is recorded: labels are the tool, the verb, the site's
//! name, an artifact's file name and a certificate's site name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The environment variable that sets `--metrics-file` when the flag is absent.
pub const ENV: &str = "RACKPIPE_METRICS_FILE";

/// The environment variable that sets `--push-metrics` (`1`, `true`: push).
pub const PUSH_ENV: &str = "RACKPIPE_PUSH_METRICS";

/// What a run recorded besides what the driver knows.
#[derive(Debug, Default, Clone, PartialEq)]
struct Recorded {
    site: Option<String>,
    changes: Option<u64>,
    backups: BTreeMap<String, u64>,
    certificates: BTreeMap<(String, String), i64>,
}

static RECORDED: Mutex<Recorded> = Mutex::new(Recorded {
    site: None,
    changes: None,
    backups: BTreeMap::new(),
    certificates: BTreeMap::new(),
});

fn with<R>(f: impl FnOnce(&mut Recorded) -> R) -> R {
    let mut guard = RECORDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard)
}

/// The site the run works on (its `metadata.name`): the `site` label. The driver sets it when
/// it loads the site; a verb that reads no site leaves it empty.
pub fn set_site(name: &str) {
    with(|r| r.site = Some(name.to_owned()));
}

/// The run's change count: what a plan found (the driver records every plan's total) or what
/// an apply made. The last call wins.
pub fn set_changes(changes: u64) {
    with(|r| r.changes = Some(changes));
}

/// An artifact the run wrote (a snapshot, an export, a backup file) and its size in bytes,
/// by file `name` (no directory). A second call for the same name replaces the first.
pub fn backup_size(name: &str, bytes: u64) {
    with(|r| {
        r.backups.insert(name.to_owned(), bytes);
    });
}

/// A certificate the run knows the expiry of (`not_after`, seconds since the Unix epoch):
/// `issuer` is the PKI mount that issued it, `name` the site's name for it. A later call for
/// the same certificate (e.g. after apply issued it again) replaces the earlier one.
pub fn certificate_expiry(issuer: &str, name: &str, not_after: i64) {
    with(|r| {
        r.certificates
            .insert((issuer.to_owned(), name.to_owned()), not_after);
    });
}

/// What the driver knows of one ended run.
#[derive(Debug, Clone)]
pub struct RunEnd<'a> {
    /// Binary name.
    pub tool: &'a str,
    /// The verb as typed (`plan`, `backup`, `snapshot`).
    pub verb: &'a str,
    /// When the run ended.
    pub ended: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The process exit code.
    pub exit_code: u8,
    /// Whether the run succeeded (exit 0, or 2 = changes with `--detailed-exitcode`).
    pub success: bool,
}

/// Writes the run's metrics to `path` atomically (temporary file, fsync, rename) with mode
/// `0644`; the error names the file.
///
/// # Errors
/// The file cannot be written (its previous content is then kept).
pub fn write(path: &Path, run: &RunEnd<'_>) -> Result<(), String> {
    let text = render(run);
    rackpipe_model::files::write_with_mode(path, text.as_bytes(), 0o644).map_err(|e| {
        format!(
            "{}: cannot write the metrics: {}",
            e.path.display(),
            e.source
        )
    })
}

/// The run's metrics as OpenMetrics text (gauges only, `# EOF` last), which the Prometheus
/// text parser (Pushgateway, promtool) reads as well.
#[must_use]
pub fn render(run: &RunEnd<'_>) -> String {
    let recorded = with(|r| r.clone());
    let site = recorded.site.as_deref().unwrap_or_default();
    let run_labels = labels(&[("tool", run.tool), ("verb", run.verb), ("site", site)]);
    let ended = seconds(
        run.ended
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let mut out = String::new();
    let mut family = |name: &str, unit: Option<&str>, help: &str, samples: &[(String, String)]| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# TYPE {name} gauge");
        if let Some(unit) = unit {
            let _ = writeln!(out, "# UNIT {name} {unit}");
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    family(
        "rackpipe_run_last_timestamp_seconds",
        Some("seconds"),
        "When the last run of this verb ended (Unix time), whatever its outcome.",
        &[(run_labels.clone(), ended.clone())],
    );
    let success: &[(String, String)] = &[(run_labels.clone(), ended)];
    family(
        "rackpipe_run_last_success_timestamp_seconds",
        Some("seconds"),
        "When the last successful run of this verb ended (Unix time); absent from a failed run's file.",
        if run.success { success } else { &[] },
    );
    family(
        "rackpipe_run_duration_seconds",
        Some("seconds"),
        "How long the run took.",
        &[(run_labels.clone(), seconds(run.duration))],
    );
    family(
        "rackpipe_run_exit_code",
        None,
        "The run's exit code (0 success, 2 changes with --detailed-exitcode, 1 error, 64 usage, 75 transient).",
        &[(run_labels.clone(), run.exit_code.to_string())],
    );
    let changes: Vec<_> = recorded
        .changes
        .map(|n| (run_labels.clone(), n.to_string()))
        .into_iter()
        .collect();
    family(
        "rackpipe_run_changes",
        None,
        "Changes the plan found or the apply made.",
        &changes,
    );
    let sizes: Vec<_> = recorded
        .backups
        .iter()
        .map(|(name, bytes)| {
            let l = labels(&[("tool", run.tool), ("site", site), ("name", name)]);
            (l, bytes.to_string())
        })
        .collect();
    family(
        "rackpipe_backup_size_bytes",
        Some("bytes"),
        "Size of an artifact the run wrote (a snapshot, an export, a backup).",
        &sizes,
    );
    let certificates: Vec<_> = recorded
        .certificates
        .iter()
        .map(|((issuer, name), not_after)| {
            let l = labels(&[("site", site), ("issuer", issuer), ("name", name)]);
            (l, not_after.to_string())
        })
        .collect();
    family(
        "rackpipe_certificate_expiry_timestamp_seconds",
        Some("seconds"),
        "When a certificate vault-bootstrap issued or checked expires (Unix time).",
        &certificates,
    );
    out.push_str("# EOF\n");
    out
}

/// Seconds with millisecond precision, as text.
fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// `a="x",b="y"` with OpenMetrics escaping (backslash, quote, newline).
fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the run's metrics are pushed: the site's `monitoring.pushgateway.url`, recorded by
/// the driver when it loads the site.
static PUSHGATEWAY: Mutex<Option<String>> = Mutex::new(None);

/// The Pushgateway the loaded site names (`None`: the site names none).
pub fn set_pushgateway(url: Option<&str>) {
    *PUSHGATEWAY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = url.map(str::to_owned);
}

/// The Pushgateway recorded by [`set_pushgateway`].
#[must_use]
pub fn pushgateway() -> Option<String> {
    PUSHGATEWAY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The site label of this run (empty when the verb read no site).
#[must_use]
pub fn site() -> String {
    with(|r| r.site.clone().unwrap_or_default())
}

/// How long a push may take, connecting included.
const PUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// POSTs `text` (a run's metrics) to the Pushgateway at `base`, in the group
/// `job="rackpipe"`, `tool`, `verb`, `site` (the run's own labels, so a group is one verb of
/// one tool on one site). POST replaces only the metric names it carries in that group: a
/// failed run's push (no `rackpipe_run_last_success_timestamp_seconds`) keeps the previous
/// success's timestamp. The trust rules of every rackpipe client: `https://` verified against
/// the system's roots, plain `http://` only to a literal loopback address.
///
/// # Errors
/// One line naming the Pushgateway: the URL refused, unreachable, or a non-2xx reply.
pub fn push(base: &str, run: &RunEnd<'_>, site: &str, text: &str) -> Result<(), String> {
    use rackpipe_tls::transport::{PlainHttp, check_url, error_chain, redact_userinfo};
    let shown = redact_userinfo(base);
    let fail = |why: String| format!("metrics not pushed to {shown}: {why}");
    if site.is_empty() {
        return Err(fail("the run read no site".to_owned()));
    }
    let mut url = check_url(base, PlainHttp::Loopback).map_err(|e| fail(e.to_string()))?;
    let trust = if url.scheme() == "http" {
        rackpipe_tls::Trust::LoopbackHttp
    } else {
        rackpipe_tls::Trust::System
    };
    url.path_segments_mut()
        .map_err(|()| fail("not a base URL".to_owned()))?
        .pop_if_empty()
        .extend([
            "metrics", "job", "rackpipe", "tool", run.tool, "verb", run.verb, "site", site,
        ]);
    let client = rackpipe_tls::http_client(&trust, |b| {
        b.timeout(PUSH_TIMEOUT)
            .connect_timeout(crate::flags::CONNECT_MAX)
    })
    .map_err(|e| fail(e.to_string()))?;
    let body = text.to_owned();
    let send = async move {
        let reply = client
            .post(url)
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = reply.status();
        if status.is_success() {
            return Ok(());
        }
        let detail = reply.text().await.unwrap_or_default();
        let detail = detail.trim().lines().next().unwrap_or_default().to_owned();
        Err(format!("HTTP {status} {detail}").trim().to_owned())
    };
    crate::runtime()
        .map_err(|e| fail(e.message))?
        .block_on(send)
        .map_err(fail)
}

/// Forgets what was recorded (tests run several "runs" in one process).
#[cfg(test)]
fn reset() {
    with(|r| *r = Recorded::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(success: bool, exit_code: u8) -> RunEnd<'static> {
        RunEnd {
            tool: "etcd-backup",
            verb: "snapshot",
            ended: SystemTime::UNIX_EPOCH + Duration::from_millis(1_765_000_000_250),
            duration: Duration::from_millis(1500),
            exit_code,
            success,
        }
    }

    #[test]
    fn a_failed_run_has_no_success_timestamp_and_a_successful_one_its_extras() {
        reset();
        set_site("rachuna-\"dev\"");
        let failed = render(&run(false, 75));
        assert!(failed.contains(
            "rackpipe_run_last_timestamp_seconds{tool=\"etcd-backup\",verb=\"snapshot\",site=\"rachuna-\\\"dev\\\"\"} 1765000000.250\n"
        ), "{failed}");
        assert!(failed.contains("rackpipe_run_exit_code{tool=\"etcd-backup\",verb=\"snapshot\",site=\"rachuna-\\\"dev\\\"\"} 75\n"), "{failed}");
        assert!(!failed.contains("rackpipe_run_last_success"), "{failed}");
        assert!(failed.ends_with("# EOF\n"));
        backup_size("etcd-20261208T020000Z.db.zst", 4096);
        certificate_expiry("pki_int", "vault-api", 1_900_000_000);
        set_changes(3);
        let ok = render(&run(true, 0));
        for line in [
            "rackpipe_run_last_success_timestamp_seconds{tool=\"etcd-backup\",verb=\"snapshot\",site=\"rachuna-\\\"dev\\\"\"} 1765000000.250",
            "rackpipe_run_duration_seconds{tool=\"etcd-backup\",verb=\"snapshot\",site=\"rachuna-\\\"dev\\\"\"} 1.500",
            "rackpipe_run_changes{tool=\"etcd-backup\",verb=\"snapshot\",site=\"rachuna-\\\"dev\\\"\"} 3",
            "rackpipe_backup_size_bytes{tool=\"etcd-backup\",site=\"rachuna-\\\"dev\\\"\",name=\"etcd-20261208T020000Z.db.zst\"} 4096",
            "rackpipe_certificate_expiry_timestamp_seconds{site=\"rachuna-\\\"dev\\\"\",issuer=\"pki_int\",name=\"vault-api\"} 1900000000",
            "# UNIT rackpipe_backup_size_bytes bytes",
        ] {
            assert!(ok.contains(&format!("{line}\n")), "{line} missing:\n{ok}");
        }
        reset();
    }
}
