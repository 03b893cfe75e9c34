//! Proxmox VE's own normalisation, so desired and actual configs can be compared with
//! zero false changes.
//!
//! What PVE does on write (and what we mirror):
//! - tags are lower-cased, de-duplicated, sorted and joined with `;` (`Web,db web` →
//!   `db;web`);
//! - booleans are stored as `1`/`0` (inside property strings `on|yes|true` are accepted);
//! - property strings (`net0`, `scsi0`, `rootfs`, `mp0`, `features`, `agent`, ...) are
//!   re-printed: default key first (bare, or `virtio=<MAC>` for QEMU NICs), then required
//!   keys, then the rest alphabetically; sizes as `32G`/`512M`; MACs upper-case;
//! - new NICs get a MAC, LXC NICs get `type=veth`, new disks get a volume name and
//!   `size=`.
//!
//! Diffing ([`values_equal`], [`diff_config`]) parses both sides into key/value maps
//! (hand-edited configs keep their own key order, so never compare raw strings). Inside
//! property strings, sub-keys the desired side leaves out are compared against PVE's
//! default when one exists (`firewall` → `0`) and ignored otherwise (a generated MAC, a
//! volume name), and a create-syntax volume (`local-lvm:32`) matches any volume on that
//! storage of that size.

use std::collections::{BTreeMap, BTreeSet};

use crate::GuestType;

/// A value that cannot be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// Not `N[.N][K|M|G|T]`.
    #[error("invalid size '{0}' (expected a number with an optional K, M, G or T suffix)")]
    BadSize(String),
    /// A property string that does not parse.
    #[error("{key}: {message}")]
    BadPropertyString {
        /// The config key (`net0`).
        key: String,
        /// What was wrong.
        message: String,
    },
}

/// QEMU NIC models (the `keyAlias` keys of `net[n]`).
pub const NIC_MODELS: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
];

/// Parses a boolean like PVE does inside property strings: `1|on|yes|true` and
/// `0|off|no|false`, any case.
#[must_use]
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// `1` or `0`.
#[must_use]
pub fn bool_str(value: bool) -> &'static str {
    if value { "1" } else { "0" }
}

/// Parses `32G`, `512M`, `1.5T`, `100K` or a bare number of bytes.
///
/// # Errors
/// [`NormalizeError::BadSize`].
pub fn parse_size(text: &str) -> Result<u64, NormalizeError> {
    let bad = || NormalizeError::BadSize(text.to_owned());
    let t = text.trim();
    let (num, shift) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    if num.is_empty()
        || !num.chars().all(|c| c.is_ascii_digit() || c == '.')
        || num.matches('.').count() > 1
    {
        return Err(bad());
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() {
        return Err(bad());
    }
    let whole: u64 = int.parse().map_err(|_| bad())?;
    let mut bytes = whole
        .checked_shl(shift)
        .filter(|v| v >> shift == whole)
        .ok_or_else(bad)?;
    if !frac.is_empty() {
        // Exact decimal fraction of the unit, truncated like PVE.
        let digits = frac.len().min(12);
        let f: u128 = frac[..digits].parse().map_err(|_| bad())?;
        let scale = 10u128.pow(u32::try_from(digits).map_err(|_| bad())?);
        let add = (f << shift) / scale;
        bytes = bytes
            .checked_add(u64::try_from(add).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    Ok(bytes)
}

/// Prints bytes with the largest exact unit (`T`, `G`, `M`, `K`), like PVE.
#[must_use]
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
        let m = 1u64 << shift;
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{}{unit}", bytes / m);
        }
    }
    bytes.to_string()
}

