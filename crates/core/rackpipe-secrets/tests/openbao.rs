//! `vault:` references against a real OpenBao dev server with TLS on loopback: token and JWT
//! logins, KV v2 and v1, one request per path, denied / unreachable / untrusted-certificate
//! errors, and `Resolver::from_env` in a child process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rackpipe_secrets::testing::DevVault;
use rackpipe_secrets::{ErrorKind, Resolver, Secret, SecretRef};
use serde_json::json;

fn r(text: &str) -> SecretRef {
    text.parse().unwrap()
}

#[test]
fn token_reads_kv2_once_per_path() {
    let Some(vault) = DevVault::start() else {
        return;
    };
    vault.put_kv2(
        "secret",
        "ci/lb",
        &json!({"auth_pass": "vrrpPW1", "stats": "st4ts", "port": 8404}),
    );
    let resolver = vault.resolver();
    for i in 0..10 {
        let pass = resolver
            .resolve(
                &r("vault:secret/ci/lb#auth_pass"),
                &format!("vips[{i}].auth_pass"),
            )
            .unwrap();
        assert_eq!(pass.expose(), "vrrpPW1");
        let stats = resolver
            .resolve(&r("vault:secret/ci/lb#stats"), "stats.password")
            .unwrap();
        assert_eq!(stats.expose(), "st4ts");
    }
    assert_eq!(
        resolver
            .resolve(&r("vault:secret/ci/lb#port"), "p")
            .unwrap()
            .expose(),
        "8404"
    );
    assert_eq!(
        resolver.vault_requests(),
        1,
        "21 references, one path: one read"
    );

    let e = resolver
        .resolve(
            &r("vault:secret/ci/lb#nope"),
            "load_balancer.vips[0].auth_pass",
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"load_balancer.vips[0].auth_pass: vault:secret/ci/lb#nope: key "nope" not found"#
    );
    assert!(!e.is_transient());
    assert_eq!(
        resolver.vault_requests(),
        1,
        "a missing key is not a new read"
    );

    // A path that does not exist: KV v2 and then KV v1 are asked once, and the answer is kept.
    for _ in 0..3 {
        let e = resolver
            .resolve(&r("vault:secret/ci/absent#k"), "f")
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::NotFound(_)), "{e}");
        assert!(
            e.to_string().contains("no secret at secret/ci/absent"),
            "{e}"
        );
    }
    assert_eq!(resolver.vault_requests(), 3);

    // The async API shares the cache; concurrent reads of one new path make one request.
    vault.put_kv2("secret", "ci/other", &json!({"a": "1", "b": "2"}));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ra, rb) = (r("vault:secret/ci/other#a"), r("vault:secret/ci/other#b"));
    let (a, b, c) = runtime.block_on(async {
        tokio::join!(
            resolver.resolve_async(&ra, "x"),
            resolver.resolve_async(&rb, "y"),
            resolver.resolve_async(&ra, "z"),
        )
    });
    assert_eq!(
        (
            a.unwrap().expose(),
            b.unwrap().expose(),
            c.unwrap().expose()
        ),
        ("1", "2", "1")
    );
    assert_eq!(resolver.vault_requests(), 4);
}

#[test]
fn kv1_mounts_and_denied_tokens() {
    let Some(vault) = DevVault::start() else {
        return;
    };
    vault.expect(
        "POST",
        "sys/mounts/kv1",
        Some(&json!({"type": "kv", "options": {"version": "1"}})),
    );
    vault.expect("POST", "kv1/app/db", Some(&json!({"password": "v1-value"})));
    let resolver = vault.resolver();
    let v = resolver
        .resolve(&r("vault:kv1/app/db#password"), "f")
        .unwrap();
    assert_eq!(v.expose(), "v1-value");

    let bad = vault.builder().token(Secret::new("s.not-a-token")).build();
    vault.put_kv2("secret", "x", &json!({"y": "z"}));
    let e = bad.resolve(&r("vault:secret/x#y"), "a.b").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Denied(_)), "{e}");
    assert!(!e.is_transient());
    assert_eq!(
        e.to_string(),
        "a.b: vault:secret/x#y: permission denied reading secret/x (HTTP 403): permission denied"
    );
    assert!(!e.to_string().contains("s.not-a-token"));
}

