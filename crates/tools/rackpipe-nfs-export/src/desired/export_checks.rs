//! The checks of the `nas` section itself: the server's host, each export's path, `fsid`,
//! ids and pseudo paths, its clients (one spec each, no overlap, no contradicting options),
//! and the entry point [`check`] that runs them with the consumers' checks.

use ipnet::IpNet;
use rackpipe_model::nas::{Nas, NfsServer, Squash};
use rackpipe_model::{Diagnostic, Site};

use super::consumer_checks::{check_consumers, consumer_refs};
use super::{ClientSpec, client_spec};
use crate::exports::{SEC_FLAVOURS, is_under, valid_fsid};

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

pub(super) fn check_path(path: &str, field: &str, out: &mut Vec<Diagnostic>) -> bool {
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
