//! Unit tests: parsing, env and file references, redaction, error messages, the cache rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn r(text: &str) -> SecretRef {
    text.parse().unwrap()
}

#[test]
fn secret_is_redacted() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s}"), "<redacted>");
    assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(<redacted>))");
    assert_eq!(s.expose(), "hunter2");
    assert_eq!(s.clone().into_exposed(), "hunter2");
    let settings = VaultSettings {
        auth: VaultAuth::Token(Secret::new("s.tok3n")),
        ..VaultSettings::default()
    };
    let resolver = Resolver::with_settings(settings);
    let debug = format!("{resolver:?} {:?}", resolver.settings());
    assert!(!debug.contains("s.tok3n"), "{debug}");
}

#[test]
fn parses_references() {
    assert_eq!(Parsed::parse("env:A").unwrap(), Parsed::Env("A"));
    assert_eq!(Parsed::parse("file:/x/y").unwrap(), Parsed::File("/x/y"));
    assert_eq!(
        Parsed::parse("vault:kv/ci/gitlab#token").unwrap(),
        Parsed::Vault(VaultRef {
            mount: "kv",
            path: "ci/gitlab",
            key: "token"
        })
    );
    for bad in [
        "vault:kv#x",
        "vault:/kv/#x",
        "vault:kv/a#",
        "vault:kv/a?b=c#x",
        "vault:kv/a",
        "plain",
        "env:",
    ] {
        assert!(
            matches!(Parsed::parse(bad), Err(ErrorKind::Malformed(_))),
            "{bad}"
        );
    }
}

#[test]
fn env_set_and_unset() {
    // Cargo sets CARGO_PKG_NAME for the test process.
    let resolver = Resolver::builder().build();
    if std::env::var("CARGO_PKG_NAME").is_ok() {
        let s = resolver.resolve(&r("env:CARGO_PKG_NAME"), "a.b").unwrap();
        assert_eq!(s.expose(), "rackpipe-secrets");
    }
    let e = resolver
        .resolve(&r("env:RACKPIPE_SURELY_UNSET_1f3a"), "proxmox.api.token")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "proxmox.api.token: env:RACKPIPE_SURELY_UNSET_1f3a: environment variable RACKPIPE_SURELY_UNSET_1f3a is not set"
    );
    assert_eq!(e.field(), "proxmox.api.token");
    assert_eq!(e.reference(), "env:RACKPIPE_SURELY_UNSET_1f3a");
    assert!(!e.is_transient());
    assert_eq!(
        e.reason(),
        "env:RACKPIPE_SURELY_UNSET_1f3a: environment variable RACKPIPE_SURELY_UNSET_1f3a is not set"
    );
}

#[test]
fn file_values_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let resolver = Resolver::builder().build();
    let path = dir.path().join("pw");
    std::fs::write(&path, "s3cret\r\n\n").unwrap();
    let reference = r(&format!("file:{}", path.display()));
    let s = resolver.resolve(&reference, "f").unwrap();
    assert_eq!(s.expose(), "s3cret");
    // Inner whitespace and a leading space are the value's.
    std::fs::write(&path, " a b\n").unwrap();
    assert_eq!(resolver.resolve(&reference, "f").unwrap().expose(), " a b");

    std::fs::write(&path, "\n").unwrap();
    let e = resolver
        .resolve(&reference, "nas.server.password")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "nas.server.password: file:{p}: {p}: file is empty",
            p = path.display()
        )
    );
    let missing = r(&format!("file:{}", dir.path().join("nope").display()));
    let e = resolver.resolve(&missing, "x.y").unwrap_err();
    assert!(e.to_string().ends_with("no such file"), "{e}");
    assert!(matches!(e.kind(), ErrorKind::File { .. }));
    let e = resolver
        .resolve(&r(&format!("file:{}", dir.path().display())), "x")
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::File { .. }),
        "a directory: {e}"
    );
}

#[cfg(unix)]
#[test]
fn group_readable_files_are_flagged() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw");
    std::fs::write(&path, "x").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!local::readable_by_others(&path));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(local::readable_by_others(&path));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
    assert!(local::readable_by_others(&path));
}

#[test]
fn secret_values_never_reach_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw");
    std::fs::write(&path, "topsecretvalue").unwrap();
    // A reference with a shape error that follows a file read elsewhere: messages carry the
    // reference and the reason only.
    let resolver = Resolver::builder().build();
    let e = resolver
        .resolve(&r("vault:kv/x#y"), "lb.vips[0].auth_pass")
        .unwrap_err();
    assert!(!e.to_string().contains("topsecretvalue"));
    assert_eq!(
        e.to_string(),
        "lb.vips[0].auth_pass: vault:kv/x#y: VAULT_ADDR is not set (vault: references need Vault)"
    );
    assert!(matches!(e.kind(), ErrorKind::NotConfigured(_)));
}

