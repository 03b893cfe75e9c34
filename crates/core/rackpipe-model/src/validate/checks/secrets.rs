//! Secrets never appear literally in a site: not in a field meant for a secret reference, not in
//! free text, not inside a URL (`https://user:token@host/`, `?private_token=`).
//!
//! The whole raw document is walked, keys and values, so sections and fields added later (and
//! passed-through sections the model does not know) are covered without a change here. A
//! finding names the field path and the kind of secret it looks like, never the value: the
//! report goes to CI logs.

use std::collections::HashSet;

use serde_json::Value;

use super::Checker;
use crate::diagnostic::Diagnostic;
use crate::types::SecretRef;

/// What to tell the author after the kind of secret found.
const ADVICE: &str = "keep the secret out of the site and name where it is kept instead (env:NAME, file:PATH or vault:MOUNT/PATH#KEY); the value is not shown";

impl Checker<'_> {
    /// Every string of the document (and every key) that holds a secret's value.
    pub(super) fn secrets(&mut self, document: &Value) {
        let mut found = Vec::new();
        walk(document, "", None, &mut found);
        for Found {
            path, kind, in_key, ..
        } in found
        {
            let what = if in_key {
                "a key of this mapping looks like"
            } else {
                "looks like"
            };
            self.err(RULE, path, format!("{what} {kind}; {ADVICE}"));
        }
    }
}

/// The rule id of a literal secret.
const RULE: &str = "literal-secret";

/// Drops the schema and type errors at a field the `literal-secret` rule reports: their
/// messages quote the value (a failed pattern, a value that is not a secret reference), and
/// the value is the secret. The `literal-secret` error stays and names the field.
pub(crate) fn keep_values_out(diagnostics: &mut Vec<Diagnostic>) {
    let secret_paths: HashSet<String> = diagnostics
        .iter()
        .filter(|d| d.rule == RULE)
        .map(|d| d.path.clone())
        .collect();
    diagnostics.retain(|d| {
        !matches!(d.rule.as_str(), "schema" | "type") || !secret_paths.contains(&d.path)
    });
}

/// What a message shows instead of a secret's value.
const HIDDEN: &str = "(value not shown)";

/// Makes sure no finding shows the value of a secret in `document` (the values and keys the
/// `literal-secret` rule finds, and every scalar of a field named like a secret): a schema or
/// type error quotes the value it refuses (`"glpat-..." is not a secret reference`), even cut
/// short, and an unknown key is part of its field path. Such a quote becomes
/// `(value not shown)`, such a path the mapping's; the finding still names the field and the
/// problem. Run on every finding before it leaves the loader (also by [`crate::load::load`],
/// which runs no rule).
pub(crate) fn hide_values(diagnostics: &mut [Diagnostic], document: &Value) {
    if diagnostics.is_empty() {
        return;
    }
    let mut found = Vec::new();
    walk_all(document, "", None, true, &mut found);
    if found.is_empty() {
        return;
    }
    for d in diagnostics.iter_mut() {
        for f in &found {
            if f.in_key && d.path.contains(&f.text) {
                d.path.clone_from(&f.path);
            }
            let related = related_paths(&d.path, &f.path);
            d.message = hide_in(&d.message, &f.text, related);
        }
    }
}

