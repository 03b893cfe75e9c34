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

/// Secrets a runner's environment may hold: Vault tokens, the job's JWT, a value the site
/// names as `env:…`, and etcdctl's own variables (they would change what it does).
const LEAKS: [(&str, &str); 5] = [
    ("VAULT_TOKEN", "s.must-not-leak-1"),
    ("BAO_TOKEN", "s.must-not-leak-2"),
    ("VAULT_ID_TOKEN", "jwt.must-not-leak-3"),
    ("PVE_TOKEN", "pve-must-not-leak-4"),
    ("ETCDCTL_ENDPOINTS", "http://192.0.2.1:2379"),
];

/// A snapshot `verify` accepts (one bbolt-looking page plus etcd's SHA-256 trailer) with its
/// manifest; returns the snapshot path.
fn fake_snapshot_with_manifest(dir: &std::path::Path) -> std::path::PathBuf {
    let sha256 = |path: &std::path::Path| -> String {
        let out = std::process::Command::new("sha256sum")
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    };
    let mut body = vec![7u8; 4096];
    body[16..20].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    body[20..24].copy_from_slice(&2u32.to_le_bytes());
    body[24..28].copy_from_slice(&4096u32.to_le_bytes());
    let snap = dir.join("etcd-20261201T020000Z-r5.db");
    std::fs::write(&snap, &body).unwrap();
    let trailer = sha256(&snap);
    for i in 0..32 {
        body.push(u8::from_str_radix(&trailer[2 * i..2 * i + 2], 16).unwrap());
    }
    std::fs::write(&snap, &body).unwrap();
    let sha = sha256(&snap);
    let manifest = serde_json::json!({
        "apiVersion": "rackpipe/v1", "kind": "EtcdSnapshot",
        "file": "etcd-20261201T020000Z-r5.db", "cluster_id": "1", "member_id": "2",
        "endpoint": "https://127.0.0.1:2379", "etcd_version": "3.4.23", "revision": 5,
        "revision_after": 5, "key_count": 1, "raft_index": 1, "raft_term": 1, "db_size": 4096,
        "snapshot_size": body.len(), "snapshot_sha256": sha, "file_size": body.len(),
        "sha256": sha, "compression": "none", "started_at": "2026-12-01T02:00:00Z",
        "finished_at": "2026-12-01T02:00:01Z", "tool": "etcd-backup", "tool_version": "0"
    });
    std::fs::write(
        dir.join("etcd-20261201T020000Z-r5.db.json"),
        manifest.to_string(),
    )
    .unwrap();
    snap
}

