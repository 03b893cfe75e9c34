//! `vault.certificates` against a real one-node OpenBao: plan on a freshly configured server
//! plans the certificate after its mounts and CA; apply issues it and writes the KV entry
//! (its `pem` holds a certificate whose key matches and that chains to the mount's CA); a
//! second plan is empty; a changed alt name, a larger renewal margin and a hand-replaced
//! entry are planned as renewals; the private key never shows up in any output or log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use crate::common;

use rackpipe_model::documents::{Action, Plan};
use rackpipe_model::vault::Certificate;
use rackpipe_vault_bootstrap::{
    ApplyOptions, Client, Desired, Error, PlanOptions, Secret, apply, desired, plan,
};
use serde_json::{Value, json};

use common::Captured;

const CERT_YAML: &str = r#"
- name: lb-ingress
  pki: pki_int
  role: rachuna-net-pl
  common_name: apps.rachuna-net.pl
  alt_names: [apps.rachuna-net.pl, "*.apps.rachuna-net.pl"]
  ip_sans: [127.0.0.1]
  ttl: 48h
  renew_before: 12h
  store: {mount: kv, path: lb/ingress}
"#;

fn with_certificates(site: &rackpipe_model::Site, certs: Vec<Certificate>) -> Desired {
    let mut site = site.clone();
    site.vault.as_mut().unwrap().certificates = certs;
    desired(&site).unwrap()
}

fn certificate_changes(p: &Plan) -> Vec<&rackpipe_model::documents::Change> {
    p.changes
        .iter()
        .filter(|c| c.resource == "kv/data/lb/ingress")
        .collect()
}

async fn entry(api: &Client) -> serde_json::Map<String, Value> {
    api.expect("GET", "kv/data/lb/ingress", None).await.unwrap()["data"]["data"]
        .as_object()
        .unwrap()
        .clone()
}

/// Records what a command would print: the JSON document and its Debug form.
fn show<T: serde::Serialize + std::fmt::Debug>(out: &mut String, value: &T) {
    out.push_str(&serde_json::to_string(value).unwrap());
    out.push_str(&format!("{value:?}\n"));
}

