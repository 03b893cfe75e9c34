//! Scripts and `/system/scheduler`: running console lines and firing due entries.

use std::time::{Duration, Instant};

use rackpipe_routeros::config::{Command, Selector, Verb};

use super::Router;
use super::clock::{now_unix, wall_clock};
use crate::schema;

impl Router {
    /// Runs a script: console lines separated by newlines or `;`. Understands `/import`,
    /// `/system reset-configuration`, `/system backup load|save`, `:delay`/`:log`/`/log`
    /// (ignored) and any `add`/`set`/`remove`/`enable`/`disable` on a modelled menu.
    pub fn run_script(&mut self, script: &str) -> Result<(), String> {
        for raw in split_script(script) {
            let line = raw.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.starts_with(":delay")
                || line.starts_with(":log")
                || line.starts_with("/log")
            {
                continue;
            }
            let line = glue_v7_verb(line);
            let config = rackpipe_routeros::parse(&line).map_err(|e| format!("{line}: {e}"))?;
            let Some(menu) = config.menus.first() else {
                continue;
            };
            let Some(command) = menu.commands.first() else {
                continue;
            };
            let flags_and_props = |command: &Command| {
                let mut props = command.props.clone();
                for flag in &command.flags {
                    props.insert(flag.clone(), "");
                }
                if let Some(Selector::Item(item)) = &command.selector {
                    props.insert("file-name", item.clone());
                }
                props
            };
            match menu.path.as_str() {
                "/import" => {
                    let props = flags_and_props(command);
                    let file = props.get("file-name").unwrap_or("").to_owned();
                    self.import_file(&file)?;
                }
                "/system/reset-configuration" => {
                    let props = flags_and_props(command);
                    let yes = |k: &str| props.get(k).is_some_and(|v| v == "yes");
                    let run_after = props.get("run-after-reset").map(str::to_owned);
                    // The script file survives the reset (it lives on the flash).
                    self.reset(yes("no-defaults"), yes("keep-users"));
                    if let Some(file) = run_after {
                        self.import_file(&file)?;
                    }
                }
                "/system/backup" => {
                    let props = flags_and_props(command);
                    let name = props.get("name").unwrap_or("backup").to_owned();
                    let password = props.get("password").map(str::to_owned);
                    if props.contains("load")
                        || command.selector == Some(Selector::Item("load".to_owned()))
                    {
                        self.backup_load(&name, password.as_deref())?;
                    } else {
                        self.backup_save(&name, password.as_deref());
                    }
                }
                _ => self.run_config(&config)?,
            }
        }
        Ok(())
    }

    pub(super) fn schedule(&mut self, id: u32) {
        self.next_runs.remove(&id);
        let Some(entry) = self.table("/system/scheduler").iter().find(|e| e.id == id) else {
            return;
        };
        if entry.props.get("disabled") == Some("true") {
            return;
        }
        let interval = entry
            .props
            .get("interval")
            .and_then(schema::parse_duration_ms)
            .unwrap_or(0);
        let start_time = entry.props.get("start-time").unwrap_or("");
        if start_time == "startup" {
            return;
        }
        let now = now_unix();
        let start = wall_clock(entry.props.get("start-date"), start_time).unwrap_or(now);
        let interval_d = Duration::from_millis(interval);
        let at = if start > now {
            Instant::now() + Duration::from_secs(start - now)
        } else if let Some(periods) = ((now - start) * 1000).checked_div(interval) {
            // First run one interval after the (past) start, as RouterOS counts from start.
            let elapsed_ms = (now - start) * 1000;
            let periods = periods + 1;
            let due_ms = periods * interval - elapsed_ms;
            Instant::now() + Duration::from_millis(due_ms.max(1)).min(interval_d)
        } else {
            return;
        };
        self.next_runs.insert(id, at);
    }

    pub(super) fn reschedule_all(&mut self) {
        self.next_runs.clear();
        let ids: Vec<u32> = self
            .table("/system/scheduler")
            .iter()
            .map(|e| e.id)
            .collect();
        for id in ids {
            self.schedule(id);
        }
    }