/// Whether one of two field paths is the other or inside it.
fn related_paths(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| {
        y.is_empty()
            || x.strip_prefix(y)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    inside(a, b) || inside(b, a)
}

/// `message` without `secret`: every quote of it (JSON or Rust escaping, whole or cut short
/// with `...`) and, for a finding about the field itself (`related`), every bare occurrence.
fn hide_in(message: &str, secret: &str, related: bool) -> String {
    // A rule may quote a value lower-cased (a domain, a name compared without case).
    let lower = secret.to_lowercase();
    let out = hide_exact(message, secret, related);
    if lower == secret {
        out
    } else {
        hide_exact(&out, &lower, related)
    }
}

/// [`hide_in`] for the value exactly as written.
fn hide_exact(message: &str, secret: &str, related: bool) -> String {
    let trimmed = secret.trim();
    if trimmed.is_empty() {
        return message.to_owned();
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let debug = format!("{secret:?}");
    let mut out = message.to_owned();
    for quoted in [json.as_str(), debug.as_str()] {
        let content = &quoted[1..quoted.len().saturating_sub(1).max(1)];
        out = hide_quoted(&out, content, related);
    }
    // Bare occurrences: a short value only where the finding is about its own field.
    if related || trimmed.chars().count() >= 8 {
        for form in [secret, trimmed] {
            if !form.is_empty() {
                out = replace_bare(&out, form);
            }
        }
    }
    out
}

/// Replaces every `"CONTENT"` (or `"CONTENT-PREFIX...` as [`crate::schema`] cuts long values
/// short) in `message` by [`HIDDEN`]. A prefix shorter than the whole value counts only from
/// 12 characters on (or for the field's own finding).
fn hide_quoted(message: &str, content: &str, related: bool) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(tail) = after.strip_prefix(content)
            && let Some(tail) = tail.strip_prefix('"')
        {
            out.push_str(HIDDEN);
            rest = tail;
            continue;
        }
        // Cut short: `"` + a prefix of the value + `...`.
        if let Some(dots) = after.find("...") {
            let shown = &after[..dots];
            let long_enough = shown.chars().count() >= 12 || (related && !shown.is_empty());
            if long_enough && content.starts_with(shown) {
                out.push_str(HIDDEN);
                rest = &after[dots + 3..];
                continue;
            }
        }
        out.push('"');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Replaces every occurrence of `form` that is not part of a longer word by [`HIDDEN`].
fn replace_bare(message: &str, form: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(form) {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let after = rest[at + form.len()..].chars().next();
        out.push_str(&rest[..at]);
        if word(before) || word(after) {
            out.push_str(form);
        } else {
            out.push_str(HIDDEN);
        }
        rest = &rest[at + form.len()..];
    }
    out.push_str(rest);
    out
}

/// A secret found: where, what it looks like, and whether it is a mapping's key (then `path`
/// is the mapping's: a path with the key in it would print the secret); `text` is the value
/// (or key) itself, only ever used to keep it out of messages.
struct Found {
    path: String,
    kind: &'static str,
    in_key: bool,
    text: String,
}

/// Collects the secrets in `value` at `path`, found under the key `key`.
fn walk(value: &Value, path: &str, key: Option<&str>, found: &mut Vec<Found>) {
    walk_all(value, path, key, false, found);
}

/// [`walk`]; with `scalars`, also the numbers and booleans of fields named like secrets
/// (`password: 123456`: not a literal-secret finding, the schema refuses it, but a type error
/// would quote it).
fn walk_all(value: &Value, path: &str, key: Option<&str>, scalars: bool, found: &mut Vec<Found>) {
    match value {
        Value::Number(_) | Value::Bool(_) => {
            if scalars
                && let Some(k) = key
                && secret_in_field(Some(k), "x").is_some()
            {
                found.push(Found {
                    path: path.to_owned(),
                    kind: "",
                    in_key: false,
                    text: value.to_string(),
                });
            }
        }
        Value::String(text) => {
            if let Some(kind) = secret_in_field(key, text) {
                found.push(Found {
                    path: path.to_owned(),
                    kind,
                    in_key: false,
                    text: text.clone(),
                });
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                // A list inherits its field's name: `tokens: [glpat-...]`.
                walk_all(item, &format!("{path}[{i}]"), key, scalars, found);
            }
        }
        Value::Object(fields) => {
            for (k, v) in fields {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some(kind) = secret_in_text(k) {
                    found.push(Found {
                        path: path.to_owned(),
                        kind,
                        in_key: true,
                        text: k.clone(),
                    });
                    continue;
                }
                walk_all(v, &child, Some(k), scalars, found);
            }
        }
        Value::Null => {}
    }
}

/// The kind of secret `text` holds, given the name of the field it is in.
fn secret_in_field(key: Option<&str>, text: &str) -> Option<&'static str> {
    if text.parse::<SecretRef>().is_ok() {
        return None; // a reference names a secret; it is not one
    }
    if let Some(kind) = secret_in_text(text) {
        return Some(kind);
    }
    let key = key?;
    let named = key.to_ascii_lowercase().replace('-', "_");
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.starts_with('/') || trimmed.starts_with('$') {
        return None; // nothing, a path to a file, or a variable the shell expands
    }
    if named.ends_with("private_key") || named.ends_with("privatekey") {
        return Some(if is_wireguard_key(trimmed) {
            "a WireGuard private key"
        } else {
            "a private key"
        });
    }
    const SECRET_NAMES: [&str; 11] = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "auth_pass",
        "preshared_key",
        "psk",
        "secret_key",
    ];
    SECRET_NAMES
        .iter()
        .any(|n| named == *n || named.ends_with(&format!("_{n}")))
        .then_some("a secret written out in a field meant for a secret reference")
}

