//! In-memory cluster state of the simulator.

use std::collections::{BTreeMap, BTreeSet};

use sha1::{Digest, Sha1};

use crate::{FailRule, GuestSpec, StorageSpec};

/// QEMU VM or LXC container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    /// A QEMU/KVM virtual machine.
    Qemu,
    /// An LXC container.
    Lxc,
}

impl GuestKind {
    /// `qemu` or `lxc` (as in `/cluster/resources` and URLs).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::Lxc => "lxc",
        }
    }

    /// `VM` or `CT` (as in error texts).
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Qemu => "VM",
            Self::Lxc => "CT",
        }
    }

    /// `vm` or `ct` (HA resource ids).
    pub(crate) fn ha_prefix(self) -> &'static str {
        match self {
            Self::Qemu => "vm",
            Self::Lxc => "ct",
        }
    }

    /// The config lock file PVE uses.
    pub(crate) fn lock_file(self, vmid: u32) -> String {
        match self {
            Self::Qemu => format!("/var/lock/qemu-server/lock-{vmid}.conf"),
            Self::Lxc => format!("/run/lock/lxc/pve-config-{vmid}.lock"),
        }
    }
}

/// One guest.
#[derive(Debug, Clone)]
pub(crate) struct Guest {
    pub kind: GuestKind,
    pub node: String,
    pub config: BTreeMap<String, String>,
    pub pending: BTreeMap<String, String>,
    pub pending_delete: BTreeSet<String>,
    pub running: bool,
    /// UPID of the task holding the config file lock (flock).
    pub flock: Option<String>,
}

impl Guest {
    /// The config file text (what PVE hashes for `digest`).
    pub fn file_text(&self) -> String {
        let mut out = String::new();
        if let Some(desc) = self.config.get("description") {
            for line in desc.lines() {
                out.push('#');
                out.push_str(line);
                out.push('\n');
            }
        }
        for (k, v) in &self.config {
            if k != "description" {
                out.push_str(&format!("{k}: {v}\n"));
            }
        }
        if !self.pending.is_empty() || !self.pending_delete.is_empty() {
            out.push_str("\n[PENDING]\n");
            for (k, v) in &self.pending {
                out.push_str(&format!("{k}: {v}\n"));
            }
            if !self.pending_delete.is_empty() {
                let list: Vec<&str> = self.pending_delete.iter().map(String::as_str).collect();
                out.push_str(&format!("delete: {}\n", list.join(",")));
            }
        }
        out
    }

    /// SHA-1 hex of the config file, as returned in `digest`.
    pub fn digest(&self) -> String {
        hex::encode(Sha1::digest(self.file_text().as_bytes()))
    }

    /// Applies pending values (what a restart does).
    pub fn apply_pending(&mut self) {
        for (k, v) in std::mem::take(&mut self.pending) {
            self.config.insert(k, v);
        }
        for k in std::mem::take(&mut self.pending_delete) {
            self.config.remove(&k);
        }
    }
}

/// A volume on a storage.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub volid: String,
    pub content: String,
    pub format: String,
    pub size: u64,
    pub vmid: Option<u32>,
    pub ctime: u64,
}

/// A worker task.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u32,
    pub starttime: u64,
    pub kind: String,
    pub id: String,
    pub user: String,
    pub tokenid: Option<String>,
    pub running: bool,
    pub exitstatus: Option<String>,
    pub log: Vec<String>,
}

/// An HA resource.
#[derive(Debug, Clone)]
pub(crate) struct HaResource {
    pub state: String,
    pub group: Option<String>,
    pub comment: Option<String>,
    pub max_restart: i64,
    pub max_relocate: i64,
}

impl HaResource {
    pub fn digest(&self, sid: &str) -> String {
        let text = format!(
            "{sid}\n{}\n{:?}\n{:?}\n{}\n{}\n",
            self.state, self.group, self.comment, self.max_restart, self.max_relocate
        );
        hex::encode(Sha1::digest(text.as_bytes()))
    }
}

/// A resource pool.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pool {
    pub comment: String,
    pub members: BTreeSet<u32>,
}

/// A URL that `download-url` may fetch.
#[derive(Debug, Clone)]
pub(crate) struct RemoteFile {
    pub size: u64,
    pub checksums: BTreeMap<String, String>,
}

/// The whole simulated cluster.
#[derive(Debug)]
pub(crate) struct State {
    pub nodes: Vec<String>,
    pub storages: Vec<StorageSpec>,
    /// (node or `*` for shared storage, storage) → volumes.
    pub volumes: BTreeMap<(String, String), Vec<Volume>>,
    pub guests: BTreeMap<u32, Guest>,
    pub tasks: BTreeMap<String, Task>,
    pub ha: BTreeMap<String, HaResource>,
    pub pools: BTreeMap<String, Pool>,
    pub remote: BTreeMap<String, RemoteFile>,
    pub failures: Vec<FailRule>,
    next_pid: u32,
    next_mac: u32,
    clock: u64,
}

