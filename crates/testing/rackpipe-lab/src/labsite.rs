//! The lab variant of a site: the same document with every segment moved into 198.18.0.0/15,
//! every secret reference pointed at a lab environment variable, and the few settings that must
//! change for the tools to reach the lab instead of the real site.
//!
//! # Address mapping
//!
//! Each lab claims its own block of 198.18.0.0/15 (a *slot*, see [`crate::slots`]), sized to
//! hold the site's segments. Segments are taken in the site's order; segment `i` gets the next
//! free block of the slot aligned to its own size, at least a /24: with /24 (or smaller)
//! segments and the slot at `198.18.S.0` that is `198.18.(S+i).0/24`; a /22 keeps its prefix
//! length. Every IPv4 address or prefix anywhere in the
//! document (fields, lists, ranges like `a-b`, `host:port`, comments) that lies inside an original
//! segment keeps its offset in the segment's lab block. A prefix that spans several segments
//! (`10.3.0.0/22`, `10.0.0.0/8`) becomes the list of the lab blocks of the segments it contains:
//! in a list of strings each such element is replaced by those blocks, in a list of objects
//! the object is repeated once per block; elsewhere (a single field, free text) the smallest
//! prefix covering them is used. Addresses outside every segment (public DNS servers, the
//! Kubernetes pod and service ranges) are left alone: nothing in the lab contacts them.
//!
//! # Secrets
//!
//! Each `vault:...#KEY` or `file:...` reference becomes `env:RACKPIPE_LAB_<N>`, numbered in
//! document order from 1; [`LabSite::secrets`] says where each one sits and what kind of value
//! it needs, and the lab generates the values. References to what the site's Vault issues
//! itself (`vault.certificates[].store`) stay: the lab's Vault serves them after
//! vault-bootstrap applied.
//!
//! # Other changes
//!
//! - `router.management.tls`, `proxmox.api.tls` and a Synology NAS's `nas.server.tls`:
//!   `{ca_file: <lab CA>}` (the simulators' certificates come from it; no pinned fingerprint).
//! - `nas.server.ssh_user`: `root` (the lab's sshd accepts root with the lab key only).
//! - `vault`: `implementation: openbao` and `storage: {backend: raft}` (the lab runs OpenBao
//!   with integrated storage; there is no Consul), and `auth.gitlab_jwt.validation_pubkeys` set
//!   to the lab's JWT key so no server ever fetches the issuer's JWKS.

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use crate::error::LabError;

/// The lab address space.
pub const LAB_SPACE: &str = "198.18.0.0/15";

/// One segment of the site and where it lives in the lab.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentMap {
    /// The segment's name in the site.
    pub name: String,
    /// Its subnet in the original site.
    pub original: Ipv4Net,
    /// Its subnet in the lab.
    pub lab: Ipv4Net,
}

/// What kind of value a secret reference needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A password (24 random hex characters).
    Password,
    /// A keepalived VRRP password (8 characters: keepalived truncates longer ones).
    VrrpPassword,
    /// A Proxmox API token `USER@REALM!ID=SECRET`.
    ProxmoxToken,
    /// An SSH public key line (the lab client key).
    SshPublicKey,
    /// Anything else (32 random hex characters).
    Opaque,
}

/// A secret reference the lab site points at an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretSlot {
    /// The variable (`RACKPIPE_LAB_<N>`).
    pub var: String,
    /// Where it sits in the site (`router.management.password`).
    pub path: String,
    /// The original reference (a reference, not a secret).
    pub original: String,
    /// The value it needs.
    pub kind: SecretKind,
}

/// Settings for [`rewrite`].
#[derive(Debug, Clone)]
pub struct LabSiteOptions {
    /// Where this lab's segments start: the lab's slot of 198.18.0.0/15 (see
    /// [`span_of`]); parallel labs get different slots so their routes never overlap.
    pub base: Ipv4Net,
    /// The lab CA file the tools trust (router and Proxmox API).
    pub ca_file: String,
    /// PEM public key for the JWT auth method (`validation_pubkeys`).
    pub jwt_public_key_pem: Option<String>,
}

/// The lab variant of a site.
#[derive(Debug, Clone)]
pub struct LabSite {
    /// The rewritten document.
    pub document: Value,
    /// Segment mapping, in the site's order.
    pub segments: Vec<SegmentMap>,
    /// Secret references replaced by `env:` references, numbered from 1.
    pub secrets: Vec<SecretSlot>,
}

