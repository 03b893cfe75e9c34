//! Bad input never gets past `validate`, and good input always does.
//!
//! Every file under `tests/sites/broken/` is a small mutation of `tests/sites/minimal.yaml`
//! (regenerate them with `python3 tests/sites/make-broken.py`). Its first lines say what stderr
//! must contain, one `# expect: SUBSTRING` each; files that cannot hold a comment (empty,
//! binary, JSON) have a sidecar `NN-name.expect` with one expectation a line. An expectation
//! `LINE: PATH` (`12: segments[1].cidr`) pins the line: an error line
//! `TOOL: error: FILE:LINE:COL: PATH...` with exactly that LINE; `!TEXT` says neither stderr nor
//! stdout may contain TEXT (a regular expression, a Rust type name, a secret's value);
//! `errors=N` says stderr has exactly N error lines (nothing but the real problems). For each
//! one, one of the seven
//! binaries (rotating) runs `TOOL validate FILE` and must
//!
//! - exit 1,
//! - print every expected substring (the offending field path, or the file position for syntax
//!   errors) on stderr; a field path must start a line `TOOL: error: FILE:LINE:COL: PATH...`,
//! - not panic, and finish within [`RUN_TIMEOUT`] (alias bombs, deep nesting),
//! - print exactly one JSON document on stdout whose `kind` is `ValidationReport` or `Error`.
//!
//! A document over the size limit is generated at test time instead of being committed. The
//! minimal site and both example sites must validate (exit 0) in all seven binaries.
//!
//! Every file under `tests/sites/warnings/` is a mutation a working site may mean: it must
//! validate (exit 0) with the warning its `# expect: LINE: PATH` and `# expect: [RULE]` lines
//! name, and the same site acknowledging that rule (`metadata.acknowledge`) prints no warning.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The seven binaries, in the order the broken sites rotate over them.
const TOOLS: [(&str, &str); 7] = [
    ("ros-render", env!("CARGO_BIN_EXE_ros-render")),
    ("pve-sync", env!("CARGO_BIN_EXE_pve-sync")),
    ("nfs-export", env!("CARGO_BIN_EXE_nfs-export")),
    ("vault-bootstrap", env!("CARGO_BIN_EXE_vault-bootstrap")),
    ("haproxy-gen", env!("CARGO_BIN_EXE_haproxy-gen")),
    ("kubeadm-join", env!("CARGO_BIN_EXE_kubeadm-join")),
    ("etcd-backup", env!("CARGO_BIN_EXE_etcd-backup")),
];

/// Longest one `validate` run may take before the test kills it and fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// The issue asks for at least this many broken sites.
const MIN_BROKEN_SITES: usize = 45;

/// Sites that must be valid.
const VALID_SITES: [&str; 3] = [
    "tests/sites/minimal.yaml",
    "examples/rachuna-net/site.yaml",
    "examples/rachuna-dev/site.yaml",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn broken_dir() -> PathBuf {
    root().join("tests/sites/broken")
}

/// What one run printed and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `bin validate ARGS...`, feeding `stdin` if given, killing it after [`RUN_TIMEOUT`].
fn validate(bin: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Run, String> {
    let mut child = Command::new(bin)
        .arg("validate")
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RACKPIPE_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e}"))?;
    // Feed stdin and drain both pipes on threads so a large document cannot deadlock.
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            // The tool may stop reading early (size limit): a broken pipe is fine.
            let _ = pipe.write_all(&bytes);
        })
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let err = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child
            .try_wait()
            .map_err(|e| format!("wait for {bin}: {e}"))?
        {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{bin} validate {args:?} ran longer than {RUN_TIMEOUT:?}; killed"
                ));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out
        .join()
        .map_err(|_| "stdout reader panicked".to_owned())?;
    let stderr = err
        .join()
        .map_err(|_| "stderr reader panicked".to_owned())?;
    Ok(Run {
        code: status.code(),
        stdout,
        stderr,
    })
}

