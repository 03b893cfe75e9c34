//! The checks of what mounts the exports: every export a consumer names exists, lets the
//! consumer's machines in (runners, Kubernetes nodes, Proxmox nodes, backup hosts) and is
//! mounted with options that do not contradict each other.

use std::net::IpAddr;

use rackpipe_model::nas::{Export, Nas, NfsMount};
use rackpipe_model::{Diagnostic, Site};

use super::client_spec;
use super::export_checks::check_path;
use crate::exports::is_under;

/// A machine that mounts an export: its label, addresses and names.
#[derive(Debug, Clone)]
struct Consumer {
    label: String,
    addresses: Vec<IpAddr>,
    names: Vec<String>,
}

fn guest_consumer(site: &Site, guest: &str, label: String) -> Option<Consumer> {
    let guest = site
        .proxmox
        .as_ref()?
        .guests
        .iter()
        .find(|g| g.name == *guest)?;
    let addresses: Vec<IpAddr> = guest
        .nics
        .iter()
        .filter_map(|n| n.address.map(|a| a.ip()))
        .collect();
    let mut names = vec![guest.name.to_string()];
    if let Some(fqdn) = &guest.fqdn {
        names.push(fqdn.to_string());
    } else {
        names.push(format!("{}.{}", guest.name, site.metadata.domain));
    }
    Some(Consumer {
        label,
        addresses,
        names,
    })
}

/// Mount options rackpipe knows for `nfs`/`nfs4` mounts.
const MOUNT_OPTIONS: &[&str] = &[
    "rw",
    "ro",
    "soft",
    "hard",
    "softerr",
    "intr",
    "nointr",
    "timeo",
    "retrans",
    "noatime",
    "atime",
    "relatime",
    "nodiratime",
    "sync",
    "async",
    "nfsvers",
    "vers",
    "proto",
    "port",
    "rsize",
    "wsize",
    "sec",
    "tcp",
    "udp",
    "_netdev",
    "nofail",
    "noauto",
    "auto",
    "x-systemd.automount",
    "x-systemd.mount-timeout",
    "x-systemd.idle-timeout",
    "actimeo",
    "acregmin",
    "acregmax",
    "acdirmin",
    "acdirmax",
    "lookupcache",
    "nconnect",
    "local_lock",
    "lock",
    "nolock",
    "noexec",
    "exec",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "bg",
    "fg",
    "retry",
    "minorversion",
    "clientaddr",
    "mountproto",
    "mountport",
    "namlen",
    "fsc",
    "nofsc",
    "cto",
    "nocto",
    "ac",
    "noac",
    "resvport",
    "noresvport",
    "user",
    "nouser",
    "defaults",
];

const MOUNT_CONTRADICTIONS: &[(&str, &str)] = &[
    ("rw", "ro"),
    ("soft", "hard"),
    ("softerr", "hard"),
    ("sync", "async"),
    ("noatime", "atime"),
    ("lock", "nolock"),
    ("tcp", "udp"),
    ("auto", "noauto"),
    ("intr", "nointr"),
    ("exec", "noexec"),
    ("ac", "noac"),
];

/// Every place the site names an export: (field path of the `export` key, export name).
pub(super) fn consumer_refs(site: &Site) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    if let Some(runners) = &site.runners {
        refs.push((
            "runners.cache.export".to_owned(),
            runners.cache.export.to_string(),
        ));
    }
    if let Some(k8s) = &site.kubernetes {
        for (i, class) in k8s.storage_classes.iter().enumerate() {
            refs.push((
                format!("kubernetes.storage_classes[{i}].export"),
                class.export.to_string(),
            ));
        }
    }
    if let Some(pve) = &site.proxmox {
        for (i, storage) in pve.storages.iter().enumerate() {
            if let Some(export) = &storage.export {
                refs.push((format!("proxmox.storages[{i}].export"), export.to_string()));
            }
        }
    }
    if let Some(backups) = &site.backups {
        for (name, job) in [("etcd", &backups.etcd), ("router", &backups.router)] {
            if let Some(job) = job {
                refs.push((
                    format!("backups.{name}.destination.export"),
                    job.destination.export.to_string(),
                ));
            }
        }
    }
    refs
}

