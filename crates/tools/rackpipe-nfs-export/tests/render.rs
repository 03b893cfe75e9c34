//! Rendering and the site checks: snapshots of every rendered file, and every kind of bad
//! input the issue names, each with an error that names the field.

use crate::common;

use common::{LINUX, load, load_with, site_yaml};
use rackpipe_nfs_export::{Error, check, render};

fn rendered(server: &str) -> Vec<rackpipe_model::documents::RenderedFile> {
    let site = load(&site_yaml("/srv/nfs", server));
    let diags = check(&site);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    render(&site, None).expect("render")
}

#[test]
fn linux_site_renders_exports_mounts_and_manifests() {
    let files = rendered(LINUX);
    let names: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.host.clone(), f.path.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (String::new(), "kubernetes/nfs-provisioner.yaml".to_owned()),
            ("nas".to_owned(), "/etc/exports.d/lab.exports".to_owned()),
            ("runner-1".to_owned(), "/etc/rackpipe/nfs/fstab".to_owned()),
            (
                "runner-1".to_owned(),
                "/etc/systemd/system/cache.mount".to_owned()
            ),
        ]
    );
    let _guard = common::snapshots().bind_to_scope();
    for file in &files {
        insta::assert_snapshot!(
            format!("linux{}", file.path.replace('/', "_")),
            file.content
        );
    }
    let exports = &files[1].content;
    let body: Vec<&str> = exports.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        body.iter().all(|l| !l.contains(" (")),
        "never a space before '(':\n{exports}"
    );
    // The author's real runner mount options survive verbatim.
    assert!(files[2].content.contains(
        "nas.lab.example:/srv/nfs/runner-cache /cache nfs rw,soft,timeo=10,retrans=3,noatime 0 0"
    ));
    // Our own linter finds nothing in our own output.
    let report = rackpipe_nfs_export::exports::lint("lab.exports", exports);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
}

#[test]
fn ganesha_site_renders_export_blocks() {
    let files = rendered("{kind: ganesha, ssh_user: root}");
    let conf = files
        .iter()
        .find(|f| f.path == "/etc/ganesha/lab.conf")
        .expect("ganesha conf");
    let _guard = common::snapshots().bind_to_scope();
    insta::assert_snapshot!("ganesha_lab_conf", conf.content);
    assert_eq!(conf.content.matches("EXPORT {").count(), 4);
    assert!(conf.content.contains("Clients = 198.18.20.0/24;"));
}

#[test]
fn synology_site_renders_share_rules() {
    let site = load(
        &site_yaml(
            "/volume1",
            r#"{kind: synology, user: rackpipe, password: "env:DSM_PASSWORD", volume: /volume1}"#,
        )
        .replace("fsid: \"17\", ", "")
        .replace(", subtree_check: true", "")
        .replace(", anonuid: 1000, anongid: 1000", ""),
    );
    let diags = check(&site);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let files = render(&site, None).expect("render");
    let rules = files
        .iter()
        .find(|f| f.path.ends_with("/pve.json"))
        .expect("pve rules");
    let _guard = common::snapshots().bind_to_scope();
    insta::assert_snapshot!("synology_pve_rules", rules.content);
    let value: serde_json::Value = serde_json::from_str(&rules.content).unwrap();
    assert_eq!(
        value["rule"][0]["root_squash"], "root",
        "squash none = DSM 'No mapping'"
    );
    assert_eq!(value["rule"][0]["client"], "198.18.30.0/24");
}

#[test]
fn template_override_dir_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fstab.j2"), "custom {{ what }}\n").unwrap();
    let site = load(&site_yaml("/srv/nfs", LINUX));
    let files = render(&site, Some(dir.path())).unwrap();
    let fstab = files.iter().find(|f| f.path.ends_with("fstab")).unwrap();
    assert_eq!(
        fstab.content,
        "custom nas.lab.example:/srv/nfs/runner-cache\n"
    );
    // Strict undefined: a typo in an override template is an error naming the template.
    std::fs::write(dir.path().join("fstab.j2"), "{{ wat }}\n").unwrap();
    let err = render(&site, Some(dir.path())).unwrap_err();
    assert!(
        matches!(err, Error::Template(ref t) if t.name == "fstab.j2"),
        "{err}"
    );
}

/// One bad input: (what, edit of the YAML, field path the error must name, words in it).
type Case = (
    &'static str,
    Box<dyn Fn(String) -> String>,
    &'static str,
    &'static str,
);

