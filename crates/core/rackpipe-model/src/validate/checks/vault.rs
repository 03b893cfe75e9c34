//! The `vault` section: storage, TLS, nodes, seal, mounts, auth, policies, PKI and certificates.

use std::collections::HashSet;

use super::{Checker, is_odd_quorum, unique};
use crate::types::Name;
use crate::vault::{MountType, VaultStorage};

impl Checker<'_> {
    pub(super) fn vault(&mut self) {
        let Some(v) = &self.site.vault else { return };
        if let crate::vault::VaultStorage::Raft { path, .. } = &v.storage {
            self.file_path("vault.storage.path".to_owned(), path);
        }
        for (field, value) in [
            ("cert_file", &v.tls.cert_file),
            ("key_file", &v.tls.key_file),
            ("ca_file", &v.tls.ca_file),
        ] {
            self.file_path(format!("vault.tls.{field}"), value);
        }
        for (i, a) in v.audit.iter().enumerate() {
            self.file_path(format!("vault.audit[{i}].file"), &a.file);
        }
        unique(
            self.out,
            "node name",
            v.nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("vault.nodes[{i}].name"), n.name.as_str())),
        );
        for (i, n) in v.nodes.iter().enumerate() {
            self.check_guest_ref(format!("vault.nodes[{i}].guest"), &n.guest);
        }
        let backend = match v.storage {
            VaultStorage::Raft { .. } => "raft",
            VaultStorage::Consul { .. } => "Consul",
        };
        if !is_odd_quorum(v.nodes.len()) {
            self.err(
                "quorum",
                "vault.nodes",
                format!(
                    "{} {backend} members; a quorum needs an odd number, at least 3",
                    v.nodes.len()
                ),
            );
        }
        self.placement(
            "vault",
            v.allow_colocation,
            v.nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("vault.nodes[{i}].guest"), &n.guest)),
        );
        if v.seal.threshold > v.seal.shares {
            self.err(
                "seal",
                "vault.seal.threshold",
                format!(
                    "threshold {} is more than the {} shares",
                    v.seal.threshold, v.seal.shares
                ),
            );
        }
        if !v.seal.pgp_keys.is_empty() && v.seal.pgp_keys.len() != usize::from(v.seal.shares) {
            self.err(
                "seal",
                "vault.seal.pgp_keys",
                format!(
                    "{} PGP keys for {} shares; give one per share",
                    v.seal.pgp_keys.len(),
                    v.seal.shares
                ),
            );
        }
        unique(
            self.out,
            "mount path",
            v.mounts.iter().enumerate().map(|(i, m)| {
                (
                    format!("vault.mounts[{i}].path"),
                    m.path.trim_end_matches('/'),
                )
            }),
        );
        let pki_mounts: HashSet<&str> = v
            .mounts
            .iter()
            .filter(|m| m.kind == MountType::Pki)
            .map(|m| m.path.trim_end_matches('/'))
            .collect();
        let domain = self.site.metadata.domain.as_str().to_ascii_lowercase();
        for (i, ca) in v.pki.iter().enumerate() {
            if !pki_mounts.contains(ca.mount.trim_end_matches('/')) {
                self.err(
                    "dangling-reference",
                    format!("vault.pki[{i}].mount"),
                    format!("{:?} is not a pki mount in vault.mounts", ca.mount),
                );
            }
            if let Some(parent) = &ca.signed_by
                && !v.pki.iter().any(|x| &x.mount == parent)
            {
                self.err(
                    "dangling-reference",
                    format!("vault.pki[{i}].signed_by"),
                    format!("no CA at mount {parent:?} in vault.pki"),
                );
            }
            for (j, role) in ca.roles.iter().enumerate() {
                for (k, d) in role.allowed_domains.iter().enumerate() {
                    let d = d.as_str().to_ascii_lowercase();
                    if d != domain && !d.ends_with(&format!(".{domain}")) {
                        self.err(
                            "foreign-domain",
                            format!("vault.pki[{i}].roles[{j}].allowed_domains[{k}]"),
                            format!("{d:?} is outside the site's domain {domain:?}"),
                        );
                    }
                }
            }
        }
        self.vault_certificates(v, &pki_mounts);
        unique(
            self.out,
            "policy name",
            v.policies
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("vault.policies[{i}].name"), p.name.as_str())),
        );
        let policies: HashSet<&str> = v
            .policies
            .iter()
            .map(|p| p.name.as_str())
            .chain(["default"])
            .collect();
        let mut refs: Vec<(String, &Name)> = Vec::new();
        if let Some(jwt) = &v.auth.gitlab_jwt {
            for (i, r) in jwt.roles.iter().enumerate() {
                refs.extend(
                    r.policies.iter().enumerate().map(|(j, p)| {
                        (format!("vault.auth.gitlab_jwt.roles[{i}].policies[{j}]"), p)
                    }),
                );
                if r.project_paths.is_empty() && r.project_ids.is_empty() {
                    self.err("unbound-role", format!("vault.auth.gitlab_jwt.roles[{i}]"), "bind the role to project_paths or project_ids, or any GitLab project can log in");
                }
            }
        }
        for (i, r) in v.auth.approles.iter().enumerate() {
            refs.extend(
                r.policies
                    .iter()
                    .enumerate()
                    .map(|(j, p)| (format!("vault.auth.approles[{i}].policies[{j}]"), p)),
            );
        }
        for (i, u) in v.auth.users.iter().enumerate() {
            refs.extend(
                u.policies
                    .iter()
                    .enumerate()
                    .map(|(j, p)| (format!("vault.auth.users[{i}].policies[{j}]"), p)),
            );
        }
        for (path, p) in refs {
            if !policies.contains(p.as_str()) {
                self.err(
                    "dangling-reference",
                    path,
                    format!("no policy named {:?} in vault.policies", p.as_str()),
                );
            }
        }
    }

    /// `vault.certificates`: unique names, a pki mount with a CA and the role, a kv-v2 store,
    /// and a renewal margin shorter than the validity.
    fn vault_certificates(&mut self, v: &crate::vault::Vault, pki_mounts: &HashSet<&str>) {
        unique(
            self.out,
            "certificate name",
            v.certificates
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("vault.certificates[{i}].name"), c.name.as_str())),
        );
        for (i, c) in v.certificates.iter().enumerate() {
            let at = format!("vault.certificates[{i}]");
            let mount = c.pki.trim_matches('/');
            let ca = v.pki.iter().find(|ca| ca.mount.trim_matches('/') == mount);
            let role = ca.and_then(|ca| ca.roles.iter().find(|r| r.name == c.role));
            if !pki_mounts.contains(mount) {
                self.err(
                    "dangling-reference",
                    format!("{at}.pki"),
                    format!("{:?} is not a pki mount in vault.mounts", c.pki),
                );
            } else if ca.is_none() {
                self.err(
                    "dangling-reference",
                    format!("{at}.pki"),
                    format!("no CA at mount {:?} in vault.pki", c.pki),
                );
            } else if role.is_none() {
                self.err(
                    "dangling-reference",
                    format!("{at}.role"),
                    format!("unknown role {:?} in pki {:?}", c.role.as_str(), c.pki),
                );
            }
            let store = c.store.mount.trim_matches('/');
            match v.mounts.iter().find(|m| m.path.trim_matches('/') == store) {
                None => self.err(
                    "dangling-reference",
                    format!("{at}.store.mount"),
                    format!("no mount {:?} in vault.mounts", c.store.mount),
                ),
                Some(m) if m.kind != MountType::KvV2 => self.err(
                    "certificate-store",
                    format!("{at}.store.mount"),
                    format!("{:?} is not a kv-v2 mount", c.store.mount),
                ),
                Some(_) => {}
            }
            if c.store.path.trim_matches('/').is_empty() {
                self.err(
                    "certificate-store",
                    format!("{at}.store.path"),
                    "the KV path is empty",
                );
            }
            if let Some(role) = role {
                if !c.ip_sans.is_empty() && !role.allow_ip_sans {
                    self.err(
                        "certificate-role",
                        format!("{at}.ip_sans"),
                        format!("role {:?} does not allow IP SANs", role.name.as_str()),
                    );
                }
                if let Some(ttl) = &c.ttl
                    && ttl.as_secs() > role.max_ttl.as_secs()
                {
                    self.err(
                        "certificate-ttl",
                        format!("{at}.ttl"),
                        format!(
                            "ttl {ttl} is longer than role {:?}'s max_ttl {}",
                            role.name.as_str(),
                            role.max_ttl
                        ),
                    );
                }
            }
            let role_ttl = role.map(|r| &r.ttl);
            if let Some(ttl) = c.ttl_secs(role_ttl) {
                let renew = c.renew_before_secs(role_ttl);
                if renew >= ttl {
                    let given = c
                        .renew_before
                        .as_ref()
                        .map_or_else(|| format!("{renew}s (default)"), ToString::to_string);
                    let of = match &c.ttl {
                        Some(t) => format!("ttl {t}"),
                        None => format!("the role's ttl {ttl}s"),
                    };
                    self.err(
                        "certificate-renewal",
                        format!("{at}.renew_before"),
                        format!(
                            "renew_before {given} is not shorter than {of}; every apply would renew"
                        ),
                    );
                }
            }
        }
    }
}
