//! A throwaway lab CA made with the `openssl` CLI, and leaf certificates (ECDSA P-256) with
//! IP and DNS subject alternative names for the lab's servers and clients.
//!
//! Private keys are created as empty `0600` files before openssl writes them, so they are
//! never readable by others, not even briefly. The CA lives for [`CA_DAYS`], leaves for
//! [`LEAF_DAYS`]: the lab is rebuilt long before.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Error, Result, create_dir, first_line, io_err, write_file};

/// Validity of the lab CA, in days.
pub const CA_DAYS: u32 = 30;
/// Validity of leaf certificates, in days.
pub const LEAF_DAYS: u32 = 7;

/// The lab CA: `ca.crt` and `ca.key` in `dir`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ca {
    /// The directory holding the CA files (and the serial file).
    pub dir: PathBuf,
    /// The CA certificate (PEM); what clients trust.
    pub cert: PathBuf,
    /// The CA private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Usage {
    /// TLS server (`serverAuth`).
    Server,
    /// TLS client (`clientAuth`).
    Client,
    /// Both (etcd members: server towards clients, client towards peers).
    ServerAndClient,
}

impl Usage {
    fn extended_key_usage(self) -> &'static str {
        match self {
            Self::Server => "serverAuth",
            Self::Client => "clientAuth",
            Self::ServerAndClient => "serverAuth,clientAuth",
        }
    }
}

/// A leaf certificate to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// The subject's common name.
    pub common_name: String,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
    /// DNS subject alternative names.
    pub dns: Vec<String>,
    /// Server, client or both.
    pub usage: Usage,
}

/// An issued key pair, with the CA that signed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertPair {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PEM, mode 0600).
    pub key: PathBuf,
    /// The CA certificate that signed it (PEM).
    pub ca: PathBuf,
}

fn openssl(dir: &Path, what: &str, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| Error::Spawn {
            host: "local".to_owned(),
            program: "openssl".to_owned(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            host: "local".to_owned(),
            what: format!("openssl {what} in {}", dir.display()),
            detail: first_line(&out.stderr),
        })
    }
}

/// Creates (or truncates) `path` as an empty file with mode 0600, for openssl to write a key
/// into: opening an existing file keeps its mode.
fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(path))
}

fn file_name(path: &Path) -> Result<&str> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Invalid(format!("{}: not a file name", path.display())))
}

impl Ca {
    /// Creates a new CA (`ca.crt`, `ca.key`) with subject `CN=<common_name>` in `dir`,
    /// replacing any CA there.
    ///
    /// # Errors
    /// When `dir` cannot be created or openssl fails.
    pub fn create(dir: &Path, common_name: &str) -> Result<Self> {
        create_dir(dir)?;
        let ca = Self::in_dir(dir);
        private_file(&ca.key)?;
        openssl(
            dir,
            "req -x509 (lab CA)",
            &[
                "req",
                "-x509",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                &format!("/CN={common_name}"),
                "-days",
                &CA_DAYS.to_string(),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        Ok(ca)
    }

    /// The CA already in `dir` (as made by [`Ca::create`]); does not check the files.
    #[must_use]
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            cert: dir.join("ca.crt"),
            key: dir.join("ca.key"),
        }
    }

