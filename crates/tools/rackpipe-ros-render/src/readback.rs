//! Reading the router's current state: one `GET /rest/<menu>` per managed menu (never one
//! request per object; RouterOS's www server is serial, see `routeros.md` §1.4).
//!
//! Dynamic rows (DHCP-assigned leases, timed address-list entries, ...) and volatile
//! read-only values (counters, `running`, clock time) are dropped, so the observed state, and
//! the plan's `observed_digest` over it, only change when the configuration does.

use rackpipe_routeros::{Config, Props};
use serde::Serialize;
use serde_json::Value;

use crate::rest::{Error, RestClient};

/// Read-only values that change without a configuration change.
const VOLATILE: &[&str] = &[
    "bytes",
    "packets",
    "running",
    "date",
    "time",
    "cache-used",
    "status",
    "last-seen",
    "active-address",
    "active-mac-address",
    "active-server",
    "active-client-id",
    "expires-after",
    "host-name",
    "current-tagged",
    "current-untagged",
    "next-run",
    "run-count",
    "dynamic-servers",
    "uptime",
    "last-link-up-time",
    "last-link-down-time",
    "link-downs",
];

/// One row as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// `.id` (`None` for singletons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Whether RouterOS marks it built-in (`builtin` or `default` = true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub builtin: bool,
    /// The properties (strings), without `.id` and volatile values.
    pub props: Props,
}

/// One menu's rows in router order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedMenu {
    /// v7 path (`/interface/bridge`).
    pub path: String,
    /// Rows in router order (dynamic rows dropped).
    pub rows: Vec<Row>,
}

/// The read-back state of the managed menus.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// Menus in dependency order.
    pub menus: Vec<ObservedMenu>,
}

impl Observed {
    /// The rows of `path` (empty when not read).
    #[must_use]
    pub fn rows(&self, path: &str) -> &[Row] {
        self.menus
            .iter()
            .find(|m| m.path == path)
            .map_or(&[], |m| m.rows.as_slice())
    }

    /// The plan's `observed_digest`, with the values of secret properties (a WireGuard
    /// private key a generic menu reads back) left out: a digest of a password could be
    /// guessed back.
    #[must_use]
    pub fn digest(&self) -> String {
        let mut shown = self.clone();
        for menu in &mut shown.menus {
            for row in &mut menu.rows {
                row.props = row
                    .props
                    .iter()
                    .map(|(k, v)| {
                        if rackpipe_routeros::config::is_secret_property(k) && !v.is_empty() {
                            (k, "<redacted>")
                        } else {
                            (k, v)
                        }
                    })
                    .collect();
            }
        }
        rackpipe_model::documents::digest(&shown)
    }

    /// A digest of the content without `.id`s: equal after a revert that re-created the
    /// same entries under new ids.
    #[must_use]
    pub fn content_digest(&self) -> String {
        let stripped: Vec<(&str, Vec<&Props>)> = self
            .menus
            .iter()
            .map(|m| (m.path.as_str(), m.rows.iter().map(|r| &r.props).collect()))
            .collect();
        rackpipe_model::documents::digest(&stripped)
    }
}

/// The menus `desired` writes, in its (dependency) order: the menus rackpipe manages.
#[must_use]
pub fn managed_menus(desired: &Config) -> Vec<String> {
    desired.paths().into_iter().map(str::to_owned).collect()
}

/// Converts one REST row; `None` for dynamic rows.
#[must_use]
pub fn row_from_json(row: &serde_json::Map<String, Value>) -> Option<Row> {
    let flag = |k: &str| row.get(k).and_then(Value::as_str) == Some("true");
    if flag("dynamic") {
        return None;
    }
    let mut props = Props::new();
    for (k, v) in row {
        if k == ".id" || VOLATILE.contains(&k.as_str()) {
            continue;
        }
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        props.insert(k.clone(), value);
    }
    Some(Row {
        id: row.get(".id").and_then(Value::as_str).map(str::to_owned),
        builtin: flag("builtin") || flag("default"),
        props,
    })
}

/// Reads `menus` with one `GET` each.
///
/// # Errors
/// The first failing request.
pub async fn read_back(client: &RestClient, menus: &[String]) -> Result<Observed, Error> {
    let mut observed = Observed::default();
    for path in menus {
        let rows = client.list(path).await?;
        observed.menus.push(ObservedMenu {
            path: path.clone(),
            rows: rows.iter().filter_map(row_from_json).collect(),
        });
    }
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_rows_and_counters_are_dropped() {
        let dynamic: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{".id":"*1","dynamic":"true","address":"10.0.0.5"}"#).unwrap();
        assert!(row_from_json(&dynamic).is_none());
        let rule: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{".id":"*2","chain":"input","bytes":"100","packets":"3","dynamic":"false"}"#,
        )
        .unwrap();
        let row = row_from_json(&rule).unwrap();
        assert_eq!(row.id.as_deref(), Some("*2"));
        assert!(!row.props.contains("bytes"));
        assert_eq!(row.props.get("chain"), Some("input"));
    }
}