/// `1`/`on`/`yes`/`true` → true.
pub(crate) fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true"))
}

/// Parses `32G`, `512M`, `1.5T`, `1024` (bytes) or `10` with a default unit.
pub(crate) fn parse_size(text: &str, default_unit: u64) -> Option<u64> {
    let (num, mult) = match text.chars().last()? {
        'K' => (&text[..text.len() - 1], 1u64 << 10),
        'M' => (&text[..text.len() - 1], 1 << 20),
        'G' => (&text[..text.len() - 1], 1 << 30),
        'T' => (&text[..text.len() - 1], 1 << 40),
        _ => (text, default_unit),
    };
    let value: f64 = num.parse().ok()?;
    if value.is_nan() || value < 0.0 {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    Some((value * mult as f64) as u64)
}

/// Prints bytes like PVE's `format_size`: the largest exact unit of K/M/G/T.
pub(crate) fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
        let m = 1u64 << shift;
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{}{unit}", bytes / m);
        }
    }
    bytes.to_string()
}

/// PVE's default tag handling: lower-case, de-duplicate, sort, join with `;`.
pub(crate) fn normalise_tags(text: &str) -> String {
    let set: BTreeSet<String> = text
        .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    set.into_iter().collect::<Vec<_>>().join(";")
}

/// Disk keys of a guest kind (`scsi0`, `rootfs`, `mp3`, ...).
pub(crate) fn is_disk_key(kind: GuestKind, key: &str) -> bool {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    match kind {
        GuestKind::Qemu => {
            matches!(
                base,
                "scsi" | "virtio" | "sata" | "ide" | "efidisk" | "tpmstate"
            ) && base.len() < key.len()
        }
        GuestKind::Lxc => key == "rootfs" || (base == "mp" && base.len() < key.len()),
    }
}

impl State {
    pub fn new(nodes: &[String], storages: &[StorageSpec]) -> Self {
        Self {
            nodes: nodes.to_vec(),
            storages: storages.to_vec(),
            volumes: BTreeMap::new(),
            guests: BTreeMap::new(),
            tasks: BTreeMap::new(),
            ha: BTreeMap::new(),
            pools: BTreeMap::new(),
            remote: BTreeMap::new(),
            failures: Vec::new(),
            next_pid: 0x0003_A000,
            next_mac: 0x5E_7A00,
            clock: 1_717_000_000,
        }
    }

    pub fn storage(&self, id: &str) -> Option<&StorageSpec> {
        self.storages.iter().find(|s| s.id == id)
    }

    fn volume_key(&self, node: &str, storage: &str) -> (String, String) {
        let shared = self.storage(storage).is_some_and(|s| s.shared);
        (
            if shared {
                "*".to_owned()
            } else {
                node.to_owned()
            },
            storage.to_owned(),
        )
    }

    pub fn volumes_of(&self, node: &str, storage: &str) -> &[Volume] {
        self.volumes
            .get(&self.volume_key(node, storage))
            .map_or(&[], Vec::as_slice)
    }

    pub fn find_volume(&self, node: &str, volid: &str) -> Option<&Volume> {
        let storage = volid.split_once(':')?.0;
        self.volumes_of(node, storage)
            .iter()
            .find(|v| v.volid == volid)
    }

    pub fn find_volume_mut(&mut self, node: &str, volid: &str) -> Option<&mut Volume> {
        let storage = volid.split_once(':')?.0;
        let key = self.volume_key(node, storage);
        self.volumes
            .get_mut(&key)?
            .iter_mut()
            .find(|v| v.volid == volid)
    }

    pub fn remove_volume(&mut self, node: &str, volid: &str) {
        if let Some(storage) = volid.split_once(':').map(|(s, _)| s) {
            let key = self.volume_key(node, storage);
            if let Some(list) = self.volumes.get_mut(&key) {
                list.retain(|v| v.volid != volid);
            }
        }
    }

    /// The volume IDs a guest owns, on every node and storage.
    pub fn guest_volids(&self, vmid: u32) -> Vec<String> {
        self.volumes
            .values()
            .flatten()
            .filter(|v| v.vmid == Some(vmid))
            .map(|v| v.volid.clone())
            .collect()
    }

