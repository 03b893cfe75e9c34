//! A secret written literally into a site is refused by `validate` of every tool, naming the
//! field, and its value appears neither on stdout (the report) nor on stderr (the CI log).

use crate::support::{TOOLS, root, run};

/// Replaces `old` (which must occur exactly once) with `new`.
fn mutate(text: &str, old: &str, new: &str) -> String {
    assert_eq!(
        text.matches(old).count(),
        1,
        "anchor {old:?} must occur once"
    );
    text.replacen(old, new, 1)
}

#[test]
fn literal_secrets_are_refused_and_never_echoed() {
    let minimal =
        std::fs::read_to_string(root().join("tests/sites/minimal.yaml")).expect("minimal site");
    // (field path reported, the secret's value that must never be printed)
    let secrets = [
        ("router.ethernet[0].comment", "glpat-Zq8xW2vK7mN4pR9tY3bL"),
        ("runners.gitlab_url", "Pw9xLq2ZrT7mKd4N"),
        ("proxmox.templates[0].url", "Tk5pQ8wZ2rN7"),
        (
            "proxmox.guests[0].description",
            "hvs.CAESIKq3Zx9vT7pLmN2bR4cW8yHsJd6fGt1QaUoEiXrVkBn",
        ),
        (
            "metadata.description",
            "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oZ7ZfO6F0hFsoAoGCCqGSM49",
        ),
        ("x_notes.admin.password", "correct-horse-battery-staple"),
        ("x_notes.rotated", "glpat-Kq2xW7vK7mN4pR9tY3bM"),
        // A value where a secret reference belongs: the schema's own error (which would quote
        // it) gives way to the one that names the field only.
        ("router.management.password", "hunter2-Literal-9Qx"),
    ];
    let mut site = mutate(
        &minimal,
        "      name: WAN\n",
        &format!("      name: WAN\n      comment: ISP {}\n", secrets[0].1),
    );
    site = mutate(
        &site,
        "  gitlab_url: https://gitlab.example.invalid\n",
        &format!(
            "  gitlab_url: https://ci:{}@gitlab.example.invalid\n",
            secrets[1].1
        ),
    );
    site = mutate(
        &site,
        "_amd64.tar.zst\n      file_name:",
        &format!(
            "_amd64.tar.zst?private_token={}\n      file_name:",
            secrets[2].1
        ),
    );
    site = mutate(
        &site,
        "      vmid: 1005\n",
        &format!(
            "      vmid: 1005\n      description: root token {}\n",
            secrets[3].1
        ),
    );
    site = mutate(
        &site,
        "  description: Minimal valid site for the broken-site tests.\n",
        &format!(
            "  description: |\n    -----BEGIN EC PRIVATE KEY-----\n    {}\n    -----END EC PRIVATE KEY-----\n",
            secrets[4].1
        ),
    );
    site = mutate(
        &site,
        "backups:\n",
        &format!(
            "x_notes:\n  admin:\n    password: {}\n  rotated:\n    \"{}\": 2026-11-30\nbackups:\n",
            secrets[5].1, secrets[6].1
        ),
    );
    site = mutate(
        &site,
        "    password: env:ROUTER_PASSWORD\n",
        &format!("    password: {}\n", secrets[7].1),
    );
    for tool in TOOLS {
        let out = run(tool, &["validate", "-"], Some(site.as_bytes()));
        assert_eq!(
            out.code, 1,
            "{tool}: a site with literal secrets validated:\n{}",
            out.stderr
        );
        for (path, secret) in secrets {
            assert!(
                out.stderr
                    .lines()
                    .any(|l| l.starts_with(&format!("{tool}: error: <stdin>:"))
                        && (l.contains(&format!(" {path}: looks like "))
                            || l.contains(&format!(" {path}: a key of this mapping looks like ")))),
                "{tool}: no error naming {path}:\n{}",
                out.stderr
            );
            for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                assert!(
                    !text.contains(secret),
                    "{tool}: the secret at {path} appears on {stream}"
                );
            }
        }
        let report = out.json();
        assert_eq!(report["kind"], "ValidationReport", "{tool}");
        assert_eq!(report["valid"], false, "{tool}");
    }
}

