//! Synology plan/apply against the DSM API simulator over HTTPS (rackpipe-dsm-sim), including
//! DSM's lost-save defect: saves that answer success without writing.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{load, site_yaml};
use rackpipe_dsm_sim::{DsmSim, SimConfig, TlsPem};
use rackpipe_model::Site;
use rackpipe_nfs_export::synology::{self, DsmClient, DsmTarget, Trust};
use rackpipe_nfs_export::{Error, Secret};
use serde_json::json;

pub(crate) const PASSWORD: &str = "sim-password-1";

fn site() -> Site {
    load(
        &site_yaml(
            "/volume1",
            r#"{kind: synology, user: rackpipe, password: "env:DSM_PASSWORD", volume: /volume1}"#,
        )
        .replace("fsid: \"17\", ", "")
        .replace(", subtree_check: true", "")
        .replace(", anonuid: 1000, anongid: 1000", ""),
    )
}

pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    pub(crate) tls: TlsPem,
    leaf_der: Vec<u8>,
}

pub(crate) fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rackpipe test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        tls: TlsPem {
            cert_chain_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        },
        leaf_der: leaf.der().to_vec(),
    }
}

fn shares(names: &[&str]) -> BTreeMap<String, Vec<serde_json::Value>> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), Vec::new()))
        .collect()
}

async fn sim(pki: &Pki, latency_ms: u64) -> DsmSim {
    let config = SimConfig {
        users: [("rackpipe".to_owned(), PASSWORD.to_owned())].into(),
        shares: shares(&["runner-cache", "k8s-prod", "k8s-nonprod", "pve", "media"]),
        save_latency: Duration::from_millis(latency_ms),
    };
    DsmSim::start_tls(config, pki.tls.clone())
        .await
        .expect("start DSM simulator")
}

pub(crate) fn target(sim: &DsmSim, trust: Trust) -> DsmTarget {
    DsmTarget {
        base_url: sim.base_url(),
        user: "rackpipe".to_owned(),
        password: Secret::new(PASSWORD),
        trust,
        request_timeout: Duration::from_secs(5),
        confirm_timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn plan_apply_read_back_and_a_second_plan_is_empty() {
    let pki = pki();
    let sim = sim(&pki, 5).await;
    // Someone edited k8s-prod in the DSM UI; media is not managed and must stay untouched.
    sim.set_rules(
        "k8s-prod",
        vec![json!({"client": "*", "privilege": "RW", "root_squash": "root"})],
    );
    let media = vec![json!({"client": "198.18.99.1", "privilege": "ro", "root_squash": "guest"})];
    sim.set_rules("media", media.clone());

    let client = DsmClient::login(target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes())))
        .await
        .expect("login");
    let site = site();
    let plan = synology::plan(&site, &client).await.expect("plan");
    assert_eq!(
        (
            plan.summary.create,
            plan.summary.update,
            plan.summary.delete
        ),
        (3, 1, 0),
        "{plan:#?}"
    );
    let update = plan
        .changes
        .iter()
        .find(|c| c.resource.ends_with("/k8s-prod"))
        .unwrap();
    assert!(
        update
            .diff
            .as_deref()
            .unwrap()
            .contains("-    \"client\": \"*\""),
        "{:?}",
        update.diff
    );

    let result = synology::apply(&site, &client, Some(&plan))
        .await
        .expect("apply");
    assert_eq!(result.summary.create + result.summary.update, 4);
    let pve = sim.rules("pve").unwrap();
    assert_eq!(pve[0]["client"], "198.18.30.0/24");
    assert_eq!(pve[0]["root_squash"], "root");
    assert_eq!(pve[1]["privilege"], "ro");
    assert_eq!(
        sim.rules("media").unwrap(),
        media,
        "unmanaged share untouched"
    );

    let again = synology::plan(&site, &client).await.expect("second plan");
    assert!(again.changes.is_empty(), "{again:#?}");
    assert_eq!(again.desired_digest, plan.desired_digest);
    assert_ne!(again.observed_digest, plan.observed_digest);
    // The plan is the same every time the state is the same.
    assert_eq!(
        synology::plan(&site, &client)
            .await
            .unwrap()
            .observed_digest,
        again.observed_digest
    );
    client.logout().await;
}

#[tokio::test]
async fn lost_saves_are_caught_by_read_back_and_saved_again() {
    let pki = pki();
    let sim = sim(&pki, 5).await;
    let client = DsmClient::login(target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes())))
        .await
        .unwrap();
    sim.lose_next_saves(2);
    let result = synology::apply(&site(), &client, None)
        .await
        .expect("apply despite lost saves");
    assert_eq!(sim.lost_saves(), 2);
    let saves: u64 = result
        .facts
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    assert_eq!(
        saves,
        4 + 2,
        "every lost save was repeated: {:?}",
        result.facts
    );
    assert!(
        synology::plan(&site(), &client)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_saves_lose_one_and_concurrent_applies_still_converge() {
    let pki = pki();
    let sim = sim(&pki, 150).await;
    let a = DsmClient::login(target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes())))
        .await
        .unwrap();
    let b = DsmClient::login(target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes())))
        .await
        .unwrap();
    // The defect itself: two raw saves at once both answer success, one is dropped.
    let rule = |client: &str| synology::DsmRule {
        client: client.to_owned(),
        privilege: "ro".to_owned(),
        root_squash: "guest".to_owned(),
        is_async: false,
        insecure: false,
        crossmnt: false,
        security_flavor: synology::SecurityFlavor {
            sys: true,
            ..Default::default()
        },
    };
    let (first, second) = ([rule("198.18.1.1")], [rule("198.18.2.2")]);
    let (ra, rb) = tokio::join!(a.save("media", &first), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        b.save("media", &second).await
    });
    assert!(ra.is_ok() && rb.is_ok(), "both report success");
    assert_eq!(sim.lost_saves(), 1);
    assert_eq!(
        sim.rules("media").unwrap()[0]["client"],
        "198.18.1.1",
        "the second save was lost"
    );

    // Two applies racing: each confirms by reading back, so both end converged.
    let site = site();
    let (x, y) = tokio::join!(
        synology::apply(&site, &a, None),
        synology::apply(&site, &b, None)
    );
    x.expect("apply a");
    y.expect("apply b");
    assert!(synology::plan(&site, &a).await.unwrap().changes.is_empty());
}