    pub fn now(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub fn add_volume(
        &mut self,
        node: &str,
        volid: &str,
        content: &str,
        size: u64,
        vmid: Option<u32>,
    ) -> Result<(), String> {
        if !self.nodes.iter().any(|n| n == node) {
            return Err(format!("unknown node '{node}'"));
        }
        let Some((storage, name)) = volid.split_once(':') else {
            return Err(format!("volume '{volid}' has no storage prefix"));
        };
        if self.storage(storage).is_none() {
            return Err(format!("{volid}: unknown storage '{storage}'"));
        }
        let format = if name.ends_with(".tar.zst") {
            "tzst"
        } else if name.ends_with(".tar.gz") {
            "tgz"
        } else if name.ends_with(".tar.xz") {
            "txz"
        } else if name.ends_with(".iso") {
            "iso"
        } else if name.ends_with(".qcow2") {
            "qcow2"
        } else {
            "raw"
        };
        let ctime = self.now();
        let key = self.volume_key(node, storage);
        let list = self.volumes.entry(key).or_default();
        list.retain(|v| v.volid != volid);
        list.push(Volume {
            volid: volid.to_owned(),
            content: content.to_owned(),
            format: format.to_owned(),
            size,
            vmid,
            ctime,
        });
        Ok(())
    }

    pub fn add_pool(&mut self, poolid: &str, comment: &str) {
        self.pools.entry(poolid.to_owned()).or_default().comment = comment.to_owned();
    }

    pub fn add_remote_file(&mut self, url: &str, size: u64, checksums: &[(&str, &str)]) {
        self.remote.insert(
            url.to_owned(),
            RemoteFile {
                size,
                checksums: checksums
                    .iter()
                    .map(|(a, h)| ((*a).to_owned(), h.to_ascii_lowercase()))
                    .collect(),
            },
        );
    }

    pub fn add_guest(&mut self, spec: GuestSpec) -> Result<(), String> {
        if !self.nodes.contains(&spec.node) {
            return Err(format!("unknown node '{}'", spec.node));
        }
        if self.guests.contains_key(&spec.vmid) {
            return Err(format!("VM {} already exists", spec.vmid));
        }
        let config: BTreeMap<String, String> = spec.config.into_iter().collect();
        for (key, value) in &config {
            if is_disk_key(spec.kind, key) {
                let volid = value.split(',').next().unwrap_or_default();
                let size = value
                    .split(',')
                    .find_map(|p| p.strip_prefix("size="))
                    .and_then(|s| parse_size(s, 1))
                    .unwrap_or(0);
                if volid.contains(':') && !value.contains("media=cdrom") {
                    let content = if spec.kind == GuestKind::Lxc {
                        "rootdir"
                    } else {
                        "images"
                    };
                    self.add_volume(&spec.node, volid, content, size, Some(spec.vmid))?;
                }
            }
        }
        self.guests.insert(
            spec.vmid,
            Guest {
                kind: spec.kind,
                node: spec.node,
                config,
                pending: BTreeMap::new(),
                pending_delete: BTreeSet::new(),
                running: spec.running,
                flock: None,
            },
        );
        Ok(())
    }

    /// A fresh MAC with Proxmox's OUI `BC:24:11`.
    pub fn new_mac(&mut self) -> String {
        self.next_mac = self.next_mac.wrapping_add(1) & 0x00FF_FFFF;
        let m = self.next_mac;
        format!(
            "BC:24:11:{:02X}:{:02X}:{:02X}",
            (m >> 16) & 0xFF,
            (m >> 8) & 0xFF,
            m & 0xFF
        )
    }

    /// The next free `vm-<vmid>-disk-<n>` name on a storage.
    pub fn new_disk_name(&self, node: &str, storage: &str, vmid: u32) -> String {
        let used: BTreeSet<String> = self
            .volumes_of(node, storage)
            .iter()
            .map(|v| v.volid.clone())
            .collect();
        (0..)
            .map(|n| format!("{storage}:vm-{vmid}-disk-{n}"))
            .find(|v| !used.contains(v))
            .unwrap_or_default()
    }

    /// Creates a task record and returns its UPID.
    pub fn new_task(&mut self, node: &str, kind: &str, id: &str, tokenid: &str) -> String {
        self.next_pid += 1;
        let pid = self.next_pid;
        let pstart = 0x0123_AB00 + pid;
        let starttime = self.now();
        let upid =
            format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{id}:{tokenid}:");
        let user = tokenid.split('!').next().unwrap_or(tokenid).to_owned();
        self.tasks.insert(
            upid.clone(),
            Task {
                upid: upid.clone(),
                node: node.to_owned(),
                pid,
                pstart,
                starttime,
                kind: kind.to_owned(),
                id: id.to_owned(),
                user,
                tokenid: tokenid.contains('!').then(|| tokenid.to_owned()),
                running: true,
                exitstatus: None,
                log: Vec::new(),
            },
        );
        upid
    }

    /// Takes the first failure rule matching a task.
    pub fn take_failure(&mut self, kind: &str, id: &str) -> Option<String> {
        let pos = self
            .failures
            .iter()
            .position(|r| r.task_type == kind && r.id.as_deref().is_none_or(|i| i == id))?;
        Some(self.failures.remove(pos).message)
    }

    pub fn pool_of(&self, vmid: u32) -> Option<&str> {
        self.pools
            .iter()
            .find(|(_, p)| p.members.contains(&vmid))
            .map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        assert_eq!(parse_size("32G", 1), Some(32 << 30));
        assert_eq!(parse_size("1.5G", 1), Some(3 << 29));
        assert_eq!(format_size(32 << 30), "32G");
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(1536 << 20), "1536M");
    }

    #[test]
    fn tags_are_normalised() {
        assert_eq!(normalise_tags("Web;db,web k8s"), "db;k8s;web");
    }
}
