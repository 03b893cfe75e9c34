//! A 3-member mTLS etcd cluster on free loopback ports with a throwaway CA (openssl CLI),
//! killed on drop, data in temp dirs.
#![allow(dead_code, clippy::print_stderr, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rackpipe_etcd_backup::{Target, TlsFiles};
use rackpipe_testkit::{ChildGuard, free_port, require_tool, temp_dir, wait_until};

/// Whether etcd, etcdctl and openssl are present (else the test is skipped, or fails in CI).
pub fn tools() -> bool {
    require_tool("etcd").is_some()
        && require_tool("etcdctl").is_some()
        && require_tool("openssl").is_some()
}

use rackpipe_testkit::openssl;

/// Makes `<name>.key`/`<name>.crt` signed by `<ca>`, with loopback SANs and both EKUs.
fn leaf(dir: &Path, ca: &str, name: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .expect("write ext");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.key"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.key"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// The throwaway PKI: the cluster's CA, a server/peer cert, a good client cert, and a client
/// cert plus CA from a second, unrelated CA.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        ca(dir, "ca");
        leaf(dir, "ca", "server");
        leaf(dir, "ca", "client");
        ca(dir, "otherca");
        leaf(dir, "otherca", "rogue");
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn client(&self) -> TlsFiles {
        TlsFiles {
            ca: self.path("ca.crt"),
            cert: self.path("client.crt"),
            key: self.path("client.key"),
        }
    }
}

/// One member process.
pub struct Node {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub guard: ChildGuard,
}

/// The cluster; members die with it.
pub struct Cluster {
    pub tmp: tempfile::TempDir,
    pub pki: Pki,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts `n` members and waits until a write succeeds.
    pub async fn start(n: usize) -> Self {
        let tmp = temp_dir();
        let pki = Pki::new(tmp.path());
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{}=https://127.0.0.1:{p}", i + 1))
            .collect();
        let initial = initial.join(",");
        let mut nodes = Vec::new();
        for (i, (c, p)) in ports.iter().enumerate() {
            let name = format!("m{}", i + 1);
            let client_url = format!("https://127.0.0.1:{c}");
            let peer_url = format!("https://127.0.0.1:{p}");
            let log =
                std::fs::File::create(tmp.path().join(format!("{name}.log"))).expect("log file");
            let child = Command::new("etcd")
                .args(["--name", &name])
                .arg("--data-dir")
                .arg(tmp.path().join(format!("{name}.etcd")))
                .args([
                    "--listen-client-urls",
                    &client_url,
                    "--advertise-client-urls",
                    &client_url,
                ])
                .args([
                    "--listen-peer-urls",
                    &peer_url,
                    "--initial-advertise-peer-urls",
                    &peer_url,
                ])
                .args([
                    "--initial-cluster",
                    &initial,
                    "--initial-cluster-token",
                    "rackpipe-test",
                ])
                .args([
                    "--initial-cluster-state",
                    "new",
                    "--logger",
                    "zap",
                    "--log-outputs",
                    "stderr",
                ])
                .arg("--cert-file")
                .arg(pki.path("server.crt"))
                .arg("--key-file")
                .arg(pki.path("server.key"))
                .arg("--trusted-ca-file")
                .arg(pki.path("ca.crt"))
                .arg("--client-cert-auth")
                .arg("--peer-cert-file")
                .arg(pki.path("server.crt"))
                .arg("--peer-key-file")
                .arg(pki.path("server.key"))
                .arg("--peer-trusted-ca-file")
                .arg(pki.path("ca.crt"))
                .arg("--peer-client-cert-auth")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn etcd");
            nodes.push(Node {
                name,
                client_url,
                peer_url,
                guard: ChildGuard::new(format!("etcd m{}", i + 1), child),
            });
        }
        let cluster = Self { tmp, pki, nodes };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = cluster.client().await
                && c.put("/ready", "1", None).await.is_ok()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cluster did not become ready; logs in {}",
                cluster.tmp.path().display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        cluster
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.client_url.clone()).collect()
    }

    pub fn target(&self) -> Target {
        let mut t = Target::new(self.endpoints(), Some(self.pki.client()));
        t.connect_timeout = Duration::from_secs(3);
        t
    }

    /// A client to the first running member.
    pub async fn client(&self) -> rackpipe_etcd_backup::Result<etcd_client::Client> {
        let target = self.target();
        let mut last = None;
        for ep in &target.endpoints {
            match rackpipe_etcd_backup::connect(ep, &target).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(rackpipe_etcd_backup::Error::NoEndpoints("cluster".into())))
    }
}

/// A single plain-HTTP member on `data_dir` (a restored data dir), returning its guard and URL.
pub fn start_restored(data_dir: &Path, name: &str, peer_url: &str) -> (ChildGuard, String) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(data_dir.with_extension("log")).expect("log");
    let child = Command::new("etcd")
        .args(["--name", name])
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
        ])
        .args(["--logger", "zap", "--log-outputs", "stderr"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn etcd");
    let guard = ChildGuard::new(format!("restored {name}"), child);
    let ok = wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(ok, "restored etcd did not listen");
    (guard, url)
}

/// Checks a printed document against the committed schema of its `kind`
/// ([`rackpipe_etcd_backup::documents::schemas`]).
pub fn assert_matches_schema(document: &impl serde::Serialize) {
    let value = serde_json::to_value(document).unwrap();
    assert_eq!(
        rackpipe_model::schema::check_kind(&rackpipe_etcd_backup::documents::schemas(), &value),
        Ok(Vec::new()),
        "{value}"
    );
}
