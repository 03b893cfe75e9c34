//! Throwaway TLS material made with the `openssl` command line, for tests that start real
//! daemons on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `openssl ARGS` in `dir` and returns its stdout.
///
/// # Panics
/// When openssl cannot run or fails (the message has its stderr).
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA and one server certificate for `localhost` and 127.0.0.1 (EC P-256, valid 2 days,
/// serverAuth + clientAuth), as files in one directory.
#[derive(Debug, Clone)]
pub struct LoopbackTls {
    /// The CA certificate (`ca.pem`; its key is `ca.key` beside it).
    pub ca: PathBuf,
    /// The CA certificate's PEM text.
    pub ca_pem: String,
    /// The server certificate (`cert.pem`).
    pub cert: PathBuf,
    /// The server key (`key.pem`).
    pub key: PathBuf,
}

/// Writes a [`LoopbackTls`] into `dir`.
///
/// # Panics
/// When openssl fails or a file cannot be written.
#[must_use]
pub fn loopback_tls(dir: &Path) -> LoopbackTls {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca_args = vec!["req", "-x509"];
    ca_args.extend(ec);
    ca_args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rackpipe test CA",
    ]);
    openssl(dir, &ca_args);
    let mut csr_args = vec!["req"];
    csr_args.extend(ec);
    csr_args.extend([
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr_args);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
         extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    let ca = dir.join("ca.pem");
    LoopbackTls {
        ca_pem: std::fs::read_to_string(&ca).expect("read ca.pem"),
        ca,
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}
