//! `vault.certificates`: each validation rule, driven by one mutation of the small site with a
//! valid certificate added.

use rackpipe_model::load::{LoadError, parse};
use rackpipe_model::{Diagnostic, load_and_validate};
use serde_json::{Value, json};

const SMALL: &str = include_str!("fixtures/small.yaml");

/// The small site plus a kv-v2 mount and one valid certificate.
fn base() -> Value {
    let mut doc = parse("small.yaml", SMALL.as_bytes())
        .expect("fixture parses")
        .value;
    let vault = &mut doc["vault"];
    vault["mounts"].as_array_mut().unwrap().extend([
        json!({"path": "kv", "type": "kv-v2"}),
        json!({"path": "old", "type": "kv"}),
    ]);
    vault["certificates"] = json!([{
        "name": "lb-ingress",
        "pki": "pki-root",
        "role": "vault",
        "common_name": "apps.small.test",
        "alt_names": ["*.apps.small.test"],
        "ttl": "72h",
        "renew_before": "24h",
        "store": {"mount": "kv", "path": "lb/ingress"},
    }]);
    doc
}

fn diagnostics(doc: &Value) -> Vec<Diagnostic> {
    let text = serde_json::to_string_pretty(doc).unwrap();
    match load_and_validate("t.json", text.as_bytes()) {
        Ok(loaded) => loaded.warnings,
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("unexpected load error: {other}"),
    }
}

/// Asserts exactly one error, at `path`, whose one-line text is `message`.
#[track_caller]
fn expect_error(path: &str, message: &str, mutate: impl FnOnce(&mut Value)) {
    let mut doc = base();
    mutate(&mut doc["vault"]["certificates"]);
    let errors: Vec<Diagnostic> = diagnostics(&doc)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    let shown: Vec<String> = errors
        .iter()
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert_eq!(shown, vec![format!("{path}: {message}")]);
    assert!(!errors[0].message.contains('\n'));
}

#[test]
fn a_valid_certificate_passes_and_defaults_apply() {
    let doc = base();
    let diags = diagnostics(&doc);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    let mut doc = base();
    let c = &mut doc["vault"]["certificates"][0];
    for k in ["alt_names", "ttl", "renew_before"] {
        c.as_object_mut().unwrap().remove(k);
    }
    let text = serde_json::to_string(&doc).unwrap();
    let site = load_and_validate("t.json", text.as_bytes()).unwrap().site;
    let v = site.vault.unwrap();
    let cert = &v.certificates[0];
    assert!(cert.alt_names.is_empty() && cert.ip_sans.is_empty());
    let role_ttl = &v.pki[0].roles[0].ttl;
    assert_eq!(cert.ttl_secs(Some(role_ttl)), Some(86_400));
    assert_eq!(cert.renew_before_secs(Some(role_ttl)), 86_400 / 3);
    assert_eq!(cert.renew_before_secs(None), 240 * 3600);
}

#[test]
fn the_site_without_certificates_still_loads() {
    let mut doc = base();
    doc["vault"].as_object_mut().unwrap().remove("certificates");
    let text = serde_json::to_string(&doc).unwrap();
    let site = load_and_validate("t.json", text.as_bytes()).unwrap().site;
    assert!(site.vault.unwrap().certificates.is_empty());
}

#[test]
fn unknown_pki_mount() {
    expect_error(
        "vault.certificates[0].pki",
        r#""pki-nope" is not a pki mount in vault.mounts"#,
        |c| c[0]["pki"] = json!("pki-nope"),
    );
}

#[test]
fn pki_that_is_not_a_pki_mount() {
    expect_error(
        "vault.certificates[0].pki",
        r#""kv" is not a pki mount in vault.mounts"#,
        |c| c[0]["pki"] = json!("kv"),
    );
}

#[test]
fn unknown_role() {
    expect_error(
        "vault.certificates[0].role",
        r#"unknown role "x" in pki "pki-root""#,
        |c| c[0]["role"] = json!("x"),
    );
}

#[test]
fn store_mount_missing() {
    expect_error(
        "vault.certificates[0].store.mount",
        r#"no mount "secrets" in vault.mounts"#,
        |c| c[0]["store"]["mount"] = json!("secrets"),
    );
}

#[test]
fn store_mount_not_kv_v2() {
    expect_error(
        "vault.certificates[0].store.mount",
        r#""old" is not a kv-v2 mount"#,
        |c| c[0]["store"]["mount"] = json!("old"),
    );
    expect_error(
        "vault.certificates[0].store.mount",
        r#""pki-root" is not a kv-v2 mount"#,
        |c| c[0]["store"]["mount"] = json!("pki-root"),
    );
}

#[test]
fn duplicate_names() {
    expect_error(
        "vault.certificates[1].name",
        r#"duplicate certificate name "lb-ingress""#,
        |c| {
            let mut second = c[0].clone();
            second["store"]["path"] = json!("lb/other");
            c.as_array_mut().unwrap().push(second);
        },
    );
    // The first one is named as the other place of the conflict.
    let mut doc = base();
    let mut second = doc["vault"]["certificates"][0].clone();
    second["store"]["path"] = json!("lb/other");
    doc["vault"]["certificates"]
        .as_array_mut()
        .unwrap()
        .push(second);
    let d = diagnostics(&doc);
    assert_eq!(
        d[0].related.as_ref().map(|r| r.path.as_str()),
        Some("vault.certificates[0].name")
    );
}

#[test]
fn renew_before_not_shorter_than_ttl() {
    expect_error(
        "vault.certificates[0].renew_before",
        "renew_before 72h is not shorter than ttl 72h; every apply would renew",
        |c| c[0]["renew_before"] = json!("72h"),
    );
    // Without ttl the role's (1d) is the validity.
    expect_error(
        "vault.certificates[0].renew_before",
        "renew_before 240h is not shorter than the role's ttl 86400s; every apply would renew",
        |c| {
            c[0].as_object_mut().unwrap().remove("ttl");
            c[0]["renew_before"] = json!("240h");
        },
    );
}

#[test]
fn ttl_longer_than_the_roles_max_ttl() {
    expect_error(
        "vault.certificates[0].ttl",
        r#"ttl 2w is longer than role "vault"'s max_ttl 1w"#,
        |c| c[0]["ttl"] = json!("2w"),
    );
}

#[test]
fn ip_sans_need_a_role_that_allows_them() {
    expect_error(
        "vault.certificates[0].ip_sans",
        r#"role "vault" does not allow IP SANs"#,
        |c| c[0]["ip_sans"] = json!(["10.3.1.253"]),
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let mut doc = base();
    doc["vault"]["certificates"][0]["sans"] = json!([]);
    let diags = diagnostics(&doc);
    assert!(
        diags
            .iter()
            .any(|d| d.is_error() && d.path.starts_with("vault.certificates[0]")),
        "{diags:#?}"
    );
}
