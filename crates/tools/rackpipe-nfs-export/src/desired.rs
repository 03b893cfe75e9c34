//! The desired state: the site's NAS section resolved into concrete exports (segment names
//! turned into networks), and the semantic checks that decide whether it can be rendered.
//!
//! [`check`] collects every problem as a [`Diagnostic`] naming the field path; [`resolve`]
//! refuses a site with any error, naming the first.

use std::net::IpAddr;

use ipnet::IpNet;
use rackpipe_model::nas::{Export, ExportClient, Nas, NfsMount, NfsServer, Squash};
use rackpipe_model::{Diagnostic, Site};
use serde::Serialize;

use crate::Error;
use crate::exports::{SEC_FLAVOURS, is_under, valid_fsid};

/// Who a resolved client is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum ClientSpec {
    /// Everyone (`*`).
    World,
    /// A network (from a segment or a literal CIDR).
    Network(IpNet),
    /// One address.
    Address(IpAddr),
    /// A host name.
    Host(String),
    /// A host-name wildcard.
    Wildcard(String),
}

impl ClientSpec {
    /// The spec as exports(5), ganesha and DSM write it.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::World => "*".to_owned(),
            Self::Network(net) => net.to_string(),
            Self::Address(ip) => ip.to_string(),
            Self::Host(h) | Self::Wildcard(h) => h.clone(),
        }
    }

    /// Whether a machine with these addresses and names matches the spec.
    #[must_use]
    pub fn matches(&self, addresses: &[IpAddr], names: &[String]) -> bool {
        match self {
            Self::World => true,
            Self::Network(net) => addresses.iter().any(|a| net.contains(a)),
            Self::Address(ip) => addresses.contains(ip),
            Self::Host(h) => names.iter().any(|n| n.eq_ignore_ascii_case(h)),
            Self::Wildcard(w) => names
                .iter()
                .any(|n| glob(&w.to_ascii_lowercase(), &n.to_ascii_lowercase())),
        }
    }
}

/// `*` and `?` matching (dots included, as exports(5) does).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One client with its options, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedClient {
    /// Who.
    pub spec: ClientSpec,
    /// Field path of the client in the site (`nas.exports[0].clients[1]`).
    pub field: String,
    /// Read-write.
    pub rw: bool,
    /// Synchronous writes.
    pub sync: bool,
    /// Squash mode.
    pub squash: SquashMode,
    /// Anonymous uid.
    pub anonuid: Option<u32>,
    /// Anonymous gid.
    pub anongid: Option<u32>,
    /// Subtree checking.
    pub subtree_check: bool,
    /// Allow unprivileged source ports.
    pub insecure: bool,
    /// Security flavours (empty: the server default, `sys`).
    pub sec: Vec<String>,
    /// File-system id.
    pub fsid: Option<String>,
    /// Export child mounts.
    pub crossmnt: bool,
}

/// Squash modes (serialisable copy of the model's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SquashMode {
    /// root → anonymous.
    Root,
    /// No mapping.
    None,
    /// Every uid → anonymous.
    All,
}

impl From<Squash> for SquashMode {
    fn from(s: Squash) -> Self {
        match s {
            Squash::Root => Self::Root,
            Squash::None => Self::None,
            Squash::All => Self::All,
        }
    }
}

impl ResolvedClient {
    /// exports(5) options in a fixed, exportfs-like order.
    #[must_use]
    pub fn linux_options(&self) -> Vec<String> {
        let mut o = vec![
            if self.rw { "rw" } else { "ro" }.to_owned(),
            if self.sync { "sync" } else { "async" }.to_owned(),
            if self.subtree_check {
                "subtree_check"
            } else {
                "no_subtree_check"
            }
            .to_owned(),
            match self.squash {
                SquashMode::Root => "root_squash",
                SquashMode::None => "no_root_squash",
                SquashMode::All => "all_squash",
            }
            .to_owned(),
        ];
        if let Some(uid) = self.anonuid {
            o.push(format!("anonuid={uid}"));
        }
        if let Some(gid) = self.anongid {
            o.push(format!("anongid={gid}"));
        }
        if self.insecure {
            o.push("insecure".to_owned());
        }
        if !self.sec.is_empty() {
            o.push(format!("sec={}", self.sec.join(":")));
        }
        if let Some(fsid) = &self.fsid {
            o.push(format!("fsid={fsid}"));
        }
        if self.crossmnt {
            o.push("crossmnt".to_owned());
        }
        o
    }
}

