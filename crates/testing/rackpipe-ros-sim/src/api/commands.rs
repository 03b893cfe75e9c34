//! The `/rest` menus: one request dispatched by method and path to a menu's rows, its
//! commands (`add`, `set`, `remove`, `move`, ...), the special commands (`/export`, ...) and
//! the generic menus the simulator does not model.

use axum::http::Method;
use rackpipe_routeros::Props;
use serde_json::{Map, Value, json};

use crate::schema::{self, MenuKind};
use crate::state::{ApiError, Router};

use super::{
    Reply, body_props, ids_of, percent_decode, proplist, query_matches, string_list, strip,
};

const GENERIC_COMMANDS: &[&str] = &[
    "add", "set", "remove", "move", "print", "enable", "disable", "unset",
];

/// With generic menus accepted: the menu a request names, when the simulator does not model
/// it, becomes a generic menu (a list; a singleton when its first write is a `set` without
/// `numbers`). A path one word below a modelled named menu whose entry has that name is a
/// `GET` by name, not a menu.
fn accept_generic(r: &mut Router, method: &Method, segments: &[&str], body: &[u8]) {
    let Some(last) = segments.last() else {
        return;
    };
    let keyed =
        last.starts_with('*') || (*method == Method::POST && GENERIC_COMMANDS.contains(last));
    let menu_segments = if keyed {
        &segments[..segments.len() - 1]
    } else {
        segments
    };
    if menu_segments.is_empty() {
        return;
    }
    let candidate = format!("/{}", menu_segments.join("/"));
    if !schema::is_generic_path(&candidate) {
        return;
    }
    if let Some(spec) = r.spec(&candidate)
        && !spec.generic
    {
        return;
    }
    let parent = format!("/{}", menu_segments[..menu_segments.len() - 1].join("/"));
    let by_name = r.spec(&parent).is_some_and(|s| !s.generic && s.named)
        && r.list(&parent)
            .iter()
            .any(|row| row.get("name").and_then(Value::as_str) == menu_segments.last().copied());
    if by_name {
        return;
    }
    let bare_set = *method == Method::POST
        && *last == "set"
        && body_props(body).is_ok_and(|(p, _)| !p.contains("numbers") && !p.contains(".id"));
    let kind = if bare_set {
        MenuKind::Singleton
    } else {
        MenuKind::List
    };
    if r.spec(&candidate).is_none() || bare_set {
        r.register_generic(&candidate, kind);
    }
}

