//! `backup` over SFTP: the RouterOS REST simulator (in-process, 127.0.0.1) saves the files and
//! lists them in `/file`; a real OpenSSH `sshd` on loopback serves them over SFTP.
//!
//! The simulator has no SSH server, so each test puts files of the names the backup will ask
//! for (a fixed time stamp) into the sshd's SFTP directory beforehand, with content that
//! differs from what the simulator would serve over REST: a byte-identical download of the
//! sshd's file proves the bytes came over SFTP, and the emptied `/file` shows that the REST
//! side found and removed the router's files. Skipped without OpenSSH (fails in CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::Duration;

use rackpipe_ros_render::backup::{BackupOptions, Transfer, backup_with};
use rackpipe_ros_render::{Connection, Password, RestClient, Trust};
use rackpipe_ros_sim::{SimConfig, Simulator};
use rackpipe_ssh::HostKeyPolicy;
use rackpipe_ssh::testing::SshServer;
use sha2::{Digest as _, Sha256};

const PASSWORD: &str = "sim-password";
const STAMP: &str = "20260102T030405Z";

fn client_for(sim: &Simulator) -> RestClient {
    RestClient::new(&Connection {
        url: sim.base_url(),
        user: "admin".to_owned(),
        password: Password::new(PASSWORD),
        trust: Trust::LoopbackHttp,
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

/// Pseudo-random (incompressible) bytes.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn options(server: &SshServer) -> BackupOptions {
    BackupOptions {
        transfer: Transfer::Sftp(server.options()),
        stamp: Some(STAMP.to_owned()),
        password: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_backup_downloads_both_files_byte_identical() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let client = client_for(&sim);
    let export = b"# exported over sftp\n/interface bridge add name=br-sftp\n".to_vec();
    let binary = random_bytes(4 * 1024 * 1024 + 17, seed());
    let root = server.sftp_root();
    std::fs::write(root.join(format!("rackpipe-{STAMP}.rsc")), &export).unwrap();
    std::fs::write(root.join(format!("rackpipe-{STAMP}.backup")), &binary).unwrap();

    let dir = rackpipe_testkit::temp_dir();
    let out = dir.path().join("backups");
    let result = backup_with("t", "router one", &client, &out, &options(&server))
        .await
        .unwrap();

    assert_eq!(result.files.len(), 2);
    assert!(
        result.files[0]
            .path
            .ends_with(&format!("router_one-{STAMP}.rsc"))
    );
    assert!(
        result.files[1]
            .path
            .ends_with(&format!("router_one-{STAMP}.backup"))
    );
    for (file, expected) in result.files.iter().zip([&export, &binary]) {
        let got = std::fs::read(&file.path).unwrap();
        assert!(
            &got == expected,
            "{} differs from the sshd's file",
            file.path
        );
        assert_eq!(file.bytes, expected.len());
        assert_eq!(file.sha256, hex::encode(Sha256::digest(expected)));
    }
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(
        sums,
        format!(
            "{}  router_one-{STAMP}.rsc\n{}  router_one-{STAMP}.backup\n",
            result.files[0].sha256, result.files[1].sha256
        )
    );
    // No temp files left behind.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "SHA256SUMS".to_owned(),
            format!("router_one-{STAMP}.backup"),
            format!("router_one-{STAMP}.rsc"),
        ]
    );
    // The router's files were found and removed over REST.
    let files = client.list("/file").await.unwrap();
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_backup_refuses_a_wrong_host_key_before_saving_anything() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let client = client_for(&sim);
    let mut ssh = server.options();
    ssh.host_key =
        HostKeyPolicy::Fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into());
    let dir = rackpipe_testkit::temp_dir();
    let err = backup_with(
        "t",
        "r",
        &client,
        dir.path(),
        &BackupOptions {
            transfer: Transfer::Sftp(ssh),
            stamp: Some(STAMP.to_owned()),
            password: None,
        },
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("sftp://127.0.0.1:{}: host key", server.port())),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    assert!(!err.is_transient());
    // The router was not asked to save anything and nothing was written locally.
    assert!(client.list("/file").await.unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_backup_missing_remote_file_names_host_and_path() {
    let Some(server) = SshServer::start() else {
        return;
    };
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let client = client_for(&sim);
    // Nothing placed in the sshd's directory: the router "saved" a file SFTP cannot find.
    let dir = rackpipe_testkit::temp_dir();
    let err = backup_with("t", "r", &client, dir.path(), &options(&server))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "sftp://127.0.0.1:{}: rackpipe-{STAMP}.rsc: cannot open over sftp: No such file",
            server.port()
        )
    );
    assert!(!err.is_transient());
    // The router's file is removed although the download failed; no partial file is left
    // locally.
    let files = client.list("/file").await.unwrap();
    assert!(files.is_empty(), "{files:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_unreachable_is_transient_and_names_the_host() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let client = client_for(&sim);
    let port = rackpipe_testkit::free_port();
    let ssh = rackpipe_ssh::ConnectOptions::with_password(
        "127.0.0.1",
        port,
        "admin",
        rackpipe_ssh::Password::new(PASSWORD),
        HostKeyPolicy::Fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into()),
    );
    let dir = rackpipe_testkit::temp_dir();
    let err = backup_with(
        "t",
        "r",
        &client,
        dir.path(),
        &BackupOptions {
            transfer: Transfer::Sftp(ssh),
            stamp: None,
            password: None,
        },
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("sftp://127.0.0.1:{port}: ")),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(err.is_transient(), "{text}");
}