impl LabSite {
    /// The lab address of an original address (`None` outside every segment).
    #[must_use]
    pub fn map_address(&self, address: Ipv4Addr) -> Option<Ipv4Addr> {
        map_addr(&self.segments, address)
    }

    /// The segment holding a lab address.
    #[must_use]
    pub fn segment_of(&self, lab_address: Ipv4Addr) -> Option<&SegmentMap> {
        self.segments.iter().find(|s| s.lab.contains(&lab_address))
    }

    /// Writes the document as pretty JSON (valid YAML) to `path`.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), LabError> {
        let text = serde_json::to_string_pretty(&self.document)
            .map_err(|e| LabError::Site(format!("serialise: {e}")))?;
        std::fs::write(path, text + "\n").map_err(|e| LabError::io(path, &e))
    }
}

/// Reads a site file as a JSON value.
///
/// # Errors
/// Unreadable or unparsable file.
pub fn read(path: &Path) -> Result<Value, LabError> {
    let bytes = std::fs::read(path).map_err(|e| LabError::io(path, &e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| LabError::Site(format!("{}: not UTF-8", path.display())))?;
    serde_saphyr::from_str(&text)
        .map_err(|e| LabError::Site(format!("{}: {}", path.display(), one_line(&e.to_string()))))
}

/// Reads a site file and returns its lab variant.
///
/// # Errors
/// Unreadable or unparsable file, bad segments, or more segments than fit in `options.base`.
pub fn from_file(path: &Path, options: &LabSiteOptions) -> Result<LabSite, LabError> {
    rewrite(read(path)?, options)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds the lab variant of a parsed site document.
///
/// # Errors
/// Bad or missing segments, or more segments than fit in 198.18.0.0/15.
pub fn rewrite(mut document: Value, options: &LabSiteOptions) -> Result<LabSite, LabError> {
    let segments = allocate(&document, options.base)?;
    lab_specific(&mut document, options);
    let mut secrets = Vec::new();
    let keep = issued_by_vault(&document);
    walk(&mut document, "", &segments, &mut secrets, &keep);
    if let Some(desc) = document.pointer_mut("/metadata/description") {
        let old = desc.as_str().unwrap_or_default().to_owned();
        *desc = json!(format!("LAB VARIANT (addresses in {LAB_SPACE}) of: {old}"));
    }
    Ok(LabSite {
        document,
        segments,
        secrets,
    })
}

/// The prefix length of the smallest block of 198.18.0.0/15 that holds all of `document`'s
/// segments (the size of one lab's slot).
///
/// # Errors
/// Bad segments, or more than fit in 198.18.0.0/15.
pub fn span_of(document: &Value) -> Result<u8, LabError> {
    let space: Ipv4Net = LAB_SPACE
        .parse()
        .map_err(|_| LabError::Site("lab space".into()))?;
    let segs = allocate(document, space)?;
    let end = segs
        .iter()
        .map(|s| {
            u64::from(u32::from(s.lab.network()))
                + (1u64 << (32 - u32::from(s.lab.prefix_len().min(24))))
        })
        .max()
        .unwrap_or(0);
    let used = end
        .saturating_sub(u64::from(u32::from(space.network())))
        .max(256);
    let bits = 64 - (used - 1).leading_zeros();
    u8::try_from(32 - bits).map_err(|_| LabError::Site("segments: too large".into()))
}

/// Assigns each segment its lab block inside `space`.
fn allocate(document: &Value, space: Ipv4Net) -> Result<Vec<SegmentMap>, LabError> {
    let end = u64::from(u32::from(space.broadcast())) + 1;
    let mut cursor = u64::from(u32::from(space.network()));
    let mut out = Vec::new();
    let list = document
        .get("segments")
        .and_then(Value::as_array)
        .ok_or_else(|| LabError::Site("segments: missing or not a list".into()))?;
    for (i, seg) in list.iter().enumerate() {
        let name = seg
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| LabError::Site(format!("segments[{i}].name: missing")))?;
        let cidr = seg
            .get("cidr")
            .and_then(Value::as_str)
            .ok_or_else(|| LabError::Site(format!("segments[{i}].cidr: missing")))?;
        let original: Ipv4Net = cidr.parse().map_err(|_| {
            LabError::Site(format!(
                "segments[{i}].cidr: {cidr:?} is not an IPv4 prefix"
            ))
        })?;
        let original = original.trunc();
        let block_len = original.prefix_len().min(24);
        let size = 1u64 << (32 - u32::from(block_len));
        cursor = cursor.div_ceil(size) * size;
        if cursor + size > end {
            return Err(LabError::Site(format!(
                "segments[{i}] ({name}): no room left in {space}"
            )));
        }
        let base = Ipv4Addr::from(u32::try_from(cursor).unwrap_or(u32::MAX));
        let lab = Ipv4Net::new(base, original.prefix_len())
            .map_err(|_| LabError::Site(format!("segments[{i}]: bad prefix")))?;
        cursor += size;
        out.push(SegmentMap {
            name: name.to_owned(),
            original,
            lab,
        });
    }
    Ok(out)
}

fn lab_specific(document: &mut Value, options: &LabSiteOptions) {
    // The simulators' certificates come from the lab CA: trust it (and no pinned fingerprint).
    for pointer in ["/router/management", "/proxmox/api"] {
        if let Some(Value::Object(parent)) = document.pointer_mut(pointer) {
            parent.insert("tls".into(), json!({"ca_file": options.ca_file}));
        }
    }
    if let Some(Value::Object(server)) = document.pointer_mut("/nas/server") {
        if server.get("kind").and_then(Value::as_str) == Some("synology") {
            server.insert("tls".into(), json!({"ca_file": options.ca_file}));
        } else {
            server.insert("ssh_user".into(), json!("root"));
        }
    }
    if let Some(Value::Object(vault)) = document.pointer_mut("/vault") {
        vault.insert("implementation".into(), json!("openbao"));
        vault.insert(
            "storage".into(),
            json!({"backend": "raft", "path": "/var/lib/openbao"}),
        );
    }
    if let (Some(Value::Object(jwt)), Some(key)) = (
        document.pointer_mut("/vault/auth/gitlab_jwt"),
        &options.jwt_public_key_pem,
    ) {
        jwt.insert("validation_pubkeys".into(), json!([key]));
        jwt.remove("jwks_url");
    }
}

fn secret_kind(path: &str) -> SecretKind {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    match last {
        "auth_pass" => SecretKind::VrrpPassword,
        "password" => SecretKind::Password,
        "ssh_keys" => SecretKind::SshPublicKey,
        "token" if path.starts_with("proxmox.") => SecretKind::ProxmoxToken,
        _ => SecretKind::Opaque,
    }
}

fn is_secret_ref(s: &str) -> bool {
    s.strip_prefix("vault:").is_some_and(|r| r.contains('#'))
        || s.strip_prefix("file:").is_some_and(|r| !r.is_empty())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The `vault:MOUNT/PATH` prefixes of what the site's own Vault issues
/// (`vault.certificates[].store`): the lab's Vault holds them once vault-bootstrap applied,
/// so references to them stay.
fn issued_by_vault(document: &Value) -> Vec<String> {
    document
        .pointer("/vault/certificates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let mount = c.pointer("/store/mount")?.as_str()?;
            let path = c.pointer("/store/path")?.as_str()?;
            Some(format!("vault:{mount}/{}#", path.trim_matches('/')))
        })
        .collect()
}

fn walk(
    value: &mut Value,
    path: &str,
    segs: &[SegmentMap],
    secrets: &mut Vec<SecretSlot>,
    keep: &[String],
) {
    match value {
        Value::String(s) => {
            if is_secret_ref(s) && !keep.iter().any(|k| s.starts_with(k.as_str())) {
                let var = format!("RACKPIPE_LAB_{}", secrets.len() + 1);
                secrets.push(SecretSlot {
                    var: var.clone(),
                    path: path.to_owned(),
                    original: s.clone(),
                    kind: secret_kind(path),
                });
                *s = format!("env:{var}");
            } else {
                *s = rewrite_text(s, segs);
            }
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.drain(..) {
                out.extend(expand(item, segs));
            }
            for (i, item) in out.iter_mut().enumerate() {
                walk(item, &format!("{path}[{i}]"), segs, secrets, keep);
            }
            *items = out;
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                walk(v, &join(path, k), segs, secrets, keep);
            }
        }
        _ => {}
    }
}

