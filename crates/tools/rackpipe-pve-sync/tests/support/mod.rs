//! Shared helpers: a simulator shaped like a site's cluster, a client, a small site.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    dead_code
)]

use std::path::PathBuf;
use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_model::types::SecretRef;
use rackpipe_proxmox::{ApiToken, Client, ClientOptions};
use rackpipe_pve_sim::{GuestKind, GuestSpec, SimConfig, Simulator, StorageSpec, TokenSpec};
use rackpipe_pve_sync::SecretSource;

pub const TOKEN: &str = "ci@pve!sync=4f1c-secret";

/// SSH keys and other refs resolve to a fixed public key.
pub struct FakeSecrets;

impl SecretSource for FakeSecrets {
    fn resolve(
        &self,
        _: &SecretRef,
        _: &str,
    ) -> Result<rackpipe_secrets::Secret, rackpipe_secrets::Error> {
        Ok(rackpipe_secrets::Secret::new(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKxx ci@rackpipe",
        ))
    }
}

pub fn schema() -> Option<PathBuf> {
    Some(rackpipe_pve_sim::bundled_schema())
}

pub fn load_site(yaml: &str) -> Site {
    match rackpipe_model::load_and_validate("test-site.yaml", yaml.as_bytes()) {
        Ok(l) => l.site,
        Err(e) => panic!("{e:?}"),
    }
}

pub fn example(name: &str) -> Option<Site> {
    let (path, bytes) = rackpipe_testkit::example_site(name);
    match rackpipe_model::load_and_validate(&path.display().to_string(), &bytes) {
        Ok(l) => Some(l.site),
        Err(e) => panic!("{}: {e:?}", path.display()),
    }
}

