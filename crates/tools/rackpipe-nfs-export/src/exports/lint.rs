//! The exports linter: syntax issues from the parser, then per entry and per client the
//! option checks (unknown, conflicting, world-writable, missing `sync`/`subtree_check`
//! decisions), and across the files read together duplicate and overlapping exports and
//! reused `fsid`s. Also the `NfsLint` document that `nfs-export lint` prints.

use std::collections::BTreeMap;

use ipnet::IpNet;
use rackpipe_model::diagnostic::Position;
use rackpipe_model::documents::ValidationReport;
use rackpipe_model::{API_VERSION, Diagnostic, Severity};

use super::vocabulary::{
    CONTRADICTIONS, ClientKind, FLAG_OPTIONS, SEC_FLAVOURS, VALUE_OPTIONS, classify_client,
    valid_fsid,
};
use super::{ExportLine, ExportsFile, parse};

/// The effective view of one client's options (defaults, then the client's own, later wins).
#[derive(Debug, Default)]
struct Effective {
    flags: BTreeMap<&'static str, bool>,
    fsid: Option<String>,
}

/// Lints the exports text of one file. `source` names it in the report.
#[must_use]
pub fn lint(source: &str, text: &str) -> ValidationReport {
    lint_files(&[(source.to_owned(), text.to_owned())])
        .pop()
        .unwrap_or_else(|| report(source, Vec::new()))
}

fn report(source: &str, diagnostics: Vec<Diagnostic>) -> ValidationReport {
    ValidationReport {
        api_version: API_VERSION.to_owned(),
        kind: "ValidationReport".to_owned(),
        tool: "nfs-export".to_owned(),
        source: source.to_owned(),
        valid: !diagnostics.iter().any(Diagnostic::is_error),
        diagnostics,
    }
}

fn at(
    severity: Severity,
    rule: &str,
    path: &str,
    line: usize,
    column: usize,
    message: String,
) -> Diagnostic {
    Diagnostic {
        severity,
        position: Some(Position {
            line: line as u64,
            column: column as u64,
        }),
        ..Diagnostic::error(rule, path, message)
    }
}

/// What `nfs-export lint` prints: one document (kind `NfsLint`, schema
/// `schemas/nfs-lint.schema.json`, [`LintReport::document`]) holding every file's report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LintReport {
    /// No file has an error.
    pub valid: bool,
    /// One report per file, in the order given.
    pub reports: Vec<ValidationReport>,
}

impl rackpipe_model::documents::Kind for LintReport {
    const KIND: &'static str = "NfsLint";
}

/// The file under `schemas/` of the `NfsLint` document ([`lint_schema`]).
pub const LINT_SCHEMA: &str = "nfs-lint.schema.json";

/// The schema of the `NfsLint` document.
#[must_use]
pub fn lint_schema() -> serde_json::Value {
    rackpipe_model::schema::schema_of::<rackpipe_model::documents::Document<LintReport>>(
        LINT_SCHEMA,
    )
}

impl LintReport {
    /// The reports of [`lint_files`], valid when none has an error.
    #[must_use]
    pub fn new(reports: Vec<ValidationReport>) -> Self {
        Self {
            valid: reports.iter().all(|r| r.valid),
            reports,
        }
    }

    /// The report in the one document envelope: `{"apiVersion", "kind": "NfsLint", "valid",
    /// "reports"}` (no site: lint reads exports files, not the site).
    #[must_use]
    pub fn document(self) -> rackpipe_model::documents::Document<Self> {
        rackpipe_model::documents::Document::new(self)
    }
}

