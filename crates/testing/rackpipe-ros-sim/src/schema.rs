//! The menus the simulator models: their kind, properties, types and defaults.
//!
//! Property sets follow RouterOS 7.x (`/console/inspect` dumps and the MikroTik help pages)
//! for the properties `ros-render` uses; anything else is rejected with RouterOS's
//! `unknown parameter <name>`, so a client cannot rely on a property the simulator does not
//! understand.
//!
//! The menus are defined by tree, one module each: `interface`, `ip`, `system`, and
//! `accounts` (users, SSH keys, certificates and files, which `/export` never prints); the
//! value parsers the checks share are in `values`.

mod accounts;
mod interface;
mod ip;
mod system;
mod values;

pub use system::LOG_TOPICS;
pub use values::{cidr_contains, network_of, parse_cidr, parse_duration_ms, parse_ip};

/// How entries of a menu come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuKind {
    /// A list: `add`, `set`, `remove`.
    List,
    /// A list of built-in entries that can only be `set` (ethernet ports, services).
    Fixed,
    /// One object without `.id` (`/ip/dns`, `/system/identity`).
    Singleton,
}

/// Value types, with the checks RouterOS applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Free text.
    Str,
    /// Non-empty text without control characters.
    Name,
    /// `yes`/`no`/`true`/`false`; stored and returned as `"true"`/`"false"`.
    Bool,
    /// Decimal integer within bounds (JSON numbers, `0x..` hex accepted).
    Int(i64, i64),
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// `a.b.c.d/len` (an interface address; the host part may be non-zero).
    Addr,
    /// `a.b.c.d/len` network with a zero host part.
    Prefix,
    /// `a.b.c.d`.
    Ip,
    /// Comma-separated `a.b.c.d` (may be empty).
    IpList,
    /// A RouterOS duration: `30s`, `1d2h`, `00:05:00`, `100ms`.
    Duration,
    /// `AA:BB:CC:DD:EE:FF`.
    Mac,
    /// The name of an existing interface.
    Iface,
    /// The name of an existing bridge.
    Bridge,
    /// Comma-separated existing interface names (may be empty).
    IfaceList,
    /// VLAN ids and ranges: `10,20-30`.
    VlanIds,
    /// A non-empty comma-separated subset of the listed words (`client-mac,client-id`).
    EnumList(&'static [&'static str]),
    /// Logging topics: comma-separated known topic names, each optionally negated with `!`.
    Topics,
    /// The name of an existing `/system/logging/action` entry.
    LogAction,
}

/// One property of a menu.
#[derive(Debug, Clone)]
pub struct PropSpec {
    /// Name as in the REST API.
    pub name: &'static str,
    /// Type.
    pub ty: Ty,
    /// Value when not set (`None`: omitted from replies when not set).
    pub default: Option<&'static str>,
    /// Must be given on `add`.
    pub required: bool,
    /// Returned but never written by clients.
    pub read_only: bool,
    /// A secret (password, private or preshared key): `/export` leaves it out unless
    /// `show-sensitive` is given.
    pub sensitive: bool,
    /// Written (or generated) but never shown: not in replies, never exported (user
    /// passwords, certificates' private keys). Only a binary backup carries it.
    pub hidden: bool,
}

fn p(name: &'static str, ty: Ty) -> PropSpec {
    PropSpec {
        name,
        ty,
        default: None,
        required: false,
        read_only: false,
        sensitive: false,
        hidden: false,
    }
}

impl PropSpec {
    fn d(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }
    fn req(mut self) -> Self {
        self.required = true;
        self
    }
    fn ro(mut self) -> Self {
        self.read_only = true;
        self
    }
    fn sens(mut self) -> Self {
        self.sensitive = true;
        self
    }
    fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }
}

/// One modelled menu.
#[derive(Debug, Clone)]
pub struct MenuSpec {
    /// v7 path, e.g. `/interface/bridge/port`.
    pub path: &'static str,
    /// Kind.
    pub kind: MenuKind,
    /// Properties in the order replies list them.
    pub props: Vec<PropSpec>,
    /// Whether entries have a unique `name` (GET `/rest/<menu>/<name>` works).
    pub named: bool,
    /// Whether entries are interfaces (names unique across all interface menus).
    pub interface: bool,
    /// Whether unset defaults are omitted from replies (firewall rules).
    pub sparse: bool,
    /// Properties that together must be unique (`failure: ... already`).
    pub unique: &'static [&'static str],
    /// Whether `/export` prints the menu (`/user`, `/certificate` and `/file` are never
    /// exported).
    pub exported: bool,
    /// A generic menu (one the simulator does not model, accepted for `router.menus`): any
    /// property RouterOS could name is stored as given, see [`generic`].
    pub generic: bool,
}

fn menu(path: &'static str, kind: MenuKind, props: Vec<PropSpec>) -> MenuSpec {
    let named = props.iter().any(|p| p.name == "name") && kind != MenuKind::Singleton;
    MenuSpec {
        path,
        kind,
        props,
        named,
        interface: false,
        sparse: false,
        unique: &[],
        exported: true,
        generic: false,
    }
}

/// A menu the simulator does not model, accepted as it is written: no property list, no
/// types, no defaults (see `docs/reference/routeros-sim.md`). The path is leaked: there is
/// one per distinct menu a test uses.
#[must_use]
pub fn generic(path: &str, kind: MenuKind) -> MenuSpec {
    let mut spec = menu(
        Box::leak(path.to_owned().into_boxed_str()),
        kind,
        Vec::new(),
    );
    spec.generic = true;
    spec.named = kind == MenuKind::List;
    spec
}

/// Whether `path` may be a generic menu: `/` then words of lowercase letters, digits, `-`
/// (and `_`, `.` as the export parser reads them), joined by `/`.
#[must_use]
pub fn is_generic_path(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|w| {
            !w.is_empty()
                && w.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
                })
        })
    })
}

/// A menu `/export` never prints.
fn unexported(path: &'static str, props: Vec<PropSpec>) -> MenuSpec {
    let mut spec = menu(path, MenuKind::List, props);
    spec.exported = false;
    spec
}

impl MenuSpec {
    /// The property spec of `name`.
    #[must_use]
    pub fn prop(&self, name: &str) -> Option<&PropSpec> {
        self.props.iter().find(|p| p.name == name)
    }
}

fn common_tail(mut props: Vec<PropSpec>) -> Vec<PropSpec> {
    props.push(p("comment", Ty::Str));
    props.push(p("disabled", Ty::Bool).d("false"));
    props
}

/// Every modelled menu, in the order `/export` prints them (dependencies first).
#[must_use]
pub fn menus() -> Vec<MenuSpec> {
    let mut menus = interface::menus();
    menus.extend(ip::menus());
    menus.extend(system::menus());
    menus.extend(accounts::menus());
    menus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_menu_path_is_unique() {
        let menus = menus();
        for (i, m) in menus.iter().enumerate() {
            assert!(
                menus[i + 1..].iter().all(|o| o.path != m.path),
                "{}",
                m.path
            );
        }
    }
}