/// A simulator whose nodes and storages are the site's, with every clone template the
/// site names and every template URL registered.
pub async fn sim_for(
    site: &Site,
    schema: PathBuf,
    tweak: impl FnOnce(&mut SimConfig),
) -> Simulator {
    let pve = site.proxmox.as_ref().unwrap();
    let mut cfg = SimConfig::new(schema);
    cfg.nodes = pve.nodes.iter().map(|n| n.name.to_string()).collect();
    cfg.storages = pve
        .storages
        .iter()
        .map(|s| {
            let content: Vec<String> = s
                .content
                .iter()
                .map(|c| {
                    serde_json::to_value(c)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            let refs: Vec<&str> = content.iter().map(String::as_str).collect();
            StorageSpec::new(s.name.as_str(), &s.kind, &refs, s.shared)
        })
        .collect();
    cfg.lock_wait = Duration::from_millis(300);
    cfg.task_duration = Duration::from_millis(20);
    cfg.tokens.push(TokenSpec {
        tokenid: "ci@pve!sync".into(),
        secret: "4f1c-secret".into(),
        privileges: None,
    });
    tweak(&mut cfg);
    let sim = Simulator::start(cfg).await.unwrap();
    let first_node = pve.nodes[0].name.to_string();
    let mut seeded = std::collections::BTreeSet::new();
    for g in &pve.guests {
        if let rackpipe_model::proxmox::GuestSource::Clone { vmid, .. } = g.source
            && seeded.insert(vmid)
        {
            let storage = g.disks[0].storage.to_string();
            sim.add_guest(GuestSpec {
                vmid,
                kind: GuestKind::Qemu,
                node: first_node.clone(),
                config: vec![
                    ("template".into(), "1".into()),
                    ("name".into(), format!("tmpl-{vmid}")),
                    ("cores".into(), "1".into()),
                    ("memory".into(), "1024".into()),
                    (
                        "scsi0".into(),
                        format!("{storage}:base-{vmid}-disk-0,size=4G"),
                    ),
                    (
                        "ide2".into(),
                        format!("{storage}:vm-{vmid}-cloudinit,media=cdrom"),
                    ),
                    (
                        "net0".into(),
                        "virtio=BC:24:11:00:00:01,bridge=vmbr0".into(),
                    ),
                ],
                running: false,
            })
            .unwrap();
        }
    }
    for t in &pve.templates {
        // The remote file has the checksum the site expects, under the site's algorithm.
        let algorithm = t
            .checksum_algorithm
            .and_then(|a| serde_json::to_value(a).ok())
            .and_then(|v| v.as_str().map(str::to_owned));
        let sums: Vec<(&str, &str)> = match (&t.checksum, &algorithm) {
            (Some(s), Some(a)) => vec![(a.as_str(), s.as_str())],
            _ => vec![],
        };
        sim.add_remote_file(&t.url, 200 << 20, &sums);
    }
    sim
}

pub fn client(sim: &Simulator) -> Client {
    client_with(sim, TOKEN, Duration::from_secs(10))
}

pub fn client_with(sim: &Simulator, token: &str, request_timeout: Duration) -> Client {
    let mut opts = ClientOptions::new(&sim.base_url(), ApiToken::parse(token).unwrap());
    opts.task_poll_interval = Duration::from_millis(10);
    opts.task_timeout = Duration::from_secs(20);
    opts.request_timeout = request_timeout;
    Client::new(opts).unwrap()
}

pub fn assert_schema_clean(sim: &Simulator) {
    let stats = sim.stats();
    assert!(
        stats.rejected.is_empty(),
        "pve-sync sent requests PVE would refuse: {:?}",
        stats.rejected
    );
    assert!(stats.unimplemented.is_empty(), "{:?}", stats.unimplemented);
}

/// A small site: two containers (one from a downloaded template, privileged with
/// features) and two VM clones of template 9000 (one without a declared VMID).
pub const SMALL_SITE: &str = r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {name: small, domain: small.test}
proxmox:
  cluster: small
  api: {node: pve1, token: "env:PVE_TOKEN"}
  nodes:
    - {name: pve1, address: 10.9.0.1, bridges: [vmbr0, vmbr1]}
    - {name: pve2, address: 10.9.0.2}
  storages:
    - {name: local, type: dir, content: [vztmpl, iso, backup]}
    - {name: local-lvm, type: lvmthin, content: [images, rootdir]}
    - {name: nfs, type: nfs, content: [vztmpl, images, rootdir], shared: true}
  pools:
    - {name: apps, comment: Apps}
  templates:
    - name: debian-12
      storage: nfs
      node: pve1
      url: http://download.example.invalid/debian-12-standard_12.7-1_amd64.tar.zst
      file_name: debian-12-standard_12.7-1_amd64.tar.zst
      content: vztmpl
      checksum: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      checksum_algorithm: sha256
  guests:
    - name: ct-a
      kind: lxc
      vmid: 201
      node: pve1
      pool: apps
      cores: 2
      memory_mib: 1024
      swap_mib: 256
      disks:
        - {slot: rootfs, storage: local-lvm, size: 8G}
        - {slot: mp0, storage: local-lvm, size: 4G, mountpoint: /srv}
      nics:
        - {slot: net0, bridge: vmbr0, vlan: 10, mac: "BC:24:11:AA:00:01", firewall: true, address: 10.9.1.10/24}
      source: {template: debian-12}
      unprivileged: false
      features: {nesting: true, keyctl: true}
      tags: [Web, db, web]
      description: container a
      onboot: true
      protection: true
    - name: ct-b
      kind: lxc
      vmid: 202
      node: pve2
      cores: 1
      memory_mib: 512
      disks:
        - {slot: rootfs, storage: nfs, size: 4G}
      nics:
        - {slot: net0, bridge: vmbr0, address: 10.9.1.11/24, static_address: true}
      source: {template: debian-12}
      running: false
    - name: vm-a
      kind: qemu
      vmid: 301
      node: pve1
      pool: apps
      cores: 2
      memory_mib: 2048
      disks:
        - {slot: scsi0, storage: local-lvm, size: 16G}
      nics:
        - {slot: net0, bridge: vmbr1, vlan: 20, mac: "BC:24:11:BB:00:01", firewall: true, address: 10.9.2.10/24, static_address: true}
      source: {clone: {vmid: 9000, full: true}}
      tags: [k8s]
      onboot: true
      ha: true
      cloud_init:
        user: admin
        ssh_keys: ["env:SSH_KEY"]
    - name: vm-b
      kind: qemu
      node: pve1
      cores: 1
      memory_mib: 1024
      disks:
        - {slot: scsi0, storage: local-lvm, size: 4G}
      nics:
        - {slot: net0, bridge: vmbr0}
      source: {clone: {vmid: 9000, full: false}}
"#;
