//! The desired state: the site's NAS section resolved into concrete exports (segment names
//! turned into networks), and the semantic checks that decide whether it can be rendered.
//!
//! [`check`] collects every problem as a [`Diagnostic`](rackpipe_model::Diagnostic) naming the field path; [`resolve`]
//! refuses a site with any error, naming the first.
//!
//! The checks live beside this module: those of the `nas` section itself in `export_checks`,
//! those of its consumers (runners' cache, storage classes, Proxmox storages, backups) in
//! `consumer_checks`.

mod consumer_checks;
mod export_checks;

pub use export_checks::check;

use std::net::IpAddr;

use ipnet::IpNet;
use rackpipe_model::Site;
use rackpipe_model::nas::{ExportClient, Nas, Squash};
use serde::Serialize;

use crate::Error;

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
