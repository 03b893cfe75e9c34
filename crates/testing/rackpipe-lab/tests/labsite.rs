//! The lab variant of the example site (no root needed): every address of the site's segments
//! moved into the lab's block, secrets as `env:` references, and all seven tools accept it.
#![allow(clippy::print_stderr, clippy::missing_panics_doc)]

use std::process::Command;

use rackpipe_lab::labsite::{self, LabSiteOptions, SecretKind};

#[test]
fn the_example_lab_site_validates_for_every_tool() {
    let (site, _) = rackpipe_testkit::example_site("rachuna-net");
    let doc = labsite::read(&site).unwrap();
    let span = labsite::span_of(&doc).unwrap();
    assert!(span <= 24);
    let base = format!("198.19.64.0/{span}").parse().unwrap();
    let lab = labsite::rewrite(
        doc,
        &LabSiteOptions {
            base,
            ca_file: "/tmp/lab/creds/ca.pem".into(),
            jwt_public_key_pem: Some(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            ),
        },
    )
    .unwrap();
    let text = serde_json::to_string(&lab.document).unwrap();
    // No address of the original segments is left, secrets are env references only.
    for seg in &lab.segments {
        let prefix = seg.original.network().to_string();
        let three: Vec<&str> = prefix.split('.').take(3).collect();
        assert!(
            !text.contains(&format!("\"{}.", three.join("."))),
            "{} still appears",
            seg.original
        );
        assert!(base.contains(&seg.lab.network()));
    }
    // Only what the site's own Vault issues stays a `vault:` reference.
    let kept = text.replace("\"vault:kv-gitlab/lb/ingress#pem\"", "");
    assert!(!kept.contains("\"vault:") && !kept.contains("\"file:"));
    assert!(text.contains("\"vault:kv-gitlab/lb/ingress#pem\""));
    assert!(
        lab.secrets
            .iter()
            .any(|s| s.kind == SecretKind::ProxmoxToken)
    );
    assert!(
        lab.secrets
            .iter()
            .any(|s| s.kind == SecretKind::VrrpPassword)
    );
    assert_eq!(
        lab.document["router"]["management"]["tls"]["ca_file"],
        "/tmp/lab/creds/ca.pem"
    );
    assert_eq!(lab.document["vault"]["storage"]["backend"], "raft");

    let dir = rackpipe_testkit::temp_dir();
    let path = dir.path().join("site.yaml");
    lab.write(&path).unwrap();
    rackpipe_model::load_and_validate("site.yaml", &std::fs::read(&path).unwrap()).unwrap();
    for tool in [
        "ros-render",
        "pve-sync",
        "nfs-export",
        "vault-bootstrap",
        "haproxy-gen",
        "kubeadm-join",
        "etcd-backup",
    ] {
        let Some(bin) = rackpipe_testkit::workspace_binary(tool) else {
            continue;
        };
        let out = Command::new(&bin)
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} validate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