/// The kind of secret found anywhere in `text`, whatever field it is in.
fn secret_in_text(text: &str) -> Option<&'static str> {
    if text.contains("-----BEGIN") {
        if text.contains("PGP PRIVATE KEY BLOCK") {
            return Some("a PGP private key");
        }
        if text.contains("PRIVATE KEY-----") {
            return Some("a PEM private key");
        }
    }
    if let Some(kind) = url_credentials(text) {
        return Some(kind);
    }
    if let Some(kind) = query_credentials(text) {
        return Some(kind);
    }
    const TOKEN: fn(char) -> bool =
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
    const PREFIXED: [(&str, usize, &str); 17] = [
        ("hvs.", 20, "a Vault token"),
        ("hvb.", 20, "a Vault batch token"),
        ("hvr.", 20, "a Vault recovery token"),
        ("glpat-", 20, "a GitLab personal access token"),
        ("gldt-", 20, "a GitLab deploy token"),
        ("glrt-", 20, "a GitLab runner authentication token"),
        ("glptt-", 20, "a GitLab pipeline trigger token"),
        ("glcbt-", 20, "a GitLab CI/CD job token"),
        ("glft-", 20, "a GitLab feed token"),
        ("glagent-", 20, "a GitLab agent token"),
        ("gloas-", 20, "a GitLab OAuth application secret"),
        ("GR1348941", 20, "a GitLab runner registration token"),
        ("ghp_", 30, "a GitHub token"),
        ("gho_", 30, "a GitHub token"),
        ("ghs_", 30, "a GitHub token"),
        ("github_pat_", 30, "a GitHub token"),
        ("AKIA", 16, "an AWS access key"),
    ];
    for (prefix, min, kind) in PREFIXED {
        if prefixed(text, prefix, min, TOKEN) {
            return Some(kind);
        }
    }
    if legacy_vault_token(text) {
        return Some("a Vault token");
    }
    if proxmox_token(text) {
        return Some("a Proxmox API token");
    }
    if jwt(text) {
        return Some("a JSON Web Token");
    }
    if kubeadm_token(text) {
        return Some("a kubeadm bootstrap token");
    }
    if prefixed(text, "Bearer ", 20, TOKEN) || prefixed(text, "bearer ", 20, TOKEN) {
        return Some("a bearer token");
    }
    None
}

/// Whether `text` has `prefix` at a word start followed by at least `min` characters of `class`.
fn prefixed(text: &str, prefix: &str, min: usize, class: fn(char) -> bool) -> bool {
    text.match_indices(prefix).any(|(at, _)| {
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        before_ok
            && text[at + prefix.len()..]
                .chars()
                .take_while(|&c| class(c))
                .count()
                >= min
    })
}