/// A list element that names a prefix spanning several segments becomes one element per
/// segment (already in lab addresses).
fn expand(item: Value, segs: &[SegmentMap]) -> Vec<Value> {
    match &item {
        Value::String(s) => {
            if let Some(nets) = spanned(s, segs) {
                return nets.into_iter().map(|n| json!(n.to_string())).collect();
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(nets) = v.as_str().and_then(|s| spanned(s, segs)) {
                    return nets
                        .into_iter()
                        .map(|n| {
                            let mut copy = map.clone();
                            copy.insert(k.clone(), json!(n.to_string()));
                            Value::Object(copy)
                        })
                        .collect();
                }
            }
        }
        _ => {}
    }
    vec![item]
}

/// The lab blocks of the segments inside `text` when it is exactly a prefix spanning more than
/// one segment (or wider than the one it contains).
fn spanned(text: &str, segs: &[SegmentMap]) -> Option<Vec<Ipv4Net>> {
    let net: Ipv4Net = text.trim().parse().ok()?;
    if net.network() != net.addr() {
        return None;
    }
    let inside: Vec<Ipv4Net> = segs
        .iter()
        .filter(|s| net.contains(&s.original) && net.prefix_len() < s.original.prefix_len())
        .map(|s| s.lab)
        .collect();
    (!inside.is_empty()).then_some(inside)
}