#[tokio::test]
async fn a_stale_plan_is_refused_and_nothing_changes() {
    let pki = pki();
    let sim = sim(&pki, 5).await;
    let client = DsmClient::login(target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes())))
        .await
        .unwrap();
    let plan = synology::plan(&site(), &client).await.unwrap();
    let changed = vec![json!({"client": "198.18.7.7", "privilege": "rw", "root_squash": "root"})];
    sim.set_rules("pve", changed.clone());
    let saves_before = sim.applied_saves();
    let err = synology::apply(&site(), &client, Some(&plan))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StalePlan { .. }), "{err}");
    assert_eq!(sim.applied_saves(), saves_before);
    assert_eq!(sim.rules("pve").unwrap(), changed);
}

#[tokio::test]
async fn tls_is_verified_by_ca_or_pinned_fingerprint() {
    let pki = pki();
    let sim = sim(&pki, 5).await;
    let fp: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        &pki.leaf_der,
    ))
    .into();
    let pinned = DsmClient::login(target(&sim, Trust::Pinned(rackpipe_tls::Fingerprint(fp))))
        .await
        .expect("pinned fingerprint");
    assert!(synology::plan(&site(), &pinned).await.is_ok());
    let err = DsmClient::login(target(
        &sim,
        Trust::Pinned(rackpipe_tls::Fingerprint([7; 32])),
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Tls { .. } | Error::Unreachable { .. }),
        "{err}"
    );
    let other = pki_ca_only();
    let err = DsmClient::login(target(&sim, Trust::CaPem(other.into_bytes())))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls { .. } | Error::Unreachable { .. }),
        "{err}"
    );
}

fn pki_ca_only() -> String {
    pki().ca_pem
}

#[tokio::test]
async fn dsm_errors_are_one_line_and_name_the_share() {
    let pki = pki();
    let sim = sim(&pki, 5).await;
    let mut bad = target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes()));
    bad.password = Secret::new("wrong");
    let err = DsmClient::login(bad).await.unwrap_err();
    assert!(matches!(err, Error::Dsm { code: 400, .. }), "{err}");
    assert!(!err.is_transient());
    assert!(
        !format!("{err} {err:?}").contains(PASSWORD),
        "no password in errors"
    );

    let client = DsmClient::login(target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes())))
        .await
        .unwrap();
    let err = client.load("NOPE").await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Dsm { code: 2370, .. })
            && text.contains("NOPE")
            && !text.contains('\n'),
        "{text}"
    );
    assert!(
        !format!("{client:?}").contains("sim-sid"),
        "no session id in Debug"
    );
}

#[test]
fn target_from_site_reads_the_password_reference_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("dsm-password");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let fp = "AB:".repeat(31) + "AB";
    let yaml = site_yaml(
        "/volume1",
        &format!(r#"{{kind: synology, user: rackpipe, password: "file:{}", volume: /volume1, tls: {{fingerprint_sha256: "{fp}"}}}}"#, secret.display()),
    )
    .replace("fsid: \"17\", ", "")
    .replace(", subtree_check: true", "")
    .replace(", anonuid: 1000, anongid: 1000", "");
    // The reference, as the driver resolves it (with every other reference of the run).
    let resolve = |site: &rackpipe_model::Site| {
        rackpipe_secrets::resolve_all(
            rackpipe_secrets::Resolver::global(),
            rackpipe_nfs_export::secret::secret_refs(site),
        )
        .map_err(|u| u.first().to_string())
    };
    let site = load(&yaml);
    let refs = rackpipe_nfs_export::secret::secret_refs(&site);
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0].1, "nas.server.password");
    let password = resolve(&site).expect("password").remove(0);
    let target = DsmTarget::from_site(&site, password).expect("target");
    assert_eq!(target.base_url, "https://nas.lab.example:5001");
    assert_eq!(target.password.expose(), "from-a-file");
    assert!(matches!(target.trust, Trust::Pinned(f) if f.0 == [0xAB; 32]));
    assert!(
        !format!("{target:?}").contains("from-a-file"),
        "password redacted in Debug"
    );

    let missing = load(&yaml.replace(&secret.display().to_string(), "/nonexistent/pw"));
    let err = resolve(&missing).unwrap_err();
    assert!(
        err.starts_with("nas.server.password: file:/nonexistent/pw: /nonexistent/pw: "),
        "{err}"
    );
    let vault = load(&yaml.replace(
        &format!("file:{}", secret.display()),
        "vault:kv/dsm#password",
    ));
    assert!(
        resolve(&vault)
            .unwrap_err()
            .starts_with("nas.server.password: vault:kv/dsm#password: ")
    );
}