/// Handles one `/rest` request; returns the stats route and the reply.
pub(super) fn handle(
    r: &mut Router,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> (String, Result<Reply, ApiError>) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if method == Method::HEAD {
        return (
            format!("HEAD /{path}"),
            Err(ApiError {
                status: 501,
                detail: None,
            }),
        );
    }
    // Commands outside the modelled menus.
    let joined = format!("/{}", segments.join("/"));
    if method == Method::POST {
        let special = matches!(
            joined.as_str(),
            "/export"
                | "/execute"
                | "/import"
                | "/system/backup/save"
                | "/system/backup/load"
                | "/system/reset-configuration"
                | "/system/reboot"
        );
        if special {
            return (format!("POST {joined}"), special_command(r, &joined, body));
        }
    }
    if joined == "/interface" && method == Method::GET {
        return (
            "GET /interface".to_owned(),
            Ok(Reply::Json(Value::Array(
                r.interfaces().into_iter().map(Value::Object).collect(),
            ))),
        );
    }
    if r.accept_generic {
        accept_generic(r, method, &segments, body);
    }
    // Longest modelled menu prefix.
    let Some((menu_len, menu)) = (1..=segments.len())
        .rev()
        .map(|n| (n, format!("/{}", segments[..n].join("/"))))
        .find(|(_, candidate)| r.spec(candidate).is_some())
    else {
        let unknown = segments.iter().rev().find(|_| true).copied().unwrap_or("");
        let first_unknown = segments.first().copied().unwrap_or(unknown);
        return (
            format!("{method} /{path}"),
            Err(ApiError::bad(format!(
                "no such command or directory ({first_unknown})"
            ))),
        );
    };
    let rest = &segments[menu_len..];
    let Some(kind) = r.spec(&menu).map(|s| s.kind) else {
        return (format!("{method} {menu}"), Err(ApiError::not_found()));
    };
    if rest.len() > 1 {
        return (
            format!("{method} {menu}/..."),
            Err(ApiError::bad(format!(
                "no such command or directory ({})",
                rest[0]
            ))),
        );
    }
    let key = rest.first().copied();
    let route = match (method, key) {
        (&Method::POST, Some(cmd)) => format!("POST {menu}/{cmd}"),
        (_, Some(_)) => format!("{method} {menu}/{{id}}"),
        (_, None) => format!("{method} {menu}"),
    };
    let result = (|| -> Result<Reply, ApiError> {
        match (method.clone(), key) {
            (Method::GET, None) => {
                let mut filters = Vec::new();
                let mut props_wanted = None;
                for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let (k, v) = (percent_decode(k), percent_decode(v));
                    if k == ".proplist" {
                        props_wanted = Some(v.split(',').map(str::to_owned).collect());
                    } else {
                        filters.push((k, v));
                    }
                }
                if kind == MenuKind::Singleton {
                    let rows = proplist(r.list(&menu), props_wanted);
                    return Ok(Reply::Json(
                        rows.into_iter().next().map_or(Value::Null, Value::Object),
                    ));
                }
                // A `.id` filter needs no scan (the common terraform read).
                let candidates = match filters.iter().find(|(k, _)| k == ".id") {
                    Some((_, id)) => match r.resolve(&menu, id) {
                        Ok(index) => vec![r.entry_view(&menu, index)],
                        Err(_) => Vec::new(),
                    },
                    None => r.list(&menu),
                };
                let rows: Vec<Map<String, Value>> = candidates
                    .into_iter()
                    .filter(|row| {
                        filters
                            .iter()
                            .all(|(k, v)| row.get(k).and_then(Value::as_str) == Some(v.as_str()))
                    })
                    .collect();
                Ok(Reply::Json(Value::Array(
                    proplist(rows, props_wanted)
                        .into_iter()
                        .map(Value::Object)
                        .collect(),
                )))
            }
            (Method::GET, Some(key)) => {
                let index = r.resolve(&menu, key)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, index))))
            }
            (Method::PUT, None) => {
                let (props, _) = body_props(body)?;
                let id = r.add(&menu, &props)?;
                let index = r.index_of_id(&menu, id).ok_or_else(ApiError::not_found)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, index))))
            }
            (Method::PATCH, None) if kind == MenuKind::Singleton => {
                let (props, _) = body_props(body)?;
                r.set_singleton(&menu, &props)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, 0))))
            }
            (Method::PATCH, Some(key)) => {
                let (props, _) = body_props(body)?;
                let index = r.resolve(&menu, key)?;
                let id = r.set(&menu, index, &props)?;
                let index = r.index_of_id(&menu, id).ok_or_else(ApiError::not_found)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, index))))
            }
            (Method::DELETE, Some(key)) => {
                let index = r.resolve(&menu, key)?;
                r.remove(&menu, index)?;
                Ok(Reply::NoContent)
            }
            (Method::POST, Some(command)) => {
                let (props, raw) = body_props(body)?;
                post_command(r, &menu, kind, command, &props, &raw)
            }
            (method, _) => Err(ApiError::bad(format!(
                "no such command or directory ({})",
                method.as_str().to_ascii_lowercase()
            ))),
        }
    })();
    (route, result)
}