fn map_addr(segs: &[SegmentMap], a: Ipv4Addr) -> Option<Ipv4Addr> {
    let seg = segs
        .iter()
        .filter(|s| s.original.contains(&a))
        .max_by_key(|s| s.original.prefix_len())?;
    let offset = u32::from(a) - u32::from(seg.original.network());
    Some(Ipv4Addr::from(u32::from(seg.lab.network()) + offset))
}

/// Maps one token `a.b.c.d` or `a.b.c.d/len`; `None` when it is not one or lies outside.
fn map_token(token: &str, segs: &[SegmentMap]) -> Option<String> {
    if let Some((addr, len)) = token.split_once('/') {
        let a: Ipv4Addr = addr.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        let net = Ipv4Net::new(a, len).ok()?;
        if let Some(mapped) = map_addr(segs, a) {
            return Some(format!("{mapped}/{len}"));
        }
        // A prefix spanning segments: the smallest prefix covering their lab blocks.
        let inside = spanned(&net.to_string(), segs)?;
        let lo = inside.iter().map(|n| u32::from(n.network())).min()?;
        let hi = inside.iter().map(|n| u32::from(n.broadcast())).max()?;
        let mut len = 32u8;
        while len > 0 {
            let cover = Ipv4Net::new(Ipv4Addr::from(lo), len).ok()?.trunc();
            if u32::from(cover.network()) <= lo && u32::from(cover.broadcast()) >= hi {
                return Some(cover.to_string());
            }
            len -= 1;
        }
        None
    } else {
        let a: Ipv4Addr = token.parse().ok()?;
        map_addr(segs, a).map(|m| m.to_string())
    }
}

