//! The `vault` section: storage, TLS, nodes, seal, mounts, auth, policies, PKI and certificates.

use std::collections::{HashMap, HashSet};

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
        if let Some(file) = &v.tls.client_ca_file {
            self.file_path("vault.tls.client_ca_file".to_owned(), file);
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
        if v.seal.shares > 1 && v.seal.threshold == 1 {
            self.err(
                "seal",
                "vault.seal.threshold",
                format!(
                    "threshold 1 with {} shares: init refuses it (\"invalid seal configuration: threshold must be greater than one for multiple shares\"); use 1 share or a threshold of at least 2",
                    v.seal.shares
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
        // With `metadata` left out for its schema errors, the site's domain is unknown.
        let domain = self
            .known("metadata")
            .then(|| self.site.metadata.domain.as_str().to_ascii_lowercase());
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
                    let Some(domain) = &domain else { continue };
                    if d != *domain && !d.ends_with(&format!(".{domain}")) {
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
        self.vault_api_rules(v);
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
            if let (Some(ttl), Some(max)) = (&r.token_ttl, &r.token_max_ttl)
                && ttl.as_secs() > max.as_secs()
            {
                self.err(
                    "token-ttl",
                    format!("vault.auth.approles[{i}].token_ttl"),
                    format!(
                        "token_ttl {ttl} is longer than token_max_ttl {max}: writing the role is refused (\"'token_ttl' cannot be greater than 'token_max_ttl'\")"
                    ),
                );
            }
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

/// Mount paths Vault and OpenBao keep for themselves (`sys/mounts` refuses them).
const RESERVED_MOUNTS: [&str; 4] = ["sys", "auth", "cubbyhole", "identity"];

impl Checker<'_> {
    /// What the Vault/OpenBao API would refuse: names it keys by given twice, mounts inside
    /// other mounts or on reserved paths, PKI roles that cannot issue, listeners on one port.
    fn vault_api_rules(&mut self, v: &crate::vault::Vault) {
        unique(
            self.out,
            "audit device",
            v.audit
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("vault.audit[{i}].name"), a.name.as_str())),
        );
        if let Some(jwt) = &v.auth.gitlab_jwt {
            unique(
                self.out,
                "JWT role",
                jwt.roles.iter().enumerate().map(|(i, r)| {
                    (
                        format!("vault.auth.gitlab_jwt.roles[{i}].name"),
                        r.name.as_str(),
                    )
                }),
            );
        }
        unique(
            self.out,
            "AppRole role",
            v.auth
                .approles
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("vault.auth.approles[{i}].name"), r.name.as_str())),
        );
        unique(
            self.out,
            "userpass user",
            v.auth
                .users
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("vault.auth.users[{i}].name"), r.name.as_str())),
        );
        let ca_mounts: Vec<(String, String)> = v
            .pki
            .iter()
            .enumerate()
            .map(|(i, ca)| {
                (
                    format!("vault.pki[{i}].mount"),
                    ca.mount.trim_matches('/').to_owned(),
                )
            })
            .collect();
        unique(
            self.out,
            "PKI CA on mount",
            ca_mounts.iter().map(|(p, m)| (p.clone(), m.as_str())),
        );
        for (i, m) in v.mounts.iter().enumerate() {
            let path = m.path.trim_matches('/');
            let first = path.split('/').next().unwrap_or_default();
            if RESERVED_MOUNTS.contains(&first) {
                self.err(
                    "mount-path",
                    format!("vault.mounts[{i}].path"),
                    format!(
                        "{:?} is under {first}/, which Vault and OpenBao keep for themselves: sys/mounts refuses it (\"cannot mount\")",
                        m.path
                    ),
                );
            }
            for (j, other) in v.mounts.iter().enumerate().take(i) {
                let o = other.path.trim_matches('/');
                let nested = path != o
                    && (path.starts_with(&format!("{o}/")) || o.starts_with(&format!("{path}/")));
                if nested {
                    self.err(
                        "mount-path",
                        format!("vault.mounts[{i}].path"),
                        format!(
                            "{:?} and vault.mounts[{j}].path {:?} nest: Vault and OpenBao refuse a mount inside another mount or around one (\"path is already in use at ...\")",
                            m.path, other.path
                        ),
                    );
                }
            }
        }
        for (i, ca) in v.pki.iter().enumerate() {
            unique(
                self.out,
                "PKI role name",
                ca.roles
                    .iter()
                    .enumerate()
                    .map(|(j, r)| (format!("vault.pki[{i}].roles[{j}].name"), r.name.as_str())),
            );
            for (j, role) in ca.roles.iter().enumerate() {
                let at = format!("vault.pki[{i}].roles[{j}]");
                if !role.allow_subdomains && !role.allow_bare_domains {
                    self.err(
                        "pki-role-issues-nothing",
                        format!("{at}.allow_subdomains"),
                        format!(
                            "role {:?} has allow_subdomains and allow_bare_domains both false, so the PKI engine issues no name under allowed_domains {:?} (\"common name ... not allowed by this role\"); set one of them",
                            role.name.as_str(),
                            role.allowed_domains.iter().map(crate::types::Hostname::as_str).collect::<Vec<_>>()
                        ),
                    );
                }
                if role.ttl.as_secs() > role.max_ttl.as_secs() {
                    self.err(
                        "pki-role-ttl",
                        format!("{at}.ttl"),
                        format!(
                            "ttl {} is longer than max_ttl {}: the PKI engine refuses the role (\"ttl\" value must be less than \"max_ttl\" value)",
                            role.ttl, role.max_ttl
                        ),
                    );
                }
                if role.ttl.as_secs() > ca.ttl.as_secs() {
                    self.err(
                        "pki-role-ttl",
                        format!("{at}.ttl"),
                        format!(
                            "ttl {} outlives the CA of mount {:?} (ttl {}): every certificate issued with it would end after the CA, which the issuer's default leaf_not_after_behavior \"err\" refuses (\"cannot satisfy request, as TTL would result in notAfter ... that is beyond the expiration of the CA certificate\")",
                            role.ttl, ca.mount, ca.ttl
                        ),
                    );
                }
            }
        }
        self.vault_listeners(v);
    }

    /// Each node's API and cluster listeners bind every address of its guest (0.0.0.0): they
    /// need distinct ports, from each other and from whatever else the guest runs (another
    /// member, HAProxy's frontends and stats page).
    fn vault_listeners(&mut self, v: &crate::vault::Vault) {
        let mut taken: HashMap<(&str, u16), String> = HashMap::new();
        for (i, n) in v.nodes.iter().enumerate() {
            for (field, port) in [("api_port", n.api_port), ("cluster_port", n.cluster_port)] {
                let path = format!("vault.nodes[{i}].{field}");
                if let Some(first) = taken.get(&(n.guest.as_str(), port)) {
                    self.err(
                        "listener-conflict",
                        path,
                        format!(
                            "port {port} on guest {:?} is already the listener of {first}; the second listener fails to bind (\"address already in use\") and the server does not start",
                            n.guest.as_str()
                        ),
                    );
                } else {
                    taken.insert((n.guest.as_str(), port), path);
                }
            }
        }
        let Some(lb) = &self.site.load_balancer else {
            return;
        };
        for (i, inst) in lb.instances.iter().enumerate() {
            let mut ports: Vec<(String, u16)> = lb
                .services
                .iter()
                .enumerate()
                .map(|(j, s)| (format!("load_balancer.services[{j}].port"), s.port))
                .collect();
            if let Some(st) = &lb.stats {
                ports.push(("load_balancer.stats.port".to_owned(), st.port));
            }
            for (path, port) in ports {
                if let Some(first) = taken.get(&(inst.guest.as_str(), port)) {
                    self.err(
                        "listener-conflict",
                        path,
                        format!(
                            "port {port}: HAProxy instance load_balancer.instances[{i}] runs on guest {:?}, where {first} already listens on {port} on every address; one of the two fails to bind (\"address already in use\")",
                            inst.guest.as_str()
                        ),
                    );
                }
            }
        }
    }
}