/// `user:password@` (or a token as the user) in the authority of a URL.
fn url_credentials(text: &str) -> Option<&'static str> {
    for (at, _) in text.match_indices("://") {
        let rest = &text[at + 3..];
        let end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len());
        let Some((userinfo, _host)) = rest[..end].rsplit_once('@') else {
            continue;
        };
        match userinfo.split_once(':') {
            Some((_, password)) if !password.is_empty() && !password.starts_with('$') => {
                return Some("a password in a URL (user:password@host)");
            }
            Some(_) => {}
            None if secret_in_text(userinfo).is_some() || looks_random(userinfo) => {
                return Some("a token in a URL (token@host)");
            }
            None => {}
        }
    }
    None
}

/// Query parameters that carry credentials: `?private_token=...`, `&password=...`.
fn query_credentials(text: &str) -> Option<&'static str> {
    const NAMES: [&str; 16] = [
        "token",
        "access_token",
        "private_token",
        "auth_token",
        "id_token",
        "refresh_token",
        "job_token",
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "api_key",
        "apikey",
        "x-amz-signature",
        "sig",
    ];
    let (_, query) = text.split_once('?')?;
    let query = query
        .split(|c: char| c == '#' || c.is_whitespace())
        .next()?;
    query
        .split(['&', ';'])
        .filter_map(|pair| pair.split_once('='))
        .any(|(name, value)| {
            let name = name.to_ascii_lowercase();
            !value.is_empty()
                && !value.starts_with('$')
                && (NAMES.contains(&name.as_str())
                    || name.ends_with("_token")
                    || name.ends_with("_secret")
                    || name.ends_with("_password"))
        })
        .then_some("a credential in a URL query (?token=...)")
}

/// A legacy Vault service token: `s.` and 24 random letters and digits, as a word of its own.
fn legacy_vault_token(text: &str) -> bool {
    text.match_indices("s.").any(|(at, _)| {
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '=' | ':' | '('));
        let body: String = text[at + 2..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let after = text[at + 2 + body.len()..].chars().next();
        before_ok
            && body.len() == 24
            && after.is_none_or(|c| !matches!(c, '.' | '-' | '_'))
            && looks_random(&body)
    })
}

/// `PVEAPIToken=USER@REALM!TOKENID=UUID`, or the `USER@REALM!TOKENID=UUID` part alone.
fn proxmox_token(text: &str) -> bool {
    if let Some(at) = text.to_ascii_lowercase().find("pveapitoken=") {
        let after = &text[at + "pveapitoken=".len()..];
        if after.chars().next().is_some_and(|c| !c.is_whitespace()) {
            return true;
        }
    }
    text.match_indices('=').any(|(at, _)| {
        let word_start = text[..at]
            .char_indices()
            .rev()
            .find(|&(_, c)| c.is_whitespace() || matches!(c, '"' | '\''))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let id = &text[word_start..at];
        id.contains('@') && id.contains('!') && is_uuid_prefix(&text[at + 1..])
    })
}

/// Whether `text` starts with a UUID (8-4-4-4-12 hex digits).
fn is_uuid_prefix(text: &str) -> bool {
    let groups = [8, 4, 4, 4, 12];
    let mut chars = text.chars();
    for (g, len) in groups.iter().enumerate() {
        for _ in 0..*len {
            if !chars.next().is_some_and(|c| c.is_ascii_hexdigit()) {
                return false;
            }
        }
        if g < groups.len() - 1 && chars.next() != Some('-') {
            return false;
        }
    }
    true
}

/// A JSON Web Token: `eyJ...` header, `.`, `eyJ...` payload, `.`, signature.
fn jwt(text: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    text.match_indices("eyJ").any(|(at, _)| {
        let mut pieces = text[at..].split('.');
        let header = pieces.next().unwrap_or_default();
        let payload = pieces.next().unwrap_or_default();
        let signature: String = pieces
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(|&c| part(c))
            .collect();
        header.len() >= 10
            && header.chars().all(part)
            && payload.starts_with("eyJ")
            && payload.len() >= 10
            && payload.chars().all(part)
            && signature.len() >= 10
    })
}