/// The tag set PVE stores: lower-cased, de-duplicated, sorted (separators `;`, `,`, space).
#[must_use]
pub fn tag_set(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c == ';' || c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Tags as PVE stores them: `Web,db web` → `db;web`.
#[must_use]
pub fn normalize_tags(text: &str) -> String {
    tag_set(text).into_iter().collect::<Vec<_>>().join(";")
}

/// Percent-encodes like Perl's `uri_escape` (what QEMU `sshkeys` must be sent as).
#[must_use]
pub fn encode_sshkeys(keys: &str) -> String {
    let mut out = String::with_capacity(keys.len() * 3 / 2);
    for b in keys.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid escapes are kept literally).
#[must_use]
pub fn decode_percent(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The shape of a property-string key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    QemuNet,
    LxcNet,
    QemuDisk,
    LxcMount,
    Features,
    Agent,
    Memory,
    IpConfig,
    Startup,
}

fn family(guest: GuestType, key: &str) -> Option<Family> {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let indexed = base.len() < key.len();
    Some(match (guest, base) {
        (GuestType::Qemu, "net") if indexed => Family::QemuNet,
        (GuestType::Lxc, "net") if indexed => Family::LxcNet,
        (GuestType::Qemu, "scsi" | "virtio" | "sata" | "ide") if indexed => Family::QemuDisk,
        (GuestType::Qemu, "efidisk" | "tpmstate" | "unused") if indexed => Family::QemuDisk,
        (GuestType::Lxc, "mp" | "unused") if indexed => Family::LxcMount,
        (GuestType::Lxc, "rootfs") => Family::LxcMount,
        (GuestType::Lxc, "features") => Family::Features,
        (GuestType::Qemu, "agent") => Family::Agent,
        (GuestType::Qemu, "memory") => Family::Memory,
        (GuestType::Qemu, "ipconfig") if indexed => Family::IpConfig,
        (_, "startup") => Family::Startup,
        _ => return None,
    })
}

impl Family {
    fn default_key(self) -> Option<&'static str> {
        match self {
            Self::QemuNet => Some("model"),
            Self::QemuDisk => Some("file"),
            Self::LxcMount => Some("volume"),
            Self::Agent => Some("enabled"),
            Self::Memory => Some("current"),
            Self::Startup => Some("order"),
            Self::LxcNet | Self::Features | Self::IpConfig => None,
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Self::LxcNet => &["name"],
            Self::LxcMount => &["mp"],
            _ => &[],
        }
    }

    fn is_bool(self, sub: &str) -> bool {
        match self {
            Self::QemuNet | Self::LxcNet => matches!(sub, "firewall" | "link_down"),
            Self::QemuDisk => matches!(
                sub,
                "backup"
                    | "iothread"
                    | "ssd"
                    | "replicate"
                    | "ro"
                    | "shared"
                    | "snapshot"
                    | "detect_zeroes"
                    | "scsiblock"
            ),
            Self::LxcMount => matches!(
                sub,
                "acl" | "backup" | "quota" | "replicate" | "ro" | "shared"
            ),
            Self::Features => matches!(
                sub,
                "force_rw_sys" | "fuse" | "keyctl" | "mknod" | "nesting"
            ),
            Self::Agent => matches!(
                sub,
                "enabled" | "freeze-fs-on-backup" | "fstrim_cloned_disks"
            ),
            Self::Memory | Self::IpConfig | Self::Startup => false,
        }
    }

    /// PVE's default for a sub-key, when it has one.
    fn default_of(self, sub: &str) -> Option<&'static str> {
        match (self, sub) {
            (Self::QemuNet | Self::LxcNet, "firewall" | "link_down") => Some("0"),
            (Self::LxcNet, "type") => Some("veth"),
            (Self::QemuDisk, "backup" | "replicate") => Some("1"),
            (Self::QemuDisk, "iothread" | "ssd" | "ro" | "shared" | "snapshot" | "scsiblock") => {
                Some("0")
            }
            (Self::QemuDisk, "discard") => Some("ignore"),
            (Self::QemuDisk, "media") => Some("disk"),
            (Self::LxcMount, "replicate") => Some("1"),
            (Self::LxcMount, "ro" | "quota" | "shared") => Some("0"),
            (Self::Features, _) => Some("0"),
            (Self::Agent, "enabled" | "fstrim_cloned_disks") => Some("0"),
            (Self::Agent, "freeze-fs-on-backup") => Some("1"),
            (Self::Agent, "type") => Some("virtio"),
            _ => None,
        }
    }
}

