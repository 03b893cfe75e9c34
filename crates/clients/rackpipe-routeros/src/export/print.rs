//! The printer: a [`Config`] written back as `/export terse` or standard `/export` would.

use std::fmt::{self, Write as _};

use crate::config::{Command, Config, Header, Selector, Verb};

/// Writes `config` as `/export terse` would: one command per line with its full menu path.
#[must_use]
pub fn print_terse(config: &Config) -> String {
    let mut out = String::new();
    print_header(&mut out, &config.header);
    for menu in &config.menus {
        let menu_line = menu_line(&menu.path);
        for command in &menu.commands {
            out.push_str(&menu_line);
            out.push(' ');
            print_command(&mut out, command);
            out.push('\n');
        }
    }
    out
}

/// Writes `config` in the standard layout: a menu line, then its commands.
#[must_use]
pub fn print_standard(config: &Config) -> String {
    let mut out = String::new();
    print_header(&mut out, &config.header);
    for menu in &config.menus {
        if menu.commands.is_empty() {
            continue;
        }
        out.push_str(&menu_line(&menu.path));
        out.push('\n');
        for command in &menu.commands {
            print_command(&mut out, command);
            out.push('\n');
        }
    }
    out
}

/// Formats one command (without menu path), e.g. `set [ find default-name=ether1 ] name=wan`.
#[must_use]
pub fn format_command(command: &Command) -> String {
    let mut out = String::new();
    print_command(&mut out, command);
    out
}

/// `/interface/bridge/port` → `/interface bridge port`.
fn menu_line(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join(" "))
}

fn print_header(out: &mut String, header: &Header) {
    if let Some(version) = &header.routeros_version {
        let _ = writeln!(out, "# by RouterOS {}", one_line(version));
    }
    if let Some(model) = &header.model {
        let _ = writeln!(out, "# model = {}", one_line(model));
    }
}

pub(super) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn print_command(out: &mut String, command: &Command) {
    out.push_str(command.verb.as_str());
    match &command.selector {
        None => {}
        Some(Selector::Find(props)) => {
            out.push_str(" [ find");
            for (k, v) in props.iter() {
                out.push(' ');
                print_prop(out, k, v);
            }
            out.push_str(" ]");
        }
        Some(Selector::Item(item)) => {
            out.push(' ');
            if item.starts_with('!') || item == "find" {
                out.push_str(&quote_always(item));
            } else {
                out.push_str(&quote(item));
            }
        }
    }
    // Without a selector, a bare word right after `set`/`remove` reads as an item selector, so
    // flags go after the properties there (where the parser reads them as flags again).
    let flags_last =
        command.selector.is_none() && command.verb != Verb::Add && !command.props.is_empty();
    if !flags_last {
        print_flags(out, command);
    }
    for (k, v) in command.props.iter() {
        out.push(' ');
        print_prop(out, k, v);
    }
    if flags_last {
        print_flags(out, command);
    }
}

fn print_flags(out: &mut String, command: &Command) {
    for flag in &command.flags {
        out.push(' ');
        out.push_str(flag);
    }
}

fn print_prop(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    if key.starts_with('!') && value.is_empty() {
        return;
    }
    out.push('=');
    out.push_str(&quote(value));
}

fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.:,/@+*!%".contains(&b)
}

/// Quotes `value` the way the console needs it: bare when it only has safe characters,
/// otherwise in double quotes with `"`, `\`, `$`, `?` and control characters escaped.
#[must_use]
pub fn quote(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(is_safe) {
        return value.to_owned();
    }
    quote_always(value)
}

fn quote_always(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '?' => out.push_str("\\?"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7F => {
                let _ = write!(out, "\\{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Config {
    /// The terse form ([`print_terse`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_terse(self))
    }
}