#[test]
fn vault_down_is_transient_and_untrusted_tls_is_not() {
    let Some(mut vault) = DevVault::start() else {
        return;
    };
    vault.put_kv2("secret", "x", &json!({"y": "z"}));

    // A CA that did not sign the server's certificate.
    let Some(other_ca) = other_ca(vault.dir()) else {
        return;
    };
    let untrusted = Resolver::builder()
        .vault_addr(vault.addr.clone())
        .ca_file(&other_ca)
        .token(Secret::new(vault.root_token.clone()))
        .build();
    let e = untrusted.resolve(&r("vault:secret/x#y"), "f").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Tls { .. }), "{e}");
    eprintln!("untrusted CA: {e}");
    assert!(!e.is_transient(), "{e}");
    // No CA file: the system's roots do not know the dev CA either.
    let system = Resolver::builder()
        .vault_addr(vault.addr.clone())
        .token(Secret::new(vault.root_token.clone()))
        .build();
    let e = system.resolve(&r("vault:secret/x#y"), "f").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Tls { .. }), "{e}");

    let resolver = vault.resolver();
    vault.stop();
    let e = resolver
        .resolve(&r("vault:secret/x#y"), "lb.auth")
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unreachable { .. }), "{e}");
    assert!(e.is_transient());
    eprintln!("vault down: {e}");
    assert!(
        e.to_string().starts_with(&format!(
            "lb.auth: vault:secret/x#y: Vault at {} unreachable: ",
            vault.addr
        )),
        "{e}"
    );
}

#[test]
fn jwt_login_reads_with_the_role_policy() {
    let Some(vault) = DevVault::start() else {
        return;
    };
    let Some(key) = jwt_key(vault.dir()) else {
        return;
    };
    configure_jwt(&vault, &key.public_pem);
    vault.put_kv2("secret", "ci/lb", &json!({"auth_pass": "jwtPW"}));
    vault.put_kv2("secret", "admin/root", &json!({"k": "v"}));

    let jwt = mint_jwt(&key, &claims("https://vault.test", "infra/homelab"));
    let resolver = vault
        .builder()
        .jwt_login("jwt", "ci", Secret::new(jwt.clone()))
        .build();
    let v = resolver
        .resolve(&r("vault:secret/ci/lb#auth_pass"), "f")
        .unwrap();
    assert_eq!(v.expose(), "jwtPW");
    let _ = resolver
        .resolve(&r("vault:secret/ci/lb#auth_pass"), "g")
        .unwrap();
    assert_eq!(resolver.vault_requests(), 2, "one login, one read");
    // Outside the role's policy.
    let e = resolver
        .resolve(&r("vault:secret/admin/root#k"), "f")
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Denied(_)), "{e}");
    assert_eq!(resolver.vault_requests(), 3, "the login is not repeated");

    // A JWT for another audience is refused at login, once.
    let wrong = mint_jwt(&key, &claims("https://elsewhere.test", "infra/homelab"));
    let resolver = vault
        .builder()
        .jwt_login("jwt", "ci", Secret::new(wrong.clone()))
        .build();
    for path in ["ci/lb#auth_pass", "ci/other#x"] {
        let e = resolver
            .resolve(&r(&format!("vault:secret/{path}")), "f")
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Denied(_)), "{e}");
        assert!(
            e.to_string()
                .contains(r#"JWT login as role "ci" at auth/jwt/login refused"#),
            "{e}"
        );
        assert!(!e.to_string().contains(&wrong));
    }
    assert_eq!(resolver.vault_requests(), 1);

    // The same from the environment, as a GitLab job sees it (in a child process).
    let out = child(&[
        ("VAULT_ADDR", vault.addr.as_str()),
        ("VAULT_CACERT", vault.ca_file.to_str().unwrap()),
        ("VAULT_JWT_ROLE", "ci"),
        ("RACKPIPE_VAULT_JWT_ENV", "MY_ID_TOKEN"),
        ("MY_ID_TOKEN", jwt.as_str()),
        ("CHILD_REF", "vault:secret/ci/lb#auth_pass"),
        ("CHILD_EXPECT", "jwtPW"),
    ]);
    assert!(out.contains("CHILD OK"), "{out}");
    // And with VAULT_TOKEN (it wins over the JWT login).
    let out = child(&[
        ("VAULT_ADDR", vault.addr.as_str()),
        ("VAULT_CACERT", vault.ca_file.to_str().unwrap()),
        ("VAULT_TOKEN", vault.root_token.as_str()),
        ("VAULT_JWT_ROLE", "nonexistent"),
        ("CHILD_REF", "vault:secret/admin/root#k"),
        ("CHILD_EXPECT", "v"),
    ]);
    assert!(out.contains("CHILD OK"), "{out}");
}