/// Whether `key` holds a property string this module understands.
#[must_use]
pub fn is_property_string(guest: GuestType, key: &str) -> bool {
    family(guest, key).is_some()
}

/// Parses a property string into canonical sub-key → value (aliases resolved, booleans
/// `1`/`0`, sizes printed like PVE, MACs upper-case).
///
/// # Errors
/// Duplicate keys, a positional value where there is no default key, a bad boolean or
/// size.
pub fn parse_property_string(
    guest: GuestType,
    key: &str,
    value: &str,
) -> Result<BTreeMap<String, String>, NormalizeError> {
    let fam = family(guest, key);
    let bad = |message: String| NormalizeError::BadPropertyString {
        key: key.to_owned(),
        message,
    };
    let mut map = BTreeMap::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (sub, val) = match part.split_once('=') {
            Some((k, v)) => {
                let k = k.trim();
                if fam == Some(Family::QemuNet) && NIC_MODELS.contains(&k) {
                    if map.insert("model".to_owned(), k.to_owned()).is_some() {
                        return Err(bad("duplicate key 'model'".to_owned()));
                    }
                    ("macaddr".to_owned(), v.trim().to_owned())
                } else if k == "volume" && fam == Some(Family::QemuDisk) {
                    ("file".to_owned(), v.trim().to_owned())
                } else {
                    (k.to_owned(), v.trim().to_owned())
                }
            }
            None => match fam.and_then(Family::default_key) {
                Some(dk) => (dk.to_owned(), part.to_owned()),
                None => {
                    return Err(bad(format!(
                        "value '{part}' without key, and '{key}' has no default key"
                    )));
                }
            },
        };
        if map.contains_key(&sub) {
            return Err(bad(format!("duplicate key '{sub}'")));
        }
        let val = canonical_sub(fam, &sub, &val).map_err(|m| bad(format!("{sub}: {m}")))?;
        map.insert(sub, val);
    }
    Ok(map)
}

fn canonical_sub(fam: Option<Family>, sub: &str, val: &str) -> Result<String, String> {
    if let Some(f) = fam
        && f.is_bool(sub)
    {
        return parse_bool(val)
            .map(|b| bool_str(b).to_owned())
            .ok_or_else(|| format!("invalid boolean '{val}'"));
    }
    Ok(match sub {
        "size" => format_size(parse_size(val).map_err(|e| e.to_string())?),
        "macaddr" | "hwaddr" => val.to_ascii_uppercase(),
        "model" | "type" => val.to_ascii_lowercase(),
        _ => val.to_owned(),
    })
}

