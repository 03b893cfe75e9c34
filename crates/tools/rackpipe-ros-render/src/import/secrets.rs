//! Secret values an export shows (v6 exports print passwords and keys) become secret
//! references; the report lists each reference with where it came from, never the value.

use std::collections::HashSet;
use std::str::FromStr;

use rackpipe_model::types::SecretRef;
use rackpipe_routeros::config::is_secret_property;

use super::SecretEntry;

/// How the references the import writes are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretPrefix {
    /// `env:PREFIX_MENU_ENTRY_PROPERTY` (the default prefix is `ROS`).
    Env(String),
    /// `vault:PATH#menu_entry_property`.
    Vault(String),
}

impl Default for SecretPrefix {
    fn default() -> Self {
        SecretPrefix::Env("ROS".to_owned())
    }
}

impl FromStr for SecretPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "--secret-prefix {s:?}: expected env:NAME (letters, digits, _) or vault:MOUNT/PATH"
            )
        };
        if let Some(name) = s.strip_prefix("env:") {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(bad());
            }
            Ok(SecretPrefix::Env(name.to_owned()))
        } else if let Some(path) = s.strip_prefix("vault:") {
            if path.is_empty()
                || path.contains('#')
                || path.chars().any(char::is_control)
                || path.contains(char::is_whitespace)
            {
                return Err(bad());
            }
            Ok(SecretPrefix::Vault(path.trim_end_matches('/').to_owned()))
        } else {
            Err(bad())
        }
    }
}

/// Whether `property` of an entry of `menu` holds a secret: the parser's rule for secret
/// property names ([`is_secret_property`]: passwords, keys, pre-shared keys, ...), and the
/// SNMP community's name (the community string is its password).
#[must_use]
pub(crate) fn is_secret(menu: &str, property: &str) -> bool {
    is_secret_property(property) || (menu == "/snmp/community" && property == "name")
}

fn slug(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        for c in part.chars() {
            let c = if c.is_ascii_alphanumeric() { c } else { '_' };
            if c == '_' && (out.is_empty() || out.ends_with('_')) {
                continue;
            }
            out.push(c);
        }
        if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// Names references and records them for the report.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    prefix: SecretPrefix,
    used: HashSet<String>,
    /// The references made, in order.
    pub entries: Vec<SecretEntry>,
}

impl Secrets {
    pub fn new(prefix: SecretPrefix) -> Self {
        Secrets {
            prefix,
            ..Secrets::default()
        }
    }

    fn unique(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut n = 2;
        while !self.used.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }

    /// The reference for a secret at `menu` / `entry` (natural key, safe to show) /
    /// `property`; recorded for the report.
    pub fn reference(&mut self, menu: &str, entry: &str, property: &str, line: u32) -> SecretRef {
        let key = slug(&[menu, entry, property]);
        let text = match self.prefix.clone() {
            SecretPrefix::Env(prefix) => {
                let name = self.unique(key.to_ascii_uppercase());
                format!("env:{prefix}_{name}")
            }
            SecretPrefix::Vault(path) => {
                let name = self.unique(key.to_ascii_lowercase());
                format!("vault:{path}#{name}")
            }
        };
        self.entries.push(SecretEntry {
            reference: text.clone(),
            menu: menu.to_owned(),
            entry: entry.to_owned(),
            property: property.to_owned(),
            line,
        });
        // Letters, digits and `_` after a checked prefix: always a valid reference.
        SecretRef::from_str(&text).unwrap_or_else(|_| {
            SecretRef::from_str("env:ROS_SECRET").unwrap_or_else(|_| unreachable!())
        })
    }

    /// The API password's reference (`router.management.password`).
    pub fn api_password(&mut self) -> SecretRef {
        self.reference("management", "api", "password", 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_named_after_where_they_come_from() {
        let mut s = Secrets::new(SecretPrefix::default());
        assert_eq!(
            s.reference("/user", "name=admin", "password", 3).as_str(),
            "env:ROS_USER_NAME_ADMIN_PASSWORD"
        );
        assert_eq!(
            s.reference("/user", "name=admin", "password", 4).as_str(),
            "env:ROS_USER_NAME_ADMIN_PASSWORD_2"
        );
        let mut v = Secrets::new("vault:kv/router".parse().unwrap());
        assert_eq!(
            v.reference("/interface/wireguard", "name=wg0", "private-key", 0)
                .as_str(),
            "vault:kv/router#interface_wireguard_name_wg0_private_key"
        );
        assert!("file:/x".parse::<SecretPrefix>().is_err());
        assert!("env:A B".parse::<SecretPrefix>().is_err());
        assert!(is_secret("/snmp/community", "name"));
        assert!(!is_secret("/user", "name"));
    }
}
