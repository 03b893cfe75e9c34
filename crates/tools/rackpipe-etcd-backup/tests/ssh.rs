//! `snapshot_via_ssh` against a real 3-member mTLS etcd cluster and a real `sshd`, both on
//! loopback: `etcdctl` runs "on the master" (through sshd, as the test user) and reaches the
//! loopback etcd with the test PKI.
#![allow(clippy::print_stderr)]

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Cluster, tools};
use rackpipe_etcd_backup::{
    Error, SnapshotOptions, SshMember, SshTarget, snapshot_via_ssh, verify,
};
use rackpipe_ssh::HostKeyPolicy;
use rackpipe_ssh::testing::SshServer;
use rackpipe_testkit::Captured;
use tracing::instrument::WithSubscriber as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// An `etcdctl` wrapper that logs every call and, depending on a mode file, breaks
/// `snapshot save`: `fail` leaves a partial file and exits 1, `truncate` saves then cuts the
/// file short (a broken stream), anything else runs the real `etcdctl`.
struct Etcdctl {
    script: PathBuf,
    log: PathBuf,
    mode: PathBuf,
}

impl Etcdctl {
    fn new(dir: &Path) -> Self {
        let real = rackpipe_testkit::which("etcdctl").expect("etcdctl");
        let log = dir.join("etcdctl.log");
        let mode = dir.join("etcdctl.mode");
        let script = dir.join("etcdctl-wrapper");
        let text = format!(
            r#"#!/bin/sh
echo "$*" >> '{log}'
mode=$(cat '{mode}' 2>/dev/null || true)
case "$*" in
  *"snapshot save"*)
    for last; do :; done
    case "$mode" in
      fail) echo partial > "$last"; echo '{{"level":"info","msg":"created temporary db file"}}' >&2;
            echo 'Error: etcdserver: request timed out, simulated' >&2; exit 1 ;;
      truncate) '{real}' "$@" || exit $?; truncate -s 4096 "$last"; exit 0 ;;
    esac ;;