#[test]
fn bad_input_is_refused_with_the_field_named() {
    let cases: Vec<Case> = vec![
        (
            "overlapping paths",
            Box::new(|y| {
                y.replace(
                    "path: /srv/nfs/k8s-nonprod",
                    "path: /srv/nfs/k8s-prod/nonprod",
                )
            }),
            "nas.exports[2].path",
            "overlaps",
        ),
        (
            "relative path",
            Box::new(|y| y.replace("path: /srv/nfs/pve", "path: srv/nfs/pve")),
            "nas.exports[3].path",
            "absolute",
        ),
        (
            "invalid client spec",
            Box::new(|y| y.replace("host: \"*.lab.example\"", "host: \"198.18.20.*\"")),
            "nas.exports[1].clients[1].host",
            "CIDR",
        ),
        (
            "two client kinds at once",
            Box::new(|y| {
                y.replace(
                    "{segment: apps, rw: true}",
                    "{segment: apps, address: 198.18.20.9, rw: true}",
                )
            }),
            "nas.exports[0].clients[0]",
            "exactly one",
        ),
        (
            "unknown segment",
            Box::new(|y| y.replace("{segment: proxmox, rw", "{segment: storag, rw")),
            "nas.exports[3].clients[0].segment",
            "unknown segment",
        ),
        (
            "contradicting mount options",
            Box::new(|y| y.replace("options: [rw, soft,", "options: [rw, ro, soft,")),
            "runners.cache.options[1]",
            "contradicts",
        ),
        (
            "export a consumer needs is missing",
            Box::new(|y| {
                y.replace(
                    "export: k8s-nonprod, reclaim",
                    "export: k8s-staging, reclaim",
                )
            }),
            "kubernetes.storage_classes[1].export",
            "k8s-staging",
        ),
        (
            "consumer mounts a path no export offers",
            Box::new(|y| {
                y.replace(
                    "    mountpoint: /cache\n",
                    "    mountpoint: /cache\n    path: /srv/other/cache\n",
                )
            }),
            "runners.cache.path",
            "no export offers /srv/other/cache",
        ),
        (
            "consumer not allowed by the export",
            Box::new(|y| {
                y.replace("path: /srv/nfs/runner-cache\n      clients:\n        - {segment: apps, rw: true}", "path: /srv/nfs/runner-cache\n      clients:\n        - {segment: storage, rw: true}")
            }),
            "runners.cache.export",
            "does not allow runner",
        ),
        (
            "consumer writes to a read-only export",
            Box::new(|y| {
                y.replace(
                    "- {address: 198.18.20.5, rw: true, squash: none}",
                    "- {address: 198.18.20.5, squash: none}",
                )
            }),
            "kubernetes.storage_classes[0].export",
            "read-only",
        ),
        (
            "world read-write",
            Box::new(|y| {
                y.replace(
                    "- {network: 198.18.40.0/24, subtree_check: true}",
                    "- {host: \"*\", rw: true}",
                )
            }),
            "nas.exports[3].clients[1]",
            "everyone",
        ),
        (
            "duplicate fsid",
            Box::new(|y| {
                y.replace(
                    "{segment: apps, rw: true, squash: all,",
                    "{segment: apps, fsid: \"17\", rw: true, squash: all,",
                )
            }),
            "nas.exports[3].clients[0].fsid",
            "fsid 17",
        ),
        (
            "unknown security flavour",
            Box::new(|y| y.replace("sec: [sys, krb5]", "sec: [sys, kerberos5]")),
            "nas.exports[1].clients[1].sec[1]",
            "kerberos5",
        ),
    ];
    for (what, edit, field, words) in cases {
        let site = load_with("/srv/nfs", LINUX, &edit);
        let diags = check(&site);
        let hit = diags.iter().find(|d| d.is_error() && d.path == field);
        assert!(
            hit.is_some_and(|d| d.message.contains(words)),
            "{what}: expected an error at {field} containing {words:?}, got {diags:#?}"
        );
        // render refuses with the first error, one line, naming a field.
        let err = render(&site, None).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::Invalid { .. }) && !text.contains('\n'),
            "{what}: {text}"
        );
        assert!(!err.is_transient());
    }
}

#[test]
fn synology_refuses_what_dsm_cannot_express() {
    let site = load(&site_yaml(
        "/volume1",
        r#"{kind: synology, user: rackpipe, password: "env:DSM_PASSWORD", volume: /volume1}"#,
    ));
    let errors: Vec<String> = check(&site)
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| d.path)
        .collect();
    assert!(
        errors.contains(&"nas.exports[2].clients[0].anonuid".to_owned()),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"nas.exports[3].clients[0].fsid".to_owned()),
        "{errors:?}"
    );
    let nested = load(&site_yaml(
        "/volume1/nfs",
        r#"{kind: synology, user: u, password: "env:X", volume: /volume1}"#,
    ));
    assert!(
        check(&nested)
            .iter()
            .any(|d| d.rule == "synology-path" && d.path == "nas.exports[0].path")
    );
}

/// The example sites, when present: they must load, pass the tool's checks and render.
#[test]
#[allow(clippy::print_stderr)]
fn example_sites_check_and_render() {
    for name in ["rachuna-dev", "rachuna-net"] {
        let (_, bytes) = rackpipe_testkit::example_site(name);
        let site = match rackpipe_model::load(name, &bytes) {
            Ok((site, _)) => site,
            Err(e) => panic!("{name} does not load: {e}"),
        };
        let errors: Vec<String> = check(&site)
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        let files = render(&site, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!files.is_empty(), "{name} renders nothing");
    }
}

#[test]
fn provisioner_manifests_are_valid_yaml_with_one_class_each() {
    let files = rendered(LINUX);
    let manifest = files
        .iter()
        .find(|f| f.path == "kubernetes/nfs-provisioner.yaml")
        .unwrap();
    let docs: Vec<serde_json::Value> = manifest
        .content
        .split("\n---\n")
        .skip(1)
        .map(|doc| serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("not YAML: {e}\n{doc}")))
        .collect();
    assert!(
        docs.iter()
            .all(|d| d["apiVersion"].is_string() && d["kind"].is_string()),
        "{docs:#?}"
    );
    let classes: Vec<&serde_json::Value> = docs
        .iter()
        .filter(|d| d["kind"] == "StorageClass")
        .collect();
    assert_eq!(classes.len(), 2);
    assert_eq!(classes[0]["metadata"]["name"], "nfs-prod");
    assert_eq!(
        classes[0]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(classes[0]["parameters"]["archiveOnDelete"], "true");
    assert_eq!(classes[1]["metadata"]["name"], "nfs-nonprod");
    assert!(classes[1]["metadata"].get("annotations").is_none());
    assert_eq!(classes[1]["reclaimPolicy"], "Delete");
    let deployments: Vec<&serde_json::Value> =
        docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    let env = &deployments[1]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[2]["value"], "/srv/nfs/k8s-nonprod");
    assert_eq!(env[0]["value"], classes[1]["provisioner"]);
}