/// One export, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedExport {
    /// Export name.
    pub name: String,
    /// Absolute path on the NAS.
    pub path: String,
    /// Field path (`nas.exports[0]`).
    pub field: String,
    /// nfs-ganesha `Export_Id`.
    pub export_id: u16,
    /// nfs-ganesha NFSv4 pseudo path.
    pub pseudo: String,
    /// Clients in site order.
    pub clients: Vec<ResolvedClient>,
}

/// The NAS section resolved.
#[derive(Debug, Clone)]
pub struct Desired<'a> {
    /// The site.
    pub site: &'a Site,
    /// The NAS section.
    pub nas: &'a Nas,
    /// Name clients use for the NAS (FQDN, else the address).
    pub server_name: String,
    /// The NAS address.
    pub server_address: IpAddr,
    /// Base name of rendered export files.
    pub file_base: String,
    /// Exports in site order.
    pub exports: Vec<ResolvedExport>,
}

/// Resolves the site's NAS section. Fails on the first error [`check`] finds.
pub fn resolve(site: &Site) -> Result<Desired<'_>, Error> {
    let diagnostics = check(site);
    if let Some(first) = diagnostics.iter().find(|d| d.is_error()) {
        return Err(Error::Invalid {
            path: first.path.clone(),
            message: first.message.clone(),
        });
    }
    let nas = site.nas.as_ref().ok_or_else(|| Error::Invalid {
        path: "nas".to_owned(),
        message: "the site has no nas section".to_owned(),
    })?;
    let host = site
        .hosts
        .iter()
        .find(|h| h.name == nas.host)
        .ok_or_else(|| Error::Invalid {
            path: "nas.host".to_owned(),
            message: format!("unknown host {:?}", nas.host.as_str()),
        })?;
    let server_name = host
        .fqdn
        .as_ref()
        .map_or_else(|| host.address.to_string(), ToString::to_string);
    let mut exports = Vec::new();
    for (i, export) in nas.exports.iter().enumerate() {
        let field = format!("nas.exports[{i}]");
        let mut clients = Vec::new();
        for (j, client) in export.clients.iter().enumerate() {
            let cfield = format!("{field}.clients[{j}]");
            let spec = client_spec(site, client, &cfield)
                .map_err(|(path, message)| Error::Invalid { path, message })?;
            clients.push(resolve_client(spec, client, cfield));
        }
        exports.push(ResolvedExport {
            name: export.name.to_string(),
            path: export.path.clone(),
            field,
            export_id: export
                .export_id
                .unwrap_or_else(|| u16::try_from(i + 1).unwrap_or(u16::MAX)),
            pseudo: export.pseudo.clone().unwrap_or_else(|| export.path.clone()),
            clients,
        });
    }
    Ok(Desired {
        site,
        nas,
        server_name,
        server_address: host.address,
        file_base: nas
            .exports_file
            .as_ref()
            .map_or_else(|| site.metadata.name.to_string(), ToString::to_string),
        exports,
    })
}

fn resolve_client(spec: ClientSpec, c: &ExportClient, field: String) -> ResolvedClient {
    ResolvedClient {
        spec,
        field,
        rw: c.rw,
        sync: c.sync,
        squash: c.squash.into(),
        anonuid: c.anonuid,
        anongid: c.anongid,
        subtree_check: c.subtree_check,
        insecure: c.insecure,
        sec: c.sec.clone(),
        fsid: c.fsid.clone(),
        crossmnt: c.crossmnt,
    }
}

