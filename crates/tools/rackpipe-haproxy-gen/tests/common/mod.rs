//! Test sites and helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use rackpipe_model::Site;

/// A guest of a test site: name and address (with prefix).
pub struct G<'a>(pub &'a str, pub &'a str);

/// A test site: one segment `lan` (`cidr`), the given guests on it, and `lb` as the
/// `load_balancer` section (YAML, indented by two spaces).
pub fn site_yaml(cidr: &str, guests: &[G<'_>], lb: &str) -> String {
    let mut y = String::new();
    writeln!(
        y,
        "apiVersion: rackpipe/v1\nkind: Site\nmetadata: {{name: test-site, domain: test.example}}"
    )
    .unwrap();
    writeln!(y, "segments:\n  - {{name: lan, cidr: {cidr}}}").unwrap();
    writeln!(
        y,
        "proxmox:\n  cluster: c\n  api: {{node: pve1, token: env:PVE_TOKEN}}\n  nodes:\n    - {{name: pve1, address: 198.18.100.1}}\n  storages:\n    - {{name: local-lvm, type: lvmthin, content: [images, rootdir]}}\n  guests:"
    )
    .unwrap();
    for (i, G(name, addr)) in guests.iter().enumerate() {
        writeln!(
            y,
            "    - name: {name}\n      kind: qemu\n      vmid: {}\n      node: pve1\n      cores: 1\n      memory_mib: 256\n      disks: [{{slot: scsi0, storage: local-lvm, size: 4G}}]\n      nics: [{{slot: net0, bridge: vmbr0, address: {addr}, segment: lan}}]\n      source: {{clone: {{vmid: 9000}}}}",
            200 + i
        )
        .unwrap();
    }
    writeln!(y, "load_balancer:\n  allow_colocation: true").unwrap();
    y.push_str(lb);
    y
}

pub fn load(yaml: &str) -> Site {
    match rackpipe_model::load_and_validate("test.yaml", yaml.as_bytes()) {
        Ok(loaded) => loaded.site,
        Err(rackpipe_model::LoadError::Invalid { diagnostics, .. }) => {
            let all: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(ToString::to_string)
                .collect();
            panic!("test site does not load:\n{}\n{yaml}", all.join("\n"))
        }
        Err(e) => panic!("test site does not load: {e}\n{yaml}"),
    }
}

/// A site like the author's: three LB instances, Vault/Consul/K8s/Traefik behind one VIP,
/// SNI passthrough on 443, TLS termination on 8443, stats.
pub fn full_site() -> String {
    let guests = [
        G("lb1", "198.18.0.11/24"),
        G("lb2", "198.18.0.12/24"),
        G("lb3", "198.18.0.13/24"),
        G("vault1", "198.18.0.21/24"),
        G("vault2", "198.18.0.22/24"),
        G("vault3", "198.18.0.23/24"),
        G("k8s1", "198.18.0.31/24"),
        G("k8s2", "198.18.0.32/24"),
        G("web1", "198.18.0.41/24"),
    ];
    let lb = r#"  vips:
    - {name: LB_VIP, address: 198.18.0.254, segment: lan, vrid: 254, interface: eth0, nopreempt: true, unicast: true, auth_pass: "env:RP_TEST_VRRP_PASS", check: {interval: 2, weight: -30, fall: 3, rise: 2}}
  instances:
    - {name: lb1, guest: lb1, priority: 200}
    - {name: lb2, guest: lb2, priority: 110}
    - {name: lb3, guest: lb3, priority: 120}
  stats: {port: 8404, uri: /stats, refresh: 30s}
  services:
    - {name: vault, vip: LB_VIP, port: 8200, mode: tcp, check: vault_active, balance: first, backends: [{target: vault1, port: 8200}, {target: vault2, port: 8200}, {target: vault3, port: 8200}]}
    - {name: consul, vip: LB_VIP, port: 8501, mode: tcp, check: consul_leader, backend_tls: {ca_file: /etc/haproxy/ca/consul-ca.pem}, backends: [{target: vault1, port: 8501}, {target: vault2, port: 8501}, {target: vault3, port: 8501}]}
    - {name: vault-sni, vip: LB_VIP, port: 443, mode: tcp, sni: vault.test.example, check: vault_active, balance: first, backends: [{target: vault1, port: 8200}, {target: vault2, port: 8200}]}
    - {name: ingress-https, vip: LB_VIP, port: 443, mode: tcp, check: tcp, balance: leastconn, backends: [{target: web1, port: 30443}]}
    - {name: ingress-http, vip: LB_VIP, port: 80, mode: http, check: traefik_ping, check_port: 8080, backends: [{target: web1, port: 30080}]}
    - {name: kube-apiserver, vip: LB_VIP, port: 6443, mode: tcp, check: kubernetes_readyz, backend_tls: {ca_file: /etc/kubernetes/pki/ca.crt, server_name: kubernetes}, backends: [{target: k8s1, port: 6443}, {target: k8s2, port: 6443}]}
    - {name: app-tls, vip: LB_VIP, port: 8443, mode: http, sni: app.test.example, tls_certificate: /etc/haproxy/certs/app.pem, check: http, backends: [{target: web1, port: 8080}]}
    - {name: other-tls, vip: LB_VIP, port: 8443, mode: http, tls_certificate: /etc/haproxy/certs/other.pem, check: http, check_interval: 5s, backends: [{target: web1, port: 8081}]}
"#;
    site_yaml("198.18.0.0/24", &guests, lb)
}

/// The example sites, by name.
pub fn example_sites() -> Vec<(String, String)> {
    ["rachuna-net", "rachuna-dev"]
        .into_iter()
        .map(|name| {
            let (_, bytes) = rackpipe_testkit::example_site(name);
            (
                name.to_owned(),
                String::from_utf8(bytes).expect("UTF-8 example"),
            )
        })
        .collect()
}

/// A self-signed cert + key PEM at `path` (for `haproxy -c`, which opens `crt` files).
pub fn placeholder_pem(path: &Path, with_key: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let dir = rackpipe_testkit::temp_dir();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=rackpipe-test",
        ])
        .arg("-keyout")
        .arg(dir.path().join("k.pem"))
        .arg("-out")
        .arg(dir.path().join("c.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let mut pem = std::fs::read_to_string(dir.path().join("c.pem")).unwrap();
    if with_key {
        pem.push_str(&std::fs::read_to_string(dir.path().join("k.pem")).unwrap());
    }
    std::fs::write(path, pem).unwrap();
}

/// A server certificate for `cn`, its CA and its key in one PEM (what a `tls_certificate`
/// secret reference holds), made with rcgen; the same PEM for the whole test binary.
pub fn test_pem() -> String {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rackpipe test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["apps.test.example".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "apps.test.example");
        let cert = params.signed_by(&key, &issuer).unwrap();
        format!("{}{}{}", cert.pem(), ca.pem(), key.serialize_pem())
    })
    .clone()
}

