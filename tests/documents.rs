//! The documents the binaries print and the templates they render with, through the real
//! binaries on the example site (nothing contacted).
//!
//! - `render --templates DIR` has one meaning in every tool (`rackpipe_render`): a file in DIR
//!   replaces the built-in template of the same name, a missing one falls back to the built-in,
//!   a file matching no template name is an error naming it.
//! - every document a binary prints on stdout matches the committed schema of its kind
//!   (`rackpipe_model::schema::check_document`): here the ones printed without a device
//!   (validation reports, render outputs, errors); plans, apply results and facts are checked
//!   where they are made against the simulators (`rackpipe-pve-sync`, `rackpipe-ros-render`).

use crate::support::{root, run};

const SITE: &str = "examples/rachuna-net/site.yaml";

/// Each tool that renders from templates, and one of its built-in templates.
const TEMPLATES: [(&str, &str); 5] = [
    (
        "ros-render",
        "crates/tools/rackpipe-ros-render/templates/full.rsc.j2",
    ),
    (
        "haproxy-gen",
        "crates/tools/rackpipe-haproxy-gen/templates/haproxy.cfg.j2",
    ),
    (
        "kubeadm-join",
        "crates/tools/rackpipe-kubeadm-join/templates/init.yaml.j2",
    ),
    (
        "nfs-export",
        "crates/tools/rackpipe-nfs-export/templates/exports.j2",
    ),
    (
        "vault-bootstrap",
        "crates/tools/rackpipe-vault-bootstrap/templates/server.hcl.j2",
    ),
];

fn rendered(tool: &str, templates: Option<&std::path::Path>) -> Vec<(String, String, String)> {
    let mut args = vec!["render", SITE];
    let dir;
    if let Some(t) = templates {
        dir = t.display().to_string();
        args.extend(["--templates", dir.as_str()]);
    }
    let out = run(tool, &args, None);
    assert_eq!(out.code, 0, "{tool} render: {}", out.stderr);
    let doc = out.json();
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_owned();
            (s("host"), s("path"), s("content"))
        })
        .collect()
}

#[test]
fn templates_dir_overrides_falls_back_and_refuses_unknown_files() {
    const MARK: &str = "rackpipe-test-override";
    for (tool, template) in TEMPLATES {
        let builtin = rendered(tool, None);
        let name = std::path::Path::new(template).file_name().unwrap();
        let source = std::fs::read_to_string(root().join(template)).unwrap();
        // One template overridden (a comment line added), the others missing: built in.
        let dir = rackpipe_testkit::temp_dir();
        std::fs::write(dir.path().join(name), format!("{source}\n# {MARK}\n")).unwrap();
        let custom = rendered(tool, Some(dir.path()));
        assert_eq!(custom.len(), builtin.len(), "{tool}");
        let mut overridden = 0;
        for (b, c) in builtin.iter().zip(&custom) {
            assert_eq!((&b.0, &b.1), (&c.0, &c.1), "{tool}");
            if c.2.contains(MARK) {
                overridden += 1;
                assert!(c.2.starts_with(b.2.trim_end()), "{tool} {}: {}", c.1, c.2);
            } else {
                assert_eq!(b.2, c.2, "{tool} {}: the built-in template", c.1);
            }
        }
        assert!(overridden > 0, "{tool}: the override was not used");
        // A file matching no template (a typo) is refused, naming it.
        let typo = dir.path().join("typo.j2");
        std::fs::write(&typo, "x").unwrap();
        let out = run(
            tool,
            &[
                "render",
                SITE,
                "--templates",
                &dir.path().display().to_string(),
            ],
            None,
        );
        assert_eq!(out.code, 1, "{tool}: {}", out.stderr);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!(
                "{tool}: error: template {}: matches no template",
                typo.display()
            )),
            "{tool}: {}",
            out.stderr
        );
    }
}

/// Checks one printed document against the schema of its kind; returns the kind.
fn check_printed(what: &str, stdout: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON document ({e}):\n{stdout}"));
    let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
    let file = rackpipe_model::schema::schema_for_kind(&kind)
        .unwrap_or_else(|| panic!("{what}: kind {kind:?} has no schema"));
    assert_eq!(
        rackpipe_model::schema::check_document(file, &doc),
        Ok(Vec::new()),
        "{what}: {kind} does not match {file}"
    );
    kind
}

#[test]
fn documents_printed_without_a_device_match_their_schemas() {
    let mut kinds = std::collections::BTreeSet::new();
    for tool in crate::support::TOOLS {
        for verb in ["validate", "render"] {
            let out = run(tool, &[verb, SITE], None);
            kinds.insert(check_printed(&format!("{tool} {verb}"), &out.stdout));
        }
        // An invalid site: a report with findings (validate) and an error document (render).
        let broken = b"apiVersion: rackpipe/v1\nkind: Site\nmetadata: {name: 7}\n";
        for verb in ["validate", "render"] {
            let out = run(tool, &[verb, "-"], Some(broken));
            assert_ne!(out.code, 0, "{tool} {verb}: {}", out.stderr);
            kinds.insert(check_printed(
                &format!("{tool} {verb} (invalid)"),
                &out.stdout,
            ));
        }
        // A refused connection setting: an error document.
        if tool == "ros-render" {
            let out = run(tool, &["plan", SITE, "--url", "http://127.0.0.1:9"], None);
            assert_eq!(out.code, 1, "{}", out.stderr);
            kinds.insert(check_printed("ros-render plan (refused URL)", &out.stdout));
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["Error", "RenderOutput", "ValidationReport"]
    );
}
