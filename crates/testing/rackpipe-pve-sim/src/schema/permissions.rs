//! A method's `permissions.check` expression (`perm`, `and`, `or`) evaluated against the
//! token's privileges, with the request parameters substituted into the paths.

use std::collections::BTreeMap;

use serde_json::Value;

use super::params::value_text;

/// A permission this request lacks: `(path, privilege)`.
pub type MissingPermission = (String, String);

/// Evaluates a method's `permissions.check` expression (`perm`, `and`, `or`) with the
/// request parameters substituted into paths. Unknown forms are allowed.
///
/// # Errors
/// The first missing `(path, privilege)`.
pub fn eval_check(
    check: &Value,
    params: &BTreeMap<String, Value>,
    has: &dyn Fn(&str, &str) -> bool,
) -> Result<(), MissingPermission> {
    let Some(items) = check.as_array() else {
        return Ok(());
    };
    match items.first().and_then(Value::as_str) {
        Some("perm") => {
            let raw_path = items.get(1).and_then(Value::as_str).unwrap_or("/");
            let privs: Vec<&str> = items
                .get(2)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut any = false;
            let mut i = 3;
            while i + 1 < items.len() {
                match items[i].as_str() {
                    Some("any") => any = items[i + 1].as_i64() == Some(1),
                    Some("require_param") => {
                        let name = items[i + 1].as_str().unwrap_or_default();
                        if !params.contains_key(name) {
                            return Err((
                                substitute(raw_path, params),
                                privs.first().copied().unwrap_or("").to_owned(),
                            ));
                        }
                    }
                    _ => {}
                }
                i += 2;
            }
            let path = substitute(raw_path, params);
            if any {
                if privs.iter().any(|p| has(&path, p)) {
                    Ok(())
                } else {
                    Err((path, privs.join("|")))
                }
            } else {
                match privs.iter().find(|p| !has(&path, p)) {
                    None => Ok(()),
                    Some(p) => Err((path, (*p).to_owned())),
                }
            }
        }
        Some("and") => {
            for sub in &items[1..] {
                eval_check(sub, params, has)?;
            }
            Ok(())
        }
        Some("or") => {
            let mut first = None;
            for sub in &items[1..] {
                match eval_check(sub, params, has) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        first.get_or_insert(e);
                    }
                }
            }
            first.map_or(Ok(()), Err)
        }
        _ => Ok(()),
    }
}

fn substitute(path: &str, params: &BTreeMap<String, Value>) -> String {
    let mut out = path.to_owned();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), &value_text(v));
    }
    out
}
