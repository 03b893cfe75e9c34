//! `vault-bootstrap import` against a real OpenBao: configured by `apply` of the rachuna-dev
//! example's vault section plus a policy and a mount made by hand, the imported site
//! validates and plans zero changes; a token that may not read everything gets the rest
//! imported and the unreadable paths named; no secret value reaches the site or the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use crate::common;

use rackpipe_model::vault::MountType;
use rackpipe_vault_bootstrap::import::{Options, import};
use rackpipe_vault_bootstrap::{ApplyOptions, PlanOptions, Secret, apply, check, desired, plan};
use serde_json::json;

const HAND_POLICY: &str =
    "# made by hand\npath \"hand/data/app/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n";
const KV_VALUE: &str = "kv-value-never-imported-4711";

fn options() -> Options {
    Options {
        name: "lab".to_owned(),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_of_an_applied_cluster_plans_zero_changes() {
    let Some(tc) = common::TestCluster::start_custom(3, Some("rachuna-dev"), None) else {
        return;
    };
    let api = tc.bootstrap(5, 3).await;
    let want = desired(&tc.site).unwrap();
    apply(&api, &want, &ApplyOptions::default()).await.unwrap();
    // By hand, as an operator would with the CLI: a policy, a KV v2 mount and a secret in it.
    api.expect(
        "PUT",
        "sys/policies/acl/hand-made",
        Some(&json!({"policy": HAND_POLICY})),
    )
    .await
    .unwrap();
    api.expect(
        "POST",
        "sys/mounts/hand",
        Some(&json!({"type": "kv", "options": {"version": "2"}, "description": "made by hand"})),
    )
    .await
    .unwrap();
    api.expect(
        "POST",
        "hand/data/app/db",
        Some(&json!({"data": {"password": KV_VALUE}})),
    )
    .await
    .unwrap();

    let imported = import(&api, &options()).await.unwrap();
    let human = imported.report.human();
    eprintln!("{human}");
    assert!(imported.report.unreadable.is_empty(), "{human}");
    assert_eq!(imported.report.plan_changes, Some(Vec::new()), "{human}");
    assert!(imported.report.complete());

    // The YAML validates as a site, and the tool's checks pass; the only finding is the
    // placeholder node's guest, which the site's proxmox section supplies.
    let loaded: rackpipe_model::Site = serde_saphyr::from_str(&imported.yaml).unwrap();
    assert_eq!(loaded, imported.site);
    assert_eq!(check(&imported.site), Vec::new());
    match rackpipe_model::load::load_and_validate("imported.yaml", imported.yaml.as_bytes()) {
        Ok(_) => {}
        Err(rackpipe_model::load::LoadError::Invalid { diagnostics, .. }) => {
            let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
            assert!(
                errors
                    .iter()
                    .all(|d| d.path.starts_with("vault.nodes[") && d.path.ends_with("].guest")),
                "{errors:#?}\n{}",
                imported.yaml
            );
        }
        Err(e) => panic!("{e}\n{}", imported.yaml),
    }

    // Its plan against the same cluster: zero changes.
    let p = plan(&api, &desired(&loaded).unwrap(), &PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(p.summary.total(), 0, "{:#?}\n{}", p.changes, imported.yaml);

    // Imported again into the site just imported (`--site`): the same site.
    let again = import(
        &api,
        &Options {
            base: Some(loaded.clone()),
            ..options()
        },
    )
    .await
    .unwrap();
    assert_eq!(again.site, imported.site);
    assert!(again.report.complete(), "{}", again.report.human());

    // What the example applied is all there, and what was made by hand.
    let got = imported.site.vault.as_ref().unwrap();
    let example = tc.site.vault.as_ref().unwrap();
    for m in &example.mounts {
        assert!(
            got.mounts
                .iter()
                .any(|g| g.path == m.path && g.kind == m.kind),
            "mount {} missing",
            m.path
        );
    }
    assert_eq!(got.pki.len(), example.pki.len());
    // The site's policies, the one made by hand, and the metrics policy apply writes when the
    // site's monitoring scrapes Vault with a token (imported like any policy, its HCL as is).
    assert_eq!(
        got.policies.len(),
        example.policies.len() + 1 + generated_policies(&tc.site)
    );
    let hand = got.policies.iter().find(|p| p.name.as_str() == "hand-made");
    assert_eq!(hand.and_then(|p| p.hcl.as_deref()), Some(HAND_POLICY));
    let mount = got.mounts.iter().find(|m| m.path == "hand").unwrap();
    assert_eq!(mount.kind, MountType::KvV2);
    assert_eq!(mount.description.as_deref(), Some("made by hand"));
    assert_eq!(
        got.auth.gitlab_jwt.as_ref().map(|j| j.roles.len()),
        example.auth.gitlab_jwt.as_ref().map(|j| j.roles.len())
    );
    assert_eq!(got.auth.approles.len(), example.auth.approles.len());
    // Users: the example's passwords are vault: references not written yet, so apply left them
    // pending; whatever userpass holds is imported (see the secrets check below).
    // A user's password is a reference the report lists, never a value.
    for u in &got.auth.users {
        assert!(u.password.as_str().starts_with("env:VAULT_USERPASS_"));
        assert!(
            imported
                .report
                .secrets
                .iter()
                .any(|s| s.reference == u.password.as_str())
        );
    }
    let report_json = serde_json::to_string(&imported.report).unwrap();
    let root =
        rackpipe_vault_bootstrap::root_token_from_file(&tc.dir.path().join("keys.json")).unwrap();
    for text in [&imported.yaml, &human, &report_json] {
        assert!(!text.contains(KV_VALUE), "a KV value leaked");
        assert!(!text.contains("test-password-1"), "a password leaked");
        assert!(!text.contains(root.expose()), "the token leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_with_a_restricted_token_names_the_unreadable_paths() {
    let Some(tc) = common::TestCluster::start_custom(3, Some("rachuna-dev"), None) else {
        return;
    };
    let api = tc.bootstrap(5, 3).await;
    apply(&api, &desired(&tc.site).unwrap(), &ApplyOptions::default())
        .await
        .unwrap();
    // May read the mounts, auth methods and policies, nothing below them.
    let partial = "path \"sys/mounts\" { capabilities = [\"read\"] }\n\
                   path \"sys/auth\" { capabilities = [\"read\"] }\n\
                   path \"sys/policies/acl\" { capabilities = [\"list\"] }\n\
                   path \"sys/policies/acl/*\" { capabilities = [\"read\"] }\n";
    api.expect(
        "PUT",
        "sys/policies/acl/import-partial",
        Some(&json!({"policy": partial})),
    )
    .await
    .unwrap();
    let created = api
        .expect(
            "POST",
            "auth/token/create",
            Some(&json!({"policies": ["import-partial"], "ttl": "10m"})),
        )
        .await
        .unwrap();
    let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let restricted = api.clone().with_token(Secret::new(token.clone()));

    let imported = import(&restricted, &options()).await.unwrap();
    let human = imported.report.human();
    eprintln!("{human}");
    assert!(!imported.report.complete(), "{human}");
    assert_eq!(imported.report.plan_changes, None);
    let unreadable = &imported.report.unreadable;
    for pki in &tc.site.vault.as_ref().unwrap().pki {
        let path = format!("GET {}/issuer/default", pki.mount.trim_matches('/'));
        assert!(
            unreadable.contains(&path),
            "{path} not named: {unreadable:?}"
        );
        assert!(human.contains(&format!("unreadable: {path}: permission denied")));
    }
    assert!(
        unreadable.iter().any(|p| p.starts_with("LIST auth/")),
        "{unreadable:?}"
    );
    // The rest is imported: every policy, every mount.
    let got = imported.site.vault.as_ref().unwrap();
    let example = tc.site.vault.as_ref().unwrap();
    assert_eq!(
        got.policies.len(),
        example.policies.len() + 1 + generated_policies(&tc.site)
    );
    assert_eq!(got.mounts.len(), example.mounts.len());
    assert!(got.pki.is_empty());
    assert!(imported.yaml.contains("# not imported: GET "));
    assert!(!imported.yaml.contains(&token) && !human.contains(&token));
}

/// Policies `apply` writes that the site's `vault.policies` does not list: the metrics policy.
fn generated_policies(site: &rackpipe_model::Site) -> usize {
    usize::from(rackpipe_vault_bootstrap::metrics::token_ref(site).is_some())
}
