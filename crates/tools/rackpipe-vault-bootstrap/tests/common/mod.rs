//! A 3-node OpenBao raft cluster on loopback for the integration tests and the benchmark:
//! TLS from a throwaway CA (openssl, rackpipe-testkit), configs rendered by `rackpipe_vault_bootstrap::render` from a test
//! site, free ports, temp dirs, every server killed on drop.
#![allow(
    dead_code,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rackpipe_testkit::{ChildGuard, free_port, temp_dir, wait_until};
use rackpipe_vault_bootstrap::{ClientOptions, Cluster, RenderOptions, render};

/// A log sink the tests read back (to check that no secret was logged).
pub use rackpipe_testkit::Captured;

pub const DOMAIN: &str = "rachuna-net.pl";

/// The cluster's TLS files (a CA and a loopback server certificate).
pub use rackpipe_testkit::LoopbackTls as Pki;

/// A throwaway CA and one server certificate for 127.0.0.1 / localhost.
pub fn throwaway_tls(dir: &Path) -> Pki {
    rackpipe_testkit::loopback_tls(dir)
}

/// An RSA key pair for minting GitLab-shaped id_tokens with openssl.
pub struct JwtKey {
    pub private: PathBuf,
    pub public_pem: String,
}

pub fn jwt_key(dir: &Path) -> JwtKey {
    let private = dir.join("jwt.key");
    let ok = Command::new("openssl")
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
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .output()
        .unwrap();
    JwtKey {
        private,
        public_pem: String::from_utf8(out.stdout).unwrap(),
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `claims` as an RS256 JWT with `key` (openssl dgst).
pub fn mint_jwt(key: &JwtKey, claims: &serde_json::Value) -> String {
    let header = b64url(br#"{"alg":"RS256","typ":"JWT","kid":"test"}"#);
    let payload = b64url(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key.private)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
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

/// GitLab id_token claims for a job (issuer `https://gitlab.rachuna-net.pl`).
pub fn gitlab_claims(
    project_path: &str,
    project_id: u64,
    git_ref: &str,
    protected: bool,
    aud: &str,
) -> serde_json::Value {
    gitlab_claims_from(
        "https://gitlab.rachuna-net.pl",
        project_path,
        project_id,
        git_ref,
        protected,
        aud,
    )
}

/// GitLab id_token claims for a job, with the issuer.
pub fn gitlab_claims_from(
    issuer: &str,
    project_path: &str,
    project_id: u64,
    git_ref: &str,
    protected: bool,
    aud: &str,
) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    serde_json::json!({
        "iss": issuer,
        "aud": aud,
        "sub": format!("project_path:{project_path}:ref_type:branch:ref:{git_ref}"),
        "jti": format!("jti-{now}-{project_id}"),
        "iat": now, "nbf": now - 5, "exp": now + 300,
        "namespace_id": "7", "namespace_path": project_path.split('/').next().unwrap(),
        "project_id": project_id.to_string(), "project_path": project_path,
        "user_id": "1", "user_login": "maciej", "user_email": "maciej@rachuna-net.pl",
        "pipeline_id": "100", "pipeline_source": "push", "job_id": "200",
        "ref": git_ref, "ref_type": "branch", "ref_protected": if protected { "true" } else { "false" },
    })
}

/// The vault section of the test site (the rachuna-net desired state) with node ports.
pub fn site_yaml(
    ports: &[(u16, u16)],
    tls: &Pki,
    jwt_pub: &str,
    extra_policy_hcl: Option<&str>,
) -> String {
    let nodes: String = ports
        .iter()
        .enumerate()
        .map(|(i, (api, cluster))| {
            format!("    - {{ name: vault{n}, guest: vault-{n}, api_port: {api}, cluster_port: {cluster} }}\n", n = i + 1)
        })
        .collect();
    let pubkey: String = jwt_pub
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let extra = extra_policy_hcl
        .map(|h| {
            let body: String = h.lines().map(|l| format!("          {l}\n")).collect();
            format!("    - name: extra\n      hcl: |\n{body}")
        })
        .unwrap_or_default();
    format!(
        r#"apiVersion: rackpipe/v1
kind: Site
metadata: {{ name: rachuna-net, domain: {DOMAIN} }}
vault:
  fqdn: vault.{DOMAIN}
  implementation: openbao
  nodes:
{nodes}  storage: {{ backend: raft, path: data, performance_multiplier: 1 }}
  tls: {{ cert_file: {cert}, key_file: {key}, ca_file: {ca} }}
  seal: {{ shares: 5, threshold: 3 }}
  audit:
    - {{ name: file, file: audit.log }}
  mounts:
    - {{ path: kv, type: kv-v2, description: "CI and service secrets" }}
    - {{ path: pki, type: pki, max_lease_ttl: 87600h }}
    - {{ path: pki_int, type: pki, max_lease_ttl: 43800h }}
  pki:
    - mount: pki
      common_name: rachuna-net Root CA
      key_type: ec
      key_bits: 384
      ttl: 87600h
      organization: rachuna-net
      urls_base: https://vault.{DOMAIN}:8200
    - mount: pki_int
      signed_by: pki
      common_name: rachuna-net Intermediate CA
      key_type: ec
      key_bits: 256
      ttl: 43800h
      urls_base: https://vault.{DOMAIN}:8200
      roles:
        - name: rachuna-net-pl
          allowed_domains: [{DOMAIN}]
          allow_subdomains: true
          allow_ip_sans: true
          ttl: 24h
          max_ttl: 720h
  policies:
    - name: ci-read
      paths:
        "kv/data/ci/*": [read, list]
        "kv/metadata/ci/*": [list]
    - name: pki-issue
      paths:
        "pki_int/issue/rachuna-net-pl": [update]
{extra}  auth:
    gitlab_jwt:
      path: gitlab
      issuer: https://gitlab.{DOMAIN}
      validation_pubkeys:
        - |
{pubkey}      roles:
        - name: infra-main
          bound_audiences: [https://vault.{DOMAIN}]
          project_paths: [infrastructure/homelab]
          project_ids: [42]
          protected_refs_only: true
          policies: [ci-read, pki-issue]
          token_ttl: 10m
    approles:
      - {{ name: haproxy, policies: [pki-issue], token_ttl: 1h, token_max_ttl: 4h, secret_id_ttl: 720h }}
    users:
      - {{ name: maciej, policies: [ci-read], password: "file:{pw}" }}
"#,
        cert = tls.cert.display(),
        key = tls.key.display(),
        ca = tls.ca.display(),
        pw = tls.ca.with_file_name("userpass.txt").display(),
    )
}

pub fn load_site(yaml: &str) -> rackpipe_model::Site {
    // The test site has no proxmox section, so the cross-section checks of
    // `load_and_validate` (guests exist) do not apply: parse the typed model directly.
    match serde_saphyr::from_str::<rackpipe_model::Site>(yaml) {
        Ok(site) => site,
        Err(e) => panic!("test site invalid: {e}"),
    }
}

/// The example site `name` with its `vault` section adapted to the test cluster: the
/// example's mounts, PKI, policies and auth stay; nodes, storage, TLS, the audit file and the
/// JWT keys (no JWKS fetch from gitlab.com: the network rule) are the test's. OpenBao runs it.
///
/// # Panics
/// When the example is missing or its adapted `vault` section does not fit the model.
pub fn example_site(name: &str, test_yaml: &str, jwt_pub: &str) -> (rackpipe_model::Site, String) {
    let (path, bytes) = rackpipe_testkit::example_site(name);
    let mut doc: serde_json::Value = serde_saphyr::from_slice(&bytes).unwrap();
    let test: serde_json::Value = serde_saphyr::from_str(test_yaml).unwrap();
    let vault = doc
        .get_mut("vault")
        .expect("the example has a vault section");
    for key in ["nodes", "storage", "tls", "audit", "implementation"] {
        vault[key] = test["vault"][key].clone();
    }
    let jwt = vault
        .pointer_mut("/auth/gitlab_jwt")
        .expect("the example has a GitLab JWT auth");
    jwt["validation_pubkeys"] = serde_json::json!([jwt_pub]);
    if let Some(o) = jwt.as_object_mut() {
        o.remove("jwks_url");
    }
    match serde_json::from_value::<rackpipe_model::Site>(doc.clone()) {
        Ok(site) => (site, serde_json::to_string(&doc).unwrap()),
        Err(e) => panic!(
            "{}: the adapted vault section does not fit the model: {e}",
            path.display()
        ),
    }
}

pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    pub api: u16,
    pub guard: Option<ChildGuard>,
}

pub struct TestCluster {
    pub bao: PathBuf,
    pub dir: tempfile::TempDir,
    pub tls: Pki,
    pub jwt: JwtKey,
    pub nodes: Vec<Node>,
    pub site: rackpipe_model::Site,
    pub yaml: String,
}

impl TestCluster {
    /// Renders the configs from the test site and starts three `bao server`s; `None` when bao
    /// is not installed (skip), panics under RACKPIPE_REQUIRE_SERVICES=1.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// Like [`TestCluster::start`], with the rachuna-net example's desired state when
    /// `example` is set.
    pub fn start_with(example: bool) -> Option<Self> {
        Self::start_custom(3, example.then_some("rachuna-net"), None)
    }

    /// `count` nodes, optionally an example's desired state (by name) and a template
    /// override dir.
    pub fn start_custom(
        count: usize,
        example: Option<&str>,
        template_dir: Option<PathBuf>,
    ) -> Option<Self> {
        Self::start_full(count, example, template_dir, None)
    }

    /// `count` nodes of the test site with `extra` (top-level YAML sections, e.g. a
    /// `monitoring:` section) appended.
    pub fn start_with_sections(count: usize, extra: &str) -> Option<Self> {
        Self::start_full(count, None, None, Some(extra))
    }

    fn start_full(
        count: usize,
        example: Option<&str>,
        template_dir: Option<PathBuf>,
        extra: Option<&str>,
    ) -> Option<Self> {
        let bao = rackpipe_testkit::require_tool("bao")?;
        rackpipe_testkit::require_tool("openssl")?;
        let dir = temp_dir();
        let tls = throwaway_tls(dir.path());
        std::fs::write(dir.path().join("userpass.txt"), "test-password-1\n").unwrap();
        let jwt = jwt_key(dir.path());
        let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
        let mut yaml = site_yaml(&ports, &tls, &jwt.public_pem, None);
        if let Some(extra) = extra {
            yaml.push_str(extra);
        }
        let mut site = load_site(&yaml);
        if let Some(name) = example {
            (site, yaml) = example_site(name, &yaml, &jwt.public_pem);
        }
        let hosts: BTreeMap<String, String> = (1..=count)
            .map(|n| (format!("vault{n}"), "127.0.0.1".to_owned()))
            .collect();
        let files = render(
            &site,
            &RenderOptions {
                hosts,
                listen_host: Some("127.0.0.1".into()),
                template_dir,
            },
        )
        .expect("render");
        let mut nodes = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let name = format!("vault{}", i + 1);
            assert_eq!(file.host, format!("vault-{}", i + 1));
            let node_dir = dir.path().join(&name);
            std::fs::create_dir_all(node_dir.join("data")).unwrap();
            std::fs::write(node_dir.join("server.hcl"), &file.content).unwrap();
            nodes.push(Node {
                name,
                dir: node_dir,
                api: ports[i].0,
                guard: None,
            });
        }
        let mut cluster = Self {
            bao,
            dir,
            tls,
            jwt,
            nodes,
            site,
            yaml,
        };
        for i in 0..count {
            cluster.spawn(i);
        }
        for i in 0..count {
            cluster.wait_listening(i);
        }
        Some(cluster)
    }

    pub fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("server.log"))
            .unwrap();
        let child = Command::new(&self.bao)
            .args(["server", "-config=server.hcl", "-log-level=info"])
            .current_dir(&node.dir)
            .env("HOME", &node.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn bao server");
        node.guard = Some(ChildGuard::new(node.name.clone(), child));
    }

    pub fn wait_listening(&self, i: usize) {
        let port = self.nodes[i].api;
        let up = wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "{} did not listen on {port}; log:\n{}",
            self.nodes[i].name,
            self.log(i)
        );
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut g) = self.nodes[i].guard.take() {
            g.kill();
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.join("server.log")).unwrap_or_default()
    }

    pub fn urls(&self) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), format!("https://127.0.0.1:{}", n.api)))
            .collect()
    }

    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            ca_pem: Some(self.tls.ca_pem.clone()),
            timeout: Some(Duration::from_secs(10)),
        }
    }

    pub fn cluster(&self) -> Cluster {
        Cluster::new(&self.urls(), &self.client_options()).unwrap()
    }

    /// Initialises the cluster (`shares` keys, `threshold` to unseal, kept in `keys.json` of
    /// the test directory), unseals every node and returns the first node's client with the
    /// root token.
    pub async fn bootstrap(&self, shares: u8, threshold: u8) -> rackpipe_vault_bootstrap::Client {
        let cluster = self.cluster();
        let keys_file = self.dir.path().join("keys.json");
        rackpipe_vault_bootstrap::init(
            &cluster,
            &rackpipe_vault_bootstrap::InitOptions {
                shares,
                threshold,
                keys_file: Some(keys_file.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let keys = rackpipe_vault_bootstrap::keys_from_file(&keys_file).unwrap();
        let root = rackpipe_vault_bootstrap::root_token_from_file(&keys_file).unwrap();
        rackpipe_vault_bootstrap::unseal(
            &cluster,
            &keys[..usize::from(threshold)],
            &rackpipe_vault_bootstrap::UnsealOptions {
                leader_ca_pem: Some(self.tls.ca_pem.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        cluster.nodes()[0]
            .clone()
            .with_token(rackpipe_vault_bootstrap::Secret::new(root.expose()))
    }
}