#[test]
fn vault_needs_https_and_credentials() {
    let resolver = Resolver::builder().vault_addr("http://127.0.0.1:1").build();
    let e = resolver.resolve(&r("vault:kv/x#y"), "f").unwrap_err();
    assert!(
        e.to_string().contains(
            "VAULT_ADDR: plain http:// to 127.0.0.1 refused: this client speaks only https://"
        ),
        "{e}"
    );
    let resolver = Resolver::builder()
        .vault_addr("https://127.0.0.1:1")
        .build();
    let e = resolver.resolve(&r("vault:kv/x#y"), "f").unwrap_err();
    assert!(e.to_string().contains("no Vault credentials"), "{e}");
    let settings = VaultSettings {
        addr: Some("https://127.0.0.1:1".into()),
        auth: VaultAuth::Jwt {
            role: "ci".into(),
            mount: "jwt".into(),
            jwt: Err("VAULT_ID_TOKEN".into()),
        },
        ..VaultSettings::default()
    };
    let e = Resolver::with_settings(settings)
        .resolve(&r("vault:kv/x#y"), "f")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("environment variable VAULT_ID_TOKEN (the JWT) is not set"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not pem").unwrap();
    let resolver = Resolver::builder()
        .vault_addr("https://127.0.0.1:1")
        .ca_file(&ca)
        .token(Secret::new("t"))
        .build();
    let e = resolver.resolve(&r("vault:kv/x#y"), "f").unwrap_err();
    assert!(e.to_string().contains("VAULT_CACERT"), "{e}");
    assert!(!e.is_transient());
    assert_eq!(resolver.vault_requests(), 0);
}

#[test]
fn unreachable_is_transient_and_retried() {
    // A closed loopback port: connection refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let resolver = Resolver::builder()
        .vault_addr(format!("https://127.0.0.1:{port}"))
        .token(Secret::new("t"))
        .timeout(Duration::from_secs(2))
        .build();
    let e = resolver.resolve(&r("vault:kv/x#y"), "a.b").unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(matches!(e.kind(), ErrorKind::Unreachable { .. }), "{e}");
    assert!(
        e.to_string().starts_with(&format!(
            "a.b: vault:kv/x#y: Vault at https://127.0.0.1:{port} unreachable: "
        )),
        "{e}"
    );
    // Not cached: a second resolution tries again.
    let _ = resolver.resolve(&r("vault:kv/x#z"), "a.c").unwrap_err();
    assert_eq!(resolver.vault_requests(), 2);
}

#[test]
fn cache_hands_out_keys_without_io() {
    let resolver = Resolver::builder().build();
    let v = VaultRef {
        mount: "kv",
        path: "p",
        key: "a",
    };
    assert!(resolver.vault.cached(&v).is_none());
    // Seed the cell as a read would.
    let mut fields = serde_json::Map::new();
    fields.insert("a".into(), "one".into());
    fields.insert("n".into(), 42.into());
    fields.insert("e".into(), "".into());
    fields.insert("o".into(), serde_json::json!({"x": 1}));
    resolver.vault.seed("kv/p", Ok(std::sync::Arc::new(fields)));
    let get = |key: &str| resolver.resolve(&r(&format!("vault:kv/p#{key}")), "f");
    assert_eq!(get("a").unwrap().expose(), "one");
    assert_eq!(get("n").unwrap().expose(), "42");
    assert_eq!(
        get("missing").unwrap_err().to_string(),
        r#"f: vault:kv/p#missing: key "missing" not found"#
    );
    assert!(matches!(
        get("e").unwrap_err().kind(),
        ErrorKind::NotFound(_)
    ));
    assert!(matches!(
        get("o").unwrap_err().kind(),
        ErrorKind::BadReply(_)
    ));
    assert_eq!(resolver.vault_requests(), 0, "all from the cache");
}

#[test]
fn works_inside_an_async_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let resolver = Resolver::builder()
        .vault_addr(format!("https://127.0.0.1:{port}"))
        .token(Secret::new("t"))
        .build();
    // The blocking API called from async code must not panic ("cannot block inside a runtime").
    let e = runtime.block_on(async { resolver.resolve(&r("vault:kv/x#y"), "f") });
    assert!(e.unwrap_err().is_transient());
    let e = runtime.block_on(resolver.resolve_async(&r("vault:kv/x#y"), "f"));
    assert!(e.unwrap_err().is_transient());
}

#[test]
fn from_env_has_defaults() {
    let s = VaultSettings::default();
    assert_eq!(s.timeout, DEFAULT_TIMEOUT);
    assert!(matches!(s.auth, VaultAuth::None));
}

