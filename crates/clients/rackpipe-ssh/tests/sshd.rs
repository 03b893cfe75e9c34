//! Against a real `sshd` on loopback (skipped when OpenSSH is not installed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::Duration;

use rackpipe_ssh::testing::SshServer;
use rackpipe_ssh::{ConnectOptions, Error, HostKeyPolicy, Session};

#[tokio::test]
async fn exec_read_write_with_pinned_key() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let s = Session::connect(&server.options()).await.unwrap();

    let out = s.exec("echo out; echo err >&2; exit 3").await.unwrap();
    assert_eq!(out.status, Some(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert!(!out.success());

    let dir = server.dir().join("files");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("it's a file.cfg");
    let p = path.to_str().unwrap();
    assert_eq!(s.read_file(p).await.unwrap(), None);

    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.write_file_atomic(p, &body, 0o640).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(s.read_file(p).await.unwrap().as_deref(), Some(&body[..]));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // Overwrite keeps atomicity (new inode, same path).
    s.write_file_atomic(p, b"v2\n", 0o644).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"v2\n");

    // Missing directory: a remote error naming host and path, not transient.
    let missing = dir.join("nope/x.cfg");
    let err = s
        .write_file_atomic(missing.to_str().unwrap(), b"x", 0o644)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    assert!(!err.is_transient());
    assert!(
        err.to_string().contains("127.0.0.1:") && err.to_string().contains("nope/x.cfg"),
        "{err}"
    );
    s.close().await;
}

#[tokio::test]
async fn exec_timeout_is_transient() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let s = Session::connect(&server.options()).await.unwrap();
    let t0 = std::time::Instant::now();
    let err = s
        .exec_with("sleep 5", None, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(err, Error::Timeout { .. }) && err.is_transient(),
        "{err}"
    );
    // The session still works afterwards.
    assert!(s.exec("true").await.unwrap().success());
}

#[tokio::test]
async fn known_hosts_accepts_listed_key() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let mut o = server.options();
    o.host_key = HostKeyPolicy::KnownHosts {
        path: server.known_hosts(),
        accept_new: false,
    };
    let s = Session::connect(&o).await.unwrap();
    assert_eq!(s.exec("echo ok").await.unwrap().stdout, b"ok\n");
}

#[tokio::test]
async fn wrong_pinned_key_is_refused_naming_the_host() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let mut o = server.options();
    o.host_key =
        HostKeyPolicy::Fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into());
    let err = Session::connect(&o).await.unwrap_err();
    assert!(matches!(err, Error::HostKeyMismatch { .. }), "{err}");
    assert!(!err.is_transient());
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("127.0.0.1:{}: host key SHA256:", server.port())),
        "{msg}"
    );
    assert!(msg.contains(server.host_fingerprint()), "{msg}");
}

#[tokio::test]
async fn unknown_host_is_refused_without_tofu_and_learned_with_accept_new() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let kh = server.dir().join("empty_known_hosts");
    std::fs::write(&kh, "").unwrap();
    let mut o = server.options();
    o.host_key = HostKeyPolicy::KnownHosts {
        path: kh.clone(),
        accept_new: false,
    };
    let err = Session::connect(&o).await.unwrap_err();
    assert!(matches!(err, Error::UnknownHostKey { .. }), "{err}");
    assert!(err.to_string().contains("no trust on first use"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        "",
        "must not learn without accept_new"
    );

    o.host_key = HostKeyPolicy::KnownHosts {
        path: kh.clone(),
        accept_new: true,
    };
    Session::connect(&o).await.unwrap();
    assert!(
        std::fs::read_to_string(&kh)
            .unwrap()
            .contains(&format!("[127.0.0.1]:{}", server.port()))
    );
    // Now known: strict mode accepts it.
    o.host_key = HostKeyPolicy::KnownHosts {
        path: kh,
        accept_new: false,
    };
    Session::connect(&o).await.unwrap();
}

#[tokio::test]
async fn changed_host_key_is_refused_even_with_accept_new() {
    let Some(server) = SshServer::start() else {
        return;
    };
    // Another ed25519 key recorded for the same [host]:port.
    let other = server.dir().join("other");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let kh = server.dir().join("changed_known_hosts");
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    std::fs::write(&kh, format!("[127.0.0.1]:{} {}", server.port(), pubkey)).unwrap();
    let mut o = server.options();
    o.host_key = HostKeyPolicy::KnownHosts {
        path: kh,
        accept_new: true,
    };
    let err = Session::connect(&o).await.unwrap_err();
    assert!(
        matches!(err, Error::HostKeyChanged { line: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_client_key_is_rejected() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let other = server.dir().join("intruder");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let mut o = server.options();
    o.key_file = other;
    let err = Session::connect(&o).await.unwrap_err();
    assert!(matches!(err, Error::AuthRejected { .. }), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn unreachable_host_is_transient() {
    let port = rackpipe_testkit::free_port(); // nothing listens there
    let key = rackpipe_testkit::temp_dir();
    let key_path = key.path().join("k");
    let Some(_) = rackpipe_testkit::require_tool("ssh-keygen") else {
        return;
    };
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_path)
        .status()
        .unwrap();
    assert!(st.success());
    let o = ConnectOptions::new(
        "127.0.0.1",
        port,
        "nobody",
        &key_path,
        HostKeyPolicy::Fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into()),
    );
    let err = Session::connect(&o).await.unwrap_err();
    assert!(
        matches!(err, Error::Connect { .. }) && err.is_transient(),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("127.0.0.1:{port}: cannot connect")),
        "{err}"
    );
}

#[tokio::test]
async fn missing_key_file_names_the_file() {
    let o = ConnectOptions::new(
        "127.0.0.1",
        22,
        "nobody",
        "/nonexistent/id_ed25519",
        HostKeyPolicy::Fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into()),
    );
    let err = Session::connect(&o).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/id_ed25519: cannot load private key"),
        "{err}"
    );
}

#[tokio::test]
async fn parallel_sessions() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let o = server.options();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let o = o.clone();
            tokio::spawn(async move {
                let s = Session::connect(&o).await.unwrap();
                s.exec(&format!("echo {i}")).await.unwrap().stdout
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("{i}\n").into_bytes());
    }
}

#[tokio::test]
async fn exec_latency_is_small() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let s = Session::connect(&server.options()).await.unwrap();
    let t0 = std::time::Instant::now();
    for _ in 0..10 {
        assert!(s.exec("true").await.unwrap().success());
    }
    let per = t0.elapsed() / 10;
    eprintln!("exec round trip: {per:?}");
    assert!(per < Duration::from_secs(2), "{per:?}");
}