/// Lints several files read together (the main `exports` file and `exports.d/*.exports`), so
/// duplicate and overlapping exports across files are found. One report per file, in order.
#[must_use]
pub fn lint_files(files: &[(String, String)]) -> Vec<ValidationReport> {
    let parsed: Vec<ExportsFile> = files.iter().map(|(_, text)| parse(text)).collect();
    let mut reports: Vec<Vec<Diagnostic>> = vec![Vec::new(); files.len()];
    // (path, file index, line) of every entry, for cross-entry checks.
    let mut seen: Vec<(String, usize, usize)> = Vec::new();
    // (client, path) -> (file, line) for duplicates; fsid -> (path, file, line).
    let mut clients_seen: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut fsids: BTreeMap<String, (String, usize, usize)> = BTreeMap::new();

    for (index, file) in parsed.iter().enumerate() {
        let out = &mut reports[index];
        for issue in &file.issues {
            out.push(at(
                Severity::Error,
                issue.rule,
                "",
                issue.line,
                issue.column,
                issue.message.clone(),
            ));
        }
        for entry in &file.entries {
            lint_entry(
                &files[index].0,
                index,
                entry,
                out,
                &mut clients_seen,
                &mut fsids,
                files,
            );
            seen.push((normalise(&entry.path), index, entry.line));
        }
    }

    // Overlapping (nested) exports: look each path's ancestors up (O(entries x depth)).
    let mut first_at: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (path, file, line) in &seen {
        first_at.entry(path.as_str()).or_insert((*file, *line));
    }
    for (inner, fi, li) in &seen {
        let mut cut = inner.len();
        while let Some(slash) = inner[..cut].rfind('/') {
            let outer = if slash == 0 { "/" } else { &inner[..slash] };
            if outer != inner.as_str()
                && let Some((fo, lo)) = first_at.get(outer)
            {
                reports[*fi].push(at(
                    Severity::Warning,
                    "overlapping-export",
                    inner,
                    *li,
                    1,
                    format!(
                        "{inner} lies inside {outer} ({}:{lo}); clients of both see two exports of one tree (check crossmnt/nohide and fsid)",
                        files[*fo].0
                    ),
                ));
                break;
            }
            if slash == 0 {
                break;
            }
            cut = slash;
        }
    }
    files
        .iter()
        .zip(reports)
        .map(|((name, _), diags)| report(name, diags))
        .collect()
}

fn normalise(path: &str) -> String {
    if path.len() > 1 {
        path.trim_end_matches('/').to_owned()
    } else {
        path.to_owned()
    }
}

/// Whether `inner` is strictly below `outer` in the file-system tree.
#[must_use]
pub fn is_under(inner: &str, outer: &str) -> bool {
    let outer = outer.trim_end_matches('/');
    inner.len() > outer.len()
        && inner.starts_with(outer)
        && inner.as_bytes().get(outer.len()) == Some(&b'/')
}