#[test]
fn a_silent_server_times_out_as_transient() {
    // Accepts TCP (kernel backlog) but never speaks TLS.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let resolver = Resolver::builder()
        .vault_addr(format!("https://127.0.0.1:{port}"))
        .token(Secret::new("t"))
        .timeout(Duration::from_millis(500))
        .build();
    let started = std::time::Instant::now();
    let e = resolver.resolve(&r("vault:kv/x#y"), "f").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("no answer within 0.5s"), "{e}");
    drop(listener);
}

/// The shared URL rule, stricter for secrets: no plain HTTP at all, no user information in
/// `VAULT_ADDR`; refused before any connection (a listening stub stays uncontacted).
#[test]
fn vault_addr_is_checked_before_any_connection() {
    use rackpipe_testkit::http::{Reply, StubServer};
    let stub = StubServer::start(Reply::status("200 OK", "{}"));
    for (addr, expect) in [
        (
            format!("http://127.0.0.1:{}", stub.port()),
            "plain http:// to 127.0.0.1 refused",
        ),
        (
            format!("http://localhost:{}", stub.port()),
            "plain http:// to localhost refused",
        ),
        (
            format!("https://root:hunter2@127.0.0.1:{}", stub.port()),
            "a user name or password in the URL is refused",
        ),
    ] {
        let resolver = Resolver::builder()
            .vault_addr(addr)
            .token(Secret::new("s.hunter2"))
            .build();
        let e = resolver.resolve(&r("vault:kv/x#y"), "a.b").unwrap_err();
        let text = e.to_string();
        assert!(text.contains(expect), "{text}");
        assert!(!text.contains("hunter2") && !text.contains('\n'), "{text}");
        assert!(!e.is_transient());
        assert_eq!(resolver.vault_requests(), 0);
    }
    assert_eq!(stub.connections(), 0, "a refused VAULT_ADDR was contacted");
}

/// A hostile Vault over verified TLS: a 2 GiB reply, an endless one, a redirect to another
/// host (the token would have followed it), a 500 with a long body. One line each, no
/// secret, and only the 500 is worth a retry.
#[test]
fn hostile_vault_replies_are_one_line_errors() {
    use rackpipe_testkit::http::{Reply, StubServer};
    let Some(_) = rackpipe_testkit::require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tls = rackpipe_testkit::loopback_tls(dir.path());
    let errors = format!("{{\"errors\":[\"{}\"]}}", "internal error ".repeat(2000));
    for (reply, expect, transient) in [
        (Reply::Announced(2 << 30), "reply larger than 16 MiB", false),
        (Reply::Endless, "reply larger than 16 MiB", false),
        (
            Reply::Raw(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: https://127.0.0.2:9/v1/kv/data/x\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
            ),
            "HTTP 307 redirect to https://127.0.0.2:9 refused",
            false,
        ),
        (
            Reply::status("500 Internal Server Error", &errors),
            "HTTP 500: internal error",
            true,
        ),
    ] {
        let stub = StubServer::start_tls(reply, &tls);
        let resolver = Resolver::builder()
            .vault_addr(stub.url())
            .ca_file(&tls.ca)
            .token(Secret::new("s.hunter2"))
            .timeout(Duration::from_secs(20))
            .build();
        let e = resolver.resolve(&r("vault:kv/x#y"), "a.b").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("a.b: vault:kv/x#y: "), "{text}");
        assert!(text.contains(expect), "{text}");
        assert!(!text.contains("hunter2") && !text.contains('\n'), "{text}");
        assert!(text.len() < 600, "a peer's long message is cut: {text}");
        assert_eq!(e.is_transient(), transient, "{text}");
    }
}

#[test]
fn resolve_all_reports_every_missing_reference() {
    let resolver = Resolver::builder().build();
    let refs = [
        r("env:RACKPIPE_SURELY_UNSET_A"),
        r("env:CARGO_PKG_NAME"),
        r("env:RACKPIPE_SURELY_UNSET_B"),
    ];
    let fields = ["a.first", "a.second", "a.third"];
    let e = resolve_all(
        &resolver,
        refs.iter().zip(fields).map(|(r, f)| (r, f.to_owned())),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "a.first: env:RACKPIPE_SURELY_UNSET_A: environment variable RACKPIPE_SURELY_UNSET_A is not set\n\
         a.third: env:RACKPIPE_SURELY_UNSET_B: environment variable RACKPIPE_SURELY_UNSET_B is not set"
    );
    assert_eq!(e.errors().len(), 2);
    assert_eq!(e.first().field(), "a.first");
    assert!(!e.is_transient());
    let ok = resolve_all(&resolver, [(&refs[1], "a.second".to_owned())]).unwrap();
    assert_eq!(ok.len(), 1);
}