/// Turns a client of the site into a spec, or `(field path, message)`.
fn client_spec(site: &Site, c: &ExportClient, field: &str) -> Result<ClientSpec, (String, String)> {
    let given: Vec<&str> = [
        c.segment.as_ref().map(|_| "segment"),
        c.network.as_ref().map(|_| "network"),
        c.address.as_ref().map(|_| "address"),
        c.host.as_ref().map(|_| "host"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let message = if given.is_empty() {
            "a client needs exactly one of segment, network, address or host; none is given"
                .to_owned()
        } else {
            format!(
                "a client needs exactly one of segment, network, address or host; {} are given",
                given.join(" and ")
            )
        };
        return Err((field.to_owned(), message));
    }
    if let Some(segment) = &c.segment {
        let found = site
            .segments
            .iter()
            .find(|s| &s.name == segment)
            .ok_or_else(|| {
                let known: Vec<&str> = site.segments.iter().map(|s| s.name.as_str()).collect();
                (
                    format!("{field}.segment"),
                    format!(
                        "unknown segment {:?} (segments: {})",
                        segment.as_str(),
                        known.join(", ")
                    ),
                )
            })?;
        return Ok(ClientSpec::Network(found.cidr.0));
    }
    if let Some(net) = &c.network {
        let prefix = net.0.prefix_len();
        if prefix == 0 {
            return Ok(ClientSpec::World);
        }
        return Ok(ClientSpec::Network(net.0));
    }
    if let Some(addr) = c.address {
        return Ok(ClientSpec::Address(addr));
    }
    let host = c.host.clone().unwrap_or_default();
    if host == "*" {
        return Ok(ClientSpec::World);
    }
    match crate::exports::classify_client(&host) {
        Ok(crate::exports::ClientKind::Host(h)) => Ok(ClientSpec::Host(h)),
        Ok(crate::exports::ClientKind::Wildcard(w)) => Ok(ClientSpec::Wildcard(w)),
        Ok(crate::exports::ClientKind::Address(a)) => Ok(ClientSpec::Address(a)),
        Ok(_) => Err((
            format!("{field}.host"),
            format!("{host:?} is not a host name or wildcard; use network or address"),
        )),
        Err(message) => Err((format!("{field}.host"), message)),
    }
}

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

/// The tool's semantic checks: every problem, with field paths. An empty list means the NAS
/// section (if any) can be rendered.
#[must_use]
pub fn check(site: &Site) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(nas) = &site.nas else {
        for (field, _) in consumer_refs(site) {
            out.push(Diagnostic::error(
                "missing-export",
                field,
                "the site has no nas section, so no export can serve this consumer",
            ));
        }
        return out;
    };
    if !site.hosts.iter().any(|h| h.name == nas.host) {
        out.push(Diagnostic::error(
            "dangling-reference",
            "nas.host",
            format!("unknown host {:?} (not in hosts)", nas.host.as_str()),
        ));
    }
    check_exports(site, nas, &mut out);
    check_consumers(site, nas, &mut out);
    out
}

fn check_path(path: &str, field: &str, out: &mut Vec<Diagnostic>) -> bool {
    let problem = if !path.starts_with('/') {
        Some(format!("{path:?} is not an absolute path"))
    } else if path.split('/').any(|p| p == ".." || p == ".") {
        Some(format!("{path:?} contains '.' or '..'"))
    } else if path.len() > 1 && path.ends_with('/') {
        Some(format!("{path:?} ends with '/'; write it without"))
    } else if path.contains("//") {
        Some(format!("{path:?} contains '//'"))
    } else if path.chars().any(char::is_control) {
        Some(format!("{path:?} contains control characters"))
    } else if path == "/" {
        Some("exporting the root file system \"/\" is refused".to_owned())
    } else {
        None
    };
    if let Some(message) = problem {
        out.push(Diagnostic::error("invalid-path", field, message));
        return false;
    }
    true
}