/// A kubeadm bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`, as a word of its own.
fn kubeadm_token(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .any(|word| {
            let Some((id, secret)) = word.split_once('.') else {
                return false;
            };
            let class = |s: &str, n: usize| {
                s.len() == n
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            };
            class(id, 6)
                && class(secret, 16)
                && secret.chars().any(|c| c.is_ascii_digit())
                && secret.chars().any(|c| c.is_ascii_lowercase())
        })
}

/// A WireGuard key: 32 bytes in base64 (44 characters, one `=` of padding).
fn is_wireguard_key(text: &str) -> bool {
    text.len() == 44
        && text.ends_with('=')
        && text
            .chars()
            .take(43)
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/'))
}

/// Long and mixed like a generated credential: 20+ characters with upper case, lower case and
/// digits (a user name such as `git` or `oauth2` is not).
fn looks_random(text: &str) -> bool {
    text.len() >= 20
        && text.chars().any(|c| c.is_ascii_uppercase())
        && text.chars().any(|c| c.is_ascii_lowercase())
        && text.chars().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_by_shape() {
        for (text, kind) in [
            (
                "hvs.CAESIJ1aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
                "a Vault token",
            ),
            ("token s.Ab3dEf6hIj9kLm2nOp5qRs8t here", "a Vault token"),
            (
                "glpat-xY7_zK2mQ9vN4pL8wR1t",
                "a GitLab personal access token",
            ),
            (
                "https://gitlab.example/x?private_token=abc",
                "a credential in a URL query (?token=...)",
            ),
            (
                "https://oauth2:abc123@gitlab.example/g/p.git",
                "a password in a URL (user:password@host)",
            ),
            (
                "PVEAPIToken=root@pam!ci=0b1e4c6a-1d2e-4f3a-9b8c-7d6e5f4a3b2c",
                "a Proxmox API token",
            ),
            (
                "root@pam!ci=0b1e4c6a-1d2e-4f3a-9b8c-7d6e5f4a3b2c",
                "a Proxmox API token",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n",
                "a PEM private key",
            ),
            (
                "kubeadm join --token abcdef.0123456789abcdef",
                "a kubeadm bootstrap token",
            ),
            (
                "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4eCJ9.c2lnbmF0dXJlc2ln",
                "a JSON Web Token",
            ),
        ] {
            assert_eq!(secret_in_field(None, text), Some(kind), "{text}");
        }
    }

    #[test]
    fn leaves_ordinary_values_alone() {
        for text in [
            "vault:pl.rachuna-net/auth/router.rachuna-net.pl#password",
            "env:PVE_TOKEN",
            "https://gitlab.com",
            "ssh://git@gitlab.com/group/project.git",
            "https://vault.rachuna-net.pl:8200",
            "http://download.proxmox.com/images/system/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
            "10b67a169a8ef513e32ec8439eb0c5db22c6cac586fee3dfe74edad1f3932848",
            "pl.rachuna-net.runner.ct01002",
            "pl.rachuna-net/data/auth/*",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx2cHl0aGluZ3NhcmVnb29kZm9yeW91",
            "GitLab runner 1 (docker executor, /cache on NFS) on pve-s1",
            "established,related,untracked",
        ] {
            assert_eq!(secret_in_field(Some("comment"), text), None, "{text}");
        }
        assert_eq!(
            secret_in_field(
                Some("private_key"),
                "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
            ),
            Some("a WireGuard private key")
        );
        assert_eq!(secret_in_field(Some("password"), "env:X"), None);
        assert_eq!(
            secret_in_field(Some("key_file"), "/etc/vault.d/vault.key"),
            None
        );
        assert!(secret_in_field(Some("auth-pass"), "hunter2").is_some());
    }

    #[test]
    fn any_text_is_searched_without_panicking() {
        for text in [
            "a@b!c\u{3000}=x",
            "\u{3000}=0b1e4c6a-1d2e-4f3a-9b8c-7d6e5f4a3b2c",
            "\u{e9}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "s.\u{e9}\u{e9}https://\u{e9}:\u{e9}@\u{e9}?token=\u{e9}",
        ] {
            let _ = secret_in_field(Some("private_key"), text);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(
            text in "[a-zA-Z0-9@!=.:/?&#;_ \u{3000}\u{e9}\u{1F600}-]{0,60}",
            key in "[a-z_-]{0,12}",
        ) {
            let _ = secret_in_field(Some(&key), &text);
        }
    }

    #[test]
    fn quotes_of_secrets_are_hidden_whole_or_cut_short() {
        let token = "glpat-Zq8xW2vK7mN4pR9tY3bL";
        assert_eq!(
            hide_in(&format!("\"{token}\" is not a MAC address"), token, true),
            "(value not shown) is not a MAC address"
        );
        assert_eq!(
            hide_in(
                &format!("expected a whole number, found text \"{}...", &token[..15]),
                token,
                false
            ),
            "expected a whole number, found text (value not shown)"
        );
        assert_eq!(
            hide_in("{\"password\":\"hunter2\"} is not valid", "hunter2", true),
            "{\"password\":(value not shown)} is not valid"
        );
        assert_eq!(
            hide_in("expected text, found number 123456", "123456", true),
            "expected text, found number (value not shown)"
        );
        // Another field's finding keeps a short bare word that merely equals the value (a quote
        // of it is hidden wherever it is).
        assert_eq!(
            hide_in("unknown interface ab", "ab", false),
            "unknown interface ab"
        );
        assert_eq!(
            hide_in("unknown interface \"ab\"", "ab", false),
            "unknown interface (value not shown)"
        );
        assert_eq!(
            hide_in("VLAN 1234567 and x1234567", "1234567", true),
            "VLAN (value not shown) and x1234567"
        );
    }

    #[test]
    fn findings_never_show_secret_values_or_keys() {
        let token = "glpat-Zq8xW2vK7mN4pR9tY3bL";
        let doc = serde_json::json!({
            "hosts": [{"mac": token}],
            "router": {"management": {"password": 424242, token: 1}},
        });
        let mut d = vec![
            Diagnostic::error(
                "schema",
                "hosts[0].mac",
                format!("\"{token}\" is not a MAC address"),
            ),
            Diagnostic::error(
                "schema",
                "router.management.password",
                "expected text, found number 424242",
            ),
            Diagnostic::error(
                "schema",
                format!("router.management.{token}"),
                "unknown field (typo?)",
            ),
        ];
        hide_values(&mut d, &doc);
        for d in &d {
            let line = format!("{} {}", d.path, d.message);
            assert!(!line.contains(token) && !line.contains("424242"), "{line}");
        }
        assert_eq!(d[0].message, "(value not shown) is not a MAC address");
        assert_eq!(d[2].path, "router.management");
    }

    #[test]
    fn reports_paths_not_values() {
        let doc = serde_json::json!({
            "router": {"ethernet": [{"comment": "glpat-xY7_zK2mQ9vN4pL8wR1t"}]},
            "x_notes": {
                "keys": {"glpat-xY7_zK2mQ9vN4pL8wR1t": "rotated"},
                "wg": {"private_key": "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="},
            },
        });
        let mut found = Vec::new();
        walk(&doc, "", None, &mut found);
        let paths: Vec<(&str, bool)> = found.iter().map(|f| (f.path.as_str(), f.in_key)).collect();
        assert_eq!(
            paths,
            [
                ("router.ethernet[0].comment", false),
                ("x_notes.keys", true),
                ("x_notes.wg.private_key", false)
            ]
        );
    }
}