/// Prints a canonical map in PVE's order: default key first (QEMU NIC as
/// `<model>=<MAC>`), then required keys, then the rest alphabetically.
#[must_use]
pub fn print_property_string(
    guest: GuestType,
    key: &str,
    map: &BTreeMap<String, String>,
) -> String {
    let fam = family(guest, key);
    let mut parts = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    if let Some(dk) = fam.and_then(Family::default_key)
        && let Some(v) = map.get(dk)
    {
        if fam == Some(Family::QemuNet) {
            if let Some(mac) = map.get("macaddr") {
                parts.push(format!("{v}={mac}"));
                done.insert("macaddr");
            } else {
                parts.push(v.clone());
            }
        } else {
            parts.push(v.clone());
        }
        done.insert(dk);
    }
    for req in fam.map_or(&[][..], Family::required) {
        if let Some(v) = map.get(*req) {
            parts.push(format!("{req}={v}"));
            done.insert(req);
        }
    }
    for (k, v) in map {
        if !done.contains(k.as_str()) {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join(",")
}

/// Top-level keys whose type is boolean in the QEMU/LXC config schema.
fn is_bool_key(guest: GuestType, key: &str) -> bool {
    match guest {
        GuestType::Qemu => matches!(
            key,
            "onboot"
                | "protection"
                | "template"
                | "acpi"
                | "kvm"
                | "tablet"
                | "localtime"
                | "reboot"
                | "freeze"
                | "numa"
                | "ciupgrade"
        ),
        GuestType::Lxc => matches!(
            key,
            "onboot" | "protection" | "template" | "unprivileged" | "console" | "debug"
        ),
    }
}

/// The value as PVE would store it (for sending and for display).
///
/// # Errors
/// A property string or boolean that does not parse.
pub fn canonical_value(guest: GuestType, key: &str, value: &str) -> Result<String, NormalizeError> {
    if key == "tags" {
        return Ok(normalize_tags(value));
    }
    if is_bool_key(guest, key) {
        return parse_bool(value)
            .map(|b| bool_str(b).to_owned())
            .ok_or_else(|| NormalizeError::BadPropertyString {
                key: key.to_owned(),
                message: format!("invalid boolean '{value}'"),
            });
    }
    if key == "description" {
        return Ok(value.trim_end().to_owned());
    }
    if is_property_string(guest, key) {
        let map = parse_property_string(guest, key, value)?;
        return Ok(print_property_string(guest, key, &map));
    }
    Ok(value.trim().to_owned())
}

/// `STORAGE:SIZE_GiB` / `STORAGE:cloudinit` (create syntax) → (storage, size in bytes).
fn create_syntax(volume: &str) -> Option<(&str, Option<u64>)> {
    let (storage, rest) = volume.split_once(':')?;
    if rest == "cloudinit" {
        return Some((storage, None));
    }
    let gib = parse_size(rest)
        .ok()
        .filter(|_| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))?;
    Some((storage, Some(gib.checked_mul(1 << 30)?)))
}

/// Whether the desired value is already what PVE has (see the module docs for the rules).
#[must_use]
pub fn values_equal(guest: GuestType, key: &str, desired: &str, actual: &str) -> bool {
    if key == "tags" {
        return tag_set(desired) == tag_set(actual);
    }
    if key == "sshkeys" {
        let norm = |s: &str| {
            decode_percent(s)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        };
        return norm(desired) == norm(actual);
    }
    if is_bool_key(guest, key) {
        return parse_bool(desired).is_some() && parse_bool(desired) == parse_bool(actual);
    }
    let Some(fam) = family(guest, key) else {
        return canonical_value(guest, key, desired).ok()
            == canonical_value(guest, key, actual).ok();
    };
    let (Ok(want), Ok(have)) = (
        parse_property_string(guest, key, desired),
        parse_property_string(guest, key, actual),
    ) else {
        return false;
    };
    let volume_key = fam
        .default_key()
        .filter(|_| matches!(fam, Family::QemuDisk | Family::LxcMount));
    let mut want = want;
    if let Some(vk) = volume_key
        && let Some(vol) = want.get(vk).cloned()
        && let Some((storage, size)) = create_syntax(&vol)
    {
        let have_vol = have.get(vk).map_or("", String::as_str);
        if have_vol.split_once(':').map(|(s, _)| s) != Some(storage) {
            return false;
        }
        want.remove(vk);
        if let Some(bytes) = size {
            want.entry("size".to_owned())
                .or_insert_with(|| format_size(bytes));
        }
    }
    let mut subs: BTreeSet<&str> = want.keys().map(String::as_str).collect();
    for k in have.keys() {
        if fam.default_of(k).is_some() {
            subs.insert(k);
        }
    }
    subs.into_iter().all(|sub| {
        let w = want
            .get(sub)
            .map(String::as_str)
            .or_else(|| fam.default_of(sub));
        let h = have
            .get(sub)
            .map(String::as_str)
            .or_else(|| fam.default_of(sub));
        match (w, h) {
            (Some(w), Some(h)) if sub == "size" => parse_size(w).ok() == parse_size(h).ok(),
            (w, h) => w == h,
        }
    })
}

/// One key that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Config key.
    pub key: String,
    /// Current value (`None`: not set).
    pub before: Option<String>,
    /// Desired value, canonicalised for sending.
    pub after: String,
}

