//! From the live router: one `GET /rest<menu>` per menu (the plan's read-back,
//! [`crate::readback::row_from_json`]: dynamic rows and volatile values dropped).

use reqwest::Method;
use serde_json::Value;

use super::Error;
use super::source::{Entry, EntryKind, Settings, Source};
use crate::plan::{MenuKind, menu_kind};
use crate::readback::row_from_json;
use crate::rest::{self, RestClient};

/// The menus a live import reads besides those ros-render manages ([`crate::MENU_ORDER`]):
/// the ones homelab and small-office routers use most, which go to the generic section. A
/// menu the router does not have (`no such command or directory`) is skipped.
pub const GENERIC_MENUS: &[&str] = &[
    "/interface/list",
    "/interface/list/member",
    "/interface/wireguard",
    "/interface/wireguard/peers",
    "/interface/vrrp",
    "/interface/gre",
    "/interface/eoip",
    "/ip/dhcp-client",
    "/ip/route",
    "/ip/firewall/mangle",
    "/ip/firewall/raw",
    "/ip/neighbor/discovery-settings",
    "/ip/settings",
    "/ip/ssh",
    "/ip/cloud",
    "/ip/upnp",
    "/ipv6/address",
    "/ipv6/route",
    "/ipv6/firewall/address-list",
    "/ipv6/firewall/filter",
    "/ipv6/firewall/raw",
    "/ipv6/nd",
    "/ipv6/settings",
    "/system/ntp/client/servers",
    "/system/scheduler",
    "/system/script",
    "/system/note",
    "/tool/netwatch",
    "/tool/mac-server",
    "/tool/mac-server/mac-winbox",
    "/snmp",
    "/snmp/community",
    "/ppp/secret",
    "/user",
];

/// The menus a live import reads, one `GET` each: [`crate::MENU_ORDER`], then
/// [`GENERIC_MENUS`].
#[must_use]
pub fn live_menus() -> Vec<&'static str> {
    crate::MENU_ORDER
        .iter()
        .chain(GENERIC_MENUS)
        .copied()
        .collect()
}

/// Values REST reports that are state, not configuration (beyond the read-back's own list).
const READ_ONLY: &[&str] = &[
    "dynamic",
    "builtin",
    "default",
    "invalid",
    "inactive",
    "actual-mtu",
    "actual-interface",
    "slave",
    "running",
];

/// Whether a failed `GET` says the router has no such menu (RouterOS: 400 `no such command
/// or directory`; a 404 from the path), rather than that reading failed.
fn absent(e: &rest::Error) -> bool {
    match e {
        rest::Error::Api { status: 404, .. } => true,
        rest::Error::Api {
            status: 400,
            message,
            detail,
            ..
        } => format!("{message} {}", detail.as_deref().unwrap_or_default())
            .contains("no such command"),
        _ => false,
    }
}

/// Reads `menus` (one `GET` each).
pub(crate) async fn source(client: &RestClient, menus: &[&str]) -> Result<Source, Error> {
    let mut source = Source {
        name: client.base().to_owned(),
        live: true,
        ..Source::default()
    };
    for (i, path) in menus.iter().enumerate() {
        let reply = match client.request(Method::GET, path, None).await {
            Ok(reply) => reply,
            Err(e) if absent(&e) => continue,
            Err(e) => {
                return Err(Error::Read {
                    menu: (*path).to_owned(),
                    index: i + 1,
                    total: menus.len(),
                    source: Box::new(e),
                });
            }
        };
        let fixed = matches!(menu_kind(path), MenuKind::Fixed(_));
        let menu = source.menu_mut(path);
        match reply {
            Value::Object(object) => {
                if let Some(mut row) = row_from_json(&object) {
                    for k in READ_ONLY {
                        row.props.remove(k);
                    }
                    menu.settings = Some(Settings {
                        props: row.props,
                        line: 0,
                        commands: 1,
                    });
                }
            }
            Value::Array(rows) => {
                for row in rows {
                    let Some(object) = row.as_object() else {
                        continue;
                    };
                    let Some(mut row) = row_from_json(object) else {
                        continue;
                    };
                    // Built-in entries are left out as the plan leaves them out, except in
                    // the menus that only hold built-in entries (ports, services).
                    if row.builtin && !fixed {
                        continue;
                    }
                    for k in READ_ONLY {
                        row.props.remove(k);
                    }
                    menu.entries.push(Entry {
                        kind: if fixed {
                            EntryKind::Existing
                        } else {
                            EntryKind::Add
                        },
                        props: row.props,
                        line: 0,
                        flags: Vec::new(),
                    });
                }
            }
            _ => {}
        }
    }
    source.total = source
        .menus
        .iter()
        .map(|m| m.entries.len() + usize::from(m.settings.is_some()))
        .sum();
    source
        .menus
        .retain(|m| m.settings.is_some() || !m.entries.is_empty());
    Ok(source)
}
