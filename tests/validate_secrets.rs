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
