//! `/export` and import: the configuration as console commands, and running them back.

use rackpipe_routeros::config::{Command, Config, Header, Props, Selector, Verb};
use serde_json::Value;

use super::clock::{civil, now_unix};
use super::{ApiError, Router};
use crate::schema::{MenuKind, Ty};

impl Router {
    /// `/export` (compact): only values that differ from the defaults; no users, no
    /// certificates, no sensitive values.
    pub fn export(&self) -> Config {
        self.export_with(false)
    }

    /// `/export [show-sensitive]`: sensitive values (WireGuard private keys, IPsec secrets)
    /// only with `show_sensitive`; users, passwords and private keys never.
    pub fn export_with(&self, show_sensitive: bool) -> Config {
        let mut config = Config {
            header: Header {
                routeros_version: Some(self.version.clone()),
                model: Some("CHR (rackpipe-ros-sim)".to_owned()),
            },
            menus: Vec::new(),
        };
        for spec in self.specs.iter().filter(|s| s.exported) {
            for (index, entry) in self
                .table(spec.path)
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.dynamic)
            {
                // Built-in rows are compared with their factory values.
                let factory = if entry.builtin {
                    self.factory_no_defaults
                        .tables
                        .get(spec.path)
                        .and_then(|t| t.iter().find(|f| f.id == entry.id))
                } else {
                    None
                };
                let differs = |k: &str, v: &str, default: Option<&str>| match factory {
                    Some(f) => match f.props.get(k) {
                        Some(fv) => fv != v,
                        None => default != Some(v),
                    },
                    None => default != Some(v),
                };
                let mut changed: Vec<(&str, &str)> = entry
                    .props
                    .iter()
                    .filter(|(k, v)| {
                        spec.prop(k).is_some_and(|p| {
                            !p.read_only
                                && !p.hidden
                                && (show_sensitive || !p.sensitive)
                                && (differs(k, v, p.default)
                                    || (spec.sparse && entry.props.contains(k)))
                                && !(spec.path == "/interface/ethernet"
                                    && *k == "mac-address"
                                    && entry.props.get("orig-mac-address") == Some(*v))
                                && !(spec.path == "/ip/address" && *k == "network")
                        })
                    })
                    .collect();
                // Factory values the user unset are back at their defaults.
                if let Some(f) = factory {
                    for (k, _) in f.props.iter() {
                        if !entry.props.contains(k)
                            && let Some(default) = spec
                                .prop(k)
                                .filter(|p| !p.read_only)
                                .and_then(|p| p.default)
                        {
                            changed.push((k, default));
                        }
                    }
                }
                changed.sort_by(|a, b| a.0.cmp(b.0));
                // Exports write booleans as yes/no.
                let props = Props::from_pairs(changed.iter().map(|(k, v)| {
                    let value = match (spec.prop(k).map(|p| p.ty), *v) {
                        (Some(Ty::Bool), "true") => "yes",
                        (Some(Ty::Bool), "false") => "no",
                        (_, v) => v,
                    };
                    (*k, value)
                }));
                let command = match spec.kind {
                    MenuKind::Singleton => {
                        if props.is_empty() {
                            continue;
                        }
                        Command::set(None, props)
                    }
                    MenuKind::Fixed | MenuKind::List if entry.builtin => {
                        let props =
                            Props::from_pairs(props.into_iter().filter(|(k, _)| k != "name"));
                        let selector = if spec.path == "/interface/ethernet" {
                            Selector::find(
                                "default-name",
                                entry.props.get("default-name").unwrap_or(""),
                            )
                        } else if spec.path == "/ip/service" {
                            Selector::Item(entry.props.get("name").unwrap_or("").to_owned())
                        } else if spec.path == "/system/logging" {
                            // Unnamed built-in rules: by print index, as RouterOS exports them.
                            Selector::Item(index.to_string())
                        } else {
                            Selector::find("name", entry.props.get("name").unwrap_or(""))
                        };
                        let rename = spec.path == "/interface/ethernet"
                            && entry.props.get("name") != entry.props.get("default-name");
                        let mut props = props;
                        if rename && let Some(name) = entry.props.get("name") {
                            props.insert("name", name);
                            let mut sorted: Vec<(String, String)> = props.into_iter().collect();
                            sorted.sort();
                            props = Props::from_pairs(sorted);
                        }
                        if props.is_empty() {
                            continue;
                        }
                        Command::set(Some(selector), props)
                    }
                    _ => Command::add(props),
                };
                config.push(spec.path, command);
            }
        }
        config
    }

    /// Export text with a dated header.
    pub fn export_text(&self) -> String {
        self.export_text_as(false, false)
    }

    /// Export text, standard or `terse` (full menu path on every line).
    pub fn export_text_as(&self, terse: bool, show_sensitive: bool) -> String {
        let (y, m, d, h, mi, s) = civil(now_unix());
        let config = self.export_with(show_sensitive);
        let body = if terse {
            rackpipe_routeros::print_terse(&config)
        } else {
            rackpipe_routeros::print_standard(&config)
        };
        let body = body
            .lines()
            .filter(|l| !l.starts_with("# by RouterOS"))
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "# {y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} by RouterOS {}\n# software id = SIM0-0000\n#\n{body}\n",
            self.version
        )
    }

    /// Selects rows for an import/script command.
    /// Whether `selector` selects nothing in the generic list menu `path`.
    fn builtin_missing(&self, path: &str, selector: &Selector) -> bool {
        self.spec(path)
            .is_some_and(|s| s.generic && s.kind == MenuKind::List)
            && self
                .select(path, selector)
                .map_or(true, |found| found.is_empty())
    }

    fn select(&self, path: &str, selector: &Selector) -> Result<Vec<usize>, ApiError> {
        let spec = self.spec(path).ok_or_else(ApiError::not_found)?;
        match selector {
            Selector::Find(conditions) => {
                let mut wanted = Props::new();
                for (k, v) in conditions.iter() {
                    let value = match spec.prop(k).map(|p| p.ty) {
                        Some(Ty::Bool) => {
                            self.normalize(spec, k, v).unwrap_or_else(|_| v.to_owned())
                        }
                        _ => v.to_owned(),
                    };
                    wanted.insert(k, value);
                }
                Ok(self
                    .table(path)
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| {
                        let view = self.view(spec, e);
                        wanted
                            .iter()
                            .all(|(k, v)| view.get(k).and_then(Value::as_str) == Some(v))
                    })
                    .map(|(i, _)| i)
                    .collect())
            }
            Selector::Item(item) => {
                if let Ok(index) = item.parse::<usize>() {
                    return if index < self.table(path).len() {
                        Ok(vec![index])
                    } else {
                        Err(ApiError::bad("no such item"))
                    };
                }
                self.resolve(path, item)
                    .map(|i| vec![i])
                    .map_err(|_| ApiError::bad("no such item"))
            }
        }
    }

    /// Runs parsed console commands (an imported file or a script), stopping at the first
    /// error: `line N: <detail>`.
    pub fn run_config(&mut self, config: &Config) -> Result<(), String> {
        let mut failures = Vec::new();
        for menu in &config.menus {
            if self.spec(&menu.path).is_none() && self.lenient {
                // A menu the simulator does not model: generic, a singleton when the export
                // only `set`s it without a selector.
                let singleton = menu
                    .commands
                    .iter()
                    .all(|c| c.verb == Verb::Set && c.selector.is_none());
                let kind = if singleton {
                    MenuKind::Singleton
                } else {
                    MenuKind::List
                };
                self.register_generic(&menu.path, kind);
            }
            if self.spec(&menu.path).is_none() {
                let line = menu.commands.first().map_or(0, |c| c.line);
                return Err(format!(
                    "line {line}: no such command or directory ({})",
                    menu.path
                ));
            }
            for command in &menu.commands {
                if let Err(e) = self.run_command(&menu.path, command) {
                    failures.push(format!(
                        "line {}: {}",
                        command.line,
                        e.detail.unwrap_or_else(|| "failure".to_owned())
                    ));
                    if !self.lenient {
                        break;
                    }
                }
            }
            if !failures.is_empty() && !self.lenient {
                break;
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    fn run_command(&mut self, path: &str, command: &Command) -> Result<(), ApiError> {
        let with_flags;
        let command = if command.flags.is_empty() {
            command
        } else if self.lenient {
            // `/ip route add blackhole ...`: REST shows a flag as a property set to true.
            let mut c = command.clone();
            for flag in std::mem::take(&mut c.flags) {
                c.props.insert(flag, "yes");
            }
            with_flags = c;
            &with_flags
        } else {
            let flag = &command.flags[0];
            return Err(ApiError::bad(format!("unknown parameter {flag}")));
        };
        let singleton = self
            .spec(path)
            .is_some_and(|s| s.kind == MenuKind::Singleton);
        match (command.verb, &command.selector) {
            (Verb::Add, _) => self.add(path, &command.props).map(|_| ()),
            (Verb::Set, None) if singleton => self.set_singleton(path, &command.props),
            (Verb::Set, Some(selector)) if self.lenient && self.builtin_missing(path, selector) => {
                // An export `set`s the built-in entries of a menu the simulator does not
                // model (`/port set 0 name=serial0`, `set [ find default=yes ] ...`): the
                // router had them, so they are made here, built-in.
                let mut props = match selector {
                    Selector::Find(conditions) => conditions.clone(),
                    Selector::Item(item) if !item.chars().all(|c| c.is_ascii_digit()) => {
                        Props::from_pairs([("name", item.as_str())])
                    }
                    Selector::Item(_) => Props::new(),
                };
                for (k, v) in command.props.iter() {
                    props.insert(k, v);
                }
                let id = self.add(path, &props)?;
                if let Some(index) = self.index_of_id(path, id) {
                    self.table_mut(path)[index].builtin = true;
                }
                Ok(())
            }
            (Verb::Set | Verb::Remove | Verb::Enable | Verb::Disable, Some(selector)) => {
                let mut ids: Vec<u32> = self
                    .select(path, selector)?
                    .into_iter()
                    .map(|i| self.id_of(path, i))
                    .collect();
                if command.verb == Verb::Remove {
                    ids.reverse();
                }
                for id in ids {
                    let Some(index) = self.index_of_id(path, id) else {
                        continue;
                    };
                    match command.verb {
                        Verb::Remove => self.remove(path, index)?,
                        Verb::Enable => self
                            .set(path, index, &Props::from_pairs([("disabled", "no")]))
                            .map(|_| ())?,
                        Verb::Disable => self
                            .set(path, index, &Props::from_pairs([("disabled", "yes")]))
                            .map(|_| ())?,
                        _ => self.set(path, index, &command.props).map(|_| ())?,
                    }
                }
                Ok(())
            }
            (verb, _) => Err(ApiError::bad(format!("expected item selector for {verb}"))),
        }
    }
}
