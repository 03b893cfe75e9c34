//! No injection through the site into the router script (issue 16, item 5).
//!
//! Every string of the example site's `router` section (except `management`, which only the
//! REST client reads) gets a hostile value: characters that end a RouterOS command (`;`, a
//! newline), add an argument (a space, `=`), substitute a variable or a command (`$`, `$(`,
//! `[`), end a quoted string (`"`, `\`) or start a comment (`#`). Either `validate` refuses the
//! value naming that field, or the rendered script, read back with the project's RouterOS
//! script parser, has exactly the commands of the script rendered with a benign value (no
//! command added or dropped, no argument added or changed: the hostile value sits whole in
//! the argument where the benign one was). Firewall property names (written unquoted before
//! `=`) are checked by `validate` (`RosPropertyName`; rackpipe-model's `injection` test).

use proptest::prelude::*;
use rackpipe_model::load::{LoadError, parse};
use rackpipe_model::{Diagnostic, load_and_validate};
use rackpipe_routeros::Config;
use serde_json::Value;

/// What a benign value is replaced with; never part of the example's own values.
const MARKER: &str = "QZbenignQZ";

fn example() -> Value {
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-net");
    parse("rachuna-net.yaml", &bytes)
        .expect("example parses")
        .value
}

/// Every string leaf under `value`, as (JSON pointer, field path as validate names it).
fn string_fields(value: &Value, pointer: &str, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(_) => out.push((pointer.to_owned(), path.to_owned())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_fields(
                    item,
                    &format!("{pointer}/{i}"),
                    &format!("{path}[{i}]"),
                    out,
                );
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let token = k.replace('~', "~0").replace('/', "~1");
                string_fields(
                    v,
                    &format!("{pointer}/{token}"),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// The router's string fields that take text (a benign marker validates there): not those
/// that hold an IP address or another value with its own syntax, which refuses any text.
fn router_fields() -> &'static [(String, String)] {
    static FIELDS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| {
        let base = example();
        let mut all = Vec::new();
        string_fields(&base["router"], "/router", "router", &mut all);
        all.retain(|(pointer, _)| !pointer.starts_with("/router/management/"));
        all.into_iter()
            .filter(|(pointer, _)| {
                let mut doc = base.clone();
                set(&mut doc, pointer, MARKER);
                serde_json::from_value::<rackpipe_model::Site>(doc).is_ok()
            })
            .collect()
    })
}

/// The document as JSON text the site reader takes (it refuses raw DEL and the Unicode line
/// separators as YAML syntax errors before looking at any field: write those escaped).
fn json_text(doc: &Value) -> String {
    serde_json::to_string(doc)
        .expect("serialises")
        .chars()
        .map(|c| match c {
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => format!("\\u{:04x}", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

/// Validate's errors for the document, if any.
fn errors(doc: &Value) -> Vec<Diagnostic> {
    match load_and_validate("t.json", json_text(doc).as_bytes()) {
        Ok(_) => Vec::new(),
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("unexpected load error: {other}"),
    }
}

/// The site rendered and parsed back with the project's RouterOS script parser.
fn script(doc: &Value) -> Result<Config, String> {
    let site: rackpipe_model::Site =
        serde_json::from_value(doc.clone()).map_err(|e| format!("does not load: {e}"))?;
    let rendered = rackpipe_ros_render::render(&site, None).map_err(|e| e.to_string())?;
    let text = &rendered.files[0].content;
    rackpipe_routeros::parse(text)
        .map_err(|e| format!("the rendered script does not parse: {e}\n{text}"))
}

/// `config` with each field's hostile value replaced by that field's marker.
fn with_markers(config: &Config, values: &[(String, String)]) -> Config {
    let mut out = config.clone();
    for menu in &mut out.menus {
        for command in &mut menu.commands {
            let mut props = rackpipe_routeros::Props::new();
            for (k, v) in command.props.iter() {
                let mut v = v.to_owned();
                for (hostile, marker) in values {
                    v = v.replace(hostile.as_str(), marker);
                }
                props.insert(k, v);
            }
            command.props = props;
            if let Some(rackpipe_routeros::Selector::Find(find)) = &mut command.selector {
                let mut replaced = rackpipe_routeros::Props::new();
                for (k, v) in find.iter() {
                    let mut v = v.to_owned();
                    for (hostile, marker) in values {
                        v = v.replace(hostile.as_str(), marker);
                    }
                    replaced.insert(k, v);
                }
                *find = replaced;
            }
        }
    }
    out
}

fn set(doc: &mut Value, pointer: &str, value: &str) {
    *doc.pointer_mut(pointer).expect("field exists") = Value::String(value.to_owned());
}

fn refused_at(diags: &[Diagnostic], path: &str) -> bool {
    diags
        .iter()
        .any(|d| d.is_error() && (d.path == path || d.path.starts_with(&format!("{path}."))))
}

/// Puts `hostile` (made unique per field, so that names stay unique) into every field at once.
/// The fields `validate` refuses by their path are done (one validation reports them all);
/// with the value in the others, the script must have the commands of the one with a benign
/// marker in the same fields.
fn check(fields: &[(String, String)], hostile: &str) -> Result<(), String> {
    let value = |i: usize| format!("{hostile}Q{i}Q");
    let marker = |i: usize| format!("{MARKER}{i}");
    let mut doc = example();
    for (i, (pointer, _)) in fields.iter().enumerate() {
        set(&mut doc, pointer, &value(i));
    }
    let diags = errors(&doc);
    let accepted: Vec<usize> = (0..fields.len())
        .filter(|&i| !refused_at(&diags, &fields[i].1))
        .collect();
    let mut hostile_doc = example();
    let mut benign_doc = example();
    for &i in &accepted {
        set(&mut hostile_doc, &fields[i].0, &value(i));
        set(&mut benign_doc, &fields[i].0, &marker(i));
    }
    let names: Vec<&str> = accepted.iter().map(|&i| fields[i].1.as_str()).collect();
    let config = script(&hostile_doc).map_err(|e| format!("{hostile:?} in {names:?}: {e}"))?;
    let benign = script(&benign_doc).map_err(|e| format!("benign markers: {e}"))?;
    let values: Vec<(String, String)> = accepted.iter().map(|&i| (value(i), marker(i))).collect();
    if with_markers(&config, &values) == benign {
        Ok(())
    } else {
        Err(format!(
            "{hostile:?} in {names:?}: the script's commands differ from the benign rendering:\n{}\n--- benign:\n{}",
            rackpipe_routeros::print_terse(&config),
            rackpipe_routeros::print_terse(&benign)
        ))
    }
}

/// Hand-picked values that break out of a RouterOS string or command line if written raw.
const HOSTILE: &[&str] = &[
    // ends the quoted string, then the command, then comments out the rest
    "Qx\" ; /system reset-configuration ; #",
    // a new line (LF, CR LF) starts a new command
    "Qx\n/user add name=evil group=full password=x\r\n/system reboot",
    // variable and command substitution inside double quotes
    "Qx$[/system reboot]$(:put 1)$evil",
    // a backslash that would escape the closing quote or continue the line
    "Qx\\\"\\\ny\\",
    // extra arguments and command substitution outside quotes
    "Qx [ /system reboot ] comment=evil {y} ?y #y",
    // control characters
    "Qx\u{0}\u{7}\u{1b}\u{7f}y",
];

#[test]
fn every_router_string_is_refused_or_stays_one_argument() {
    let fields = router_fields();
    // The example names comments, DHCP/pool/bridge/bond/VLAN names, DNS names, firewall
    // rules, address lists, services, clock and syslog: make sure the walk found them.
    assert!(fields.len() > 100, "only {} string fields", fields.len());
    for hostile in HOSTILE {
        if let Err(e) = check(fields, hostile) {
            panic!("{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Random strings over the characters RouterOS reads as syntax, in every field at once.
    #[test]
    fn random_router_strings_are_refused_or_stay_one_argument(
        tail in "[a-z0-9 \"\\\\$\\[\\]();{}#?=:/!*,.\n\r\t\u{1}\u{7f}\u{85}\u{2028}é-]{0,16}",
    ) {
        let fields = router_fields();
        let hostile = format!("Qz{tail}");
        if let Err(e) = check(fields, &hostile) {
            prop_assert!(false, "{}", e);
        }
    }
}
