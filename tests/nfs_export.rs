//! `nfs-export` as users run it: render the example, lint exports files.

use crate::support::run;

#[test]
fn render_writes_exports_and_consumers() {
    let out = run(
        "nfs-export",
        &["render", "examples/rachuna-net/site.yaml"],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let files = doc["files"].as_array().unwrap();
    let exports = files
        .iter()
        .find(|f| f["path"] == "/etc/exports.d/rackpipe.exports")
        .expect("exports file");
    let text = exports["content"].as_str().unwrap();
    let space = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.contains(" ("));
    assert!(
        !space,
        "a space before '(' would export to the world:\n{text}"
    );
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "/etc/systemd/system/cache.mount")
    );
}

#[test]
fn lint_flags_the_world_export_space_with_its_line() {
    let dir = rackpipe_testkit::temp_dir();
    let bad = dir.path().join("bad.exports");
    std::fs::write(
        &bad,
        "/srv/ok 198.18.0.0/24(rw,sync,no_subtree_check)\n/srv/data 198.18.0.10 (rw,sync)\n",
    )
    .unwrap();
    let good = dir.path().join("good.exports");
    std::fs::write(&good, "/srv/ok 198.18.0.0/24(rw,sync,no_subtree_check)\n").unwrap();
    let (bad, good) = (bad.display().to_string(), good.display().to_string());
    let out = run("nfs-export", &["lint", &bad], None);
    assert_eq!(out.code, 1);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("space before"))
        .expect(&out.stderr);
    assert!(
        line.starts_with(&format!("nfs-export: error: {bad}:2:")),
        "{line}"
    );
    // One `NfsLint` document holding the report of every file.
    let doc = out.json();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["apiVersion", "kind", "valid", "reports"], "{doc}");
    assert_eq!(doc["kind"], "NfsLint");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["reports"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["reports"][0]["kind"], "ValidationReport");
    assert_eq!(doc["reports"][0]["source"], bad.as_str());
    assert_eq!(doc["reports"][0]["valid"], false);
    let out = run("nfs-export", &["lint", &good, &bad], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["reports"][0]["source"], good.as_str());
    assert_eq!(doc["reports"][0]["valid"], true);
    assert_eq!(doc["reports"][1]["source"], bad.as_str());
    let out = run("nfs-export", &["lint", &good], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["valid"], true);
    assert_eq!(out.json()["reports"].as_array().unwrap().len(), 1);
}