/// Runs in a child process started by [`child`]: resolves `CHILD_REF` with
/// `Resolver::from_env()` and compares it with `CHILD_EXPECT`. A no-op otherwise.
#[test]
fn from_env_child() {
    let (Ok(reference), Ok(expect)) = (std::env::var("CHILD_REF"), std::env::var("CHILD_EXPECT"))
    else {
        return;
    };
    let value = Resolver::from_env()
        .resolve(&r(&reference), "child")
        .unwrap();
    assert_eq!(value.expose(), expect);
    eprintln!("CHILD OK");
}

fn child(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        "from_env_child",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in [
        "VAULT_ADDR",
        "VAULT_CACERT",
        "VAULT_TOKEN",
        "VAULT_JWT_ROLE",
        "VAULT_JWT_PATH",
        "VAULT_ID_TOKEN",
        "RACKPIPE_VAULT_JWT_ENV",
        "VAULT_NAMESPACE",
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

fn configure_jwt(vault: &DevVault, public_pem: &str) {
    vault.expect("POST", "sys/auth/jwt", Some(&json!({"type": "jwt"})));
    vault.expect(
        "POST",
        "auth/jwt/config",
        Some(&json!({
            "jwt_validation_pubkeys": [public_pem],
            "bound_issuer": "https://gitlab.test",
        })),
    );
    vault.expect(
        "PUT",
        "sys/policies/acl/ci-read",
        Some(&json!({"policy": "path \"secret/data/ci/*\" { capabilities = [\"read\"] }"})),
    );
    vault.expect(
        "POST",
        "auth/jwt/role/ci",
        Some(&json!({
            "role_type": "jwt",
            "bound_audiences": ["https://vault.test"],
            "user_claim": "sub",
            "bound_claims": {"project_path": "infra/homelab", "ref_protected": "true"},
            "token_policies": ["ci-read"],
            "token_ttl": "5m",
        })),
    );
}

fn claims(aud: &str, project_path: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "iss": "https://gitlab.test",
        "aud": aud,
        "sub": format!("project_path:{project_path}:ref_type:branch:ref:main"),
        "iat": now, "nbf": now - 5, "exp": now + 300,
        "project_path": project_path, "ref": "main", "ref_type": "branch", "ref_protected": "true",
    })
}

struct JwtKey {
    private: PathBuf,
    public_pem: String,
}

/// An RSA key made with openssl, or `None` (skipped) when openssl is missing.
fn jwt_key(dir: &Path) -> Option<JwtKey> {
    let openssl = rackpipe_testkit::require_tool("openssl")?;
    let private = dir.join("jwt.key");
    let ok = Command::new(&openssl)
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl genpkey");
    let out = Command::new(&openssl)
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .output()
        .unwrap();
    Some(JwtKey {
        private,
        public_pem: String::from_utf8(out.stdout).unwrap(),
    })
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An RS256 JWT over `claims`, signed with `openssl dgst`.
fn mint_jwt(key: &JwtKey, claims: &serde_json::Value) -> String {
    use std::io::Write as _;
    let input = format!(
        "{}.{}",
        b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key.private)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    format!("{input}.{}", b64url(&out.stdout))
}

/// A self-signed CA unrelated to the server's (openssl), or `None` when openssl is missing.
fn other_ca(dir: &Path) -> Option<PathBuf> {
    let openssl = rackpipe_testkit::require_tool("openssl")?;
    let cert = dir.join("other-ca.pem");
    let ok = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=not the dev CA",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl req");
    Some(cert)
}
