//! Test support shared by rackpipe's crates and integration tests.
//!
//! - [`require_tool`] follows cargo's `requires=`: a missing external tool skips the test
//!   locally with a message on stderr, but **fails** it when `RACKPIPE_REQUIRE_SERVICES=1`
//!   (set by `.ci/run`), so CI can never pass vacuously.
//! - [`free_port`] picks an unused loopback port.
//! - [`ChildGuard`] kills a spawned daemon when the test ends, also on panic.
//! - [`shared_dir`] finds `../shared/` beside the project root, if present (required in CI,
//!   optional on a newcomer's machine: [`shared_required`]).
//! - [`openssl`] and [`loopback_tls`] make throwaway TLS material.
//! - [`http::StubServer`] is a hostile HTTP peer on loopback (a 2 GiB reply, a 500, a
//!   redirect) that counts the connections it got.
//! - [`Captured`] is an in-memory writer a test hands to a `tracing` layer and reads back.
#![allow(clippy::print_stderr)]

mod captured;
pub mod http;
mod tls;

pub use captured::Captured;
pub use tls::{LoopbackTls, loopback_tls, openssl};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;

/// Whether CI demands that every external tool and service be present.
#[must_use]
pub fn services_required() -> bool {
    std::env::var("RACKPIPE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Returns the path of `tool` on `PATH`, or `None` (after printing why) when the test should
/// be skipped. Panics when the tool is missing and `RACKPIPE_REQUIRE_SERVICES=1`.
#[must_use]
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    if let Some(path) = which(tool) {
        return Some(path);
    }
    assert!(
        !services_required(),
        "required tool `{tool}` is not installed (RACKPIPE_REQUIRE_SERVICES=1); .ci/run must install it"
    );
    eprintln!(
        "SKIP: `{tool}` is not installed; set RACKPIPE_REQUIRE_SERVICES=1 to make this an error"
    );
    None
}

/// Looks `tool` up on `PATH` (and in `/usr/sbin`, `/sbin`, where daemons live on Debian).
#[must_use]
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Whether the tests must find `../shared/` (its extra data: the RouterOS corpus, the full
/// Proxmox and GitLab CI schemas). `.ci/run` sets `RACKPIPE_REQUIRE_SHARED=1` in CI, where
/// `../shared/` is always laid beside the checkout; a newcomer's clone has none, and its
/// `bash .ci/run` skips those tests with a message instead.
#[must_use]
pub fn shared_required() -> bool {
    std::env::var("RACKPIPE_REQUIRE_SHARED").is_ok_and(|v| v == "1")
}

/// The RouterOS exports of `../shared/corpus/routeros/` as (file name, text), sorted by name;
/// `None` as [`shared_dir`] (absent: skipped with a message; a failure in CI).
///
/// # Panics
/// When the folder or a file cannot be read.
#[must_use]
pub fn routeros_corpus() -> Option<Vec<(String, String)>> {
    let dir = shared_dir()?.join("corpus/routeros");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.extension().is_some_and(|e| e == "rsc"))
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, text)
        })
        .collect();
    files.sort();
    Some(files)
}

/// The project's `../shared/` folder, or `None` (after printing why) when it is absent.
/// Panics when it is absent and `RACKPIPE_REQUIRE_SHARED=1`.
#[must_use]
pub fn shared_dir() -> Option<PathBuf> {
    let dir = project_root().join("../shared");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !shared_required(),
        "../shared/ is missing (RACKPIPE_REQUIRE_SHARED=1: CI lays it beside the checkout)"
    );
    eprintln!(
        "SKIP: ../shared/ is not beside the project root (its extra test data); set RACKPIPE_REQUIRE_SHARED=1 to make this an error"
    );
    None
}

/// Skips the calling test: prints `SKIP: {reason}` and returns `None`, or panics with the
/// reason when `RACKPIPE_REQUIRE_SERVICES=1`. Every skip goes through here (or through
/// [`require_tool`] / [`shared_dir`]), so CI can never pass a test vacuously.
#[must_use]
pub fn skip<T>(reason: &str) -> Option<T> {
    assert!(
        !services_required(),
        "{reason} (RACKPIPE_REQUIRE_SERVICES=1: this test must run)"
    );
    eprintln!("SKIP: {reason}; set RACKPIPE_REQUIRE_SERVICES=1 to make this an error");
    None
}

/// `Some(())` when the test runs as root, else a [`skip`] saying that `needs` (e.g. "the lab
/// (network namespaces)") needs root.
#[must_use]
pub fn require_root(needs: &str) -> Option<()> {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        return Some(());
    }
    skip(&format!("{needs} needs root"))
}

/// The example site `examples/NAME/site.yaml`: its path and bytes. The examples are part of
/// the tree, so a missing one fails the test.
///
/// # Panics
/// When the file cannot be read.
#[must_use]
pub fn example_site(name: &str) -> (PathBuf, Vec<u8>) {
    let path = project_root().join("examples").join(name).join("site.yaml");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, bytes)
}

/// A binary of this workspace in `target/debug` (`cargo build --workspace --bins`), or a
/// [`skip`] naming the build command.
#[must_use]
pub fn workspace_binary(name: &str) -> Option<PathBuf> {
    let path = project_root().join("target/debug").join(name);
    if path.is_file() {
        return Some(path);
    }
    skip(&format!(
        "{} is not built (cargo build --workspace --bins)",
        path.display()
    ))
}

/// The workspace root (the folder holding the top-level `Cargo.toml`).
#[must_use]
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.."))
}

/// An unused TCP port on 127.0.0.1 (bound, then released; callers bind it soon after).
///
/// # Panics
/// When the kernel hands out no port, which only happens on a broken test host.
#[must_use]
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on loopback");
    listener.local_addr().expect("local address").port()
}

/// A child process that is killed and reaped when dropped (also when a test panics).
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Wraps `child`; `name` appears in diagnostics.
    #[must_use]
    pub fn new(name: impl Into<String>, child: Child) -> Self {
        Self {
            child: Some(child),
            name: name.into(),
        }
    }

    /// The operating-system process id.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The name given at creation.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Kills the process now and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `probe` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: std::time::Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if probe() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    probe()
}

/// A fresh temporary directory removed when dropped.
///
/// # Panics
/// When the temporary directory cannot be created.
#[must_use]
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rackpipe-test-")
        .tempdir()
        .expect("create a temp dir")
}