/// The expectations of a broken site: its sidecar `.expect` file (one a line), else its
/// leading `# expect:` lines.
fn expectation(path: &Path) -> Result<Vec<String>, String> {
    let sidecar = path.with_extension("expect");
    if sidecar.is_file() {
        let text =
            fs::read_to_string(&sidecar).map_err(|e| format!("{}: {e}", sidecar.display()))?;
        let expects: Vec<String> = text
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        return if expects.is_empty() {
            Err(format!("{}: empty sidecar", sidecar.display()))
        } else {
            Ok(expects)
        };
    }
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let expects: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .map(String::from_utf8_lossy)
        .map_while(|l| l.strip_prefix("# expect:").map(|e| e.trim().to_owned()))
        .filter(|e| !e.is_empty())
        .collect();
    if expects.is_empty() {
        return Err(format!(
            "{}: first line must be `# expect: SUBSTRING` (or add a .expect sidecar)",
            path.display()
        ));
    }
    Ok(expects)
}

/// `LINE: PATH` of an expectation pinned to a line (`12: segments[1].cidr`).
fn pinned(expect: &str) -> Option<(u64, &str)> {
    let (line, path) = expect.split_once(": ")?;
    let line = line.parse().ok()?;
    let path_like = path.starts_with(|c: char| c.is_ascii_lowercase())
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    path_like.then_some((line, path))
}

/// Every broken site, sorted by name (sidecars are not sites).
fn broken_sites() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(broken_dir())
        .expect("tests/sites/broken exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.as_bytes()[0].is_ascii_digit())
        })
        .filter(|p| p.extension().is_none_or(|e| e != "expect"))
        .collect();
    files.sort();
    files
}

/// Checks one run of an invalid site against the contract; returns every violation.
fn check_rejected(
    tool: &str,
    label: &str,
    source: &str,
    expects: &[String],
    run: &Run,
) -> Vec<String> {
    let mut problems = Vec::new();
    let context = || {
        format!(
            "\n  stderr: {}\n  stdout: {}",
            indent(&run.stderr),
            indent(&run.stdout)
        )
    };
    if run.code == Some(0) {
        problems.push(format!(
            "{label} ({tool}): accepted as valid (exit 0); the validator misses {expects:?}"
        ));
        return problems;
    }
    if run.code != Some(1) {
        problems.push(format!(
            "{label} ({tool}): exit code {:?}, want 1{}",
            run.code,
            context()
        ));
    }
    for expect in expects {
        if let Some(count) = expect.strip_prefix("errors=") {
            let want: usize = count.parse().unwrap_or(usize::MAX);
            let prefix = format!("{tool}: error: ");
            let got = run
                .stderr
                .lines()
                .filter(|l| l.starts_with(&prefix))
                .count();
            if got != want {
                problems.push(format!(
                    "{label} ({tool}): {got} error lines on stderr, want exactly {want}{}",
                    context()
                ));
            }
            continue;
        }
        if let Some(unwanted) = expect.strip_prefix('!') {
            // Nor the JSON document on stdout (the report repeats every message).
            for (stream, text) in [("stderr", &run.stderr), ("stdout", &run.stdout)] {
                if text.contains(unwanted) {
                    problems.push(format!(
                        "{label} ({tool}): {stream} has {unwanted:?}, which it must not{}",
                        context()
                    ));
                }
            }
            continue;
        }
        if let Some((line, path)) = pinned(expect) {
            if !run.stderr.lines().any(|l| {
                has_position_and_path(l, &format!("{tool}: error: "), source, path) == Some(line)
            }) {
                problems.push(format!(
                    "{label} ({tool}): no line `{tool}: error: {source}:{line}:COL: {path}...` on stderr{}",
                    context()
                ));
            }
            continue;
        }
        if !run.stderr.contains(expect.as_str()) {
            problems.push(format!(
                "{label} ({tool}): stderr lacks {expect:?}{}",
                context()
            ));
        }
        if run.stderr.contains(expect.as_str())
            && is_field_path(expect)
            && !run.stderr.lines().any(|l| {
                has_position_and_path(l, &format!("{tool}: error: "), source, expect).is_some()
            })
        {
            problems.push(format!(
                "{label} ({tool}): no line `{tool}: error: {source}:LINE:COL: {expect}...` on stderr{}",
                context()
            ));
        }
    }
    if run.stderr.contains("panicked") || run.stderr.contains("RUST_BACKTRACE") {
        problems.push(format!("{label} ({tool}): panicked{}", context()));
    }
    if !run
        .stderr
        .lines()
        .any(|l| l.starts_with(&format!("{tool}: error: ")))
    {
        problems.push(format!(
            "{label} ({tool}): no `{tool}: error: ...` line on stderr{}",
            context()
        ));
    }
    match serde_json::from_str::<Value>(&run.stdout) {
        Ok(doc) => match doc["kind"].as_str() {
            Some("ValidationReport") => {
                if doc["valid"] != Value::Bool(false) {
                    problems.push(format!(
                        "{label} ({tool}): ValidationReport says valid = {}",
                        doc["valid"]
                    ));
                }
                let errors = doc["diagnostics"]
                    .as_array()
                    .map_or(0, |d| d.iter().filter(|d| d["severity"] == "error").count());
                if errors == 0 {
                    problems.push(format!(
                        "{label} ({tool}): ValidationReport lists no error diagnostic{}",
                        context()
                    ));
                }
            }
            Some("Error") => {}
            other => problems.push(format!(
                "{label} ({tool}): stdout kind is {other:?}, want ValidationReport or Error"
            )),
        },
        Err(e) => problems.push(format!(
            "{label} ({tool}): stdout is not one JSON document ({e}){}",
            context()
        )),
    }
    problems
}