#[allow(clippy::too_many_lines)]
fn lint_entry(
    source: &str,
    file_index: usize,
    entry: &ExportLine,
    out: &mut Vec<Diagnostic>,
    clients_seen: &mut BTreeMap<(String, String), (usize, usize)>,
    fsids: &mut BTreeMap<String, (String, usize, usize)>,
    files: &[(String, String)],
) {
    let path = normalise(&entry.path);
    let (line, col) = (entry.line, entry.column);
    if !entry.path.starts_with('/') {
        out.push(at(
            Severity::Error,
            "relative-path",
            &path,
            line,
            col,
            format!("export path {:?} is not absolute", entry.path),
        ));
    } else if entry.path.split('/').any(|part| part == "..") {
        out.push(at(
            Severity::Error,
            "relative-path",
            &path,
            line,
            col,
            format!("export path {:?} contains '..'", entry.path),
        ));
    }
    if entry.clients.is_empty() {
        out.push(at(
            Severity::Warning,
            "no-clients",
            &path,
            line,
            col,
            format!("{path} names no client: exportfs exports it to the world with default options; name the clients"),
        ));
    }
    let mut local_specs: BTreeMap<String, usize> = BTreeMap::new();
    for (i, client) in entry.clients.iter().enumerate() {
        let label = if client.spec.is_empty() {
            "*".to_owned()
        } else {
            client.spec.clone()
        };
        let field = format!("{path} {label}");
        let (cl, cc) = (client.line, client.column);
        // The classic space mistake: `host (rw)`.
        if client.spec.is_empty() {
            let previous = i
                .checked_sub(1)
                .and_then(|p| entry.clients.get(p))
                .filter(|p| !p.has_options);
            let message = match previous {
                Some(p) => format!(
                    "\"{} ({})\": the space before '(' exports {path} to {} with default options (ro,root_squash) AND to the whole world with ({}); write {}({})",
                    p.spec,
                    client.options.join(","),
                    p.spec,
                    client.options.join(","),
                    p.spec,
                    client.options.join(",")
                ),
                None => format!(
                    "\"({})\" has no client: exportfs exports {path} to the whole world with these options; write the client before '(' with no space",
                    client.options.join(",")
                ),
            };
            out.push(at(
                Severity::Error,
                "world-export-space",
                &field,
                cl,
                cc,
                message,
            ));
        } else if !client.has_options {
            let followed_by_detached = entry.clients.get(i + 1).is_some_and(|n| n.spec.is_empty());
            if !followed_by_detached {
                out.push(at(
                    Severity::Warning,
                    "no-options",
                    &field,
                    cl,
                    cc,
                    format!("{label} has no options: exportfs uses ro,root_squash and warns; write {label}(ro,sync,no_subtree_check) or similar"),
                ));
            }
        }
        let kind = match classify_client(&client.spec) {
            Ok(kind) => kind,
            Err(message) => {
                out.push(at(
                    Severity::Error,
                    "invalid-client",
                    &field,
                    cl,
                    cc,
                    message,
                ));
                continue;
            }
        };
        if let ClientKind::Network(net) = kind
            && net.addr() != net.network()
        {
            out.push(at(
                Severity::Warning,
                "host-bits-set",
                &field,
                cl,
                cc,
                format!("{label} has host bits set; the network is {}", net.trunc()),
            ));
        }
        if let Some(first) = local_specs.get(&label) {
            out.push(at(
                Severity::Warning,
                "duplicate-client",
                &field,
                cl,
                cc,
                format!("{label} appears twice for {path}; only the first entry (column {first}) is used"),
            ));
        } else {
            local_specs.insert(label.clone(), cc);
        }
        let key = (label.clone(), path.clone());
        if let Some((other_file, other_line)) = clients_seen.get(&key) {
            if (*other_file, *other_line) != (file_index, entry.line) {
                out.push(at(
                    Severity::Error,
                    "duplicate-export",
                    &field,
                    cl,
                    cc,
                    format!(
                        "{path} is already exported to {label} at {}:{other_line}",
                        files[*other_file].0
                    ),
                ));
            }
        } else {
            clients_seen.insert(key, (file_index, entry.line));
        }

        // Options: defaults then the client's own; contradictions inside one list are errors.
        let mut effective = Effective::default();
        for (list, is_default) in [(&entry.defaults, true), (&client.options, false)] {
            let mut local: BTreeMap<&'static str, bool> = BTreeMap::new();
            for option in list.iter() {
                let (name, value) = match option.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (option.as_str(), None),
                };
                if let Some(value) = value {
                    let Some(known) = VALUE_OPTIONS.iter().find(|k| **k == name) else {
                        out.push(at(
                            Severity::Error,
                            "unknown-option",
                            &field,
                            cl,
                            cc,
                            format!("unknown option {option:?} (exportfs rejects it)"),
                        ));
                        continue;
                    };
                    match *known {
                        "anonuid" | "anongid" if value.parse::<u32>().is_err() => {
                            out.push(at(
                                Severity::Error,
                                "invalid-option",
                                &field,
                                cl,
                                cc,
                                format!("{name}={value:?}: not a numeric id"),
                            ));
                        }
                        "sec" => {
                            for flavour in value.split(':') {
                                if !SEC_FLAVOURS.contains(&flavour) {
                                    out.push(at(
                                        Severity::Error,
                                        "invalid-option",
                                        &field,
                                        cl,
                                        cc,
                                        format!("sec={value}: unknown flavour {flavour:?} (sys, krb5, krb5i, krb5p)"),
                                    ));
                                }
                            }
                        }
                        "fsid" => {
                            if valid_fsid(value) {
                                effective.fsid = Some(if value == "0" {
                                    "root".to_owned()
                                } else {
                                    value.to_owned()
                                });
                            } else {
                                out.push(at(
                                    Severity::Error,
                                    "invalid-option",
                                    &field,
                                    cl,
                                    cc,
                                    format!("fsid={value:?}: not a number, 'root' or a UUID"),
                                ));
                            }
                        }
                        _ => {}
                    }
                    continue;
                }
                let Some(known) = FLAG_OPTIONS.iter().find(|k| **k == name) else {
                    let hint = if VALUE_OPTIONS.contains(&name) {
                        " (it needs =value)"
                    } else {
                        ""
                    };
                    out.push(at(
                        Severity::Error,
                        "unknown-option",
                        &field,
                        cl,
                        cc,
                        format!("unknown option {option:?}{hint} (exportfs rejects it)"),
                    ));
                    continue;
                };
                for (a, b) in CONTRADICTIONS {
                    let other = if known == a {
                        Some(*b)
                    } else if known == b {
                        Some(*a)
                    } else {
                        None
                    };
                    if let Some(other) = other
                        && local.contains_key(other)
                    {
                        let scope = if is_default {
                            "default options"
                        } else {
                            "options"
                        };
                        out.push(at(
                            Severity::Error,
                            "conflicting-options",
                            &field,
                            cl,
                            cc,
                            format!("{scope} of {label} set both {other} and {known}; they contradict (exportfs silently keeps the last)"),
                        ));
                    }
                }
                local.insert(known, true);
                // A later option overrides its opposite from the defaults.
                for (a, b) in CONTRADICTIONS {
                    if known == a {
                        effective.flags.remove(b);
                    } else if known == b {
                        effective.flags.remove(a);
                    }
                }
                effective.flags.insert(known, true);
            }
        }
        let has = |name: &str| effective.flags.contains_key(name);
        let rw = has("rw");
        let squash_off = has("no_root_squash");
        if kind == ClientKind::World {
            if rw || squash_off {
                let what = match (rw, squash_off) {
                    (true, true) => "read-write with no_root_squash",
                    (true, false) => "read-write",
                    _ => "with no_root_squash",
                };
                out.push(at(
                    Severity::Error,
                    "world-writable",
                    &field,
                    cl,
                    cc,
                    format!("{path} is exported to the whole world {what}; name the clients (a CIDR network or hosts)"),
                ));
            } else if !client.spec.is_empty() {
                out.push(at(
                    Severity::Warning,
                    "world-export",
                    &field,
                    cl,
                    cc,
                    format!("{path} is exported read-only to the whole world"),
                ));
            }
        }
        if let ClientKind::Network(net) = kind {
            let wide = match net {
                IpNet::V4(n) => n.prefix_len() < 16,
                IpNet::V6(n) => n.prefix_len() < 48,
            };
            if wide && (rw && squash_off) {
                out.push(at(
                    Severity::Warning,
                    "wide-no-root-squash",
                    &field,
                    cl,
                    cc,
                    format!("{label} is a wide network (/{}) with rw and no_root_squash: any machine in it acts as root on {path}", net.prefix_len()),
                ));
            }
        }
        if !(has("sync") || has("async")) && (client.has_options || !entry.defaults.is_empty()) {
            out.push(at(
                Severity::Warning,
                "missing-sync",
                &field,
                cl,
                cc,
                format!(
                    "{label}: neither sync nor async given; say sync (the safe default) explicitly"
                ),
            ));
        }
        if has("async") {
            out.push(at(
                Severity::Warning,
                "async",
                &field,
                cl,
                cc,
                format!("{label}: async acknowledges writes before they reach disk; a server crash loses data"),
            ));
        }
        if !(has("subtree_check") || has("no_subtree_check"))
            && (client.has_options || !entry.defaults.is_empty())
        {
            out.push(at(
                Severity::Warning,
                "missing-subtree-check",
                &field,
                cl,
                cc,
                format!("{label}: neither subtree_check nor no_subtree_check given; exportfs warns and assumes no_subtree_check"),
            ));
        }
        if let Some(fsid) = &effective.fsid {
            match fsids.get(fsid) {
                Some((other_path, other_file, other_line)) if *other_path != path => {
                    out.push(at(
                        Severity::Error,
                        "duplicate-fsid",
                        &field,
                        cl,
                        cc,
                        format!("fsid={fsid} is also used by {other_path} ({}:{other_line}); file handles would collide", files[*other_file].0),
                    ));
                }
                Some(_) => {}
                None => {
                    fsids.insert(fsid.clone(), (path.clone(), file_index, entry.line));
                }
            }
        }
    }
    let _ = source;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(String, u64)> {
        lint("t", text)
            .diagnostics
            .iter()
            .map(|d| (d.rule.clone(), d.position.map_or(0, |p| p.line)))
            .collect()
    }

    #[test]
    fn space_before_paren_is_a_world_export() {
        let r = lint("t", "/data 192.168.1.10 (rw,sync)\n");
        assert!(!r.valid);
        let d = r
            .diagnostics
            .iter()
            .find(|d| d.rule == "world-export-space")
            .unwrap();
        assert!(d.message.contains("whole world"), "{}", d.message);
        assert_eq!(d.position.unwrap().line, 1);
        assert_eq!(d.position.unwrap().column, 20);
    }

    #[test]
    fn conflicting_and_unknown_options() {
        let found = rules(
            "/a 10.0.0.0/24(ro,rw,sync,no_subtree_check)\n/b h(bogus,sync,no_subtree_check)\n",
        );
        assert!(
            found.contains(&("conflicting-options".to_owned(), 1)),
            "{found:?}"
        );
        assert!(
            found.contains(&("unknown-option".to_owned(), 2)),
            "{found:?}"
        );
    }

    #[test]
    fn world_rw_and_missing_decisions() {
        let found = rules("/a *(rw)\n");
        assert!(found.contains(&("world-writable".to_owned(), 1)));
        assert!(found.contains(&("missing-sync".to_owned(), 1)));
        assert!(found.contains(&("missing-subtree-check".to_owned(), 1)));
    }

    #[test]
    fn overlapping_and_duplicate_exports_across_files() {
        let files = vec![
            ("exports".to_owned(), "/srv 10.0.0.0/24(ro,sync,no_subtree_check)\n".to_owned()),
            (
                "exports.d/x.exports".to_owned(),
                "/srv/data 10.0.0.0/24(rw,sync,no_subtree_check)\n/srv 10.0.0.0/24(rw,sync,no_subtree_check)\n".to_owned(),
            ),
        ];
        let reports = lint_files(&files);
        let second: Vec<&str> = reports[1]
            .diagnostics
            .iter()
            .map(|d| d.rule.as_str())
            .collect();
        assert!(second.contains(&"overlapping-export"), "{second:?}");
        assert!(second.contains(&"duplicate-export"), "{second:?}");
        assert!(!reports[1].valid);
    }

    #[test]
    fn clean_file_is_valid() {
        let r = lint(
            "t",
            "/srv/nfs/cache \\\n\t10.3.2.0/24(rw,sync,no_subtree_check,root_squash)\n",
        );
        assert!(r.valid && r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    }
}
