//! Where the unseal keys and the root token come from: a keys file written by `init`, a text
//! file with one key per line, or an environment variable.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use rackpipe_secrets::Secret;

/// Reads unseal keys from a keys file written by [`init`](crate::cluster::init)
/// (`keys_base64`) or a text file with one key per line.
///
/// # Errors
/// Unreadable file, or no key in it.
pub fn keys_from_file(path: &Path) -> Result<Vec<Secret>> {
    let text = Secret::new(std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?);
    let keys = parse_keys(text.expose());
    if keys.is_empty() {
        return Err(Error::File {
            path: path.to_owned(),
            reason: "no unseal key in it".to_owned(),
        });
    }
    Ok(keys)
}

/// Reads the root token from a keys file written by [`init`](crate::cluster::init).
///
/// # Errors
/// Unreadable file, or no `root_token` in it.
pub fn root_token_from_file(path: &Path) -> Result<Secret> {
    let text = Secret::new(std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?);
    serde_json::from_str::<Value>(text.expose())
        .ok()
        .and_then(|v| v.get("root_token").and_then(Value::as_str).map(Secret::new))
        .ok_or_else(|| Error::File {
            path: path.to_owned(),
            reason: "no root_token in it".to_owned(),
        })
}

/// Reads unseal keys from an environment variable (separated by commas or whitespace).
///
/// # Errors
/// The variable is unset or empty.
pub fn keys_from_env(var: &str) -> Result<Vec<Secret>> {
    let value = Secret::new(std::env::var(var).unwrap_or_default());
    let keys = parse_keys(value.expose());
    if keys.is_empty() {
        return Err(Error::Input(format!("${var}: no unseal key in it")));
    }
    Ok(keys)
}

fn parse_keys(text: &str) -> Vec<Secret> {
    if let Ok(doc) = serde_json::from_str::<Value>(text) {
        let list = doc
            .get("keys_base64")
            .or_else(|| doc.get("keys"))
            .and_then(Value::as_array);
        return list
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(Secret::new)
                    .collect()
            })
            .unwrap_or_default();
    }
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(Secret::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_json_lines_and_commas() {
        let k = parse_keys(r#"{"keys_base64": ["a", "b"], "root_token": "s.x"}"#);
        assert_eq!(k.iter().map(Secret::expose).collect::<Vec<_>>(), ["a", "b"]);
        let k = parse_keys("a\nb, c\n\n");
        assert_eq!(
            k.iter().map(Secret::expose).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(parse_keys("").is_empty());
        assert!(parse_keys("{}").is_empty());
    }
}