/// Whether an expectation is a field path such as `router.bridges[0].ports[2].interface`.
fn is_field_path(expect: &str) -> bool {
    expect.starts_with(|c: char| c.is_ascii_lowercase())
        && expect.contains(['.', '['])
        && expect
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}

/// The LINE when `line` is `PREFIX SOURCE:LINE:COL: PATH...` (PREFIX: `TOOL: error: ` or
/// `TOOL: warning: `) with PATH starting with `path`.
fn has_position_and_path(line: &str, prefix: &str, source: &str, path: &str) -> Option<u64> {
    let rest = line.strip_prefix(&format!("{prefix}{source}:"))?;
    let mut parts = rest.splitn(3, ':');
    let (Some(l), Some(c), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (number(l) && number(c) && tail.strip_prefix(' ').is_some_and(|t| t.starts_with(path)))
        .then(|| l.parse().ok())
        .flatten()
}

/// Runs `bin validate ARG` for a site that must be valid: the run, or what is wrong (not exit
/// 0, no valid report, an error line).
fn validate_valid(tool: &str, bin: &str, label: &str, arg: &str) -> Result<Run, String> {
    let run = validate(bin, &[arg], None).map_err(|e| format!("{label}: {e}"))?;
    let valid = serde_json::from_str::<Value>(&run.stdout)
        .is_ok_and(|d| d["kind"] == "ValidationReport" && d["valid"] == Value::Bool(true));
    if run.code != Some(0) || !valid || run.stderr.contains(&format!("{tool}: error:")) {
        return Err(format!(
            "{label} ({tool}): exit {:?}, want 0 and a valid report\n  stderr: {}",
            run.code,
            indent(&run.stderr)
        ));
    }
    Ok(run)
}

fn indent(text: &str) -> String {
    let shown: String = text.chars().take(2000).collect();
    shown.trim_end().replace('\n', "\n          ")
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn there_are_enough_broken_sites_and_each_has_an_expectation() {
    let sites = broken_sites();
    assert!(
        sites.len() >= MIN_BROKEN_SITES,
        "only {} broken sites under tests/sites/broken",
        sites.len()
    );
    let problems: Vec<String> = sites.iter().filter_map(|p| expectation(p).err()).collect();
    assert_no_problems(&problems);
    // Kinds the issue names explicitly.
    let names: Vec<String> = sites
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for needle in [
        "empty",
        "binary",
        "duplicate-key",
        "alias-bomb",
        "deep-nesting",
        "api-version",
        "wrong-kind",
        ".json",
    ] {
        assert!(
            names.iter().any(|n| n.contains(needle)),
            "no broken site named like {needle:?}"
        );
    }
}

#[test]
fn broken_sites_are_rejected_by_every_tool() {
    let mut problems = Vec::new();
    for (i, path) in broken_sites().iter().enumerate() {
        let expects = match expectation(path) {
            Ok(e) => e,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let (tool, bin) = TOOLS[i % TOOLS.len()];
        let label = path
            .strip_prefix(root())
            .unwrap_or(path)
            .display()
            .to_string();
        let arg = path.to_str().expect("UTF-8 path");
        match validate(bin, &[arg], None) {
            Ok(run) => problems.extend(check_rejected(tool, &label, arg, &expects, &run)),
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    assert_no_problems(&problems);
}

/// The same documents piped on stdin: every expectation that names a field (not the file)
/// must still appear, now reported against `<stdin>`.
#[test]
fn broken_sites_on_stdin_are_rejected() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (i, path) in broken_sites().iter().enumerate() {
        let Ok(expects) = expectation(path) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if expects.iter().any(|e| e.contains(&name)) {
            continue; // a position in the named file; on stdin the source is `<stdin>`
        }
        let bytes = fs::read(path).expect("readable broken site");
        let (tool, bin) = TOOLS[(i + 3) % TOOLS.len()];
        match validate(bin, &["-"], Some(&bytes)) {
            Ok(run) => {
                problems.extend(check_rejected(
                    tool,
                    &format!("<stdin> {name}"),
                    "<stdin>",
                    &expects,
                    &run,
                ));
                if run.code != Some(0) && !run.stderr.contains("<stdin>") {
                    problems.push(format!(
                        "<stdin> {name} ({tool}): stderr does not name <stdin>:\n{}",
                        run.stderr
                    ));
                }
            }
            Err(e) => problems.push(format!("<stdin> {name}: {e}")),
        }
        checked += 1;
    }
    assert!(
        checked >= MIN_BROKEN_SITES,
        "only {checked} broken sites checked on stdin"
    );
    assert_no_problems(&problems);
}

/// A document over the 16 MiB limit, generated here rather than committed.
#[test]
fn huge_document_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.yaml");
    let mut text = fs::read_to_string(root().join(VALID_SITES[0])).expect("minimal site");
    let filler =
        "# padding padding padding padding padding padding padding padding padding padding\n";
    while text.len() <= 17 * 1024 * 1024 {
        text.push_str(filler);
    }
    fs::write(&path, &text).expect("write huge site");
    let arg = path.to_str().expect("UTF-8 path");
    let mut problems = Vec::new();
    for (i, (tool, bin)) in TOOLS.iter().enumerate().take(2) {
        let (source, run) = if i == 0 {
            (arg, validate(bin, &[arg], None))
        } else {
            ("<stdin>", validate(bin, &["-"], Some(text.as_bytes())))
        };
        match run {
            Ok(run) => problems.extend(check_rejected(
                tool,
                "huge.yaml",
                source,
                &["byte limit".to_owned()],
                &run,
            )),
            Err(e) => problems.push(format!("huge.yaml: {e}")),
        }
    }
    assert_no_problems(&problems);
}

#[test]
fn valid_sites_pass_in_every_tool() {
    let mut problems = Vec::new();
    for site in VALID_SITES {
        let path = root().join(site);
        let arg = path.to_str().expect("UTF-8 path");
        for (tool, bin) in TOOLS {
            let run = match validate(bin, &[arg], None) {
                Ok(run) => run,
                Err(e) => {
                    problems.push(format!("{site}: {e}"));
                    continue;
                }
            };
            if run.code != Some(0) {
                problems.push(format!(
                    "{site} ({tool}): exit code {:?}, want 0\n  stderr: {}",
                    run.code,
                    indent(&run.stderr)
                ));
            }
            if run.stderr.contains(&format!("{tool}: error:")) || run.stderr.contains("panicked") {
                problems.push(format!(
                    "{site} ({tool}): errors on stderr:\n  {}",
                    indent(&run.stderr)
                ));
            }
            match serde_json::from_str::<Value>(&run.stdout) {
                Ok(doc)
                    if doc["kind"] == "ValidationReport" && doc["valid"] == Value::Bool(true) => {}
                Ok(doc) => problems.push(format!(
                    "{site} ({tool}): stdout kind {} valid {}",
                    doc["kind"], doc["valid"]
                )),
                Err(e) => problems.push(format!("{site} ({tool}): stdout is not JSON: {e}")),
            }
        }
    }
    assert_no_problems(&problems);
}

/// The example sites carry real-world quirks the validator must report as warnings (not hide,
/// not fail on): rachuna-dev's copy-pasted interface and DNS comments.
#[test]
fn rachuna_dev_quirks_are_warnings() {
    let path = root().join("examples/rachuna-dev/site.yaml");
    let (_, bin) = TOOLS[0];
    let run = validate(bin, &[path.to_str().expect("UTF-8 path")], None).expect("run ros-render");
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let warnings: Vec<&str> = doc["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["severity"] == "warning")
        .filter_map(|d| d["path"].as_str())
        .collect();
    for path in [
        "router.ethernet[3].comment",
        "router.dns.records[18].comment",
    ] {
        assert!(
            warnings.contains(&path),
            "no warning at {path}; warnings: {warnings:?}"
        );
    }
}

/// Every example and the minimal site start with the modeline pointing at the committed schema.
#[test]
fn valid_sites_point_editors_at_the_schema() {
    for site in VALID_SITES {
        let text = fs::read_to_string(root().join(site)).expect("readable site");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first, "# yaml-language-server: $schema=../../schemas/site.schema.json",
            "{site}"
        );
    }
}

/// Legal but suspicious input is a warning: the site stays valid (exit 0) and stderr says why.
#[test]
fn suspicious_but_legal_values_are_warnings() {
    let minimal = fs::read_to_string(root().join(VALID_SITES[0])).expect("minimal site");
    let site = minimal
        .replacen(
            "      name: LAN-01\n",
            "      name: LAN-01\n      comment: pve-s1.mini.test\n",
            1,
        )
        .replacen(
            "      name: LAN-02\n",
            "      name: LAN-02\n      comment: pve-s1.mini.test\n",
            1,
        )
        + "x_notes:\n  owner: somebody\n";
    assert_ne!(
        site,
        minimal + "x_notes:\n  owner: somebody\n",
        "mutation anchors moved"
    );
    let (tool, bin) = TOOLS[4];
    let run = validate(bin, &["-"], Some(site.as_bytes())).expect("run haproxy-gen");
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    for path in ["router.ethernet[2].comment", "x_notes"] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with(&format!("{tool}: warning: <stdin>")) && l.contains(path)),
            "{tool}: no warning naming {path} on stderr:\n{}",
            run.stderr
        );
    }
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(doc["valid"], Value::Bool(true));
}

