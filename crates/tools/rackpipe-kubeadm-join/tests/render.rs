//! kubeadm configs of the example site: snapshots, and every document checked against the
//! strict schemas of the kubeadm types, in both API versions.

use rackpipe_kubeadm_join::{ApiVersion, render, schema};
use rackpipe_model::Site;

fn example(name: &str) -> Site {
    let path = rackpipe_testkit::project_root().join(format!("examples/{name}/site.yaml"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rackpipe_model::load_and_validate(&path.display().to_string(), &bytes)
        .expect("example validates")
        .site
}

fn documents(yaml: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple::<serde_json::Value>(yaml)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

#[test]
fn every_rendered_document_passes_the_strict_schema() {
    let site = example("rachuna-net");
    for version in [ApiVersion::V1beta4, ApiVersion::V1beta3] {
        let files = render(&site, version, None).unwrap();
        let configs: Vec<_> = files
            .iter()
            .filter(|f| f.path.ends_with("kubeadm-config.yaml"))
            .collect();
        assert_eq!(configs.len(), 9, "3 masters + 6 workers");
        for f in configs {
            let docs = documents(&f.content);
            assert!(!docs.is_empty());
            for d in docs {
                let errors = schema::check_document(&d);
                assert!(errors.is_empty(), "{} ({version:?}): {errors:?}", f.host);
            }
        }
    }
}

#[test]
fn the_schema_rejects_what_kubeadm_rejects() {
    let good = serde_json::json!({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"token": "abcdef.0123456789abcdef", "apiServerEndpoint": "10.0.0.1:6443"}}});
    assert!(schema::check_document(&good).is_empty());
    let mut unknown = good.clone();
    unknown["nodeRegistraton"] = serde_json::json!({});
    assert!(
        !schema::check_document(&unknown).is_empty(),
        "unknown field"
    );
    let mut map_args = good.clone();
    map_args["nodeRegistration"] = serde_json::json!({"kubeletExtraArgs": {"node-labels": "a=b"}});
    assert!(
        !schema::check_document(&map_args).is_empty(),
        "v1beta4 wants a name/value list"
    );
    map_args["apiVersion"] = serde_json::json!("kubeadm.k8s.io/v1beta3");
    assert!(
        schema::check_document(&map_args).is_empty(),
        "v1beta3 takes a map"
    );
    let mut bad_token = good;
    bad_token["discovery"]["bootstrapToken"]["token"] = serde_json::json!("NOT-A-TOKEN");
    assert!(!schema::check_document(&bad_token).is_empty());
}

#[test]
fn first_master_inits_behind_the_vip() {
    let site = example("rachuna-net");
    let files = render(&site, ApiVersion::V1beta4, None).unwrap();
    let init = &files
        .iter()
        .find(|f| f.host == "k8s-master-1")
        .unwrap()
        .content;
    let docs = documents(init);
    assert_eq!(docs[0]["kind"], "InitConfiguration");
    assert_eq!(docs[1]["kind"], "ClusterConfiguration");
    let endpoint = docs[1]["controlPlaneEndpoint"].as_str().unwrap();
    assert!(endpoint.ends_with(":6443"), "{endpoint}");
    let sans = docs[1]["apiServer"]["certSANs"].as_array().unwrap();
    assert!(sans.iter().any(|s| s == "k8s.rachuna-net.pl"));
    assert_eq!(
        docs[0]["nodeRegistration"]["taints"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    let join = documents(
        &files
            .iter()
            .find(|f| f.host == "k8s-master-2")
            .unwrap()
            .content,
    );
    assert_eq!(join[0]["kind"], "JoinConfiguration");
    assert!(join[0]["controlPlane"]["certificateKey"].is_string());
    let worker = documents(
        &files
            .iter()
            .find(|f| f.host == "k8s-worker-1")
            .unwrap()
            .content,
    );
    assert!(worker[0].get("controlPlane").is_none());
    assert_eq!(
        worker[0]["nodeRegistration"]["taints"],
        serde_json::json!([])
    );
}

#[test]
fn rendered_files_are_stable() {
    let site = example("rachuna-net");
    for f in render(&site, ApiVersion::V1beta4, None).unwrap() {
        if f.host == "k8s-master-1"
            || f.host == "k8s-master-2"
            || f.host == "k8s-worker-6"
            || f.host == "addons"
        {
            insta::assert_snapshot!(
                format!(
                    "{}__{}",
                    f.host,
                    f.path.trim_start_matches('/').replace('/', "_")
                ),
                f.content
            );
        }
    }
}

#[test]
fn addon_manifests_are_kubernetes_objects_and_values_are_mappings() {
    let site = example("rachuna-net");
    let addons = rackpipe_kubeadm_join::addons(&site, None).unwrap();
    let names: Vec<&str> = addons.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["calico", "nfs-provisioner", "traefik", "metrics-server"],
        "the CNI first"
    );
    assert!(addons[0].cni && addons[1..].iter().all(|a| !a.cni));
    for addon in &addons {
        for f in &addon.files {
            let docs = documents(&f.content);
            assert!(!docs.is_empty(), "{}", f.name);
            match addon.install {
                rackpipe_kubeadm_join::addons::Install::Manifests { .. } => {
                    for d in docs {
                        for field in ["/apiVersion", "/kind", "/metadata/name"] {
                            assert!(
                                d.pointer(field).and_then(|v| v.as_str()).is_some(),
                                "{}: {field} missing in {d}",
                                f.name
                            );
                        }
                    }
                }
                rackpipe_kubeadm_join::addons::Install::Helm { .. } => {
                    assert_eq!(docs.len(), 1, "{}", f.name);
                    assert!(docs[0].is_object(), "{}", f.name);
                }
            }
        }
    }
    let classes: Vec<serde_json::Value> = documents(&addons[1].files[0].content)
        .into_iter()
        .filter(|d| d["kind"] == "StorageClass")
        .collect();
    assert_eq!(classes.len(), 2);
    assert_eq!(classes[0]["metadata"]["name"], "nfs-prod");
    assert_eq!(classes[1]["metadata"]["name"], "nfs-nonprod");
    // A changed NodePort changes the Traefik addon's hash and nothing else's.
    let mut changed = site.clone();
    changed.kubernetes.as_mut().unwrap().ingress.http_node_port += 1;
    let after = rackpipe_kubeadm_join::addons(&changed, None).unwrap();
    let differs: Vec<&str> = addons
        .iter()
        .zip(&after)
        .filter(|(a, b)| a.sha256() != b.sha256())
        .map(|(a, _)| a.name.as_str())
        .collect();
    assert_eq!(differs, ["traefik"]);
}

#[test]
fn validate_reports_an_artefact_without_a_well_formed_pin() {
    let mut site = example("rachuna-net");
    assert!(
        rackpipe_kubeadm_join::check(&site)
            .iter()
            .all(|d| !d.is_error()),
        "{:?}",
        rackpipe_kubeadm_join::check(&site)
    );
    let pins = &mut site.kubernetes.as_mut().unwrap().artifacts;
    pins.insert("traefik-35.4.0.tgz".to_owned(), "not-a-hash".to_owned());
    let found = rackpipe_kubeadm_join::check(&site);
    let e = found.iter().find(|d| d.rule == "artifact-pin").unwrap();
    assert_eq!(e.path, "kubernetes.artifacts.traefik-35.4.0.tgz");
    assert!(e.is_error());
    site.kubernetes.as_mut().unwrap().artifacts.clear();
    let found = rackpipe_kubeadm_join::check(&site);
    let e = found.iter().find(|d| d.rule == "artifact-pin").unwrap();
    assert_eq!(e.path, "kubernetes.artifacts");
    assert!(
        e.message
            .starts_with("no sha256 pinned for tigera-operator-v3.29.1.yaml"),
        "{}",
        e.message
    );
}
