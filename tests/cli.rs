//! The pipe contract, the same in all seven binaries: versions, help, exit codes, stdin,
//! one JSON document on stdout, one-line errors on stderr, quiet broken pipes.

use crate::support::{TOOLS, bin, run};

const SMALL: &str = "crates/core/rackpipe-model/tests/fixtures/small.yaml";

#[test]
fn version_and_help_exit_zero() {
    for tool in TOOLS {
        let out = run(tool, &["--version"], None);
        assert_eq!(out.code, 0, "{tool} --version");
        assert!(out.stdout.starts_with(tool), "{tool}: {}", out.stdout);
        let out = run(tool, &["--help"], None);
        assert_eq!(out.code, 0, "{tool} --help");
        assert!(
            out.stdout.contains("validate") && out.stdout.contains("render"),
            "{tool}: {}",
            out.stdout
        );
    }
}

#[test]
fn usage_errors_exit_64_not_2() {
    for tool in TOOLS {
        assert_eq!(run(tool, &["frobnicate"], None).code, 64, "{tool}");
        assert_eq!(
            run(tool, &["validate", "--no-such-flag"], None).code,
            64,
            "{tool}"
        );
        assert_eq!(run(tool, &[], None).code, 64, "{tool}");
    }
}

#[test]
fn validate_a_file_and_stdin() {
    let site = std::fs::read(crate::support::root().join(SMALL)).unwrap();
    for tool in TOOLS {
        let out = run(tool, &["validate", SMALL], None);
        assert_eq!(out.code, 0, "{tool}: {}", out.stderr);
        let doc = out.json();
        assert_eq!(doc["apiVersion"], "rackpipe/v1");
        assert_eq!(doc["kind"], "ValidationReport");
        assert_eq!(doc["valid"], true);
        assert_eq!(doc["tool"], tool);
        let from_stdin = run(tool, &["validate", "-"], Some(&site));
        assert_eq!(from_stdin.code, 0, "{tool}: {}", from_stdin.stderr);
        assert_eq!(from_stdin.json()["source"], "<stdin>");
    }
}

#[test]
fn invalid_site_names_the_path_on_one_line() {
    let text = std::fs::read_to_string(crate::support::root().join(SMALL)).unwrap();
    let broken = text.replace("{interface: LAN-02}", "{interface: ether42}");
    let out = run("ros-render", &["validate"], Some(broken.as_bytes()));
    assert_eq!(out.code, 1);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("router.bridges[0].ports[1].interface"))
        .expect(&out.stderr);
    assert!(line.starts_with("ros-render: error: <stdin>:"), "{line}");
    assert!(line.contains("ether42"), "{line}");
    let doc = out.json();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["diagnostics"][0]["rule"], "dangling-reference");
}

#[test]
fn junit_and_text_formats() {
    let out = run("pve-sync", &["validate", SMALL, "--format", "junit"], None);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with("<?xml") && out.stdout.contains("failures=\"0\""),
        "{}",
        out.stdout
    );
    let out = run(
        "pve-sync",
        &["validate", "--format", "junit"],
        Some(b"apiVersion: rackpipe/v1\nkind: Site\n"),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("<failure") && out.stdout.contains("metadata"),
        "{}",
        out.stdout
    );
    let out = run("pve-sync", &["validate", SMALL, "--format", "text"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("is valid"), "{}", out.stdout);
}

#[test]
fn unreadable_input_is_an_error_document() {
    let out = run("etcd-backup", &["validate", "/nonexistent/site.yaml"], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("/nonexistent/site.yaml"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["valid"], false);
    let out = run("etcd-backup", &["validate"], Some(b""));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("empty document"), "{}", out.stderr);
}