/// What PVE means by a top-level config key that is absent from a guest's config: the
/// `default` of the key in the official API schema (`pve-8.4-apidoc.json`, the
/// `/nodes/{node}/{qemu,lxc}/{vmid}/config` parameters; a test in `rackpipe-pve-sim` checks
/// this table against it), and the empty string for `tags` and `description`, which the
/// schema gives no default because an absent one is simply none. `None`: an absent key has
/// no documented value, so it differs from any wanted one.
#[must_use]
pub fn absent_value(guest: GuestType, key: &str) -> Option<&'static str> {
    CONFIG_DEFAULTS
        .iter()
        .find(|(g, k, _)| *g == guest && *k == key)
        .map(|(_, _, v)| *v)
}

/// The table behind [`absent_value`]: (guest type, key, value of the key when absent).
pub const CONFIG_DEFAULTS: &[(GuestType, &str, &str)] = &[
    (GuestType::Lxc, "onboot", "0"),
    (GuestType::Lxc, "protection", "0"),
    (GuestType::Lxc, "template", "0"),
    (GuestType::Lxc, "unprivileged", "0"),
    (GuestType::Lxc, "console", "1"),
    (GuestType::Lxc, "memory", "512"),
    (GuestType::Lxc, "swap", "512"),
    (GuestType::Lxc, "tags", ""),
    (GuestType::Lxc, "description", ""),
    (GuestType::Qemu, "onboot", "0"),
    (GuestType::Qemu, "protection", "0"),
    (GuestType::Qemu, "template", "0"),
    (GuestType::Qemu, "cores", "1"),
    (GuestType::Qemu, "tags", ""),
    (GuestType::Qemu, "description", ""),
];

