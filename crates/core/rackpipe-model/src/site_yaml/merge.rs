//! Writing imported sections into an existing site file (`TOOL import --into SITE_FILE`)
//! without disturbing the rest: a splice of top-level sections on the YAML text.
//!
//! A site file is a block mapping whose top-level sections are the column-0 keys. A section's
//! block is its key line, every line after it up to the next column-0 key (its content,
//! blank lines, comments), and the run of column-0 `#` comment lines directly above the key
//! (no blank line between: the comment that introduces the section). [`splice`] replaces the
//! blocks of the imported sections by the imported ones (or appends a section the file lacks)
//! and leaves every other byte where it was; it then parses both texts and refuses a result
//! that does not read back as the file's document with those sections replaced (an anchor
//! in a replaced section that another section aliases, flow style, a JSON file): the text is
//! only written when the splice is exact. No crate edits YAML keeping comments and layout,
//! so this is done on the text, on the one structure site files have.

use serde_json::Value;

/// Why sections could not be written into a site file. Each displays as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// The file is not a site that loads (syntax, schema).
    #[error("{0}")]
    NotASite(String),
    /// The file's layout is not one the splice can edit exactly.
    #[error("{file}: cannot write {section} into it: {why}")]
    Layout {
        /// The file's name.
        file: String,
        /// The section being written.
        section: String,
        /// What is in the way.
        why: String,
    },
    /// The site with the imported sections does not validate (nothing was written).
    #[error("{file}: with the imported {section} the site does not validate: {why}")]
    Invalid {
        /// The file's name.
        file: String,
        /// The sections written.
        section: String,
        /// The first finding.
        why: String,
    },
}

/// Lines of a text, each with its line end.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The key of a column-0 mapping line (`router:`, `"router":`), `None` for anything else
/// (blank, indented, a comment, an indentless sequence item); `Err` for a column-0 line that
/// is neither a key nor allowed there.
fn top_key(line: &str) -> Result<Option<String>, String> {
    let body = line.trim_end_matches(['\n', '\r']);
    let Some(first) = body.chars().next() else {
        return Ok(None);
    };
    if matches!(first, ' ' | '\t' | '#') || body.starts_with("- ") || body == "-" {
        return Ok(None);
    }
    if body.starts_with("---") || body.starts_with("...") {
        return Err("more than one YAML document (a `---` or `...` line)".to_owned());
    }
    let (key, rest) = if first == '"' || first == '\'' {
        let close = body[1..]
            .find(first)
            .ok_or_else(|| format!("a quoted key that does not close: {body}"))?;
        (&body[1..=close], &body[close + 2..])
    } else if matches!(
        first,
        '{' | '[' | '?' | '&' | '*' | '!' | '|' | '>' | '%' | '@'
    ) {
        return Err(format!(
            "not a block mapping of sections (a line starts with {first:?})"
        ));
    } else {
        match body.find(':') {
            Some(i) => (&body[..i], &body[i..]),
            None => return Err(format!("a top-level line that is not a key: {body}")),
        }
    };
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("a top-level line that is not a key: {body}"))?;
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return Err(format!("a top-level line that is not a key: {body}"));
    }
    Ok(Some(key.trim_end().to_owned()))
}

/// A text cut into the part before the first section and each section's block.
#[derive(Debug)]
struct Blocks {
    head: String,
    sections: Vec<(String, String)>,
}

fn is_comment_line(line: &str) -> bool {
    line.starts_with('#')
}