/// Every `crt`/`ca-file` path in a rendered haproxy.cfg.
pub fn referenced_pems(cfg: &str) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    for line in cfg.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            match pair[0] {
                "crt" => out.push((PathBuf::from(pair[1]), true)),
                "ca-file" => out.push((PathBuf::from(pair[1]), false)),
                _ => {}
            }
        }
    }
    out
}

/// A network namespace `rp-<random>` holding a veth end named `iface` (keepalived -t needs
/// the interface to exist); deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn with_interface(iface: &str) -> Option<Self> {
        rackpipe_testkit::require_tool("ip")?;
        let name = format!("rp-{:08x}", rand_u32());
        if !Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                !rackpipe_testkit::services_required(),
                "cannot create a network namespace (needs root)"
            );
            eprintln!("SKIP: cannot create a network namespace (needs root)");
            return None;
        }
        let ns = Self { name };
        let ok = Command::new("ip")
            .args([
                "-n", &ns.name, "link", "add", iface, "type", "veth", "peer", "name", "rpveth0",
            ])
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("ip")
                .args(["-n", &ns.name, "link", "set", iface, "up"])
                .status()
                .is_ok_and(|s| s.success());
        assert!(ok, "cannot create interface {iface} in {}", ns.name);
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// A tiny HTTP/1.1 server on `addr` answering 200 "ok" to everything, on a thread.
pub fn http_ok_server(addr: &str) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
}

/// One HTTP GET over a fresh connection; the status code, or `None` on any failure.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let sock: std::net::SocketAddr = addr.parse().ok()?;
    let mut s =
        std::net::TcpStream::connect_timeout(&sock, std::time::Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Kills the processes whose pid files are given (HAProxy masters started with `-D`).
pub struct PidFiles(pub Vec<PathBuf>);

impl Drop for PidFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            if let Some(pid) = std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}