/// Compares the keys of `desired` with `actual` (keys `desired` does not mention are not
/// managed and never reported). A key absent from `actual` has PVE's value for an absent
/// key ([`absent_value`]), so a guest made by hand without `onboot` equals a site saying
/// `onboot: false`.
///
/// # Errors
/// A desired value that does not parse.
pub fn diff_config(
    guest: GuestType,
    desired: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> Result<Vec<ConfigDiff>, NormalizeError> {
    let mut out = Vec::new();
    for (key, want) in desired {
        let after = canonical_value(guest, key, want)?;
        match actual.get(key) {
            Some(have) if values_equal(guest, key, want, have) => {}
            None if absent_value(guest, key)
                .is_some_and(|default| values_equal(guest, key, want, default)) => {}
            before => out.push(ConfigDiff {
                key: key.clone(),
                before: before.cloned(),
                after,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(k: &str, v: &str) -> BTreeMap<String, String> {
        parse_property_string(GuestType::Qemu, k, v).unwrap()
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32G").unwrap(), 32 << 30);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
        assert_eq!(parse_size("1.5G").unwrap(), 1536 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("32GB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999999999999T").is_err());
        assert_eq!(format_size(32 << 30), "32G");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn an_absent_key_is_pves_default() {
        let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let none = BTreeMap::new();
        let d = diff_config(
            GuestType::Lxc,
            &want(&[
                ("onboot", "0"),
                ("protection", "0"),
                ("swap", "512"),
                ("description", ""),
            ]),
            &none,
        )
        .unwrap();
        assert!(d.is_empty(), "{d:?}");
        // A value other than the default, or a key without one, is still a change.
        let d = diff_config(
            GuestType::Lxc,
            &want(&[("onboot", "1"), ("cores", "2"), ("tags", "rackpipe")]),
            &none,
        )
        .unwrap();
        let keys: Vec<&str> = d.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["cores", "onboot", "tags"]);
        assert!(d.iter().all(|c| c.before.is_none()));
        assert!(
            diff_config(GuestType::Qemu, &want(&[("cores", "1")]), &none)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn tags_like_pve() {
        assert_eq!(normalize_tags("Web;db,web  k8s"), "db;k8s;web");
        assert_eq!(normalize_tags(""), "");
        assert!(values_equal(GuestType::Qemu, "tags", "web;DB", "db;web"));
    }

    #[test]
    fn qemu_nic_from_proxmox_md() {
        let m = q(
            "net0",
            "virtio=bc:24:11:5e:7a:01,bridge=vmbr0,tag=10,firewall=true",
        );
        assert_eq!(m["model"], "virtio");
        assert_eq!(m["macaddr"], "BC:24:11:5E:7A:01");
        assert_eq!(m["firewall"], "1");
        assert_eq!(
            print_property_string(GuestType::Qemu, "net0", &m),
            "virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1,tag=10"
        );
        // Desired without MAC matches PVE's generated one; firewall default 0 is compared.
        let actual = "virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1,tag=10";
        assert!(values_equal(
            GuestType::Qemu,
            "net0",
            "virtio,bridge=vmbr0,tag=10,firewall=1",
            actual
        ));
        assert!(!values_equal(
            GuestType::Qemu,
            "net0",
            "virtio,bridge=vmbr0,tag=10",
            actual
        ));
        assert!(!values_equal(
            GuestType::Qemu,
            "net0",
            "virtio,bridge=vmbr0,tag=20,firewall=1",
            actual
        ));
    }

    #[test]
    fn disks_from_proxmox_md() {
        let actual = "local-lvm:vm-100-disk-0,iothread=1,size=32G";
        assert!(values_equal(
            GuestType::Qemu,
            "scsi0",
            "local-lvm:32,iothread=1",
            actual
        ));
        assert!(!values_equal(
            GuestType::Qemu,
            "scsi0",
            "local-lvm:40,iothread=1",
            actual
        ));
        assert!(!values_equal(
            GuestType::Qemu,
            "scsi0",
            "ceph:32,iothread=1",
            actual
        ));
        assert!(
            !values_equal(GuestType::Qemu, "scsi0", "local-lvm:32", actual),
            "iothread default 0 != 1"
        );
        assert!(values_equal(
            GuestType::Qemu,
            "scsi0",
            "file=local-lvm:vm-100-disk-0,size=32768M,iothread=on",
            actual
        ));
        let ct_root = "local-lvm:vm-101-disk-0,size=8G";
        assert!(values_equal(
            GuestType::Lxc,
            "rootfs",
            "local-lvm:8",
            ct_root
        ));
        let mp = "local-lvm:vm-101-disk-1,mp=/srv/data,backup=1,size=10G";
        assert!(values_equal(
            GuestType::Lxc,
            "mp0",
            "local-lvm:10,mp=/srv/data,backup=1",
            mp
        ));
        assert_eq!(
            canonical_value(
                GuestType::Lxc,
                "mp0",
                "mp=/srv/data,size=10240M,volume=local-lvm:vm-101-disk-1,backup=yes"
            )
            .unwrap(),
            mp
        );
    }

    #[test]
    fn lxc_nic_and_features() {
        let actual =
            "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,tag=10,type=veth";
        assert!(values_equal(
            GuestType::Lxc,
            "net0",
            "name=eth0,bridge=vmbr0,ip=dhcp,tag=10,firewall=1",
            actual
        ));
        assert_eq!(
            canonical_value(GuestType::Lxc, "net0", "bridge=vmbr0,type=veth,name=eth0,tag=10,ip=dhcp,hwaddr=bc:24:11:aa:bb:cc,firewall=on").unwrap(),
            actual
        );
        assert!(values_equal(
            GuestType::Lxc,
            "features",
            "nesting=1,keyctl=true",
            "keyctl=1,nesting=1"
        ));
        assert!(!values_equal(
            GuestType::Lxc,
            "features",
            "nesting=1",
            "keyctl=1,nesting=1"
        ));
        assert!(parse_property_string(GuestType::Lxc, "net0", "eth0").is_err());
    }

    #[test]
    fn booleans_and_plain_values() {
        assert!(values_equal(GuestType::Lxc, "onboot", "true", "1"));
        assert!(!values_equal(GuestType::Lxc, "onboot", "0", "1"));
        assert!(values_equal(
            GuestType::Qemu,
            "memory",
            "2048",
            "current=2048"
        ));
        assert!(values_equal(GuestType::Qemu, "cores", "2", "2"));
        assert!(values_equal(
            GuestType::Qemu,
            "description",
            "hello\n",
            "hello"
        ));
        assert!(values_equal(GuestType::Qemu, "agent", "1", "enabled=1"));
        assert!(values_equal(
            GuestType::Qemu,
            "ipconfig0",
            "ip=10.0.0.5/24,gw=10.0.0.1",
            "gw=10.0.0.1,ip=10.0.0.5/24"
        ));
        let keys = "ssh-ed25519 AAAA me@host";
        assert_eq!(encode_sshkeys(keys), "ssh-ed25519%20AAAA%20me%40host");
        assert!(values_equal(
            GuestType::Qemu,
            "sshkeys",
            keys,
            &encode_sshkeys(keys)
        ));
    }

    #[test]
    fn diff_reports_only_real_changes() {
        let desired: BTreeMap<String, String> = [
            ("cores", "2"),
            ("tags", "Web;db"),
            ("net0", "virtio,bridge=vmbr0,tag=10"),
            ("onboot", "1"),
            ("memory", "4096"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let actual: BTreeMap<String, String> = [
            ("cores", "2"),
            ("tags", "db;web"),
            ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10"),
            ("onboot", "1"),
            ("memory", "2048"),
            ("vmgenid", "x"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let d = diff_config(GuestType::Qemu, &desired, &actual).unwrap();
        assert_eq!(
            d,
            vec![ConfigDiff {
                key: "memory".into(),
                before: Some("2048".into()),
                after: "4096".into()
            }]
        );
    }

    proptest::proptest! {
        #[test]
        fn property_strings_never_panic(key in "(net|scsi|mp|rootfs|features|agent|memory|x)[0-9]{0,2}", v in ".*") {
            for g in [GuestType::Qemu, GuestType::Lxc] {
                if let Ok(m) = parse_property_string(g, &key, &v) {
                    let printed = print_property_string(g, &key, &m);
                    // Canonical form is a fixed point.
                    if let Ok(again) = parse_property_string(g, &key, &printed) {
                        proptest::prop_assert_eq!(print_property_string(g, &key, &again), printed);
                    }
                }
                let _ = values_equal(g, &key, &v, &v);
            }
        }

        #[test]
        fn sizes_round_trip(n in 0u64..(1 << 20), unit in 0usize..5) {
            let bytes = n << [0, 10, 20, 30, 40][unit];
            proptest::prop_assert_eq!(parse_size(&format_size(bytes)).unwrap(), bytes);
        }

        #[test]
        fn size_parse_never_panics(s in ".*") {
            let _ = parse_size(&s);
            let _ = decode_percent(&s);
        }

        #[test]
        fn tags_idempotent(s in "[A-Za-z0-9;, _.-]*") {
            let once = normalize_tags(&s);
            proptest::prop_assert_eq!(normalize_tags(&once), once);
        }
    }
}