fn cut(text: &str) -> Result<Blocks, String> {
    let mut head = String::new();
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut started = false;
    for (n, line) in lines(text).into_iter().enumerate() {
        // A leading `---` (document start) stays in the head.
        if !started && line.trim_end() == "---" {
            head.push_str(line);
            continue;
        }
        let key = top_key(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        match key {
            Some(key) => {
                started = true;
                // The column-0 comment run directly above moves with the key.
                let tail = match sections.last_mut() {
                    Some((_, block)) => block,
                    None => &mut head,
                };
                let mut keep = tail.len();
                for l in lines(tail).iter().rev() {
                    if is_comment_line(l) {
                        keep -= l.len();
                    } else {
                        break;
                    }
                }
                let moved = tail.split_off(keep);
                if sections.iter().any(|(k, _)| *k == key) {
                    return Err(format!("line {}: section {key} appears twice", n + 1));
                }
                sections.push((key, moved + line));
            }
            None => match sections.last_mut() {
                Some((_, block)) => block.push_str(line),
                None => head.push_str(line),
            },
        }
    }
    Ok(Blocks { head, sections })
}

/// The blank and column-0 comment lines at the end of a block: they separate it from the
/// next, or close the file, and are kept when the block is replaced.
fn trailing_blank(block: &str) -> &str {
    let mut keep = block.len();
    let all = lines(block);
    for l in all.iter().skip(1).rev() {
        if l.trim().is_empty() || is_comment_line(l) {
            keep -= l.len();
        } else {
            break;
        }
    }
    &block[keep..]
}

fn parse(name: &str, text: &str) -> Result<Value, String> {
    crate::load::parse(name, text.as_bytes())
        .map(|p| p.value)
        .map_err(|e| e.to_string())
}

/// `existing` (a site file's text, named `file` in messages) with the top-level `sections`
/// of `imported` (a site as [`super::write`] writes it) written in: each replaces the
/// file's block of the same key, or is appended when the file has none; the imported text's
/// leading comment (what the import says about itself) goes above the first one. Every other
/// byte is kept. Top-level sections of `imported` the file lacks (besides `apiVersion`,
/// `kind` and `metadata`), such as the `hosts` and `segments` a section refers to, are
/// appended too.
///
/// # Errors
/// [`MergeError::Layout`] when either text is not a block mapping of sections the splice can
/// edit, a section is missing from `imported`, or the result would not read back as the
/// file's document with those sections replaced.
pub fn splice(
    file: &str,
    existing: &str,
    imported: &str,
    sections: &[&str],
) -> Result<String, MergeError> {
    let what = sections.join(", ");
    let layout = |why: String| MergeError::Layout {
        file: file.to_owned(),
        section: what.clone(),
        why,
    };
    let old = cut(existing).map_err(&layout)?;
    let new = cut(imported).map_err(|e| layout(format!("the imported site: {e}")))?;
    let mut wanted: Vec<String> = sections.iter().map(|s| (*s).to_owned()).collect();
    for (key, _) in &new.sections {
        let envelope = matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
        if !envelope && !wanted.contains(key) && !old.sections.iter().any(|(k, _)| k == key) {
            wanted.push(key.clone());
        }
    }
    // What the import says about itself: its leading comment lines.
    let mut note: String = lines(imported)
        .into_iter()
        .take_while(|l| is_comment_line(l))
        .filter(|l| !l.starts_with("# yaml-language-server"))
        .collect();
    let mut out_sections = old.sections.clone();
    for key in &wanted {
        let Some((_, block)) = new.sections.iter().find(|(k, _)| k == key) else {
            if sections.contains(&key.as_str()) {
                return Err(layout(format!("the imported site has no {key} section")));
            }
            continue;
        };
        let mut block = std::mem::take(&mut note) + block.trim_end_matches(['\n', ' ']);
        block.push('\n');
        match out_sections.iter_mut().find(|(k, _)| k == key) {
            Some((_, old_block)) => {
                block.push_str(trailing_blank(old_block));
                *old_block = block;
            }
            None => {
                if let Some((_, last)) = out_sections.last_mut() {
                    if !last.ends_with('\n') {
                        last.push('\n');
                    }
                    if !last.ends_with("\n\n") {
                        last.push('\n');
                    }
                }
                out_sections.push((key.clone(), block));
            }
        }
    }
    let mut out = old.head.clone();
    for (_, block) in &out_sections {
        out.push_str(block);
    }
    // The result must read back as the file's document with the sections replaced.
    let mut expected = parse(file, existing).map_err(MergeError::NotASite)?;
    let imported_value = parse("the imported site", imported)
        .map_err(|e| layout(format!("the imported site: {e}")))?;
    let (Value::Object(map), Value::Object(from)) = (&mut expected, &imported_value) else {
        return Err(layout("not a mapping of sections".to_owned()));
    };
    for key in &wanted {
        if let Some(v) = from.get(key) {
            map.insert(key.clone(), v.clone());
        }
    }
    match parse(file, &out) {
        Ok(value) if value == expected => Ok(out),
        Ok(_) => Err(layout(
            "the result would not read back as the file with the section replaced (an anchor or alias across sections?)"
                .to_owned(),
        )),
        Err(e) => Err(layout(format!("the result would not parse: {e}"))),
    }
}

/// [`splice`] for a site file: `existing` must load as a site (else
/// [`MergeError::NotASite`]), and the result must validate (else [`MergeError::Invalid`]
/// with its first finding). Returns the new text; the caller writes it.
///
/// # Errors
/// As [`splice`]; the file is not a site; the result does not validate.
pub fn merge(
    file: &str,
    existing: &str,
    imported: &str,
    sections: &[&str],
) -> Result<String, MergeError> {
    crate::load::load(file, existing.as_bytes()).map_err(|e| {
        MergeError::NotASite(format!(
            "{file}: not a readable site: {}",
            one_line(&e.to_string())
        ))
    })?;
    let out = splice(file, existing, imported, sections)?;
    crate::load::load_and_validate(file, out.as_bytes()).map_err(|e| MergeError::Invalid {
        file: file.to_owned(),
        section: sections.join(", "),
        why: one_line(&e.to_string()),
    })?;
    Ok(out)
}

fn one_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or_default();
    s.strip_prefix("the imported site: ")
        .unwrap_or(s)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FILE: &str = "# yaml-language-server: $schema=x\n#\n# the lab\napiVersion: rackpipe/v1\nkind: Site\nmetadata:\n  name: lab # the name\n  domain: lab.test\n\n# The addressing plan.\nsegments:\n  - name: lan   # keep me\n    cidr: 10.0.0.0/24\n\n# the router, by hand\nrouter:\n  old: 1\n\n# trailing words\n";

    #[test]
    fn a_section_is_replaced_and_the_rest_kept_byte_for_byte() {
        let imported = "# Imported by x.\napiVersion: rackpipe/v1\nkind: Site\nmetadata:\n  name: imported\n  domain: x.test\nrouter:\n  # a choice\n  new: 2\n";
        let out = splice("site.yaml", FILE, imported, &["router"]).unwrap();
        assert_eq!(
            out,
            "# yaml-language-server: $schema=x\n#\n# the lab\napiVersion: rackpipe/v1\nkind: Site\nmetadata:\n  name: lab # the name\n  domain: lab.test\n\n# The addressing plan.\nsegments:\n  - name: lan   # keep me\n    cidr: 10.0.0.0/24\n\n# Imported by x.\nrouter:\n  # a choice\n  new: 2\n\n# trailing words\n"
        );
        // Absent: appended, with a blank line before it.
        let imported = "apiVersion: rackpipe/v1\nkind: Site\nmetadata:\n  name: i\n  domain: x.test\nnas:\n  host: nas\nhosts:\n- name: nas\n";
        let out = splice("site.yaml", FILE, imported, &["nas"]).unwrap();
        assert!(out.starts_with(FILE), "{out}");
        assert!(
            out.ends_with("# trailing words\n\nnas:\n  host: nas\n\nhosts:\n- name: nas\n"),
            "{out}"
        );
    }

    #[test]
    fn what_cannot_be_spliced_exactly_is_refused() {
        let imported = "apiVersion: rackpipe/v1\nrouter:\n  a: 1\n";
        for (text, why) in [
            ("{\"apiVersion\": \"rackpipe/v1\"}\n", "not a block mapping"),
            ("a: 1\n---\nb: 2\n", "more than one YAML document"),
            ("router: &r\n  a: 1\nother: *r\n", "anchor"),
            ("a: 1\nrouter: 1\nrouter: 2\n", "appears twice"),
        ] {
            let err = splice("f.yaml", text, imported, &["router"]).unwrap_err();
            assert!(err.to_string().contains(why), "{text}: {err}");
            assert!(!err.to_string().contains('\n'));
        }
        let err = splice("f.yaml", "a: 1\n", "apiVersion: x\n", &["router"]).unwrap_err();
        assert!(err.to_string().contains("has no router section"), "{err}");
    }

    fn section() -> impl Strategy<Value = (String, String)> {
        let key = prop::sample::select(vec![
            "segments", "hosts", "router", "proxmox", "nas", "vault", "x-extra",
        ]);
        let comment = prop::option::of("[a-z #:-]{0,12}");
        let items = prop::collection::vec(
            (
                "[a-z]{1,6}",
                "[a-z0-9 .]{0,8}",
                prop::option::of("[a-z ]{0,6}"),
            ),
            0..4,
        );
        let blank = prop::bool::ANY;
        (key, comment, items, blank).prop_map(|(key, comment, items, blank)| {
            let mut block = String::new();
            if let Some(c) = comment {
                block.push_str(&format!("#{c}\n"));
            }
            if items.is_empty() {
                block.push_str(&format!("{key}: []\n"));
            } else {
                block.push_str(&format!("{key}:\n"));
                for (i, (k, v, c)) in items.iter().enumerate() {
                    let c = c.as_ref().map(|c| format!("  #{c}")).unwrap_or_default();
                    block.push_str(&format!("  {k}{i}: \"{v}\"{c}\n"));
                    if c.is_empty() && i % 2 == 1 {
                        block.push_str("  # inside\n");
                    }
                }
            }
            if blank {
                block.push('\n');
            }
            (key.to_owned(), block)
        })
    }

    fn document(sections: Vec<(String, String)>) -> (String, Vec<(String, String)>) {
        let mut seen = std::collections::BTreeSet::new();
        let sections: Vec<(String, String)> = sections
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect();
        let mut text = "# head\napiVersion: rackpipe/v1\n".to_owned();
        for (_, block) in &sections {
            text.push_str(block);
        }
        (text, sections)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn splices_never_panic_and_keep_untouched_sections(
            old in prop::collection::vec(section(), 0..6),
            new in prop::collection::vec(section(), 1..4),
            garbage in "[ -~\n]{0,40}",
        ) {
            let (existing, old_sections) = document(old);
            let (imported, new_sections) = document(new);
            let key = new_sections[0].0.clone();
            let out = splice("f.yaml", &existing, &imported, &[key.as_str()]).unwrap();
            // Untouched sections: their blocks are in the result byte for byte.
            for (k, block) in &old_sections {
                if *k != key {
                    prop_assert!(out.contains(block.trim_end_matches('\n')), "{k}: {out}");
                }
            }
            // The result reads back as the file with the section replaced.
            let mut expected = parse("f", &existing).unwrap();
            let from = parse("i", &imported).unwrap();
            expected[&key] = from[&key].clone();
            for (k, _) in &new_sections {
                if expected.get(k).is_none() {
                    expected[k] = from[k].clone();
                }
            }
            prop_assert_eq!(parse("o", &out).unwrap(), expected);
            // Anything else: an answer, never a panic.
            let _ = splice("f.yaml", &garbage, &imported, &[key.as_str()]);
            let _ = splice("f.yaml", &existing, &garbage, &[key.as_str()]);
        }
    }
}
