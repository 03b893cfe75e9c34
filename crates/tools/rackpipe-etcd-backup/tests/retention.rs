//! Retention over a synthetic set of 60 dated snapshots (with manifests) in a temp dir.

use std::path::Path;

use jiff::{Timestamp, ToSpan};
use rackpipe_etcd_backup::manifest::{Compression, MANIFEST_KIND, Manifest};
use rackpipe_etcd_backup::{Document, SnapshotList, State, list, prune};

use crate::common::assert_matches_schema;

use rackpipe_model::kubernetes::Retention;
use sha2::{Digest, Sha256};

/// A minimal well-formed snapshot: one bbolt-looking page plus etcd's SHA-256 trailer.
fn fake_snapshot(seed: u8) -> Vec<u8> {
    let mut body = vec![seed; 4096];
    body[16..20].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    body[20..24].copy_from_slice(&2u32.to_le_bytes());
    body[24..28].copy_from_slice(&4096u32.to_le_bytes());
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);
    body
}

fn write_snapshot(dir: &Path, time: Timestamp, revision: i64) -> String {
    let bytes = fake_snapshot(revision as u8);
    let name = format!("etcd-{}-r{revision}.db", time.strftime("%Y%m%dT%H%M%SZ"));
    std::fs::write(dir.join(&name), &bytes).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    let m = Manifest {
        api_version: "rackpipe/v1".into(),
        kind: MANIFEST_KIND.into(),
        file: name.clone(),
        cluster_id: "1".into(),
        member_id: "2".into(),
        endpoint: "https://127.0.0.1:2379".into(),
        etcd_version: "3.4.23".into(),
        revision,
        revision_after: revision,
        key_count: Some(1),
        raft_index: 1,
        raft_term: 1,
        db_size: 4096,
        snapshot_size: bytes.len() as u64,
        snapshot_sha256: sha.clone(),
        file_size: bytes.len() as u64,
        sha256: sha,
        compression: Compression::None,
        started_at: time,
        finished_at: time,
        tool: "etcd-backup".into(),
        tool_version: "0".into(),
    };
    m.write_atomic(&Manifest::path_for(&dir.join(&name)))
        .unwrap();
    name
}

fn day(name: &str) -> String {
    // etcd-20261030T020000Z-r60.db -> 2026-10-30
    let d = &name[5..13];
    format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8])
}

#[test]
fn sixty_daily_snapshots_keep_exactly_the_policy() {
    let tmp = rackpipe_testkit::temp_dir();
    let dir = tmp.path();
    // One snapshot a day at 02:00 UTC, 2026-09-01 .. 2026-10-30 (60 days).
    let first: Timestamp = "2026-09-01T02:00:00Z".parse().unwrap();
    let mut names = Vec::new();
    for i in 0..60i64 {
        let t = first.checked_add((i * 24).hours()).unwrap();
        names.push(write_snapshot(dir, t, i + 1));
    }
    assert_eq!(day(names.last().unwrap()), "2026-10-30");
    // The newest seven are corrupt: the newest *verified* one is 2026-10-23.
    for name in &names[53..] {
        let p = dir.join(name);
        let mut b = std::fs::read(&p).unwrap();
        b[100] ^= 0xff;
        std::fs::write(&p, b).unwrap();
    }
    // Things prune must never touch.
    std::fs::write(dir.join("orphan-without-manifest.db"), fake_snapshot(1)).unwrap();
    std::fs::write(dir.join(".etcd-backup-1-2-3.partial"), b"half").unwrap();

    let policy = Retention {
        keep_last: 3,
        daily: 7,
        weekly: 4,
        monthly: 3,
    };
    let plan = prune(dir, &policy, false).unwrap();
    assert_matches_schema(&Document::new(plan.clone()));
    assert_eq!(plan.decisions.len(), 60);
    assert!(plan.deleted.is_empty());
    let kept: Vec<String> = plan
        .decisions
        .iter()
        .filter(|d| d.keep)
        .map(|d| day(&d.id))
        .collect();
    // daily: Oct 30..24; weekly (ISO, Mon-Sun): Oct 30, 25, 18, 11; monthly: Oct 30, Sep 30;
    // newest verified: Oct 23.
    assert_eq!(
        kept,
        [
            "2026-10-30",
            "2026-10-29",
            "2026-10-28",
            "2026-10-27",
            "2026-10-26",
            "2026-10-25",
            "2026-10-24",
            "2026-10-23",
            "2026-10-18",
            "2026-10-11",
            "2026-09-30",
        ]
    );
    let reasons = |d: &str| {
        plan.decisions
            .iter()
            .find(|x| day(&x.id) == d)
            .map(|x| x.reasons.clone())
            .unwrap()
    };
    assert_eq!(
        reasons("2026-10-30"),
        [
            "last",
            "daily 2026-10-30",
            "weekly 2026-W44",
            "monthly 2026-10"
        ]
    );
    assert_eq!(reasons("2026-10-23"), ["newest verified"]);
    assert_eq!(reasons("2026-09-30"), ["monthly 2026-09"]);
    assert_eq!(
        plan.newest_verified.as_deref().map(day).as_deref(),
        Some("2026-10-23")
    );
    let doc = plan.to_plan("lab");
    assert_eq!(doc.summary.delete, 49);
    // The plan deleted nothing.
    assert_eq!(list(dir, false).unwrap().len(), 62);

    let applied = prune(dir, &policy, true).unwrap();
    assert_eq!(applied.deleted.len(), 2 * 49);
    let left = list(dir, true).unwrap();
    assert_matches_schema(&Document::new(SnapshotList {
        dir: dir.to_path_buf(),
        snapshots: left.clone(),
    }));
    let states: Vec<(String, &State)> = left
        .iter()
        .map(|e| {
            (
                e.path.file_name().unwrap().to_string_lossy().into_owned(),
                &e.state,
            )
        })
        .collect();
    assert_eq!(left.len(), 11 + 2, "{states:?}");
    assert!(
        states
            .iter()
            .any(|(n, s)| n == "orphan-without-manifest.db" && **s == State::Orphan)
    );
    assert!(
        states
            .iter()
            .any(|(n, s)| n.ends_with(".partial") && **s == State::Partial)
    );
    let failed = states
        .iter()
        .filter(|(_, s)| matches!(s, State::Failed { .. }))
        .count();
    assert_eq!(failed, 7);
    let latest = rackpipe_etcd_backup::latest_verified(dir).unwrap().unwrap();
    assert_eq!(
        day(&latest.path.file_name().unwrap().to_string_lossy()),
        "2026-10-23"
    );
    // Running it again is a no-op.
    assert_eq!(prune(dir, &policy, true).unwrap().deleted.len(), 0);
}

