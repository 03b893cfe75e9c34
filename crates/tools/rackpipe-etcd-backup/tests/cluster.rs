//! Against a real 3-member mTLS etcd cluster on loopback.
#![allow(clippy::print_stderr)]

use crate::common;

use std::path::Path;

use common::{Cluster, assert_matches_schema, start_restored, tools};
use etcd_client::GetOptions;
use rackpipe_etcd_backup::{Document, Error, RestoreResult, SnapshotOptions, snapshot, verify};

async fn fill(cluster: &Cluster, n: usize) -> i64 {
    let mut c = cluster.client().await.expect("client");
    for i in 0..n {
        c.put(
            format!("/data/{i:04}"),
            format!("value-{i}-{}", "x".repeat(i % 200)),
            None,
        )
        .await
        .expect("put");
    }
    for i in (0..n).step_by(10) {
        c.delete(format!("/data/{i:04}"), None)
            .await
            .expect("delete");
    }
    c.put("/marker", "last", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_verify_restore_and_damage() {
    if !tools() {
        return;
    }
    let cluster = Cluster::start(3).await;
    let revision = fill(&cluster, 300).await;
    let dest = cluster.tmp.path().join("backups");

    // Raw snapshot: manifest matches the cluster, file verifies.
    let snap = snapshot(&cluster.target(), &dest, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    let m = &snap.manifest;
    assert_eq!(m.revision, revision);
    assert_eq!(m.revision_after, revision);
    assert_eq!(
        m.key_count,
        Some(300 - 30 + 2),
        "keys: 270 /data, /ready, /marker"
    );
    assert_eq!(m.sha256, m.snapshot_sha256);
    assert!(
        snap.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with(&format!("-r{revision}.db"))
    );
    let on_disk: rackpipe_etcd_backup::Manifest =
        serde_json::from_slice(&std::fs::read(&snap.manifest_path).unwrap()).unwrap();
    assert_eq!(&on_disk, m);
    assert_matches_schema(&on_disk);
    let v = verify(&snap.path).expect("verify raw");
    assert!(v.manifest_checked);
    assert_matches_schema(&Document::new(v));
    // Private whatever the umask: the snapshot holds every Secret of the cluster.
    assert_eq!(
        [mode(&dest), mode(&snap.path), mode(&snap.manifest_path)],
        [0o700, 0o600, 0o600],
        "destination dir, snapshot, manifest"
    );
    assert_eq!(
        dir_entries(&dest).len(),
        2,
        "snapshot + manifest, no temp files: {:?}",
        dir_entries(&dest)
    );

    // zstd snapshot verifies too; etcdctl agrees with the raw one.
    let opts = SnapshotOptions {
        zstd_level: Some(3),
        prefix: "lab".into(),
        ..SnapshotOptions::default()
    };
    let z = snapshot(&cluster.target(), &dest, &opts)
        .await
        .expect("zstd snapshot");
    assert!(z.path.to_string_lossy().ends_with(".db.zst"));
    assert_eq!(
        z.manifest.compression,
        rackpipe_etcd_backup::Compression::Zstd
    );
    verify(&z.path).expect("verify zstd");
    let status = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(&snap.path)
        .output()
        .unwrap();
    let status: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("etcdctl snapshot status json");
    assert_eq!(status["revision"].as_i64(), Some(revision));

    // A flipped byte and a truncated copy are both rejected, naming the file.
    let bytes = std::fs::read(&snap.path).unwrap();
    let flipped = dest.join("flipped.db");
    let mut b = bytes.clone();
    b[bytes.len() / 2] ^= 0x01;
    std::fs::write(&flipped, &b).unwrap();
    let err = verify(&flipped).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("flipped.db"), "{err}");
    // With the manifest copied beside it, a flipped byte is still corrupt.
    std::fs::copy(&snap.manifest_path, dest.join("flipped.db.json")).unwrap();
    let mut mf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("flipped.db.json")).unwrap()).unwrap();
    mf["file"] = "flipped.db".into();
    std::fs::write(dest.join("flipped.db.json"), mf.to_string()).unwrap();
    assert!(matches!(
        verify(&flipped).unwrap_err(),
        Error::Corrupt { .. }
    ));

    let truncated = dest.join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() - 5000]).unwrap();
    let err = verify(&truncated).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    // Truncated against its manifest: the size gives it away first.
    mf["file"] = "truncated.db".into();
    std::fs::write(dest.join("truncated.db.json"), mf.to_string()).unwrap();
    let err = verify(&truncated).unwrap_err();
    assert!(
        matches!(err, Error::Truncated { .. }) && err.to_string().contains("manifest says"),
        "{err}"
    );

    let zbytes = std::fs::read(&z.path).unwrap();
    let ztrunc = dest.join("ztrunc.db.zst");
    std::fs::write(&ztrunc, &zbytes[..zbytes.len() * 2 / 3]).unwrap();
    let err = verify(&ztrunc).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");

    // Restore from the compressed snapshot into a fresh data dir; every key and the revision
    // come back.
    let data_dir = cluster.tmp.path().join("restored");
    let peer = format!("http://127.0.0.1:{}", rackpipe_testkit::free_port());
    let plan = rackpipe_etcd_backup::restore::RestorePlan {
        members: vec![rackpipe_etcd_backup::restore::RestoreMember {
            name: "r1".into(),
            peer_url: peer.clone(),
            data_dir: data_dir.clone(),
        }],
        cluster_token: "restored".into(),
    };
    let data_dirs = rackpipe_etcd_backup::restore::restore(&z.path, &plan).expect("restore");
    assert_matches_schema(&Document::new(RestoreResult {
        snapshot: z.path.clone(),
        data_dirs,
    }));
    assert!(data_dir.join("member/snap/db").is_file());
    assert_eq!(mode(&data_dir), 0o700, "the restored data dir is private");
    let err = rackpipe_etcd_backup::restore::restore(&z.path, &plan).unwrap_err();
    assert!(matches!(err, Error::TargetNotEmpty { .. }), "{err}");
    // A corrupt snapshot is refused before etcdctl runs, and leaves nothing behind.
    let plan_bad = rackpipe_etcd_backup::restore::RestorePlan {
        members: vec![rackpipe_etcd_backup::restore::RestoreMember {
            name: "r2".into(),
            peer_url: peer.clone(),
            data_dir: cluster.tmp.path().join("restored-bad"),
        }],
        cluster_token: "restored".into(),
    };
    assert!(matches!(
        rackpipe_etcd_backup::restore::restore(&flipped, &plan_bad).unwrap_err(),
        Error::Corrupt { .. }
    ));
    assert!(!cluster.tmp.path().join("restored-bad").exists());
    assert!(
        !dir_entries(cluster.tmp.path())
            .iter()
            .any(|n| n.ends_with(".restore") || n.ends_with(".partial")),
        "temp dirs left: {:?}",
        dir_entries(cluster.tmp.path())
    );

    let (_guard, url) = start_restored(&data_dir, "r1", &peer);
    let target = rackpipe_etcd_backup::Target::new(vec![url.clone()], None);
    let mut client = None;
    for _ in 0..100 {
        if let Ok(mut c) = rackpipe_etcd_backup::connect(&url, &target).await
            && c.get("/marker", None).await.is_ok()
        {
            client = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut restored = client.expect("restored member answers");
    let mut original = cluster.client().await.unwrap();
    let a = original
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .unwrap();
    let b = restored
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .unwrap();
    assert_eq!(b.header().unwrap().revision(), revision);
    let kv = |r: &etcd_client::GetResponse| -> Vec<(Vec<u8>, Vec<u8>, i64)> {
        r.kvs()
            .iter()
            .map(|kv| (kv.key().to_vec(), kv.value().to_vec(), kv.mod_revision()))
            .collect()
    };
    assert_eq!(kv(&a), kv(&b));
    assert_eq!(b.kvs().len(), 272);

    // The drill does the same on its own throwaway member.
    let report = rackpipe_etcd_backup::drill::drill(
        &z.path,
        &rackpipe_etcd_backup::drill::DrillOptions::default(),
    )
    .await
    .expect("drill");
    assert_eq!(report.restored_revision, revision);
    assert_eq!(report.restored_key_count, 272);
    assert_matches_schema(&Document::new(report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_down_then_all_down() {
    if !tools() {
        return;
    }
    let mut cluster = Cluster::start(3).await;
    let revision = fill(&cluster, 20).await;
    let dest = cluster.tmp.path().join("backups");

    // The first endpoint is down: the next member delivers.
    cluster.nodes[0].guard.kill();
    let snap = snapshot(&cluster.target(), &dest, &SnapshotOptions::default())
        .await
        .expect("snapshot with m1 down");
    assert_eq!(snap.manifest.endpoint, cluster.nodes[1].client_url);
    assert!(snap.manifest.revision >= revision);
    verify(&snap.path).expect("verify");

    // m2 hangs (SIGSTOP: TCP accepts, TLS never answers) and m3 is alone without quorum:
    // m2 times out and m3 still delivers a complete snapshot and manifest.
    let signal = |sig: &str, pid: u32| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP", cluster.nodes[1].guard.id());
    let opts = SnapshotOptions {
        prefix: "degraded".into(),
        ..SnapshotOptions::default()
    };
    let snap = snapshot(&cluster.target(), &dest, &opts)
        .await
        .expect("snapshot from the last member standing");
    assert_eq!(snap.manifest.endpoint, cluster.nodes[2].client_url);
    assert!(snap.manifest.key_count.is_some());
    verify(&snap.path).expect("verify");
    // The job's overall timeout: only the hung member, 1 s allowed. Transient, nothing left.
    let before = dir_entries(&dest);
    let mut hung = cluster.target();
    hung.endpoints = vec![cluster.nodes[1].client_url.clone()];
    hung.connect_timeout = std::time::Duration::from_secs(10);
    let opts = SnapshotOptions {
        timeout: Some(std::time::Duration::from_secs(1)),
        ..SnapshotOptions::default()
    };
    let err = snapshot(&hung, &dest, &opts).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { .. }) && err.is_transient(),
        "{err}"
    );
    assert_eq!(dir_entries(&dest), before);
    signal("-CONT", cluster.nodes[1].guard.id());
    let before = dir_entries(&dest);

    // Everyone down: a transient error naming every endpoint, and nothing new in dest.
    cluster.nodes[1].guard.kill();
    cluster.nodes[2].guard.kill();
    let err = snapshot(&cluster.target(), &dest, &SnapshotOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let text = err.to_string();
    for node in &cluster.nodes {
        assert!(text.contains(&node.client_url), "{text}");
    }
    assert_eq!(dir_entries(&dest), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_named_and_leaves_nothing() {
    if !tools() {
        return;
    }
    let cluster = Cluster::start(1).await;
    let dest = cluster.tmp.path().join("backups");
    let ep = cluster.nodes[0].client_url.clone();

    // Wrong CA: we do not trust the server.
    let mut t = cluster.target();
    let mut tls = cluster.pki.client();
    tls.ca = cluster.pki.path("otherca.crt");
    t.tls = Some(tls);
    let err = snapshot(&t, &dest, &SnapshotOptions::default())
        .await
        .unwrap_err();
    eprintln!("wrong CA: {err}");
    assert!(!err.is_transient(), "{err}");
    assert!(
        err.to_string().contains(&ep) && err.to_string().contains("TLS"),
        "{err}"
    );

    // Client certificate from another CA: the server refuses us.
    let mut t = cluster.target();
    let mut tls = cluster.pki.client();
    tls.cert = cluster.pki.path("rogue.crt");
    tls.key = cluster.pki.path("rogue.key");
    t.tls = Some(tls);
    let err = snapshot(&t, &dest, &SnapshotOptions::default())
        .await
        .unwrap_err();
    eprintln!("rogue client cert: {err}");
    assert!(!err.is_transient(), "{err}");
    assert!(
        err.to_string().contains(&ep) && err.to_string().contains("TLS"),
        "{err}"
    );

    // An HTTPS server that is not etcd (openssl s_server with the same cert).
    let port = rackpipe_testkit::free_port();
    let child = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(port.to_string())
        .arg("-cert")
        .arg(cluster.pki.path("server.crt"))
        .arg("-key")
        .arg(cluster.pki.path("server.key"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = rackpipe_testkit::ChildGuard::new("s_server", child);
    assert!(rackpipe_testkit::wait_until(
        std::time::Duration::from_secs(5),
        || { std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() }
    ));
    let not_etcd = format!("https://127.0.0.1:{port}");
    let mut t = cluster.target();
    t.endpoints = vec![not_etcd.clone()];
    let err = snapshot(&t, &dest, &SnapshotOptions::default())
        .await
        .unwrap_err();
    eprintln!("not etcd: {err}");
    assert!(!err.is_transient(), "{err}");
    assert!(
        err.to_string().contains(&not_etcd) && err.to_string().contains("not an etcd"),
        "{err}"
    );

    // Destination not writable (a path below a regular file).
    let file = cluster.tmp.path().join("plainfile");
    std::fs::write(&file, "x").unwrap();
    let err = snapshot(
        &cluster.target(),
        &file.join("sub"),
        &SnapshotOptions::default(),
    )
    .await
    .unwrap_err();
    eprintln!("not writable: {err}");
    assert!(matches!(err, Error::NotWritable { .. }), "{err}");
    assert!(err.to_string().contains("plainfile"), "{err}");

    // Missing client key file.
    let mut t = cluster.target();
    let mut tls = cluster.pki.client();
    tls.key = cluster.pki.path("nope.key");
    t.tls = Some(tls);
    let err = snapshot(&t, &dest, &SnapshotOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope.key"), "{err}");

    assert_eq!(
        dir_entries(&dest),
        Vec::<String>::new(),
        "nothing partial left"
    );
}

/// A TCP proxy in front of `upstream` that forwards the server's first `limit` bytes and then
/// cuts both directions: a member dying in the middle of the stream.
async fn cutting_proxy(upstream: String, limit: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let mut sent = 0usize;
                let mut buf = vec![0u8; 16 * 1024];
                while sent < limit {
                    match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let n = n.min(limit - sent);
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            sent += n;
                        }
                    }
                }
                up.abort();
            });
        }
    });
    format!("https://127.0.0.1:{}", addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_dying_mid_stream_falls_over_to_the_next() {
    if !tools() {
        return;
    }
    let cluster = Cluster::start(1).await;
    let mut c = cluster.client().await.unwrap();
    for i in 0..64 {
        c.put(format!("/big/{i}"), vec![i as u8; 32 * 1024], None)
            .await
            .unwrap();
    }
    let member = cluster.nodes[0]
        .client_url
        .trim_start_matches("https://")
        .to_owned();
    // Enough for TLS, HTTP/2 and the status calls, then cut inside the ~2 MB stream.
    let broken = cutting_proxy(member, 512 * 1024).await;
    let dest = cluster.tmp.path().join("backups");

    let mut target = cluster.target();
    target.endpoints = vec![broken.clone()];
    let err = snapshot(&target, &dest, &SnapshotOptions::default())
        .await
        .unwrap_err();
    eprintln!("cut mid-stream: {err}");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(&broken), "{err}");
    assert_eq!(dir_entries(&dest), Vec::<String>::new(), "no partial file");

    target.endpoints = vec![broken, cluster.nodes[0].client_url.clone()];
    let snap = snapshot(&target, &dest, &SnapshotOptions::default())
        .await
        .expect("second member delivers");
    assert_eq!(snap.manifest.endpoint, cluster.nodes[0].client_url);
    assert!(snap.manifest.snapshot_size > 2 * 1024 * 1024);
    verify(&snap.path).unwrap();
    assert_eq!(dir_entries(&dest).len(), 2);
}
