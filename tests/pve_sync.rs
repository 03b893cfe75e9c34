//! `pve-sync` as a binary: connection options, exit codes and error documents. The
//! behaviour against a cluster is tested in `crates/rackpipe-pve-sync/tests` against the
//! PVE simulator; these runs never reach an API (loopback only).

use crate::support::run_env;

const SITE: &str = r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {name: bin, domain: bin.test}
proxmox:
  cluster: bin
  api: {node: pve1, token: "env:PVE_SYNC_TEST_TOKEN"}
  nodes: [{name: pve1, address: 10.9.0.1}]
  storages: [{name: local-lvm, type: lvmthin, content: [images, rootdir]}]
  guests: []
"#;

const TOKEN: (&str, &str) = ("PVE_SYNC_TEST_TOKEN", "ci@pve!sync=00000000-1111");

#[test]
fn plain_http_needs_loopback_and_the_flag() {
    for (url, flag, expect) in [
        (
            "http://127.0.0.1:9",
            false,
            "--url: plain http:// to 127.0.0.1 refused: this client speaks only https:// (--insecure-http allows it to a loopback simulator)",
        ),
        (
            "http://10.9.0.1:8006",
            true,
            "--url: plain http:// to 10.9.0.1 refused: credentials go only over verified TLS",
        ),
        // Names and look-alikes are not loopback (rackpipe_tls::transport).
        (
            "http://localhost:9",
            true,
            "--url: plain http:// to localhost refused",
        ),
        (
            "http://127.0.0.1.evil.example:9",
            true,
            "--url: plain http:// to 127.0.0.1.evil.example refused",
        ),
        (
            "http://127.0.0.1:hunter2@pve.example:8006",
            true,
            "--url: http://***@pve.example:8006: a user name or password in the URL is refused",
        ),
    ] {
        let mut args = vec!["plan", "-", "--url", url];
        if flag {
            args.push("--insecure-http");
        }
        let out = run_env("pve-sync", &args, Some(SITE.as_bytes()), &[TOKEN]);
        assert_eq!(out.code, 64, "{out:?}");
        assert!(
            out.stderr
                .lines()
                .any(|l| l.starts_with(&format!("pve-sync: error: {expect}"))),
            "{out:?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(!out.stderr.contains("hunter2") && !out.stderr.contains("00000000-1111"));
        assert_eq!(out.json()["kind"], "Error");
    }
}

#[test]
fn unreachable_cluster_is_transient() {
    let url = format!("http://127.0.0.1:{}", rackpipe_testkit::free_port());
    let out = run_env(
        "pve-sync",
        &[
            "plan",
            "-",
            "--url",
            &url,
            "--insecure-http",
            "--timeout",
            "5",
        ],
        Some(SITE.as_bytes()),
        &[TOKEN],
    );
    assert_eq!(out.code, 75, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["exit_code"], 75);
    assert!(
        doc["message"]
            .as_str()
            .unwrap()
            .starts_with("inventory (/cluster/resources): "),
        "{doc}"
    );
    assert!(
        !out.stderr.contains("00000000-1111"),
        "the secret never shows"
    );
}

#[test]
fn vault_down_for_the_token_is_transient() {
    let vault = format!("https://127.0.0.1:{}", rackpipe_testkit::free_port());
    let site = SITE.replace("env:PVE_SYNC_TEST_TOKEN", "vault:pve/api#token");
    let out = run_env(
        "pve-sync",
        &[
            "facts",
            "-",
            "--url",
            "http://127.0.0.1:9",
            "--insecure-http",
        ],
        Some(site.as_bytes()),
        &[
            ("VAULT_ADDR", vault.as_str()),
            ("VAULT_TOKEN", "s.not-a-real-token"),
            ("VAULT_CLIENT_TIMEOUT", "3"),
        ],
    );
    assert_eq!(out.code, 75, "{out:?}");
    assert!(out.stderr.contains("proxmox.api.token"), "{out:?}");
    assert!(!out.stderr.contains("s.not-a-real-token"), "{out:?}");
}

#[test]
fn missing_token_names_the_field() {
    let out = run_env(
        "pve-sync",
        &[
            "facts",
            "-",
            "--url",
            "http://127.0.0.1:9",
            "--insecure-http",
        ],
        Some(SITE.as_bytes()),
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(
            "proxmox.api.token: env:PVE_SYNC_TEST_TOKEN: environment variable PVE_SYNC_TEST_TOKEN is not set"
        ),
        "{out:?}"
    );
}