/// Rewrites every IPv4 address/prefix token inside `text`.
#[must_use]
pub fn rewrite_text(text: &str, segs: &[SegmentMap]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            // Trailing dots (end of a sentence) are not part of the address.
            let trimmed = token.trim_end_matches('.');
            let tail = &token[trimmed.len()..];
            match map_token(trimmed, segs) {
                Some(mapped) => {
                    out.push_str(&mapped);
                    out.push_str(tail);
                }
                None => out.push_str(token),
            }
            token.clear();
        }
    };
    let mut prev_alnum = false;
    for c in text.chars() {
        let part = c.is_ascii_digit() || c == '.' || c == '/';
        if part && (!token.is_empty() || !prev_alnum) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
        prev_alnum = c.is_ascii_alphanumeric() || c == '_';
    }
    flush(&mut token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs() -> Vec<SegmentMap> {
        let doc = json!({"segments": [
            {"name": "a", "cidr": "10.3.0.0/24"},
            {"name": "b", "cidr": "10.3.1.0/24"},
            {"name": "c", "cidr": "10.1.0.0/22"},
            {"name": "d", "cidr": "10.2.0.0/28"},
        ]});
        allocate(&doc, LAB_SPACE.parse().unwrap()).unwrap()
    }

    #[test]
    fn allocates_aligned_blocks() {
        let s = segs();
        let labs: Vec<String> = s.iter().map(|s| s.lab.to_string()).collect();
        assert_eq!(
            labs,
            [
                "198.18.0.0/24",
                "198.18.1.0/24",
                "198.18.4.0/22",
                "198.18.8.0/28"
            ]
        );
    }

    #[test]
    fn rewrites_tokens_in_text() {
        let s = segs();
        assert_eq!(rewrite_text("10.3.0.1", &s), "198.18.0.1");
        assert_eq!(rewrite_text("10.3.1.5/24", &s), "198.18.1.5/24");
        assert_eq!(
            rewrite_text("10.3.0.100-10.3.0.199", &s),
            "198.18.0.100-198.18.0.199"
        );
        assert_eq!(rewrite_text("10.1.2.3:443", &s), "198.18.6.3:443");
        assert_eq!(rewrite_text("VMS 10.3.1.0/24.", &s), "VMS 198.18.1.0/24.");
        assert_eq!(rewrite_text("1.1.1.1", &s), "1.1.1.1");
        assert_eq!(rewrite_text("v1.31.4", &s), "v1.31.4");
        assert_eq!(rewrite_text("10.244.0.0/16", &s), "10.244.0.0/16");
        assert_eq!(rewrite_text("10.3.0.0/23 here", &s), "198.18.0.0/23 here");
        assert_eq!(rewrite_text("ether10.3.0.1", &s), "ether10.3.0.1");
    }

    #[test]
    fn expands_spanning_prefixes_in_lists() {
        let s = segs();
        let mut secrets = Vec::new();
        let mut v = json!({"address": ["10.0.0.0/8"], "lists": [{"list": "lan", "address": "10.3.0.0/22"}]});
        walk(&mut v, "", &s, &mut secrets, &[]);
        assert_eq!(
            v["address"],
            json!([
                "198.18.0.0/24",
                "198.18.1.0/24",
                "198.18.4.0/22",
                "198.18.8.0/28"
            ])
        );
        assert_eq!(
            v["lists"],
            json!([{"list": "lan", "address": "198.18.0.0/24"}, {"list": "lan", "address": "198.18.1.0/24"}])
        );
    }

    #[test]
    fn numbers_secret_references() {
        let s = segs();
        let mut secrets = Vec::new();
        let mut v = json!({"router": {"management": {"password": "vault:a/b#c"}},
            "proxmox": {"api": {"token": "file:/x"}}, "x": "env:KEEP"});
        walk(&mut v, "", &s, &mut secrets, &[]);
        assert_eq!(v["router"]["management"]["password"], "env:RACKPIPE_LAB_1");
        assert_eq!(v["proxmox"]["api"]["token"], "env:RACKPIPE_LAB_2");
        assert_eq!(v["x"], "env:KEEP");
        assert_eq!(secrets[0].kind, SecretKind::Password);
        assert_eq!(secrets[1].kind, SecretKind::ProxmoxToken);
    }

    #[test]
    fn keeps_references_to_what_the_sites_vault_issues() {
        let s = segs();
        let mut secrets = Vec::new();
        let mut v = json!({
            "vault": {"certificates": [{"name": "lb", "store": {"mount": "kv-gitlab", "path": "lb/ingress"}}]},
            "lb": {"crt": "vault:kv-gitlab/lb/ingress#pem", "other": "vault:kv-gitlab/lb/ingress2#pem"}});
        let keep = issued_by_vault(&v);
        walk(&mut v, "", &s, &mut secrets, &keep);
        assert_eq!(v["lb"]["crt"], "vault:kv-gitlab/lb/ingress#pem");
        assert_eq!(v["lb"]["other"], "env:RACKPIPE_LAB_1");
    }

    #[test]
    fn refuses_too_many_segments() {
        let list: Vec<Value> = (0..600)
            .map(|i| json!({"name": format!("s{i}"), "cidr": format!("10.{}.{}.0/24", i / 256, i % 256)}))
            .collect();
        assert!(allocate(&json!({"segments": list}), LAB_SPACE.parse().unwrap()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn rewriting_any_text_never_panics_and_keeps_non_addresses(text in "\\PC{0,80}") {
            let s = segs();
            let out = rewrite_text(&text, &s);
            if !text.chars().any(|c| c.is_ascii_digit()) {
                proptest::prop_assert_eq!(out, text);
            }
        }

        #[test]
        fn addresses_inside_a_segment_land_in_its_lab_block(host in 0u32..256) {
            let s = segs();
            let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 3, 1, 0)) + host);
            let mapped: Ipv4Addr = rewrite_text(&a.to_string(), &s).parse().unwrap();
            proptest::prop_assert!(s[1].lab.contains(&mapped));
            proptest::prop_assert_eq!(u32::from(mapped) & 0xff, host);
        }
    }

    #[test]
    fn span_covers_the_segments() {
        let doc = json!({"segments": [
            {"name": "a", "cidr": "10.3.0.0/24"},
            {"name": "b", "cidr": "10.3.1.0/24"},
            {"name": "c", "cidr": "10.1.0.0/22"},
            {"name": "d", "cidr": "10.2.0.0/28"},
        ]});
        // a, b, pad to .4, c = .4-.7, d = .8 → 9 /24s → a /20 slot.
        assert_eq!(span_of(&doc).unwrap(), 20);
        let one = json!({"segments": [{"name": "a", "cidr": "10.3.0.0/24"}]});
        assert_eq!(span_of(&one).unwrap(), 24);
    }
}
