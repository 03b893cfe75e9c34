//! Bad input never gets past `validate`, and good input always does.
//!
//! Every file under `tests/sites/broken/` is a small mutation of `tests/sites/minimal.yaml`
//! (regenerate them with `python3 tests/sites/make-broken.py`). Its first line says what stderr
//! must contain, `# expect: SUBSTRING`; files that cannot hold a comment (empty, binary, JSON)
//! have a sidecar `NN-name.expect`. For each one, one of the seven binaries (rotating) runs
//! `TOOL validate FILE` and must
//!
//! - exit 1,
//! - print the expected substring (the offending field path, or the file position for syntax
//!   errors) on stderr; a field path must start a line `TOOL: error: FILE:LINE:COL: PATH...`,
//! - not panic, and finish within [`RUN_TIMEOUT`] (alias bombs, deep nesting),
//! - print exactly one JSON document on stdout whose `kind` is `ValidationReport` or `Error`.
//!
//! A document over the size limit is generated at test time instead of being committed. The
//! minimal site and both example sites must validate (exit 0) in all seven binaries.

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

/// The expectation of a broken site: its sidecar `.expect` file, else its `# expect:` line.
fn expectation(path: &Path) -> Result<String, String> {
    let sidecar = path.with_extension("expect");
    if sidecar.is_file() {
        let text =
            fs::read_to_string(&sidecar).map_err(|e| format!("{}: {e}", sidecar.display()))?;
        return Ok(text.lines().next().unwrap_or_default().trim().to_owned());
    }
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    first
        .strip_prefix("# expect:")
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            format!(
                "{}: first line must be `# expect: SUBSTRING` (or add a .expect sidecar)",
                path.display()
            )
        })
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
fn check_rejected(tool: &str, label: &str, source: &str, expect: &str, run: &Run) -> Vec<String> {
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
            "{label} ({tool}): accepted as valid (exit 0); the validator misses {expect:?}"
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
    if !run.stderr.contains(expect) {
        problems.push(format!(
            "{label} ({tool}): stderr lacks {expect:?}{}",
            context()
        ));
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
    if run.stderr.contains(expect)
        && is_field_path(expect)
        && !run
            .stderr
            .lines()
            .any(|l| has_position_and_path(l, tool, source, expect))
    {
        problems.push(format!(
            "{label} ({tool}): no line `{tool}: error: {source}:LINE:COL: {expect}...` on stderr{}",
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

/// Whether `line` is `TOOL: error: SOURCE:LINE:COL: PATH...` with PATH starting with `path`.
fn has_position_and_path(line: &str, tool: &str, source: &str, path: &str) -> bool {
    let Some(rest) = line.strip_prefix(&format!("{tool}: error: {source}:")) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(l), Some(c), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    number(l) && number(c) && tail.strip_prefix(' ').is_some_and(|t| t.starts_with(path))
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
        let expect = match expectation(path) {
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
            Ok(run) => problems.extend(check_rejected(tool, &label, arg, &expect, &run)),
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
        let Ok(expect) = expectation(path) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if expect.contains(&name) {
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
                    &expect,
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
                "byte limit",
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