esac
exec '{real}' "$@"
"#,
            log = log.display(),
            mode = mode.display(),
            real = real.display(),
        );
        std::fs::write(&script, text).expect("write wrapper");
        let status = std::process::Command::new("chmod")
            .arg("755")
            .arg(&script)
            .status()
            .expect("chmod");
        assert!(status.success());
        Self { script, log, mode }
    }

    fn set_mode(&self, mode: &str) {
        std::fs::write(&self.mode, mode).expect("mode");
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn target(
    cluster: &Cluster,
    etcdctl: &Etcdctl,
    remote_tmp: &Path,
    members: Vec<SshMember>,
) -> SshTarget {
    let mut t = SshTarget::new(members);
    t.etcdctl = etcdctl.script.display().to_string();
    // "The master's own member": the first etcd; status, save and count all go to it.
    t.endpoint = cluster.nodes[0].client_url.clone();
    t.tls = cluster.pki.client();
    t.remote_tmp = remote_tmp.display().to_string();
    t.command_timeout = Duration::from_secs(20);
    t.save_timeout = Duration::from_secs(60);
    t.idle_timeout = Duration::from_secs(20);
    t
}

fn member(name: &str, server: &SshServer) -> SshMember {
    let mut ssh = server.options();
    ssh.connect_timeout = Duration::from_secs(5);
    SshMember {
        name: name.to_owned(),
        ssh,
    }
}

/// A member whose SSH port has nothing listening.
fn dead_member(name: &str, server: &SshServer) -> SshMember {
    let mut m = member(name, server);
    m.ssh.port = rackpipe_testkit::free_port();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_over_ssh() {
    if !tools() || rackpipe_testkit::require_tool("sshd").is_none() {
        return;
    }
    let Some(server) = SshServer::start() else {
        return;
    };
    let cluster = Cluster::start(3).await;
    let mut client = cluster.client().await.expect("client");
    for i in 0..200 {
        client
            .put(format!("/ssh/{i:03}"), "v".repeat(100 + i), None)
            .await
            .expect("put");
    }
    let revision = client
        .put("/marker", "ssh", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    let status = client.status().await.expect("status");
    let header = status.header().expect("header");
    let (cluster_id, first_member) = (header.cluster_id(), header.member_id());

    let work = cluster.tmp.path();
    let etcdctl = Etcdctl::new(work);
    let remote_tmp = work.join("remote-tmp");
    std::fs::create_dir_all(&remote_tmp).unwrap();
    let dest = work.join("backups");

    // 1. The first master's SSH is down: the second one is used. The snapshot verifies and its
    //    manifest has etcd's revision, ids and key count.
    let t = target(
        &cluster,
        &etcdctl,
        &remote_tmp,
        vec![dead_member("m1", &server), member("m2", &server)],
    );
    //    Progress (issue 17): a line when etcdctl starts on the master used, then the bytes
    //    streamed, the last with the snapshot's size as its total.
    let progress = Captured::default();
    let sink = progress.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_filter(filter_fn(|m| m.target() == "progress")),
    );
    let snap = snapshot_via_ssh(&t, &dest, &SnapshotOptions::default())
        .with_subscriber(subscriber)
        .await
        .expect("snapshot over ssh");
    let m = &snap.manifest;
    let text = progress.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"progress: step=etcdctl snapshot save on m2 (via ssh)"),
        "{text}"
    );
    assert_eq!(
        lines.last().copied(),
        Some(
            format!(
                "progress: step=etcd snapshot from m2 via ssh done={size} total={size} unit=\"bytes\"",
                size = m.snapshot_size
            )
            .as_str()
        ),
        "{text}"
    );
    // In between, the bytes so far without a total, growing; nothing about the dead m1.
    let streamed: Vec<u64> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| {
            l.strip_prefix("progress: step=etcd snapshot from m2 via ssh done=")
                .and_then(|rest| rest.strip_suffix(" unit=\"bytes\""))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected progress line {l:?} in {text}"))
        })
        .collect();
    assert!(!streamed.is_empty(), "{text}");
    assert!(streamed.is_sorted() && streamed[0] > 0, "{text}");
    assert_eq!(streamed.last(), Some(&m.snapshot_size), "{text}");
    assert_eq!(m.revision, revision, "manifest revision = etcd's");
    assert_eq!(m.revision_after, revision);
    assert_eq!(m.key_count, Some(200 + 2), "200 /ssh keys, /ready, /marker");
    assert_eq!(m.cluster_id, format!("{cluster_id:x}"));
    // The endpoint asked is the first etcd node; the status we asked went to the first
    // running member, which is the same one.
    assert_eq!(m.member_id, format!("{first_member:x}"));
    assert_eq!(m.sha256, m.snapshot_sha256);
    assert!(
        m.endpoint.starts_with(&format!(
            "ssh://{}@127.0.0.1:{} -> https://",
            server.user(),
            server.port()
        )),
        "{}",
        m.endpoint
    );
    let v = verify(&snap.path).expect("verify");
    assert!(v.manifest_checked);
    let on_disk = rackpipe_etcd_backup::Manifest::read(&snap.manifest_path).unwrap();
    assert_eq!(&on_disk, m);
    assert_eq!(entries(&dest).len(), 2, "{:?}", entries(&dest));
    assert!(
        entries(&remote_tmp).is_empty(),
        "remote temp left: {:?}",
        entries(&remote_tmp)
    );
    // etcdctl agrees on the revision of the file we got.
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(&snap.path)
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(st["revision"].as_i64(), Some(revision));
    assert!(etcdctl.calls().iter().any(|c| c.contains("snapshot save")));

    // 2. zstd, through the same writer: verifies, same revision.
    let z = snapshot_via_ssh(
        &target(&cluster, &etcdctl, &remote_tmp, vec![member("m1", &server)]),
        &dest,
        &SnapshotOptions {
            zstd_level: Some(3),
            prefix: "lab".into(),
            ..SnapshotOptions::default()
        },
    )
    .await
    .expect("zstd snapshot over ssh");
    assert!(
        z.path
            .to_string_lossy()
            .ends_with(&format!("-r{revision}.db.zst"))
    );
    verify(&z.path).expect("verify zstd");
    assert_eq!(z.manifest.snapshot_size, m.snapshot_size);
    assert_eq!(entries(&dest).len(), 4);

    // 3. A wrong host key is refused before any command runs; nothing is written.
    etcdctl.clear_log();
    let dest2 = work.join("backups-hostkey");
    let mut wrong = member("m1", &server);
    wrong.ssh.host_key =
        HostKeyPolicy::Fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into());
    let err = snapshot_via_ssh(
        &target(&cluster, &etcdctl, &remote_tmp, vec![wrong]),
        &dest2,
        &SnapshotOptions::default(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(!err.is_transient(), "{text}");
    assert!(
        text.contains(&format!("m1: 127.0.0.1:{}: host key", server.port()))
            && text.contains("does not match the pinned fingerprint"),
        "{text}"
    );
    assert!(!text.contains('\n'));
    assert!(etcdctl.calls().is_empty(), "ran: {:?}", etcdctl.calls());
    assert!(entries(&dest2).is_empty(), "{:?}", entries(&dest2));
    // Unknown host (empty known_hosts): refused too, no trust on first use.
    let empty_known = work.join("empty_known_hosts");
    std::fs::write(&empty_known, "").unwrap();
    let mut unknown = member("m1", &server);
    unknown.ssh.host_key = HostKeyPolicy::KnownHosts {
        path: empty_known,
        accept_new: false,
    };
    let err = snapshot_via_ssh(
        &target(&cluster, &etcdctl, &remote_tmp, vec![unknown]),
        &dest2,
        &SnapshotOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("is unknown"), "{err}");
    assert!(etcdctl.calls().is_empty());
    assert!(entries(&dest2).is_empty());

    // 4. etcdctl fails on the master (after writing part of a file): one line naming the
    //    member, host and step; no file here, the remote temp directory is gone.
    etcdctl.set_mode("fail");
    let dest3 = work.join("backups-fail");
    let err = snapshot_via_ssh(
        &target(&cluster, &etcdctl, &remote_tmp, vec![member("m1", &server)]),
        &dest3,
        &SnapshotOptions::default(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "m1: 127.0.0.1:{}: etcdctl snapshot save: exit 91: Error: etcdserver: request timed out",
            server.port()
        )),
        "{text}"
    );
    assert!(
        err.is_transient(),
        "a timed-out member is worth retrying: {text}"
    );
    assert!(entries(&dest3).is_empty(), "{:?}", entries(&dest3));
    assert!(
        entries(&remote_tmp).is_empty(),
        "remote temp left: {:?}",
        entries(&remote_tmp)
    );

    // 5. A broken stream (the saved file is cut short) is a member error: nothing under a
    //    final name, no temp file, remote cleaned up.
    etcdctl.set_mode("truncate");
    let err = snapshot_via_ssh(
        &target(&cluster, &etcdctl, &remote_tmp, vec![member("m1", &server)]),
        &dest3,
        &SnapshotOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::AllEndpointsFailed { attempts } if matches!(attempts[0], Error::Stream { .. })),
        "{err}"
    );
    assert!(entries(&dest3).is_empty(), "{:?}", entries(&dest3));
    assert!(
        entries(&remote_tmp).is_empty(),
        "{:?}",
        entries(&remote_tmp)
    );
    etcdctl.set_mode("");

    // 6. Every master unreachable: transient (the CLI exits 75), nothing left.
    let err = snapshot_via_ssh(
        &target(
            &cluster,
            &etcdctl,
            &remote_tmp,
            vec![dead_member("m1", &server), dead_member("m2", &server)],
        ),
        &dest3,
        &SnapshotOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("no etcd member gave a snapshot: m1: 127.0.0.1:")
            && text.contains("; m2: 127.0.0.1:")
            && text.contains("cannot connect"),
        "{text}"
    );
    assert!(entries(&dest3).is_empty());
}
