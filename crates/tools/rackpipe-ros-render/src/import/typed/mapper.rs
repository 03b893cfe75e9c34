//! The mapper's state and the shared steps: each entry through `Fit`, the rest to the generic section.

use std::collections::HashMap;

use rackpipe_model::router::{MenuValue, Router, is_menu_path, is_menu_property};
use rackpipe_routeros::Props;

use super::fit::{Fit, describe, truthy};
use super::{GenericEntry, GenericMenu, Origin, SETTINGS};
use crate::import::secrets::{Secrets, is_secret};
use crate::import::source::{Entry, EntryKind, Source};
use crate::import::{Counts, NotImported};

pub(super) struct Mapper<'s> {
    pub(super) source: &'s Source,
    pub(super) live: bool,
    pub(super) forced: &'s HashMap<Origin, String>,
    pub(super) forced_menus: &'s HashMap<String, String>,
    pub(super) secrets: Secrets,
    pub(super) router: Router,
    pub(super) generic: Vec<GenericMenu>,
    pub(super) comments: Vec<(String, String)>,
    pub(super) origins: Vec<(String, Origin)>,
    pub(super) counts: Counts,
    pub(super) choices: Vec<String>,
    pub(super) not_imported: Vec<NotImported>,
}

impl Mapper<'_> {
    pub(super) fn entries(&self, path: &str) -> &[Entry] {
        self.source.menu(path).map_or(&[], |m| m.entries.as_slice())
    }

    pub(super) fn allowed(&self, path: &str, index: usize) -> Result<(), String> {
        if let Some(why) = self.forced_menus.get(path) {
            return Err(why.clone());
        }
        if let Some(why) = self.forced.get(&(path.to_owned(), index)) {
            return Err(why.clone());
        }
        Ok(())
    }

    /// Maps each entry of `path` with `f`; entries it refuses go to the generic section.
    pub(super) fn each<T>(
        &mut self,
        path: &str,
        kind: EntryKind,
        mut f: impl FnMut(&mut Self, usize, &mut Fit<'_>) -> Result<T, String>,
    ) -> Vec<(usize, T)> {
        let source = self.source;
        let entries = source.menu(path).map_or(&[][..], |m| m.entries.as_slice());
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let result = self.allowed(path, i).and_then(|()| {
                if e.kind != kind {
                    return Err(match e.kind {
                        EntryKind::Existing => "it changes a built-in entry".to_owned(),
                        EntryKind::Add => {
                            "it adds an entry to a menu of built-in entries".to_owned()
                        }
                    });
                }
                if !e.flags.is_empty() {
                    return Err(format!("bare flag `{}`", e.flags.join(" ")));
                }
                let mut fit = Fit::new(&e.props, self.live);
                let value = f(self, i, &mut fit)?;
                fit.finish()?;
                Ok(value)
            });
            match result {
                Ok(v) => {
                    self.counts.typed += 1;
                    out.push((i, v));
                }
                Err(reason) => self.generic_entry(path, i, e, Some(reason)),
            }
        }
        out
    }

    pub(super) fn generic_menu(&mut self, path: &str) -> &mut GenericMenu {
        if let Some(i) = self.generic.iter().position(|m| m.path == path) {
            return &mut self.generic[i];
        }
        self.generic.push(GenericMenu {
            path: path.to_owned(),
            ..GenericMenu::default()
        });
        let last = self.generic.len() - 1;
        &mut self.generic[last]
    }

    pub(super) fn values(
        &mut self,
        path: &str,
        props: &Props,
        entry: &str,
        line: u32,
    ) -> Vec<(String, MenuValue)> {
        props
            .iter()
            .filter(|(k, _)| is_menu_property(k))
            .map(|(k, v)| {
                let value = if is_secret(path, k) && !v.is_empty() {
                    MenuValue::Secret(self.secrets.reference(path, entry, k, line))
                } else {
                    MenuValue::Text(v.to_owned())
                };
                (k.to_owned(), value)
            })
            .collect()
    }

    pub(super) fn not_imported(&mut self, path: &str, line: u32, reason: String) {
        self.counts.not_imported += 1;
        self.not_imported.push(NotImported {
            menu: path.to_owned(),
            line,
            reason,
        });
    }

    pub(super) fn generic_entry(
        &mut self,
        path: &str,
        index: usize,
        e: &Entry,
        reason: Option<String>,
    ) {
        if !crate::MENU_ORDER.contains(&path)
            && let Some(why) = self.forced.get(&(path.to_owned(), index))
        {
            let why = why.replace("as a typed field", "in the generic section");
            return self.not_imported(path, e.line, why);
        }
        if crate::MENU_ORDER.contains(&path) {
            // A menu the typed fields manage cannot also be a generic one.
            let reason = reason.unwrap_or_else(|| "the typed fields do not hold it".to_owned());
            return self.not_imported(path, e.line, format!("not typed: {reason}"));
        }
        if !is_menu_path(path) {
            return self.not_imported(
                path,
                e.line,
                "the menu's name is not one a site can hold".to_owned(),
            );
        }
        let mut props = e.props.clone();
        for flag in &e.flags {
            props.insert(flag.as_str(), "yes");
        }
        let dropped: Vec<&str> = props.keys().filter(|k| !is_menu_property(k)).collect();
        let mut notes: Vec<String> = Vec::new();
        if let Some(line) = (e.line > 0).then_some(e.line) {
            notes.push(format!("line {line}"));
        }
        if e.kind == EntryKind::Existing {
            notes.push("changes a built-in entry (the first properties select it)".to_owned());
        }
        if let Some(r) = reason {
            notes.push(format!("not typed: {r}"));
        }
        if !e.flags.is_empty() {
            notes.push(format!(
                "bare flag `{}` written as `=yes`",
                e.flags.join(" ")
            ));
        }
        if !dropped.is_empty() {
            notes.push(format!(
                "left out: {} (an unset is the default for a new entry)",
                dropped.join(" ")
            ));
        }
        let entry = describe(path, &props, index);
        let properties = self.values(path, &props, &entry, e.line);
        if properties.is_empty() {
            return self.not_imported(path, e.line, "an entry without properties".to_owned());
        }
        self.counts.generic += 1;
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        self.generic_menu(path).entries.push(GenericEntry {
            index,
            properties,
            note,
        });
    }

    /// Settings of `path` that the typed fields did not take go to the generic section.
    pub(super) fn rest_of_settings(
        &mut self,
        path: &str,
        used: &[&str],
        reason: Option<&str>,
    ) -> bool {
        let Some(settings) = self.source.menu(path).and_then(|m| m.settings.clone()) else {
            return false;
        };
        let mut left = Props::new();
        for (k, v) in settings.props.iter() {
            let default = k == "disabled" && truthy(v) == Some(false);
            if used.contains(&k) || default || self.live && reason.is_none() {
                continue;
            }
            left.insert(k, v);
        }
        if left.is_empty() {
            self.counts.typed += settings.commands;
            return false;
        }
        let forced = self
            .forced
            .get(&(path.to_owned(), SETTINGS))
            .filter(|_| !crate::MENU_ORDER.contains(&path))
            .cloned();
        if crate::MENU_ORDER.contains(&path) || !is_menu_path(path) || forced.is_some() {
            let names: Vec<&str> = left.keys().collect();
            let why = forced
                .map(|f| f.replace("as a typed field", "in the generic section"))
                .or_else(|| reason.map(str::to_owned))
                .unwrap_or_else(|| "no typed field".to_owned());
            self.counts.not_imported += settings.commands;
            self.not_imported.push(NotImported {
                menu: path.to_owned(),
                line: settings.line,
                reason: format!("settings {}: {why}", names.join(", ")),
            });
            return true;
        }
        self.counts.generic += settings.commands;
        let values = self.values(path, &left, "settings", settings.line);
        let menu = self.generic_menu(path);
        menu.settings = values;
        menu.settings_note = Some(match reason {
            Some(r) => format!("not typed: {r}"),
            None if used.is_empty() => "no typed field for these settings".to_owned(),
            None => format!("the typed fields hold {}; not these", used.join(", ")),
        });
        true
    }

    pub(super) fn origin(&mut self, site_path: String, menu: &str, index: usize) {
        self.origins.push((site_path, (menu.to_owned(), index)));
    }

    pub(super) fn comment(&mut self, site_path: String, text: String) {
        self.comments.push((site_path, text));
    }
}

impl Mapper<'_> {
    /// Every other menu, and the settings of typed menus nobody took, to the generic section.
    pub(super) fn the_rest(&mut self) {
        let source = self.source;
        for menu in &source.menus {
            if crate::MENU_ORDER.contains(&menu.path.as_str()) {
                continue;
            }
            if menu.settings.is_some() {
                self.rest_of_settings(&menu.path, &[], None);
            }
            for (i, e) in menu.entries.iter().enumerate() {
                self.generic_entry(&menu.path, i, e, None);
            }
        }
    }
}