#[allow(clippy::too_many_lines)]
pub(super) fn check_consumers(site: &Site, nas: &Nas, out: &mut Vec<Diagnostic>) {
    let find = |name: &str| nas.exports.iter().position(|e| e.name == *name);
    for (field, name) in consumer_refs(site) {
        if find(&name).is_none() {
            let known: Vec<&str> = nas.exports.iter().map(|e| e.name.as_str()).collect();
            out.push(Diagnostic::error(
                "missing-export",
                field,
                format!("export {name:?} is needed here but nas.exports does not define it (exports: {})", known.join(", ")),
            ));
        }
    }
    // Who must be allowed, and whether they write.
    let mut needs: Vec<(String, usize, Consumer, bool)> = Vec::new();
    if let Some(runners) = &site.runners {
        check_mount(nas, &runners.cache, "runners.cache", out);
        if let Some(index) = find(runners.cache.export.as_str()) {
            let writes = !runners.cache.options.iter().any(|o| o == "ro");
            for (i, runner) in runners.runners.iter().enumerate() {
                match guest_consumer(site, runner.guest.as_str(), format!("runner {:?} (runners.runners[{i}])", runner.name.as_str())) {
                    Some(c) => needs.push(("runners.cache.export".to_owned(), index, c, writes)),
                    None => out.push(Diagnostic::warning(
                        "unknown-consumer",
                        format!("runners.runners[{i}].guest"),
                        format!("guest {:?} is not in proxmox.guests, so its access to the cache export cannot be checked", runner.guest.as_str()),
                    )),
                }
            }
        }
    }
    if let Some(k8s) = &site.kubernetes {
        for (i, class) in k8s.storage_classes.iter().enumerate() {
            let Some(index) = find(class.export.as_str()) else {
                continue;
            };
            for node in k8s.masters.iter().chain(&k8s.workers) {
                if let Some(c) = guest_consumer(
                    site,
                    node.guest.as_str(),
                    format!("Kubernetes node {:?}", node.name.as_str()),
                ) {
                    needs.push((
                        format!("kubernetes.storage_classes[{i}].export"),
                        index,
                        c,
                        true,
                    ));
                }
            }
            if !["Delete", "Retain"].contains(&class.reclaim_policy.as_str()) {
                out.push(Diagnostic::error(
                    "invalid-value",
                    format!("kubernetes.storage_classes[{i}].reclaim_policy"),
                    format!("{:?} is not Delete or Retain", class.reclaim_policy),
                ));
            }
        }
    }
    if let Some(pve) = &site.proxmox {
        for (i, storage) in pve.storages.iter().enumerate() {
            let Some(export) = &storage.export else {
                continue;
            };
            let Some(index) = find(export.as_str()) else {
                continue;
            };
            for node in &pve.nodes {
                let c = Consumer {
                    label: format!("Proxmox node {:?}", node.name.as_str()),
                    addresses: vec![node.address],
                    names: vec![node.name.to_string()],
                };
                needs.push((format!("proxmox.storages[{i}].export"), index, c, true));
            }
        }
    }
    if let Some(backups) = &site.backups {
        for (name, job) in [("etcd", &backups.etcd), ("router", &backups.router)] {
            if let Some(job) = job {
                let sub = &job.destination.subdir;
                if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                    out.push(Diagnostic::error(
                        "invalid-path",
                        format!("backups.{name}.destination.subdir"),
                        format!("{sub:?} must be a relative path inside the export without '..'"),
                    ));
                }
            }
        }
    }
    for (field, index, consumer, writes) in needs {
        let export = &nas.exports[index];
        let mut matched = None;
        for (j, client) in export.clients.iter().enumerate() {
            if let Ok(spec) = client_spec(site, client, "")
                && spec.matches(&consumer.addresses, &consumer.names)
            {
                matched = Some((j, client));
                break;
            }
        }
        let addrs: Vec<String> = consumer.addresses.iter().map(ToString::to_string).collect();
        match matched {
            None => out.push(Diagnostic::error(
                "consumer-not-allowed",
                field,
                format!(
                    "export {:?} ({}) does not allow {} ({}); add its segment or address to nas.exports[{index}].clients",
                    export.name.as_str(),
                    export.path,
                    consumer.label,
                    if addrs.is_empty() { "no address known".to_owned() } else { addrs.join(", ") }
                ),
            )),
            Some((j, client)) if writes && !client.rw => out.push(Diagnostic::error(
                "consumer-read-only",
                field,
                format!(
                    "{} writes to export {:?}, but nas.exports[{index}].clients[{j}] gives it read-only access",
                    consumer.label,
                    export.name.as_str()
                ),
            )),
            Some(_) => {}
        }
    }
}

/// Checks a consumer's mount: the path it mounts must be offered by an export, its options
/// must not contradict each other.
pub(crate) fn check_mount(nas: &Nas, mount: &NfsMount, field: &str, out: &mut Vec<Diagnostic>) {
    check_path(&mount.mountpoint, &format!("{field}.mountpoint"), out);
    if let Some(path) = &mount.path {
        let offering: Option<&Export> = nas
            .exports
            .iter()
            .find(|e| e.path == *path || is_under(path, &e.path));
        match (
            offering,
            nas.exports.iter().find(|e| e.name == mount.export),
        ) {
            (None, _) => out.push(Diagnostic::error(
                "path-not-exported",
                format!("{field}.path"),
                format!(
                    "no export offers {path}; exported paths: {}",
                    nas.exports
                        .iter()
                        .map(|e| e.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            (Some(offer), Some(named)) if offer.name != named.name => out.push(Diagnostic::error(
                "path-not-exported",
                format!("{field}.path"),
                format!(
                    "{path} is offered by export {:?}, not by {:?} named in {field}.export",
                    offer.name.as_str(),
                    named.name.as_str()
                ),
            )),
            _ => {}
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (k, option) in mount.options.iter().enumerate() {
        let name = option.split_once('=').map_or(option.as_str(), |(n, _)| n);
        if !MOUNT_OPTIONS.contains(&name) {
            out.push(Diagnostic::warning(
                "unknown-option",
                format!("{field}.options[{k}]"),
                format!("{option:?} is not an NFS mount option rackpipe knows"),
            ));
        }
        for (a, b) in MOUNT_CONTRADICTIONS {
            let other = if name == *a {
                Some(*b)
            } else if name == *b {
                Some(*a)
            } else {
                None
            };
            if let Some(other) = other
                && seen.contains(&other)
            {
                out.push(Diagnostic::error(
                    "conflicting-options",
                    format!("{field}.options[{k}]"),
                    format!("{name} contradicts {other} earlier in the list"),
                ));
            }
        }
        if seen.contains(&name) {
            out.push(Diagnostic::warning(
                "duplicate-option",
                format!("{field}.options[{k}]"),
                format!("{name} is given twice"),
            ));
        }
        seen.push(name);
    }
}