#[allow(clippy::too_many_lines)]
fn check_exports(site: &Site, nas: &Nas, out: &mut Vec<Diagnostic>) {
    let mut fsids: Vec<(String, String)> = Vec::new();
    let mut ids: Vec<(u16, String)> = Vec::new();
    let mut pseudos: Vec<(String, String)> = Vec::new();
    for (i, export) in nas.exports.iter().enumerate() {
        let field = format!("nas.exports[{i}]");
        if nas.exports[..i].iter().any(|e| e.name == export.name) {
            out.push(Diagnostic::error(
                "duplicate-name",
                format!("{field}.name"),
                format!("export name {:?} is used twice", export.name.as_str()),
            ));
        }
        let path_ok = check_path(&export.path, &format!("{field}.path"), out);
        if path_ok {
            for (j, other) in nas.exports[..i].iter().enumerate() {
                if other.path == export.path {
                    out.push(Diagnostic::error(
                        "overlapping-export",
                        format!("{field}.path"),
                        format!(
                            "{} is already exported by nas.exports[{j}] ({})",
                            export.path,
                            other.name.as_str()
                        ),
                    ));
                } else if is_under(&export.path, &other.path) || is_under(&other.path, &export.path)
                {
                    out.push(Diagnostic::error(
                        "overlapping-export",
                        format!("{field}.path"),
                        format!(
                            "{} overlaps nas.exports[{j}].path {} ({}): one lies inside the other; export disjoint trees",
                            export.path,
                            other.path,
                            other.name.as_str()
                        ),
                    ));
                }
            }
        }
        if export.clients.is_empty() {
            out.push(Diagnostic::error(
                "no-clients",
                format!("{field}.clients"),
                "an export needs at least one client",
            ));
        }
        let id = export
            .export_id
            .unwrap_or_else(|| u16::try_from(i + 1).unwrap_or(u16::MAX));
        if id == 0 {
            out.push(Diagnostic::error(
                "invalid-export-id",
                format!("{field}.export_id"),
                "Export_Id 0 is reserved for the NFSv4 pseudo root",
            ));
        }
        if let Some((_, other)) = ids.iter().find(|(other_id, _)| *other_id == id) {
            out.push(Diagnostic::error(
                "duplicate-export-id",
                format!("{field}.export_id"),
                format!("Export_Id {id} is also used by {other}"),
            ));
        }
        ids.push((id, field.clone()));
        let pseudo = export.pseudo.clone().unwrap_or_else(|| export.path.clone());
        if export.pseudo.is_some() {
            check_path(&pseudo, &format!("{field}.pseudo"), out);
        }
        if let Some((_, other)) = pseudos.iter().find(|(p, _)| *p == pseudo) {
            out.push(Diagnostic::error(
                "duplicate-pseudo",
                format!("{field}.pseudo"),
                format!("pseudo path {pseudo} is also used by {other}"),
            ));
        }
        pseudos.push((pseudo, field.clone()));

        if let NfsServer::Synology { volume, .. } = &nas.server
            && path_ok
        {
            let volume = volume.trim_end_matches('/');
            let share = export
                .path
                .strip_prefix(volume)
                .and_then(|rest| rest.strip_prefix('/'));
            match share {
                Some(share) if !share.is_empty() && !share.contains('/') => {}
                _ => out.push(Diagnostic::error(
                    "synology-path",
                    format!("{field}.path"),
                    format!("{} is not a shared folder of {volume}: Synology exports whole shared folders, {volume}/<SHARE>", export.path),
                )),
            }
        }

        let mut specs: Vec<(ClientSpec, String)> = Vec::new();
        for (j, client) in export.clients.iter().enumerate() {
            let cfield = format!("{field}.clients[{j}]");
            let spec = match client_spec(site, client, &cfield) {
                Ok(spec) => spec,
                Err((path, message)) => {
                    out.push(Diagnostic::error("invalid-client", path, message));
                    continue;
                }
            };
            if let Some((_, other)) = specs.iter().find(|(s, _)| *s == spec) {
                out.push(Diagnostic::error(
                    "duplicate-client",
                    cfield.clone(),
                    format!("client {} is already listed at {other}", spec.text()),
                ));
            } else if let ClientSpec::Network(net) = &spec
                && let Some((ClientSpec::Network(outer), other)) = specs
                    .iter()
                    .find(|(s, _)| matches!(s, ClientSpec::Network(o) if o.contains(net)))
            {
                out.push(Diagnostic::error(
                    "shadowed-client",
                    cfield.clone(),
                    format!("network {net} lies inside {outer} ({other}), which comes first and wins; its options never apply"),
                ));
            }
            if spec == ClientSpec::World {
                if client.rw || client.squash == Squash::None {
                    out.push(Diagnostic::error(
                        "world-writable",
                        cfield.clone(),
                        "exports to everyone (*) read-write or without root squashing are refused; name a segment, network or host",
                    ));
                } else {
                    out.push(Diagnostic::warning(
                        "world-export",
                        cfield.clone(),
                        "exports read-only to everyone (*)",
                    ));
                }
            }
            if !client.sync {
                out.push(Diagnostic::warning(
                    "async",
                    format!("{cfield}.sync"),
                    "async acknowledges writes before they reach disk; a server crash loses data",
                ));
            }
            if let ClientSpec::Network(net) = &spec
                && client.rw
                && client.squash == Squash::None
                && matches!(net, IpNet::V4(n) if n.prefix_len() < 16)
            {
                out.push(Diagnostic::warning(
                    "wide-no-root-squash",
                    cfield.clone(),
                    format!("{net} is a wide network with rw and no root squashing"),
                ));
            }
            for (k, flavour) in client.sec.iter().enumerate() {
                if !SEC_FLAVOURS.contains(&flavour.as_str()) || flavour == "none" {
                    out.push(Diagnostic::error(
                        "invalid-option",
                        format!("{cfield}.sec[{k}]"),
                        format!("unknown security flavour {flavour:?} (sys, krb5, krb5i, krb5p)"),
                    ));
                }
                if client.sec[..k].contains(flavour) {
                    out.push(Diagnostic::error(
                        "duplicate-option",
                        format!("{cfield}.sec[{k}]"),
                        format!("security flavour {flavour:?} is listed twice"),
                    ));
                }
            }
            if let Some(fsid) = &client.fsid {
                let canonical = if fsid == "0" {
                    "root".to_owned()
                } else {
                    fsid.clone()
                };
                if !valid_fsid(fsid) {
                    out.push(Diagnostic::error(
                        "invalid-option",
                        format!("{cfield}.fsid"),
                        format!("fsid {fsid:?} is not a number, 'root' or a UUID"),
                    ));
                } else if let Some((_, other)) = fsids
                    .iter()
                    .find(|(f, p)| *f == canonical && !p.starts_with(&format!("{field}.")))
                {
                    out.push(Diagnostic::error(
                        "duplicate-fsid",
                        format!("{cfield}.fsid"),
                        format!("fsid {fsid} is also used by {other}"),
                    ));
                }
                fsids.push((canonical, format!("{cfield}.fsid")));
            }
            if (client.anonuid.is_some() || client.anongid.is_some())
                && client.squash == Squash::None
            {
                out.push(Diagnostic::warning(
                    "unused-option",
                    cfield.clone(),
                    "anonuid/anongid have no effect without root or all squashing",
                ));
            }
            match &nas.server {
                NfsServer::Synology { .. } => {
                    for (set, name) in [
                        (client.anonuid.is_some(), "anonuid"),
                        (client.anongid.is_some(), "anongid"),
                        (client.subtree_check, "subtree_check"),
                        (client.fsid.is_some(), "fsid"),
                    ] {
                        if set {
                            out.push(Diagnostic::error(
                                "unsupported-option",
                                format!("{cfield}.{name}"),
                                format!("Synology DSM share rules have no {name}; remove it"),
                            ));
                        }
                    }
                    if matches!(spec, ClientSpec::Wildcard(_)) {
                        out.push(Diagnostic::warning(
                            "unsupported-option",
                            format!("{cfield}.host"),
                            "DSM accepts wildcards only as '*'; check the rule in the DSM UI",
                        ));
                    }
                }
                NfsServer::Ganesha { .. } => {
                    for (set, name) in [
                        (client.subtree_check, "subtree_check"),
                        (client.crossmnt, "crossmnt"),
                    ] {
                        if set {
                            out.push(Diagnostic::warning(
                                "unsupported-option",
                                format!("{cfield}.{name}"),
                                format!("nfs-ganesha has no per-client {name}; it is ignored"),
                            ));
                        }
                    }
                }
                NfsServer::Linux { .. } => {}
            }
            specs.push((spec, cfield));
        }
    }
}

/// Every place the site names an export: (field path of the `export` key, export name).
fn consumer_refs(site: &Site) -> Vec<(String, String)> {
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
fn check_consumers(site: &Site, nas: &Nas, out: &mut Vec<Diagnostic>) {
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

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn wildcards() {
        assert!(glob("*.rachuna.dev", "gitlab-runner-1002.rachuna.dev"));
        assert!(glob("*.rachuna.dev", "a.b.rachuna.dev"));
        assert!(!glob("*.rachuna.dev", "rachuna.dev"));
        assert!(glob("runner-100?", "runner-1002"));
        assert!(!glob("runner-100?", "runner-10022"));
    }
}
