//! `etcd-backup` as users run it, without a cluster: bad files are rejected by `verify`,
//! `list` and `prune` on an empty destination, and an unreachable cluster exits 75 leaving
//! nothing behind. The library's tests cover snapshot/restore/drill against a real cluster.

use crate::support::run;

#[test]
fn verify_rejects_a_file_that_is_not_a_snapshot() {
    let dir = rackpipe_testkit::temp_dir();
    let bogus = dir.path().join("bogus.db");
    std::fs::write(&bogus, b"certainly not a bbolt database").unwrap();
    let bogus = bogus.display().to_string();
    let out = run("etcd-backup", &["verify", &bogus], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains(&bogus), "{}", out.stderr);
    assert_eq!(out.json()["kind"], "Error");
}

#[test]
fn list_and_prune_an_empty_destination() {
    let dir = rackpipe_testkit::temp_dir();
    let dest = dir.path().display().to_string();
    let out = run("etcd-backup", &["list", "--dest", &dest], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["snapshots"], serde_json::json!([]));
    let out = run(
        "etcd-backup",
        &["prune", "examples/rachuna-net/site.yaml", "--dest", &dest],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan = out.json();
    assert_eq!(plan["kind"], "Plan");
    assert_eq!(plan["summary"]["delete"], 0);
}

#[test]
fn unreachable_cluster_is_transient_and_leaves_no_file() {
    let dir = rackpipe_testkit::temp_dir();
    let dest = dir.path().display().to_string();
    let endpoint = format!("http://127.0.0.1:{}", rackpipe_testkit::free_port());
    let out = run(
        "etcd-backup",
        &[
            "snapshot",
            "examples/rachuna-net/site.yaml",
            "--dest",
            &dest,
            "--endpoint",
            &endpoint,
            "--insecure-http",
        ],
        None,
    );
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(out.stderr.contains("127.0.0.1"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}
