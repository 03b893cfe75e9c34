//! Shared test helpers: a small site of our own (the example sites are tested separately).
#![allow(dead_code, clippy::print_stderr, clippy::missing_panics_doc)]

use rackpipe_model::Site;

/// A site whose NAS exports live under `root`, served by `server` (a YAML flow mapping).
pub fn site_yaml(root: &str, server: &str) -> String {
    format!(
        r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {{name: lab, domain: lab.example}}
segments:
  - {{name: storage, cidr: 198.18.10.0/24}}
  - {{name: apps, cidr: 198.18.20.0/24}}
  - {{name: proxmox, cidr: 198.18.30.0/24}}
hosts:
  - {{name: nas, fqdn: nas.lab.example, address: 198.18.10.11, segment: storage}}
proxmox:
  cluster: lab
  api: {{node: pve-1, token: "env:PVE_TOKEN"}}
  nodes:
    - {{name: pve-1, address: 198.18.30.11}}
  storages:
    - {{name: nas-images, type: nfs, content: [images], shared: true, export: pve}}
  guests:
    - name: runner-1
      kind: lxc
      node: pve-1
      cores: 2
      memory_mib: 2048
      disks: [{{slot: rootfs, storage: nas-images, size: 8G}}]
      nics: [{{slot: net0, bridge: vmbr0, address: 198.18.20.2/24, segment: apps}}]
      source: {{template: debian}}
    - name: k8s-1
      kind: qemu
      node: pve-1
      cores: 2
      memory_mib: 4096
      disks: [{{slot: scsi0, storage: nas-images, size: 32G}}]
      nics: [{{slot: net0, bridge: vmbr0, address: 198.18.20.5/24, segment: apps}}]
      source: {{clone: {{vmid: 9000}}}}
nas:
  host: nas
  server: {server}
  exports:
    - name: runner-cache
      path: {root}/runner-cache
      clients:
        - {{segment: apps, rw: true}}
    - name: k8s-prod
      path: {root}/k8s-prod
      clients:
        - {{address: 198.18.20.5, rw: true, squash: none}}
        - {{host: "*.lab.example", sec: [sys, krb5]}}
    - name: k8s-nonprod
      path: {root}/k8s-nonprod
      clients:
        - {{segment: apps, rw: true, squash: all, anonuid: 1000, anongid: 1000}}
    - name: pve
      path: {root}/pve
      clients:
        - {{segment: proxmox, rw: true, squash: none, insecure: true, fsid: "17", crossmnt: true}}
        - {{network: 198.18.40.0/24, subtree_check: true}}
runners:
  gitlab_url: https://gitlab.com
  cache:
    export: runner-cache
    mountpoint: /cache
    options: [rw, soft, timeo=10, retrans=3, noatime]
  runners:
    - {{name: r1, guest: runner-1, executor: docker}}
kubernetes:
  cluster_name: lab
  version: v1.31.4
  control_plane: {{service: kube-apiserver, dns_name: k8s.lab.example}}
  pod_subnet: 10.244.0.0/16
  service_subnet: 10.96.0.0/12
  cni: {{name: calico, version: v3.29.1}}
  ingress: {{name: traefik, http_node_port: 30080, https_node_port: 30443}}
  masters:
    - {{name: k8s-1, guest: k8s-1}}
  storage_classes:
    - {{name: nfs-prod, export: k8s-prod, default: true, reclaim_policy: Retain}}
    - {{name: nfs-nonprod, export: k8s-nonprod, reclaim_policy: Delete}}
"#
    )
}

/// The Linux flavour of the test site.
pub const LINUX: &str = "{kind: linux, ssh_user: root}";

/// Parses and type-checks a site (schema + types; the tool's own checks are what we test).
pub fn load(yaml: &str) -> Site {
    match rackpipe_model::load("test.yaml", yaml.as_bytes()) {
        Ok((site, _)) => site,
        Err(e) => panic!("test site does not load: {e}"),
    }
}

/// Edits the YAML text and deserializes it WITHOUT the JSON Schema, so the tool's own checks
/// are what stands between bad input and a rendered file.
pub fn load_with(root: &str, server: &str, edit: impl Fn(String) -> String) -> Site {
    let yaml = edit(site_yaml(root, server));
    let parsed = rackpipe_model::load::parse("test.yaml", yaml.as_bytes()).expect("YAML parses");
    serde_json::from_value(parsed.value).expect("site deserializes")
}

/// insta settings that put snapshots in this crate's `tests/snapshots`.
pub fn snapshots() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
    settings
}

/// A sandbox in which `exportfs` runs for real without touching this machine's NFS state:
/// each call enters a private mount namespace where `/etc` is an overlay (so
/// `/etc/exports.d` can exist), `/etc/exports` is empty, `/etc/exports.d` is the sandbox's
/// `exports.d` and `/var/lib/nfs` its `state`. Nothing is written outside the temp dir.
pub struct ExportfsSandbox {
    pub dir: tempfile::TempDir,
}

impl ExportfsSandbox {
    /// `None` (skipped) when exportfs or unshare are missing.
    pub fn new() -> Option<Self> {
        rackpipe_testkit::require_tool("exportfs")?;
        rackpipe_testkit::require_tool("unshare")?;
        let dir = rackpipe_testkit::temp_dir();
        for sub in ["upper", "work", "exports.d", "state", "root"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let script = format!(
            r#"#!/bin/sh
# exportfs in a private mount namespace (rackpipe-nfs-export tests); nothing outside {s} changes.
exec unshare --mount --propagation private /bin/sh -c '
  S="$1"; shift
  mount -t overlay overlay -o lowerdir=/etc,upperdir="$S/upper",workdir="$S/work" /etc || exit 97
  mkdir -p /etc/exports.d && : > /etc/exports || exit 97
  mount --bind "$S/exports.d" /etc/exports.d || exit 97
  mount --bind "$S/state" /var/lib/nfs || exit 97
  exec exportfs "$@"' sh {s} "$@"
"#,
            s = dir.path().display()
        );
        let path = dir.path().join("exportfs-sandbox");
        std::fs::write(&path, script).unwrap();
        std::process::Command::new("chmod")
            .arg("0755")
            .arg(&path)
            .status()
            .unwrap();
        Some(Self { dir })
    }

    /// The wrapper to call instead of `exportfs`.
    pub fn exportfs(&self) -> String {
        self.dir
            .path()
            .join("exportfs-sandbox")
            .display()
            .to_string()
    }

    /// The directory standing in for `/etc/exports.d`.
    pub fn exports_d(&self) -> std::path::PathBuf {
        self.dir.path().join("exports.d")
    }

    /// A root for export paths that exist (exportfs stats them).
    pub fn root(&self) -> String {
        self.dir.path().join("root").display().to_string()
    }

    /// Runs the wrapper: (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(self.exportfs())
            .args(args)
            .output()
            .expect("run exportfs sandbox");
        assert_ne!(
            out.status.code(),
            Some(97),
            "sandbox setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}