fn post_command(
    r: &mut Router,
    menu: &str,
    kind: MenuKind,
    command: &str,
    props: &Props,
    raw: &Map<String, Value>,
) -> Result<Reply, ApiError> {
    let empty = || Ok(Reply::Json(Value::Array(Vec::new())));
    match command {
        "print" => {
            let query = string_list(raw.get(".query")).unwrap_or_default();
            let mut rows = Vec::new();
            for row in r.list(menu) {
                if query_matches(&row, &query)? {
                    rows.push(row);
                }
            }
            let rows = proplist(rows, string_list(raw.get(".proplist")));
            Ok(Reply::Json(Value::Array(
                rows.into_iter().map(Value::Object).collect(),
            )))
        }
        "set" if kind == MenuKind::Singleton => {
            r.set_singleton(menu, props)?;
            empty()
        }
        "set" => {
            let values = strip(props, &[".id", "numbers"]);
            for index in ids_of(r, menu, props)? {
                r.set(menu, index, &values)?;
            }
            empty()
        }
        "enable" | "disable" => {
            let value = if command == "enable" { "no" } else { "yes" };
            for index in ids_of(r, menu, props)? {
                r.set(menu, index, &Props::from_pairs([("disabled", value)]))?;
            }
            empty()
        }
        "remove" => {
            let mut ids: Vec<u32> = ids_of(r, menu, props)?
                .into_iter()
                .map(|i| r.id_of(menu, i))
                .collect();
            ids.dedup();
            for id in ids {
                if let Some(index) = r.index_of_id(menu, id) {
                    r.remove(menu, index)?;
                }
            }
            empty()
        }
        "move" => {
            let indexes = ids_of(r, menu, props)?;
            let destination = match props.get("destination") {
                Some(d) => Some(
                    r.resolve(menu, d)
                        .map_err(|_| ApiError::bad("no such item"))?,
                ),
                None => None,
            };
            r.move_items(menu, &indexes, destination)?;
            empty()
        }
        "add" => {
            let id = r.add(menu, props)?;
            Ok(Reply::Json(json!({ "ret": format!("*{id:X}") })))
        }
        other => Err(ApiError::bad(format!(
            "no such command or directory ({other})"
        ))),
    }
}

fn special_command(r: &mut Router, command: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let (props, _) = body_props(body)?;
    let empty = Ok(Reply::Json(Value::Array(Vec::new())));
    match command {
        "/export" => {
            let text = r.export_text_as(props.contains("terse"), props.contains("show-sensitive"));
            match props.get("file") {
                Some(file) => {
                    let name = if file.ends_with(".rsc") {
                        file.to_owned()
                    } else {
                        format!("{file}.rsc")
                    };
                    r.write_file(&name, &text);
                    empty
                }
                None => Ok(Reply::Json(json!({ "ret": text }))),
            }
        }
        "/execute" => {
            let script = props
                .get("script")
                .ok_or_else(|| ApiError::bad("missing value(s) of argument(s) script"))?;
            match (r.run_script(script), props.contains("as-string")) {
                (Ok(()), true) => Ok(Reply::Json(json!({ "ret": "" }))),
                (Ok(()), false) => empty,
                (Err(e), true) => Ok(Reply::Json(json!({ "ret": e }))),
                (Err(e), false) => Err(ApiError::bad(e)),
            }
        }
        "/import" => {
            let file = props
                .get("file-name")
                .ok_or_else(|| ApiError::bad("missing value(s) of argument(s) file-name"))?;
            r.import_file(file).map_err(ApiError::bad)?;
            empty
        }
        "/system/backup/save" => {
            let password = props
                .get("password")
                .filter(|_| props.get("dont-encrypt") != Some("yes"));
            r.backup_save(props.get("name").unwrap_or("backup"), password);
            empty
        }
        "/system/backup/load" => {
            let name = props
                .get("name")
                .ok_or_else(|| ApiError::bad("missing value(s) of argument(s) name"))?;
            r.backup_load(name, props.get("password"))
                .map_err(ApiError::bad)?;
            empty
        }
        "/system/reboot" => {
            r.reboot();
            empty
        }
        "/system/reset-configuration" => {
            let mut script = "/system reset-configuration".to_owned();
            for (k, v) in props.iter() {
                script.push_str(&format!(" {k}={}", rackpipe_routeros::export::quote(v)));
            }
            r.run_script(&script).map_err(ApiError::bad)?;
            empty
        }
        _ => Err(ApiError::bad("no such command or directory")),
    }
}
