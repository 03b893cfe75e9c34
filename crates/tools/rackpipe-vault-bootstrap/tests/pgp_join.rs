//! `init` with the API's native PGP encryption (operators' keys made with gpg) and `unseal`
//! joining a follower through the raft join API (configs rendered from an override template
//! without `retry_join`). Two OpenBao nodes on loopback, TLS from a throwaway CA.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use crate::common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rackpipe_vault_bootstrap::{
    InitOptions, NodeState, Secret, UnsealOptions, init, status, unseal,
};

fn gpg(home: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gpg");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgp_init_and_join_api() {
    let Some(_) = rackpipe_testkit::require_tool("gpg") else {
        return;
    };
    let templates = rackpipe_testkit::temp_dir();
    let server = std::fs::read_to_string(
        rackpipe_testkit::project_root()
            .join("crates/tools/rackpipe-vault-bootstrap/templates/server.hcl.j2"),
    )
    .unwrap();
    let start = server.find("{%- for peer in peers %}").unwrap();
    let end = server[start..].find("{%- endfor %}").unwrap() + start + "{%- endfor %}".len();
    std::fs::write(
        templates.path().join("server.hcl.j2"),
        format!("{}{}", &server[..start], &server[end..]),
    )
    .unwrap();
    let Some(tc) = common::TestCluster::start_custom(2, None, Some(templates.path().into())) else {
        return;
    };
    assert!(
        !std::fs::read_to_string(tc.nodes[1].dir.join("server.hcl"))
            .unwrap()
            .contains("retry_join")
    );

    // Two operators' keys (one per share) and the root token's key.
    let home = tc.dir.path().join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let mut pubkeys = Vec::new();
    for who in ["op1", "op2"] {
        let uid = format!("{who} <{who}@rachuna-net.invalid>");
        gpg(
            &home,
            &["--quick-gen-key", &uid, "rsa2048", "encrypt", "never"],
            None,
        );
        pubkeys.push(b64(&gpg(&home, &["--export", &uid], None)));
    }
    let cluster = tc.cluster();
    let options = InitOptions {
        shares: 2,
        threshold: 2,
        pgp_keys: pubkeys.clone(),
        root_token_pgp_key: Some(pubkeys[0].clone()),
        keys_file: None,
    };
    let report = init(&cluster, &options).await.unwrap();
    assert_eq!(report.encrypted_keys.len(), 2);
    assert!(report.keys_file.is_none(), "nothing plaintext, so no file");
    let keys: Vec<Secret> = report
        .encrypted_keys
        .iter()
        .map(|k| {
            Secret::new(String::from_utf8(gpg(&home, &["--decrypt"], Some(&unb64(k)))).unwrap())
        })
        .collect();
    let root = Secret::new(
        String::from_utf8(gpg(
            &home,
            &["--decrypt"],
            Some(&unb64(report.encrypted_root_token.as_deref().unwrap())),
        ))
        .unwrap(),
    );
    assert!(root.expose().starts_with("s."));
    let printed = format!("{}{report:?}", serde_json::to_string(&report).unwrap());
    for k in &keys {
        assert!(
            !printed.contains(k.expose()),
            "plaintext key in the init report"
        );
    }
    assert!(!printed.contains(root.expose()));

    // The follower has no retry_join: unseal joins it through the API, then unseals it.
    let opts = UnsealOptions {
        leader_ca_pem: Some(tc.tls.ca_pem.clone()),
        retry_join_grace: Duration::from_millis(500),
        ..Default::default()
    };
    let report = unseal(&cluster, &keys, &opts).await.unwrap();
    assert_eq!(report.nodes[0].after, NodeState::Active, "{report:?}");
    assert_eq!(report.nodes[1].before, NodeState::Uninitialized);
    assert!(report.nodes[1].joined, "joined through the API: {report:?}");
    assert_eq!(report.nodes[1].after, NodeState::Standby);
    let st = status(&cluster, Some(&root)).await.unwrap();
    assert_eq!(st.raft_peers.len(), 2, "{st:?}");
}