use rackpipe_testkit::openssl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_issued_stored_and_renewed() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut printed = String::new();

    let Some(tc) = common::TestCluster::start_custom(1, None, None) else {
        return;
    };
    let api = tc.bootstrap(1, 1).await;
    // Right after the first unseal the active node may still answer 500 while it sets up
    // its stores; wait (bounded) until it serves a read.
    let t = std::time::Instant::now();
    while !api
        .call("LIST", "sys/policies/acl", None)
        .await
        .is_ok_and(|r| r.ok())
    {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "the node never became ready:\n{}",
            tc.log(0)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let certs: Vec<Certificate> = serde_saphyr::from_str(CERT_YAML).unwrap();
    let want = with_certificates(&tc.site, certs.clone());

    // Fresh server: the certificate is planned after the KV mount and the CA it needs.
    let first = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    show(&mut printed, &first);
    let at = |p: &Plan, r: &str| p.changes.iter().position(|c| c.resource == r);
    let cert_at = at(&first, "kv/data/lb/ingress").expect("certificate planned");
    assert!(at(&first, "sys/mounts/kv").unwrap() < cert_at);
    assert!(at(&first, "pki_int/issuer/pki_int").unwrap() < cert_at);
    assert!(at(&first, "pki_int/roles/rachuna-net-pl").unwrap() < cert_at);
    let change = &first.changes[cert_at];
    assert_eq!(change.action, Action::Create);
    assert_eq!(change.after.as_ref().unwrap()["reason"], "missing");
    assert_eq!(change.after.as_ref().unwrap()["name"], "lb-ingress");
    assert_eq!(
        change.commands,
        [
            "POST pki_int/issue/rachuna-net-pl",
            "POST kv/data/lb/ingress"
        ]
    );
    let result = apply(
        &api,
        &want,
        &ApplyOptions {
            expected: Some(first.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    show(&mut printed, &result);
    let applied = result
        .applied
        .iter()
        .find(|c| c.resource == "kv/data/lb/ingress")
        .unwrap();

    // The KV entry: every field, the key matches the certificate, which chains to the CA.
    let e = entry(&api).await;
    for k in [
        "certificate",
        "ca_chain",
        "private_key",
        "pem",
        "serial",
        "not_after",
    ] {
        assert!(
            e.get(k)
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty()),
            "KV entry lacks {k}"
        );
    }
    let serial = e["serial"].as_str().unwrap().to_owned();
    let private_key = Secret::new(e["private_key"].as_str().unwrap());
    assert_eq!(applied.after.as_ref().unwrap()["serial"], serial.as_str());
    assert_eq!(applied.after.as_ref().unwrap()["not_after"], e["not_after"]);
    assert_eq!(
        result.facts["certificates.lb-ingress"]["serial"],
        serial.as_str()
    );
    let not_after: jiff::Timestamp = e["not_after"].as_str().unwrap().parse().unwrap();
    let left = not_after.as_second() - jiff::Timestamp::now().as_second();
    assert!((47 * 3600..=48 * 3600 + 60).contains(&left), "{left}s left");
    let pem = e["pem"].as_str().unwrap();
    assert!(pem.starts_with(e["certificate"].as_str().unwrap().trim()));
    assert!(pem.contains(e["ca_chain"].as_str().unwrap().trim()));
    assert!(pem.trim_end().ends_with(private_key.expose().trim()));
    let dir = tc.dir.path();
    std::fs::write(dir.join("bundle.pem"), pem).unwrap();
    std::fs::write(dir.join("chain.pem"), e["ca_chain"].as_str().unwrap()).unwrap();
    let root_ca = api.expect("GET", "pki/cert/ca", None).await.unwrap();
    std::fs::write(
        dir.join("root.pem"),
        root_ca["data"]["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let cert_pub = openssl(dir, &["x509", "-in", "bundle.pem", "-noout", "-pubkey"]);
    let key_pub = openssl(dir, &["pkey", "-in", "bundle.pem", "-pubout"]);
    assert_eq!(
        cert_pub, key_pub,
        "the key in pem does not match its certificate"
    );
    let verified = openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "chain.pem",
            "bundle.pem",
        ],
    );
    assert!(verified.contains("bundle.pem: OK"), "{verified}");
    let text = openssl(dir, &["x509", "-in", "bundle.pem", "-noout", "-text"]);
    for name in [
        "DNS:apps.rachuna-net.pl",
        "DNS:*.apps.rachuna-net.pl",
        "IP Address:127.0.0.1",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    eprintln!(
        "issued lb-ingress serial {serial}, not_after {}",
        e["not_after"]
    );

    // A second plan has nothing to do.
    let again = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    show(&mut printed, &again);
    assert_eq!(again.summary.total(), 0, "{:#?}", again.changes);

    // Another alt name: renewed for "names changed", with the old serial shown.
    let mut renamed = certs.clone();
    renamed[0].alt_names.push("www.apps.rachuna-net.pl".into());
    let want2 = with_certificates(&tc.site, renamed);
    let p = plan(&api, &want2, &PlanOptions::default()).await.unwrap();
    show(&mut printed, &p);
    assert_eq!(p.summary.total(), 1, "{:#?}", p.changes);
    let c = certificate_changes(&p)[0];
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.after.as_ref().unwrap()["reason"], "names changed");
    assert_eq!(c.before.as_ref().unwrap()["serial"], serial.as_str());
    assert_eq!(c.before.as_ref().unwrap()["not_after"], e["not_after"]);
    // The plan refuses to apply once the entry changed under it (stale plan).
    let stale_source = p.clone();
    let r = apply(
        &api,
        &want2,
        &ApplyOptions {
            expected: Some(p),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    show(&mut printed, &r);
    let e2 = entry(&api).await;
    assert_ne!(e2["serial"], serial.as_str());
    let e = apply(
        &api,
        &want2,
        &ApplyOptions {
            expected: Some(stale_source),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::StalePlan(_)), "{e}");
    printed.push_str(&format!("{e}\n{e:?}\n"));
    let p = plan(&api, &want2, &PlanOptions::default()).await.unwrap();
    assert_eq!(p.summary.total(), 0, "{:#?}", p.changes);

    // A renewal margin larger than what is left (~48h of a 100h validity): renewed.
    let mut longer = certs.clone();
    longer[0].alt_names.push("www.apps.rachuna-net.pl".into());
    longer[0].ttl = Some("100h".parse().unwrap());
    longer[0].renew_before = Some("72h".parse().unwrap());
    let want3 = with_certificates(&tc.site, longer);
    let p = plan(&api, &want3, &PlanOptions::default()).await.unwrap();
    show(&mut printed, &p);
    assert_eq!(p.summary.total(), 1, "{:#?}", p.changes);
    let c = certificate_changes(&p)[0];
    assert_eq!(c.action, Action::Update);
    // About 48h are left (Vault may round not_after up by a few seconds).
    let reason = c.after.as_ref().unwrap()["reason"].as_str().unwrap();
    assert!(
        ["expires in 1 day", "expires in 2 days"].contains(&reason),
        "{reason}"
    );
    let r = apply(
        &api,
        &want3,
        &ApplyOptions {
            expected: Some(p),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    show(&mut printed, &r);
    assert_eq!(r.summary.update, 1);
    let p = plan(&api, &want3, &PlanOptions::default()).await.unwrap();
    assert_eq!(p.summary.total(), 0, "{:#?}", p.changes);

    // An entry replaced by hand with another certificate, or one that lost its key, is
    // renewed.
    let e3 = entry(&api).await;
    // The intermediate's own certificate stands in for one issued elsewhere (other names).
    let int_ca = api.expect("GET", "pki_int/cert/ca", None).await.unwrap();
    let mut replaced = e3.clone();
    replaced.insert("certificate".into(), int_ca["data"]["certificate"].clone());
    api.expect(
        "POST",
        "kv/data/lb/ingress",
        Some(&json!({"data": replaced})),
    )
    .await
    .unwrap();
    let p = plan(&api, &want3, &PlanOptions::default()).await.unwrap();
    assert_eq!(
        certificate_changes(&p)[0].after.as_ref().unwrap()["reason"],
        "names changed"
    );
    let mut keyless = e3.clone();
    keyless.remove("private_key");
    api.expect(
        "POST",
        "kv/data/lb/ingress",
        Some(&json!({"data": keyless})),
    )
    .await
    .unwrap();
    let p = plan(&api, &want3, &PlanOptions::default()).await.unwrap();
    show(&mut printed, &p);
    assert_eq!(
        certificate_changes(&p)[0].after.as_ref().unwrap()["reason"],
        "stored entry unusable: no private_key"
    );
    let r = apply(&api, &want3, &ApplyOptions::default()).await.unwrap();
    show(&mut printed, &r);
    let p = plan(&api, &want3, &PlanOptions::default()).await.unwrap();
    assert_eq!(p.summary.total(), 0, "{:#?}", p.changes);

    // No private key (nor the pem bundle) in any document, Debug or log line.
    let last = entry(&api).await;
    let logs = logs.text();
    assert!(
        logs.contains("certificate issued and stored"),
        "logs were captured"
    );
    let all = format!("{printed}{logs}");
    assert!(
        !all.contains("PRIVATE KEY"),
        "a private key leaked into output"
    );
    for k in [
        private_key.expose(),
        e2["private_key"].as_str().unwrap(),
        last["private_key"].as_str().unwrap(),
    ] {
        let body = k.lines().nth(1).unwrap();
        assert!(!all.contains(body), "a private key leaked into output");
    }
}

/// The `vault.certificates` entry suggested for examples/rachuna-net/site.yaml (the HAProxy
/// ingress certificate, read by haproxy-gen as `vault:kv-gitlab/lb/ingress#pem`).
const EXAMPLE_CERTIFICATES: &str = r#"
- name: lb-ingress
  pki: pki-int-prod
  role: web-proxy
  common_name: apps.rachuna-net.pl
  alt_names: [apps.rachuna-net.pl, "*.apps.rachuna-net.pl"]
  ttl: 720h
  renew_before: 240h
  store: {mount: kv-gitlab, path: lb/ingress}
"#;

#[test]
fn the_suggested_example_certificate_validates() {
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-net");
    let text = String::from_utf8(bytes).expect("UTF-8 example");
    let mut doc: Value = serde_saphyr::from_str(&text).unwrap();
    doc["vault"]["certificates"] = serde_saphyr::from_str(EXAMPLE_CERTIFICATES).unwrap();
    let json = serde_json::to_string(&doc).unwrap();
    let loaded = match rackpipe_model::load_and_validate("site.json", json.as_bytes()) {
        Ok(l) => l,
        Err(e) => panic!("example with the certificate is invalid: {e:?}"),
    };
    let problems = rackpipe_vault_bootstrap::check(&loaded.site);
    assert!(problems.is_empty(), "{problems:#?}");
    let want = desired(&loaded.site).unwrap();
    let cert = &want.certificates[0];
    assert_eq!(cert.kv_path(), "kv-gitlab/data/lb/ingress");
    assert_eq!(cert.issue_path(), "pki-int-prod/issue/web-proxy");
    assert_eq!(cert.renew_before, 240 * 3600);
    // A renewal margin as long as the validity is refused with the field path.
    doc["vault"]["certificates"][0]["renew_before"] = json!("720h");
    let json = serde_json::to_string(&doc).unwrap();
    let Err(rackpipe_model::LoadError::Invalid { diagnostics, .. }) =
        rackpipe_model::load_and_validate("site.json", json.as_bytes())
    else {
        panic!("renew_before 720h accepted");
    };
    assert!(
        diagnostics
            .iter()
            .any(|d| d.path == "vault.certificates[0].renew_before"),
        "{diagnostics:#?}"
    );
}