/// Sites that are valid in an unusual way must pass: `tests/sites/valid/*` (IPv6, keys in
/// another order, YAML anchors and aliases; `python3 tests/sites/make-valid.py` regenerates
/// them), and every valid site again as JSON, with CRLF line endings, with a UTF-8 byte order
/// mark, and with both (generated here).
#[test]
fn unusual_but_valid_sites_pass() {
    let mut sites: Vec<(String, Vec<u8>)> = Vec::new();
    let mut committed: Vec<PathBuf> = fs::read_dir(root().join("tests/sites/valid"))
        .expect("tests/sites/valid exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    committed.sort();
    for kind in ["ipv6", "reordered", "anchors"] {
        assert!(
            committed
                .iter()
                .any(|p| p.file_name().unwrap().to_string_lossy().contains(kind)),
            "no valid site named like {kind:?} in tests/sites/valid"
        );
    }
    let mut originals: Vec<PathBuf> = VALID_SITES.iter().map(|s| root().join(s)).collect();
    originals.extend(committed.iter().cloned());
    for path in &originals {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(path).expect("readable site");
        let text = String::from_utf8(bytes.clone()).expect("UTF-8 site");
        assert!(
            !text.contains('\r'),
            "{name}: keep the committed copy LF-only"
        );
        let crlf = text.replace('\n', "\r\n").into_bytes();
        let bom = [b"\xEF\xBB\xBF".as_slice(), &bytes].concat();
        let both = [b"\xEF\xBB\xBF".as_slice(), &crlf].concat();
        let json = rackpipe_model::load::parse(&name, &bytes)
            .map(|doc| serde_json::to_vec_pretty(&doc.value).expect("JSON"))
            .expect("valid site parses");
        sites.push((format!("{name} (as JSON)"), json));
        sites.push((name.clone(), bytes));
        sites.push((format!("{name} (CRLF)"), crlf));
        sites.push((format!("{name} (BOM)"), bom));
        sites.push((format!("{name} (BOM, CRLF)"), both));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut problems = Vec::new();
    for (i, (label, bytes)) in sites.iter().enumerate() {
        let (tool, bin) = TOOLS[i % TOOLS.len()];
        let file = dir.path().join(format!("site-{i}.yaml"));
        fs::write(&file, bytes).expect("write site");
        let arg = file.to_str().expect("UTF-8 path");
        if let Err(e) = validate_valid(tool, bin, label, arg) {
            problems.push(e);
        }
    }
    assert_no_problems(&problems);
}

/// The shipped examples validate without a printed warning in every tool: what they intend is
/// acknowledged in `metadata.acknowledge` with a reason, and the report still lists it, marked
/// (a tool's own warning, such as haproxy-gen's, is not called unused by the other tools).
#[test]
fn examples_validate_without_warnings() {
    let mut problems = Vec::new();
    for site in &VALID_SITES[1..] {
        let path = root().join(site);
        for (tool, bin) in TOOLS {
            let run = validate(bin, &[path.to_str().expect("UTF-8 path")], None).expect("run");
            if run.code != Some(0) || run.stderr.contains(": warning: ") {
                problems.push(format!(
                    "{site} ({tool}): exit {:?}, want 0 without warnings\n  stderr: {}",
                    run.code,
                    indent(&run.stderr)
                ));
            }
            let doc: Value = serde_json::from_str(&run.stdout).expect("JSON report");
            for d in doc["diagnostics"].as_array().into_iter().flatten() {
                if d["acknowledged"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{site} ({tool}): unacknowledged finding {d}"));
                }
            }
        }
    }
    assert_no_problems(&problems);
}

/// An acknowledged warning is printed (marked, with its reason and rule) only with `-v`; an
/// acknowledgement that matches no warning is itself a warning naming its entry.
#[test]
fn acknowledgements_hide_warnings_and_stale_ones_warn() {
    let minimal = fs::read_to_string(root().join(VALID_SITES[0])).expect("minimal site");
    let noisy = minimal.clone() + "x_notes:\n  owner: somebody\n";
    let acknowledged = noisy.replacen(
        "  description: Minimal valid site for the broken-site tests.\n",
        "  description: Minimal valid site for the broken-site tests.\n  acknowledge:\n    - rule: unknown-section\n      reason: x_notes is read by the wiki export\n",
        1,
    );
    assert_ne!(acknowledged, noisy, "mutation anchor moved");
    let (tool, bin) = TOOLS[1];
    let run = validate(bin, &["-"], Some(noisy.as_bytes())).expect("run");
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("x_notes: unknown top-level section")
            && run.stderr.contains("[unknown-section]"),
        "{tool}: the warning and its rule id:\n{}",
        run.stderr
    );
    let run = validate(bin, &["-"], Some(acknowledged.as_bytes())).expect("run");
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(
        !run.stderr.contains("warning"),
        "{tool}: acknowledged, yet:\n{}",
        run.stderr
    );
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(
        doc["diagnostics"][0]["acknowledged"], "x_notes is read by the wiki export",
        "{doc}"
    );
    let run = validate(bin, &["-v", "-"], Some(acknowledged.as_bytes())).expect("run");
    assert!(
        run.stderr
            .contains("[unknown-section, acknowledged: x_notes is read by the wiki export]"),
        "{tool} -v: the acknowledged warning:\n{}",
        run.stderr
    );
    // The section is gone: its acknowledgement is stale.
    let stale = acknowledged.replacen("x_notes:\n  owner: somebody\n", "", 1);
    let run = validate(bin, &["-"], Some(stale.as_bytes())).expect("run");
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&format!("{tool}: warning: <stdin>:"))
            && l.contains("metadata.acknowledge[0]: no \"unknown-section\" warning to acknowledge any more")
            && l.ends_with("[unused-acknowledgement]")),
        "{tool}: stale acknowledgement:\n{}",
        run.stderr
    );
}

