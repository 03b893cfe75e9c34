//! Facts the site states twice agree: a machine's address (nodes, hosts, DNS records), prefix
//! lengths and gateways (segments, router addresses, DHCP networks, guest NICs), ports (the
//! router's management ports and its services, a load-balancer backend and the listener it
//! reaches, the PKI URLs and the VIP), and GitLab identity claims (project paths, refs, the
//! issuer the runners' GitLab signs with).
//!
//! Each error sits on the field that restates the fact and names the other place as its
//! related field (printed `(see segments[1].cidr, line 14)`).
//!
//! Three findings are warnings (acknowledgeable in `metadata.acknowledge`), because a working
//! site may mean them: a segment gateway that is no address of the site (`segment-gateway`: a
//! gateway the site does not model), a management address that is none of the router's
//! (`management-address`: reached through NAT or a jump host), and a load-balancer backend on
//! a Kubernetes node's NodePort that is not the ingress's (`backend-node-port`: another
//! NodePort Service).

use std::net::IpAddr;

use super::Checker;
use crate::diagnostic::Diagnostic;

mod addresses;
mod gateways;
mod identity;
mod ports;

impl Checker<'_> {
    /// Every rule of this module.
    pub(super) fn consistency(&mut self) {
        self.node_addresses();
        if let Some(r) = &self.site.router {
            let machines = self.named_machines();
            self.dns_records(r, &machines);
            self.lease_comments(r, &machines);
            self.router_management(r);
        }
        self.prefixes_and_gateways();
        self.backend_ports();
        self.pki_urls();
        self.identity_claims();
    }

    /// An error at `path` about a fact `other` states differently (the message names the
    /// values; the report names `other`, with its line, as the place to compare with).
    fn stated_twice(
        &mut self,
        rule: &str,
        path: impl Into<String>,
        other: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.out
            .push(Diagnostic::conflict(rule, path, other, message));
    }
}

/// A machine the site gives an FQDN: what it is and its addresses, with their field paths.
struct Named {
    fqdn: String,
    what: String,
    addresses: Vec<(IpAddr, String)>,
}

/// Why `p` cannot be a GitLab `project_path` claim (`namespace[/subgroup...]/project`; `*`
/// globs allowed, as vault-bootstrap binds them with `bound_claims_type: glob`).
fn project_path(p: &str) -> Result<(), String> {
    if p.contains("://") {
        return Err(format!(
            "{p:?} is a URL; the project_path claim is the path alone, e.g. group/project"
        ));
    }
    if p.starts_with('/') || p.ends_with('/') {
        return Err(format!(
            "{p:?} starts or ends with '/'; the project_path claim is namespace/project"
        ));
    }
    if p.ends_with(".git") {
        return Err(format!(
            "{p:?} ends in .git; the project_path claim is the path without it"
        ));
    }
    let segments: Vec<&str> = p.split('/').collect();
    if segments.len() < 2 {
        return Err(format!(
            "{p:?} is not namespace/project: every GitLab project sits in a group or user namespace, and the project_path claim names both"
        ));
    }
    for s in segments {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*'));
        if s.is_empty() || !ok_chars || s.starts_with('-') || s.ends_with(".atom") {
            return Err(format!(
                "{p:?}: {s:?} is not a GitLab path segment (letters, digits, '_', '-', '.'; not starting with '-')"
            ));
        }
    }
    Ok(())
}

/// The port a URL of `scheme` means when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// The parts of an `http(s)://` URL these rules compare; the user-info part (which may hold a
/// credential) is dropped, so nothing printed from here can leak one.
struct Url {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
}

impl Url {
    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let path = rest[end..].split(['?', '#']).next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, tail) = v6.split_once(']')?;
            match tail.strip_prefix(':') {
                Some(p) => (h, Some(p.parse().ok()?)),
                None => (h, None),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p.parse().ok()?)),
                None => (authority, None),
            }
        };
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    fn port_or_default(&self) -> Option<u16> {
        self.port.or(default_port(&self.scheme))
    }

    /// `scheme://host[:port]/path`, the default port left out.
    fn origin_and_path(&self) -> String {
        let port = match self.port {
            Some(p) if Some(p) != default_port(&self.scheme) => format!(":{p}"),
            _ => String::new(),
        };
        format!("{}://{}{port}{}", self.scheme, self.host, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths() {
        for ok in [
            "mini/infra",
            "pl.rachuna-net/infrastructure/rackpipe",
            "group/*",
        ] {
            assert!(project_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "infra",
            "/group/project",
            "group/project/",
            "group/project.git",
            "https://gitlab.com/group/project",
            "group/my project",
            "group//project",
        ] {
            assert!(project_path(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn url_parse_never_panics(text in "[a-z0-9@:/?#\\[\\].\u{e9}\u{3000}-]{0,40}") {
            if let Some(u) = Url::parse(&text) {
                let _ = u.origin_and_path();
            }
            let _ = project_path(&text);
        }
    }

    #[test]
    fn urls_drop_credentials() {
        let u = Url::parse("https://user:secret@GitLab.example:8443/sub/?x=1").unwrap();
        assert_eq!(u.origin_and_path(), "https://gitlab.example:8443/sub");
        let u = Url::parse("https://gitlab.com/").unwrap();
        assert_eq!(u.origin_and_path(), "https://gitlab.com");
        assert_eq!(u.port_or_default(), Some(443));
        let u = Url::parse("https://gitlab.com:443").unwrap();
        assert_eq!(u.origin_and_path(), "https://gitlab.com");
    }
}
