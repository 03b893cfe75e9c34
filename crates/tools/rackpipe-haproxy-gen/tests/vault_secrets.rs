//! The deploy path's secrets from a real OpenBao dev server (TLS, loopback): keepalived's
//! `auth_pass: vault:...` renders the value for deployment, stays `********` in `render`
//! output, is read once for all instances, and "Vault down" is a transient error. The
//! environment-configured resolver (what `haproxy-gen plan/apply` use) runs in a child process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use std::process::{Command, Stdio};

use common::{full_site, load};
use rackpipe_haproxy_gen::{Error, RenderOptions, render, render_redacted};
use rackpipe_secrets::testing::DevVault;
use serde_json::json;

const REFERENCE: &str = "vault:secret/lb/keepalived#auth_pass";

fn vault_site() -> rackpipe_model::Site {
    load(&full_site().replace("env:RP_TEST_VRRP_PASS", REFERENCE))
}

fn auth_pass_lines(files: &[rackpipe_model::documents::RenderedFile]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.path.ends_with("keepalived.conf"))
        .flat_map(|f| {
            f.content
                .lines()
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with("auth_pass"))
        .collect()
}

#[test]
fn keepalived_auth_pass_from_vault() {
    let Some(mut vault) = DevVault::start() else {
        return;
    };
    vault.put_kv2("secret", "lb/keepalived", &json!({"auth_pass": "vRrP4x9"}));
    let site = vault_site();

    let resolver = vault.resolver();
    let files = render(&site, &RenderOptions::default(), &resolver).unwrap();
    let lines = auth_pass_lines(&files);
    assert_eq!(lines.len(), 3, "one VIP on three instances: {lines:?}");
    assert!(lines.iter().all(|l| l == "auth_pass vRrP4x9"), "{lines:?}");
    assert_eq!(resolver.vault_requests(), 1, "three references, one read");

    // `haproxy-gen render` prints the placeholder, not the value.
    let shown = render_redacted(&site, None).unwrap();
    assert!(
        auth_pass_lines(&shown)
            .iter()
            .all(|l| l == "auth_pass ********")
    );

    // The deploy path as haproxy-gen runs it: the process's resolver, Vault from the environment.
    let out = child(&[
        ("VAULT_ADDR", vault.addr.as_str()),
        ("VAULT_CACERT", vault.ca_file.to_str().unwrap()),
        ("VAULT_TOKEN", vault.root_token.as_str()),
        ("CHILD_EXPECT", "auth_pass vRrP4x9"),
    ]);
    assert!(out.contains("CHILD OK"), "{out}");

    // A key that is not there: one line naming the field and the reference.
    vault.put_kv2("secret", "lb/keepalived", &json!({"other": "x"}));
    let e = render(&site, &RenderOptions::default(), &vault.resolver()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(r#"load_balancer.vips[0].auth_pass: {REFERENCE}: key "auth_pass" not found"#)
    );
    assert!(!e.is_transient());

    // Vault down: transient (the CLI exits 75).
    let fresh = vault.resolver();
    vault.stop();
    let e = render(&site, &RenderOptions::default(), &fresh).unwrap_err();
    assert!(matches!(e, Error::SecretUnavailable(_)), "{e}");
    assert!(e.is_transient());
    assert!(
        e.to_string().starts_with(&format!(
            "load_balancer.vips[0].auth_pass: {REFERENCE}: Vault at "
        )),
        "{e}"
    );
}

/// Runs in a child process started by [`child`]: renders the deploy files with
/// the process's [`rackpipe_secrets::Resolver::global`] (what the binary's driver resolves
/// with) and looks for `CHILD_EXPECT`. A no-op otherwise.
#[test]
fn deploy_files_child() {
    let Ok(expect) = std::env::var("CHILD_EXPECT") else {
        return;
    };
    let files = render(
        &vault_site(),
        &RenderOptions::default(),
        rackpipe_secrets::Resolver::global(),
    )
    .unwrap();
    let lines = auth_pass_lines(&files);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| *l == expect),
        "{lines:?}"
    );
    eprintln!("CHILD OK");
}

fn child(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        "vault_secrets::deploy_files_child",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in [
        "VAULT_TOKEN",
        "VAULT_JWT_ROLE",
        "VAULT_NAMESPACE",
        "RP_TEST_VRRP_PASS",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.stdin(Stdio::null()).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed: {text}");
    text
}