#[test]
fn prune_refuses_an_empty_policy_and_a_missing_dir() {
    let tmp = rackpipe_testkit::temp_dir();
    let err = prune(
        tmp.path(),
        &Retention {
            keep_last: 0,
            daily: 0,
            weekly: 0,
            monthly: 0,
        },
        true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("empty retention policy"), "{err}");
    let missing = tmp.path().join("nope");
    let err = prune(
        &missing,
        &Retention {
            keep_last: 1,
            daily: 0,
            weekly: 0,
            monthly: 0,
        },
        true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// A manifest (`<snapshot>.json`) may name only the snapshot beside it. Each hostile variant
/// beside three old snapshots that the policy would prune: `list` and `prune` refuse with one
/// line naming the manifest and its `file`, and nothing anywhere is deleted, inside the
/// directory or out. Before, prune deleted whatever `file` named (`../x` was joined to the
/// directory; another snapshot or any `*.txt` beside it went too).
#[test]
fn a_manifest_naming_anything_but_its_own_snapshot_deletes_nothing() {
    let policy = Retention {
        keep_last: 1,
        daily: 0,
        weekly: 0,
        monthly: 0,
    };
    let hostile: [(&str, String); 6] = [
        ("parent", "../outside/victim.db".to_owned()),
        ("absolute", String::new()), // filled in below: the victim's absolute path
        ("directory", "sub".to_owned()),
        ("dot-dot", "..".to_owned()),
        ("sibling", String::new()), // another snapshot of the directory
        ("other file", "notes.txt".to_owned()),
    ];
    for (what, file) in hostile {
        let tmp = rackpipe_testkit::temp_dir();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let victim = outside.join("victim.db");
        std::fs::write(&victim, b"not ours").unwrap();
        let dir = tmp.path().join("backups");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("notes.txt"), b"keep me").unwrap();
        let first: Timestamp = "2026-09-01T02:00:00Z".parse().unwrap();
        let names: Vec<String> = (0..4i64)
            .map(|i| write_snapshot(&dir, first.checked_add((i * 24).hours()).unwrap(), i + 1))
            .collect();
        let file = match what {
            "absolute" => victim.display().to_string(),
            "sibling" => names[3].clone(),
            _ => file,
        };
        // The hostile manifest belongs to the oldest snapshot (the one prune would delete).
        let manifest_path = dir.join(format!("{}.json", names[0]));
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        m["file"] = file.clone().into();
        std::fs::write(&manifest_path, m.to_string()).unwrap();
        let before = tree(tmp.path());

        let err = prune(&dir, &policy, true).unwrap_err();
        let line = err.to_string();
        assert!(!line.contains('\n'), "{what}: one line: {line}");
        assert!(
            line.starts_with(&format!("{}: ", manifest_path.display()))
                && line.contains(&format!("file: \"{file}\" must be \"{}\"", names[0])),
            "{what}: {line}"
        );
        assert!(list(&dir, false).is_err(), "{what}: list refuses too");
        assert_eq!(tree(tmp.path()), before, "{what}: nothing deleted");
    }
}

/// Every file under `root` with its content.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                out.push((p.display().to_string(), Vec::new()));
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}