    /// An existing CA from its certificate and private-key files (PEM, e.g. the lab's
    /// `creds/ca.pem`); the serial file goes beside the certificate.
    #[must_use]
    pub fn from_files(cert: &Path, key: &Path) -> Self {
        Self {
            dir: cert.parent().unwrap_or(Path::new(".")).to_path_buf(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }
    }

    /// Issues `<out_dir>/<name>.crt` and `<name>.key` for `spec`, signed by this CA.
    /// Not safe to call concurrently for the same CA (one serial file).
    ///
    /// # Errors
    /// When files cannot be written or openssl fails.
    pub fn issue(&self, out_dir: &Path, name: &str, spec: &LeafSpec) -> Result<CertPair> {
        create_dir(out_dir)?;
        let pair = CertPair {
            cert: out_dir.join(format!("{name}.crt")),
            key: out_dir.join(format!("{name}.key")),
            ca: self.cert.clone(),
        };
        let csr = out_dir.join(format!("{name}.csr"));
        let ext = out_dir.join(format!("{name}.ext"));
        let mut sans: Vec<String> = spec.dns.iter().map(|d| format!("DNS:{d}")).collect();
        sans.extend(spec.ips.iter().map(|ip| format!("IP:{ip}")));
        let mut ext_text = format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={}\n",
            spec.usage.extended_key_usage()
        );
        if !sans.is_empty() {
            ext_text.push_str(&format!("subjectAltName={}\n", sans.join(",")));
        }
        write_file(&ext, &ext_text)?;
        private_file(&pair.key)?;
        let key_name = file_name(&pair.key)?;
        let csr_name = file_name(&csr)?;
        openssl(
            out_dir,
            &format!("req (key and CSR for {name})"),
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                key_name,
                "-out",
                csr_name,
                "-subj",
                &format!("/CN={}", spec.common_name),
            ],
        )?;
        let ca_cert = self.cert.display().to_string();
        let ca_key = self.key.display().to_string();
        let serial = self.dir.join("ca.srl").display().to_string();
        openssl(
            out_dir,
            &format!("x509 -req (sign {name})"),
            &[
                "x509",
                "-req",
                "-in",
                csr_name,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAserial",
                &serial,
                "-CAcreateserial",
                "-days",
                &LEAF_DAYS.to_string(),
                "-extfile",
                file_name(&ext)?,
                "-out",
                file_name(&pair.cert)?,
            ],
        )?;
        let _ = std::fs::remove_file(&csr);
        let _ = std::fs::remove_file(&ext);
        Ok(pair)
    }
}

/// The usual SANs of a lab server: its address, loopback, its name and `localhost`, plus
/// `extra_ips` and `extra_dns` (a VIP, a service name).
#[must_use]
pub fn server_spec(
    name: &str,
    address: IpAddr,
    extra_ips: &[IpAddr],
    extra_dns: &[String],
    usage: Usage,
) -> LeafSpec {
    let mut ips = vec![address, IpAddr::from([127, 0, 0, 1])];
    for ip in extra_ips {
        if !ips.contains(ip) {
            ips.push(*ip);
        }
    }
    let mut dns = vec![name.to_owned(), "localhost".to_owned()];
    for d in extra_dns {
        if !dns.contains(d) {
            dns.push(d.clone());
        }
    }
    LeafSpec {
        common_name: name.to_owned(),
        ips,
        dns,
        usage,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn have_openssl() -> bool {
        Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn issues_a_verifiable_server_cert_with_ip_sans_and_private_keys() {
        if !have_openssl() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("rackpipe-lab-pki-{}", std::process::id()));
        let ca = Ca::create(&dir.join("ca"), "rackpipe lab CA").unwrap();
        let spec = server_spec(
            "vault-1",
            "198.18.0.11".parse().unwrap(),
            &["198.18.0.100".parse().unwrap()],
            &["vault.lab".to_owned()],
            Usage::Server,
        );
        let pair = ca.issue(&dir.join("leaf"), "server", &spec).unwrap();
        let verify = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&ca.cert)
            .arg(&pair.cert)
            .output()
            .unwrap();
        assert!(verify.status.success(), "{verify:?}");
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&pair.cert)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        for want in [
            "IP Address:198.18.0.11",
            "IP Address:198.18.0.100",
            "DNS:vault.lab",
            "TLS Web Server Authentication",
        ] {
            assert!(text.contains(want), "{want} missing in:\n{text}");
        }
        use std::os::unix::fs::PermissionsExt as _;
        for key in [&ca.key, &pair.key] {
            let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