/// Legitimate but unusual sites (`tests/sites/warnings/`): valid, with the expected warning at
/// its line and rule; acknowledged (the rule and path in `metadata.acknowledge`), silent.
#[test]
fn warning_sites_pass_with_their_warning_and_acknowledge_it() {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("tests/sites/warnings"))
        .expect("tests/sites/warnings exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "only {} warning sites", files.len());
    let mut problems = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expects = match expectation(path) {
            Ok(e) => e,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let (tool, bin) = TOOLS[i % TOOLS.len()];
        let arg = path.to_str().expect("UTF-8 path");
        let run = match validate_valid(tool, bin, &name, arg) {
            Ok(run) => run,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let prefix = format!("{tool}: warning: ");
        let mut pinned_path = None;
        let mut rule = None;
        for expect in &expects {
            if let Some((line, field)) = pinned(expect) {
                pinned_path = Some(field.to_owned());
                if !run
                    .stderr
                    .lines()
                    .any(|l| has_position_and_path(l, &prefix, arg, field) == Some(line))
                {
                    problems.push(format!(
                        "{name} ({tool}): no line `{prefix}{arg}:{line}:COL: {field}...`\n  stderr: {}",
                        indent(&run.stderr)
                    ));
                }
            } else {
                if let Some(r) = expect.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                    rule = Some(r.to_owned());
                }
                if !run.stderr.contains(expect.as_str()) {
                    problems.push(format!(
                        "{name} ({tool}): stderr lacks {expect:?}\n  stderr: {}",
                        indent(&run.stderr)
                    ));
                }
            }
        }
        let (Some(rule), Some(field)) = (rule, pinned_path) else {
            problems.push(format!(
                "{name}: needs `# expect: LINE: PATH` and `# expect: [RULE]`"
            ));
            continue;
        };
        // The same site, acknowledging the warning: valid and silent, the report marks it.
        let text = fs::read_to_string(path).expect("readable site");
        let anchor = "  description: Minimal valid site for the broken-site tests.\n";
        let acknowledged = text.replacen(
            anchor,
            &format!(
                "{anchor}  acknowledge:\n    - rule: {rule}\n      path: {field}\n      reason: on purpose\n"
            ),
            1,
        );
        assert_ne!(acknowledged, text, "{name}: acknowledgement anchor missing");
        let run = match validate(bin, &["-"], Some(acknowledged.as_bytes())) {
            Ok(run) => run,
            Err(e) => {
                problems.push(format!("{name} (acknowledged): {e}"));
                continue;
            }
        };
        let marked = serde_json::from_str::<Value>(&run.stdout).is_ok_and(|d| {
            d["diagnostics"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["rule"] == rule.as_str() && d["acknowledged"] == "on purpose")
        });
        if run.code != Some(0) || run.stderr.contains("warning") || !marked {
            problems.push(format!(
                "{name} ({tool}, acknowledged): exit {:?}, want 0, silent, the warning marked\n  stderr: {}\n  stdout: {}",
                run.code,
                indent(&run.stderr),
                indent(&run.stdout)
            ));
        }
    }
    assert_no_problems(&problems);
}
