//! The text forms of real documents (`--format text`), as snapshots. The documents in
//! `tests/documents/` were printed by the binaries against the lab (`rackpipe-lab up`): a
//! fresh kubeadm cluster (creates), a router whose site changed (create, updates, delete),
//! Proxmox guests resized (updates), an NFS exports file changed (a diff), an NFS apply and
//! an NFS render. Review changes with `cargo insta review`.

use rackpipe_cli::output::{self, Style};
use rackpipe_model::documents::Plan;

fn document(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/documents/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn plan(name: &str) -> Plan {
    serde_json::from_value(document(name)).expect("a plan")
}

#[test]
fn plans_of_several_tools() {
    for name in [
        "plan-ros-render",
        "plan-pve-sync",
        "plan-nfs-export",
        "plan-kubeadm-join",
    ] {
        let text = output::plan(&plan(name), Style::PLAIN);
        assert!(!text.contains('\x1b'), "no colour when asked for none");
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn colour_marks_the_actions_and_the_diff() {
    let text = output::plan(&plan("plan-ros-render"), Style { color: true });
    insta::assert_snapshot!("plan-ros-render-colour", text.replace('\x1b', "<ESC>"));
}

#[test]
fn other_documents_by_kind() {
    for name in ["apply-nfs-export", "render-nfs-export"] {
        let text = output::document(&document(name), Style::PLAIN);
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn an_error_is_its_stderr_line_only() {
    let error = serde_json::json!({
        "apiVersion": "rackpipe/v1", "kind": "Error", "tool": "pve-sync",
        "exit_code": 75, "message": "inventory (/cluster/resources): unreachable"
    });
    assert_eq!(output::document(&error, Style::PLAIN), "");
}

#[test]
fn no_changes_is_one_line() {
    let mut p = plan("plan-pve-sync");
    p.changes.clear();
    p.summary = Default::default();
    assert_eq!(
        output::plan(&p, Style::PLAIN),
        "pve-sync: no changes: the remote state matches site rachuna-net.\n\
         pve-sync: 0 to create, 0 to update, 0 to delete.\n"
    );
}

#[test]
fn secrets_never_show() {
    let p: Plan = serde_json::from_value(serde_json::json!({
        "apiVersion": "rackpipe/v1", "kind": "Plan", "tool": "vault-bootstrap", "site": "lab",
        "desired_digest": "", "observed_digest": "",
        "summary": {"create": 1, "update": 1, "delete": 0},
        "changes": [
            {"action": "create", "target": "vault", "resource": "auth/approle/role/ci",
             "after": {"secret_id": "s3cr3t-id", "token_ttl": "1h", "token_policies": ["ci"]}},
            {"action": "update", "target": "vault", "resource": "kv/lb/ingress",
             "before": {"pem": "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n",
                        "password": "old-pass", "ttl": "1h"},
             "after": {"pem": "-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n",
                       "password": "new-pass", "ttl": "2h"},
             "commands": ["vault write kv/lb password=new-pass"]}
        ]
    }))
    .unwrap();
    let text = output::plan(&p, Style::PLAIN);
    for secret in [
        "s3cr3t-id",
        "old-pass",
        "new-pass",
        "AAA",
        "BBB",
        "PRIVATE KEY",
    ] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
    insta::assert_snapshot!("plan-secrets-withheld", text);
}

#[test]
fn an_apply_result_with_the_site_embedded_names_the_site() {
    // pve-sync's apply result carries the whole site for the next tool.
    let result = serde_json::json!({
        "apiVersion": "rackpipe/v1", "kind": "ApplyResult", "tool": "pve-sync",
        "site_name": "lab", "site": {"metadata": {"name": "lab"}, "proxmox": {}},
        "applied": [], "summary": {"create": 0, "update": 0, "delete": 0},
        "facts": {"guests": {}}
    });
    assert_eq!(
        output::document(&result, Style::PLAIN),
        "pve-sync: nothing to apply to site lab.\n\
         facts for the next tool: guests\n\
         pve-sync: 0 created, 0 updated, 0 deleted.\n"
    );
}

#[test]
fn a_render_listing_says_where_the_files_went() {
    let render: rackpipe_model::documents::RenderOutput =
        serde_json::from_value(document("render-nfs-export")).unwrap();
    let text = output::render_output(&render, Some(std::path::Path::new("out")));
    assert!(
        text.starts_with("nfs-export: 8 files for site rachuna-net, written under out\n"),
        "{text}"
    );
}