/// An executable shell script.
fn script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `etcd-backup ARGS` under umask 022 with the leaky environment plus `env`.
fn run_leaky(args: &[&str], env: &[(&str, &str)]) -> crate::support::Output {
    let mut all: Vec<(&str, &str)> = LEAKS.to_vec();
    all.extend_from_slice(env);
    let mut sh_args = vec!["-c", "umask 022 && exec \"$0\" \"$@\""];
    let bin = crate::support::bin("etcd-backup");
    let bin = bin.to_str().unwrap();
    sh_args.push(bin);
    sh_args.extend_from_slice(args);
    let out = std::process::Command::new("sh")
        .args(&sh_args)
        .envs(all)
        .current_dir(crate::support::root())
        .env_remove("RACKPIPE_LOG")
        .output()
        .unwrap();
    crate::support::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_clean_env(file: &std::path::Path) {
    let env = std::fs::read_to_string(file).unwrap();
    for (name, value) in LEAKS {
        assert!(
            !env.contains(name) && !env.contains(value),
            "{} inherited {name}:\n{env}",
            file.display()
        );
    }
}

/// `restore` of the three-master example: each member gets its own data directory
/// (`DIR/<member>`; before, all three were given DIR itself and the second failed), etcdctl
/// runs without the caller's secrets or ETCDCTL_* variables, in a 0700 staging directory.
#[test]
fn restore_gives_each_member_its_own_data_dir_and_etcdctl_no_secrets() {
    let tmp = rackpipe_testkit::temp_dir();
    let snap = fake_snapshot_with_manifest(tmp.path());
    let report = tmp.path().join("report");
    std::fs::create_dir(&report).unwrap();
    let etcdctl = tmp.path().join("etcdctl");
    script(
        &etcdctl,
        &format!(
            "prev=; for a in \"$@\"; do case \"$prev\" in --name) name=$a;; --data-dir) data=$a;; esac; prev=$a; done\n\
             env > {r}/env-$name\n\
             stat -c %a \"$(dirname \"$data\")\" > {r}/staging-$name\n\
             mkdir -p \"$data/member/snap\" && echo \"$name\" > \"$data/member/name\"\n",
            r = report.display()
        ),
    );
    let data = tmp.path().join("restored");
    let out = run_leaky(
        &[
            "restore",
            "examples/rachuna-net/site.yaml",
            "--snapshot",
            snap.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("RACKPIPE_ETCDCTL", etcdctl.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dirs: Vec<String> = out.json()["data_dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    for dir in &dirs {
        let dir = std::path::Path::new(dir);
        assert_eq!(dir.parent(), Some(data.as_path()));
        let name = dir.file_name().unwrap().to_str().unwrap();
        let restored = std::fs::read_to_string(dir.join("member/name")).unwrap();
        assert_eq!(restored.trim(), name, "each member's own data");
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{name}'s data dir (the stand-in made it 0755)");
        }
        assert_clean_env(&report.join(format!("env-{name}")));
        let staging = std::fs::read_to_string(report.join(format!("staging-{name}"))).unwrap();
        assert_eq!(staging.trim(), "700", "staging dir of {name}");
    }
}

/// The drill's throwaway etcd: its work directory is 0700 and its log 0600 under umask 022
/// (before: 0755 and 0644 in /tmp, readable by every local user, with every Secret in the
/// restored data), it inherits none of the caller's secrets, and the directory is removed.
#[test]
fn the_drill_is_private_and_its_etcd_inherits_no_secrets() {
    let tmp = rackpipe_testkit::temp_dir();
    let snap = fake_snapshot_with_manifest(tmp.path());
    let report = tmp.path().join("report");
    let work = tmp.path().join("tmp");
    std::fs::create_dir(&report).unwrap();
    std::fs::create_dir(&work).unwrap();
    let etcdctl = tmp.path().join("etcdctl");
    script(
        &etcdctl,
        "prev=; for a in \"$@\"; do [ \"$prev\" = --data-dir ] && data=$a; prev=$a; done\n\
         mkdir -p \"$data/member/snap\"\n",
    );
    let etcd = tmp.path().join("etcd");
    script(
        &etcd,
        &format!(
            "prev=; for a in \"$@\"; do [ \"$prev\" = --data-dir ] && data=$a; prev=$a; done\n\
             env > {r}/env-etcd\n\
             drill=$(dirname \"$data\")\n\
             stat -c %a \"$drill\" > {r}/drill-dir\n\
             stat -c %a \"$drill/etcd.log\" > {r}/drill-log\n\
             echo 'fake etcd stops here' >&2; exit 3\n",
            r = report.display()
        ),
    );
    let out = run_leaky(
        &["drill", snap.to_str().unwrap()],
        &[
            ("RACKPIPE_ETCDCTL", etcdctl.to_str().unwrap()),
            ("RACKPIPE_ETCD", etcd.to_str().unwrap()),
            ("TMPDIR", work.to_str().unwrap()),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("fake etcd stops here"),
        "{}",
        out.stderr
    );
    assert_clean_env(&report.join("env-etcd"));
    let read = |f: &str| std::fs::read_to_string(report.join(f)).unwrap();
    assert_eq!(read("drill-dir").trim(), "700");
    assert_eq!(read("drill-log").trim(), "600");
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "the drill's directory is removed"
    );
}