    /// Fires due scheduler entries; returns how many ran.
    pub fn tick(&mut self) -> usize {
        if self.rebooting() {
            return 0;
        }
        let now = Instant::now();
        let due: Vec<u32> = self
            .next_runs
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.next_runs.remove(id);
            let Some(index) = self.index_of_id("/system/scheduler", *id) else {
                continue;
            };
            let entry = &mut self.table_mut("/system/scheduler")[index];
            let count: u64 = entry
                .props
                .get("run-count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            entry.props.insert("run-count", (count + 1).to_string());
            let script = entry.props.get("on-event").unwrap_or("").to_owned();
            let name = entry.props.get("name").unwrap_or("").to_owned();
            let interval = entry
                .props
                .get("interval")
                .and_then(schema::parse_duration_ms)
                .unwrap_or(0);
            if interval > 0 {
                self.next_runs
                    .insert(*id, now + Duration::from_millis(interval));
            }
            match self.run_script(&script) {
                Ok(()) => {
                    tracing::debug!(scheduler = %name, "ran on-event");
                    self.log.push(format!("scheduler {name}: ran"));
                }
                Err(e) => {
                    tracing::debug!(scheduler = %name, error = %e, "on-event failed");
                    self.log.push(format!("scheduler {name}: {e}"));
                }
            }
        }
        due.len()
    }
}

/// Splits a script on newlines and on `;` outside quotes and brackets.
fn split_script(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut depth = 0usize;
    let mut escaped = false;
    for c in script.chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '[' if !quoted => {
                depth += 1;
                current.push(c);
            }
            ']' if !quoted => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            '\n' | ';' if !quoted && depth == 0 => out.push(std::mem::take(&mut current)),
            '\r' if !quoted => {}
            _ => current.push(c),
        }
    }
    out.push(current);
    out
}

/// `/ip/address/add x=1` (v7 script style) → `/ip/address add x=1`; also `/import x.rsc`
/// → `/import add file-name=x.rsc` and `/system/backup/load name=x` → `/system backup add load name=x`
/// so the export parser can read them.
fn glue_v7_verb(line: &str) -> String {
    let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let segments: Vec<&str> = head.split('/').filter(|s| !s.is_empty()).collect();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let mut all: Vec<&str> = segments.clone();
    let mut consumed = 0;
    for w in &words {
        if w.contains('=')
            || w.starts_with('[')
            || Verb::from_word(w).is_some()
            || w.starts_with('"')
        {
            break;
        }
        all.push(w);
        consumed += 1;
    }
    let tail: String = {
        let mut t = rest;
        for _ in 0..consumed {
            t = t.trim_start();
            t = t.split_once(char::is_whitespace).map_or("", |(_, r)| r);
        }
        t.trim_start().to_owned()
    };
    match all.as_slice() {
        ["import", file] if !file.contains('=') => format!("/import add file-name={file} {tail}"),
        ["import"] => format!("/import add {tail}"),
        ["system", "reset-configuration"] => format!("/system reset-configuration add {tail}"),
        ["system", "backup", action @ ("load" | "save")] => {
            format!("/system backup add {action} {tail}")
        }
        [menu @ .., verb] if Verb::from_word(verb).is_some() && !menu.is_empty() => {
            format!("/{} {verb} {tail}", menu.join(" "))
        }
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue() {
        assert_eq!(
            glue_v7_verb("/ip/address/add address=1.2.3.4/24"),
            "/ip address add address=1.2.3.4/24"
        );
        assert_eq!(
            glue_v7_verb("/import file-name=a.rsc"),
            "/import add file-name=a.rsc"
        );
        assert_eq!(
            glue_v7_verb("/import a.rsc"),
            "/import add file-name=a.rsc "
        );
        assert_eq!(
            glue_v7_verb("/system/backup/load name=x"),
            "/system backup add load name=x"
        );
        assert_eq!(
            glue_v7_verb("/system scheduler remove [find name=x]"),
            "/system scheduler remove [find name=x]"
        );
    }

    #[test]
    fn script_split() {
        assert_eq!(
            split_script("a; b \"x;y\"\n[c;d]"),
            ["a", " b \"x;y\"", "[c;d]"]
        );
    }
}