#[test]
fn broken_pipe_exits_quietly() {
    use std::process::{Command, Stdio};
    // `head -c0` closes its stdin at once; the tool must not panic or complain.
    let script = format!(
        "'{}' validate '{SMALL}' --format text | head -c0; echo ${{PIPESTATUS[0]}}",
        bin("haproxy-gen").display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(crate::support::root())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn another_tools_document_embedding_the_site_is_accepted() {
    // What `a | b` feeds the next tool: e.g. an apply result that carries the site and facts.
    let text = std::fs::read(crate::support::root().join(SMALL)).unwrap();
    let site = rackpipe_model::load::parse("small.yaml", &text)
        .unwrap()
        .value;
    let envelope = serde_json::json!({
        "apiVersion": "rackpipe/v1", "kind": "ApplyResult", "tool": "pve-sync",
        "facts": {"guests": []}, "site": site,
    });
    let out = run(
        "ros-render",
        &["validate"],
        Some(envelope.to_string().as_bytes()),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["valid"], true);
}

/// Every binary writes its shell completions, man pages and the JSON Schemas itself (what
/// `ci/dist.sh` packs and a user's editor needs), all from the same clap definition.
#[test]
fn completions_man_pages_and_schemas() {
    let committed = |file: &str| {
        std::fs::read_to_string(crate::support::root().join("schemas").join(file)).unwrap()
    };
    for tool in TOOLS {
        for shell in ["bash", "zsh", "fish"] {
            let out = run(tool, &["completions", shell], None);
            assert_eq!(out.code, 0, "{tool} completions {shell}: {}", out.stderr);
            assert!(out.stdout.contains(tool), "{tool} completions {shell}");
            assert!(
                out.stdout.contains("validate"),
                "{tool} completions {shell}"
            );
        }
        assert_eq!(run(tool, &["completions", "tcsh"], None).code, 64, "{tool}");

        let out = run(tool, &["man"], None);
        assert_eq!(out.code, 0, "{tool} man: {}", out.stderr);
        assert!(out.stdout.starts_with(".ie"), "{tool} man: not roff");
        assert!(out.stdout.contains(".TH"), "{tool} man: not roff");
        let dir = tempfile::tempdir().unwrap();
        let out = run(tool, &["man", "--out", dir.path().to_str().unwrap()], None);
        assert_eq!(out.code, 0, "{tool} man --out: {}", out.stderr);
        for page in [
            tool.to_owned(),
            format!("{tool}-validate"),
            format!("{tool}-schema"),
        ] {
            let text = std::fs::read_to_string(dir.path().join(format!("{page}.1")))
                .unwrap_or_else(|e| panic!("{page}.1: {e}"));
            assert!(text.contains(".SH NAME"), "{page}.1");
        }
        assert!(
            !dir.path().join(format!("{tool}-help.1")).exists(),
            "{tool}: no page for the help verb"
        );

        let out = run(tool, &["schema"], None);
        assert_eq!(out.code, 0, "{tool} schema: {}", out.stderr);
        assert_eq!(out.stdout, committed("site.schema.json"), "{tool} schema");
        let out = run(tool, &["schema", "validation-report"], None);
        assert_eq!(
            out.stdout,
            committed("validation-report.schema.json"),
            "{tool} schema validation-report"
        );
    }
    let out = run("ros-render", &["schema", "no-such-kind"], None);
    assert_eq!(out.code, 64, "{}", out.stderr);
}

/// A renamed flag's old spelling still parses (a hidden alias for one release: README,
/// "Flags"), and `VERB --help` shows only the new name.
#[test]
fn old_flag_spellings_still_parse_and_help_shows_the_new_names() {
    // Each command line stops before any connection (no key, no token, a loopback host).
    let cases: &[(&str, &[&str], &str, &str)] = &[
        (
            "haproxy-gen",
            &["plan", SMALL, "--target", "lb1=127.0.0.1:1"],
            "--target",
            "--node",
        ),
        (
            "nfs-export",
            &[
                "plan",
                SMALL,
                "--host-fingerprint",
                "SHA256:x",
                "--target",
                "127.0.0.1",
            ],
            "--host-fingerprint",
            "--ssh-fingerprint",
        ),
        (
            "pve-sync",
            &["plan", SMALL, "--concurrency", "4"],
            "--concurrency",
            "--parallel",
        ),
        (
            "kubeadm-join",
            &["apply", SMALL, "--ready-timeout", "5"],
            "--ready-timeout",
            "--wait",
        ),
    ];
    for (tool, args, old, new) in cases {
        let out = run(tool, args, None);
        assert_ne!(out.code, 0, "{tool} {args:?}: {out:?}");
        assert!(
            !out.stderr.contains("unexpected argument"),
            "{tool}: {old} no longer parses: {}",
            out.stderr
        );
        let help = run(tool, &[args[0], "--help"], None);
        assert_eq!(help.code, 0, "{tool}");
        assert!(
            help.stdout.contains(new),
            "{tool}: {new} missing:\n{}",
            help.stdout
        );
        assert!(
            !help.stdout.contains(old),
            "{tool}: {old} shown:\n{}",
            help.stdout
        );
    }
}

/// Issue 17: the driver resolves a tool's secrets once, so one run names every missing one:
/// here pve-sync's API token (an unset environment variable) and a guest's SSH key (a missing
/// file), in one line and one Error document, before any connection is made. Before, the token
/// was resolved on its own while connecting, and the key only once it was fixed.
#[test]
fn every_missing_secret_is_named_in_one_run() {
    const SITE: &str = r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {name: t, domain: t.test}
proxmox:
  cluster: t
  api: {node: pve1, token: "env:RACKPIPE_TEST_UNSET_TOKEN_5c1e"}
  nodes: [{name: pve1, address: 10.9.0.1}]
  storages: [{name: local-lvm, type: lvmthin, content: [images, rootdir]}]
  guests:
    - name: vm1
      kind: qemu
      vmid: 150
      node: pve1
      cores: 2
      memory_mib: 2048
      disks: [{slot: scsi0, storage: local-lvm, size: 2G}]
      nics: [{slot: net0, bridge: vmbr0, mac: "bc:24:11:00:00:09", address: 10.0.0.5/24, static_address: true}]
      source: {clone: {vmid: 9000, full: false}}
      cloud_init: {user: admin, ssh_keys: ["file:/nonexistent/rackpipe-test/key.pub"]}
"#;
    let expected = "proxmox.api.token: env:RACKPIPE_TEST_UNSET_TOKEN_5c1e: environment variable \
                    RACKPIPE_TEST_UNSET_TOKEN_5c1e is not set; \
                    proxmox.guests[0].cloud_init.ssh_keys[0]: file:/nonexistent/rackpipe-test/key.pub: \
                    /nonexistent/rackpipe-test/key.pub: no such file";
    for verb in ["plan", "apply", "facts"] {
        let out = run(
            "pve-sync",
            &[verb, "-", "--url", "https://127.0.0.1:9"],
            Some(SITE.as_bytes()),
        );
        assert_eq!(out.code, 1, "{verb}: {out:?}");
        assert_eq!(
            out.stderr.trim_end(),
            format!("pve-sync: error: {expected}"),
            "{verb}"
        );
        let doc = out.json();
        assert_eq!(doc["kind"], "Error", "{verb}");
        assert_eq!(doc["message"], expected, "{verb}");
    }
}

/// Issue 17: every tool's `schema` verb offers, in its help and its completions, the model's
/// kinds and every kind of the tool's own, and prints each byte for byte as committed under
/// `schemas/`; another tool's kind is a usage error. Before, only the model's kinds were offered.
#[test]
fn the_schema_verb_prints_every_kind_the_tool_emits() {
    let committed = |file: &str| {
        std::fs::read_to_string(crate::support::root().join("schemas").join(file)).unwrap()
    };
    let own: &[(&str, &[&str])] = &[
        (
            "vault-bootstrap",
            &["vault-init", "vault-unseal", "vault-status"],
        ),
        (
            "etcd-backup",
            &[
                "etcd-snapshot-list",
                "etcd-snapshot-verified",
                "etcd-prune",
                "etcd-restore",
                "etcd-drill",
                "etcd-snapshot",
            ],
        ),
        ("nfs-export", &["nfs-lint", "nfs-sync"]),
        ("ros-render", &["router-backup"]),
        ("pve-sync", &[]),
        ("haproxy-gen", &[]),
        ("kubeadm-join", &[]),
    ];
    assert_eq!(own.len(), TOOLS.len());
    let model: Vec<String> = <rackpipe_cli::SchemaKind as clap::ValueEnum>::value_variants()
        .iter()
        .filter_map(clap::ValueEnum::to_possible_value)
        .map(|v| v.get_name().to_owned())
        .collect();
    assert!(model.iter().any(|k| k == "site"), "{model:?}");
    for (tool, kinds) in own {
        let help = run(tool, &["schema", "--help"], None);
        assert_eq!(help.code, 0, "{tool}: {help:?}");
        let completions = run(tool, &["completions", "bash"], None).stdout;
        for kind in model
            .iter()
            .map(String::as_str)
            .chain(kinds.iter().copied())
        {
            assert!(help.stdout.contains(kind), "{tool}: {kind} not in help");
            assert!(completions.contains(kind), "{tool}: {kind} not completed");
            let out = run(tool, &["schema", kind], None);
            assert_eq!(out.code, 0, "{tool} schema {kind}: {}", out.stderr);
            assert_eq!(
                out.stdout,
                committed(&format!("{kind}.schema.json")),
                "{tool} schema {kind}"
            );
        }
        for (other, theirs) in own {
            if other == tool {
                continue;
            }
            for kind in theirs.iter() {
                let out = run(tool, &["schema", kind], None);
                assert_eq!(out.code, 64, "{tool} schema {kind}: {out:?}");
            }
        }
    }
}

/// Issue 17: `ros-render backup` resolves its secrets once, before connecting: with both the
/// API password and the backup password missing, both are named in one line, over REST and
/// over SFTP (before, the first failure stopped the run and the second was reported only on
/// the next one).
#[test]
fn every_missing_router_secret_is_named_in_one_backup_run() {
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-dev");
    let site = String::from_utf8(bytes).unwrap().replacen(
        "password: vault:dev.rachuna/auth/router.rachuna.dev#password",
        "password: env:RACKPIPE_TEST_UNSET_ROUTER_PW_7d2a\n    \
         backup_password: env:RACKPIPE_TEST_UNSET_BACKUP_PW_7d2a",
        1,
    );
    assert!(site.contains("RACKPIPE_TEST_UNSET_BACKUP_PW_7d2a"));
    let out_dir = rackpipe_testkit::temp_dir();
    let out_path = out_dir.path().join("backups");
    let expected = "router.management.password: env:RACKPIPE_TEST_UNSET_ROUTER_PW_7d2a: \
                    environment variable RACKPIPE_TEST_UNSET_ROUTER_PW_7d2a is not set; \
                    router.management.backup_password: env:RACKPIPE_TEST_UNSET_BACKUP_PW_7d2a: \
                    environment variable RACKPIPE_TEST_UNSET_BACKUP_PW_7d2a is not set";
    let out_arg = out_path.to_str().unwrap();
    for extra in [
        &[][..],
        &[
            "--sftp",
            "--ssh-fingerprint",
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ][..],
    ] {
        let args = [
            &[
                "backup",
                "-",
                "--url",
                "https://127.0.0.1:9",
                "--out",
                out_arg,
            ][..],
            extra,
        ]
        .concat();
        let out = run("ros-render", &args, Some(site.as_bytes()));
        assert_eq!(out.code, 1, "{extra:?}: {out:?}");
        assert_eq!(
            out.stderr.trim_end(),
            format!("ros-render: error: {expected}"),
            "{extra:?}"
        );
        let doc = out.json();
        assert_eq!(doc["kind"], "Error", "{extra:?}");
        assert_eq!(doc["message"], expected, "{extra:?}");
        assert!(!out_path.exists(), "{extra:?}: nothing is written");
    }
    // A usage error still comes first: `--sftp` without a host-key policy reads no secret.
    let out = run(
        "ros-render",
        &["backup", "-", "--out", out_arg, "--sftp"],
        Some(site.as_bytes()),
    );
    assert_eq!(out.code, 64, "{out:?}");
    assert!(!out.stderr.contains("router.management"), "{out:?}");
}

/// Issue 17: haproxy-gen's secrets (every VIP's `auth_pass`, every service's `tls_certificate`
/// from a secret) are resolved by the shared driver before anything connects: a site with two
/// missing ones names both in one run, for `plan` and `apply`.
#[test]
fn haproxy_gen_names_every_missing_secret_in_one_run() {
    let site = example_with(
        "auth_pass: vault:dev.rachuna/infrastructure/vault-rachuna-dev/vault-deployment#vip_authentication_pass",
        "auth_pass: \"env:RACKPIPE_TEST_UNSET_VRRP_7d2a\"",
    );
    // A TLS-terminating service whose PEM is missing, first in the load balancer's services.
    let (head, tail) = site
        .split_once("load_balancer:")
        .expect("the example has a load balancer");
    let site = format!(
        "{head}load_balancer:{}",
        tail.replacen(
            "  services:\n",
            "  services:\n    - {name: web, vip: VAULT_VIP, port: 8443, mode: http, tls_certificate: \"file:/nonexistent/rackpipe-test/web.pem\", check: http, backends: [{target: vault-1005, port: 8080}]}\n",
            1,
        )
    );
    plan_and_apply_fail_with(
        "haproxy-gen",
        &[],
        &site,
        "load_balancer.services[0].tls_certificate: file:/nonexistent/rackpipe-test/web.pem: \
         /nonexistent/rackpipe-test/web.pem: no such file; \
         load_balancer.vips[0].auth_pass: env:RACKPIPE_TEST_UNSET_VRRP_7d2a: \
         environment variable RACKPIPE_TEST_UNSET_VRRP_7d2a is not set",
    );
    // `render` reads no secret: the values are redacted, the run succeeds.
    let out = run("haproxy-gen", &["render", "-"], Some(site.as_bytes()));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("auth_pass ********"), "{}", out.stdout);
}

/// Issue 17: nfs-export's one secret, a Synology NAS's DSM password, is resolved by the shared
/// driver before DSM is contacted (its only reference: the `nas` section holds no other, so a
/// site cannot miss two); the message is the one line it was.
#[test]
fn nfs_export_resolves_the_dsm_password_through_the_driver() {
    let site = example_with(
        "password: vault:dev.rachuna/auth/storage.rachuna.dev#password",
        "password: \"env:RACKPIPE_TEST_UNSET_DSM_7d2a\"",
    );
    plan_and_apply_fail_with(
        "nfs-export",
        &["--url", "https://127.0.0.1:9"],
        &site,
        "nas.server.password: env:RACKPIPE_TEST_UNSET_DSM_7d2a: environment variable \
         RACKPIPE_TEST_UNSET_DSM_7d2a is not set",
    );
}

/// The rachuna-dev example with the one occurrence of `from` replaced by `to`.
fn example_with(from: &str, to: &str) -> String {
    let text =
        std::fs::read_to_string(crate::support::root().join("examples/rachuna-dev/site.yaml"))
            .unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from}");
    text.replace(from, to)
}

/// `TOOL plan - EXTRA..` and `TOOL apply - EXTRA..` with `site` on stdin both fail with the one
/// error `expected`: exit 1, `TOOL: error: EXPECTED` on stderr, an `Error` document on stdout.
fn plan_and_apply_fail_with(tool: &str, extra: &[&str], site: &str, expected: &str) {
    for verb in ["plan", "apply"] {
        let args = [&[verb, "-"][..], extra].concat();
        let out = run(tool, &args, Some(site.as_bytes()));
        assert_eq!(out.code, 1, "{verb}: {out:?}");
        assert_eq!(
            out.stderr.trim_end(),
            format!("{tool}: error: {expected}"),
            "{verb}"
        );
        let doc = out.json();
        assert_eq!(doc["kind"], "Error", "{verb}");
        assert_eq!(doc["message"], expected, "{verb}");
    }
}