/// A token where it also breaks the schema (a pattern, a type, an unknown key, a value cut
/// short in the message): the schema and type errors name the field and the problem, never the
/// value, in every tool and every output format, and `load` (which runs no rule) does not
/// quote it either.
#[test]
fn a_secret_that_breaks_the_schema_is_never_quoted() {
    let minimal =
        std::fs::read_to_string(root().join("tests/sites/minimal.yaml")).expect("minimal site");
    let gitlab = "glpat-Vb7qR2xK9mT4wZ8nL3pD";
    let github = "ghp_Q8wE3rT6yU9iO2pA5sD7fG1hJ4kL0zX3cV6b";
    let vault = "hvs.CAESIFq9Zx3vT7pLmN2bR4cW8yHsJd6fGt1QaUoEiXrVkBnYm";
    let jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJhY2twaXBlIn0.eyJzdWIiOiJwcm9qZWN0X3BhdGg6Z3JvdXAvc2l0ZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1jdXQtc2hvcnQ";
    let numeric = "424242424242";
    // A MAC's pattern; a number where text belongs (the section is left out); an unknown key
    // (it would be part of the field path); a value longer than a message quotes; a number
    // in a password field (a type error would quote it).
    let mut site = mutate(
        &minimal,
        "    segment: storage\n    mac: 00:11:32:00:00:01\n",
        &format!("    segment: storage\n    mac: {gitlab}\n"),
    );
    site = mutate(
        &site,
        "      vmid: 1005\n      node: pve-s1\n      pool: vault\n      cores: 1\n",
        &format!("      vmid: 1005\n      node: pve-s1\n      pool: vault\n      cores: {vault}\n"),
    );
    site = mutate(
        &site,
        "    user: rackpipe\n",
        &format!("    user: rackpipe\n    {github}: rotated\n"),
    );
    site = mutate(
        &site,
        "  domain: mini.test\n  description",
        &format!("  domain: {jwt}\n  description"),
    );
    site = mutate(
        &site,
        "    password: env:ROUTER_PASSWORD\n",
        &format!("    password: {numeric}\n"),
    );
    let secrets = [gitlab, github, vault, jwt, numeric];
    let leaks = |what: &str, text: &str| -> Vec<String> {
        secrets
            .iter()
            .filter(|s| text.contains(**s) || text.contains(&s[..s.len().min(16)]))
            .map(|s| format!("{what} shows {}...", &s[..6]))
            .collect()
    };
    let mut problems = Vec::new();
    match rackpipe_model::load("site.yaml", site.as_bytes()) {
        Ok(_) => problems.push("load accepted the site".to_owned()),
        Err(e) => {
            problems.extend(leaks("load's error", &e.to_string()));
            if let rackpipe_model::LoadError::Invalid { diagnostics, .. } = &e {
                let all = serde_json::to_string(diagnostics).expect("JSON");
                problems.extend(leaks("load's diagnostics", &all));
                for path in [
                    "hosts[0].mac",
                    "proxmox.guests[0].cores",
                    "router.management.password",
                ] {
                    if !diagnostics.iter().any(|d| d.path == path) {
                        problems.push(format!("load names no problem at {path}: {all}"));
                    }
                }
            }
        }
    }
    for tool in TOOLS {
        for args in [
            &["validate", "-"][..],
            &["validate", "-v", "--format", "text", "-"],
            &["validate", "--format", "junit", "-"],
            &["render", "-"],
            &["plan", "-"],
        ] {
            let out = run(tool, args, Some(site.as_bytes()));
            let what = format!("{tool} {}", args.join(" "));
            if out.code == 0 {
                problems.push(format!("{what}: exit 0"));
            }
            problems.extend(leaks(&format!("{what} stdout"), &out.stdout));
            problems.extend(leaks(&format!("{what} stderr"), &out.stderr));
            if args[0] == "validate" && args.len() == 2 {
                for path in [
                    "hosts[0].mac",
                    "proxmox.guests[0].cores",
                    "router.management",
                    "metadata.domain",
                    "router.management.password",
                ] {
                    if !out.stderr.contains(&format!(" {path}: ")) {
                        problems.push(format!("{what}: no error at {path}:\n{}", out.stderr));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
