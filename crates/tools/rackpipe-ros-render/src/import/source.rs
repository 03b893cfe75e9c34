//! What the router holds, whatever it was read from: per menu, its entries and its singleton
//! settings, in router order.

use rackpipe_routeros::Props;

use super::NotImported;

/// How an entry came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// `add`: an entry the user created.
    Add,
    /// `set [ find ... ]` / `set NAME`: a change to an entry the router has built in (an
    /// ethernet port, a service); the selector's conditions are among the properties.
    Existing,
}

/// One entry of a list menu.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// How it was made.
    pub kind: EntryKind,
    /// Its properties (selector conditions first for [`EntryKind::Existing`]).
    pub props: Props,
    /// 1-based line of its command in the export (0 when read live).
    pub line: u32,
    /// Bare flags (`blackhole`), kept as `flag=yes`.
    pub flags: Vec<String>,
}

/// The singleton settings of a menu (`/ip/dns`), merged from every `set` of it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// The properties.
    pub props: Props,
    /// Line of the first `set` (0 when read live).
    pub line: u32,
    /// Number of commands merged.
    pub commands: usize,
}

/// One menu.
#[derive(Debug, Clone)]
pub(crate) struct SourceMenu {
    /// v7 path.
    pub path: String,
    /// Singleton settings, when the menu has them.
    pub settings: Option<Settings>,
    /// List entries in order.
    pub entries: Vec<Entry>,
}

/// Everything read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    /// File name or URL.
    pub name: String,
    /// Read from a live router (rows carry every property, defaults included).
    pub live: bool,
    /// RouterOS version of the export header.
    pub version: Option<String>,
    /// Device model of the export header.
    pub model: Option<String>,
    /// Menus in order of first appearance.
    pub menus: Vec<SourceMenu>,
    /// Commands that hold nothing a site can state.
    pub not_imported: Vec<NotImported>,
    /// Every command read (entries, settings commands and the ones not imported).
    pub total: usize,
}

impl Source {
    /// The menu `path`, created at the end when new.
    pub fn menu_mut(&mut self, path: &str) -> &mut SourceMenu {
        if let Some(i) = self.menus.iter().position(|m| m.path == path) {
            return &mut self.menus[i];
        }
        self.menus.push(SourceMenu {
            path: path.to_owned(),
            settings: None,
            entries: Vec::new(),
        });
        let last = self.menus.len() - 1;
        &mut self.menus[last]
    }

    /// The menu `path`, if read.
    pub fn menu(&self, path: &str) -> Option<&SourceMenu> {
        self.menus.iter().find(|m| m.path == path)
    }

    /// Whether the export (or router) is RouterOS 6.
    pub fn is_v6(&self) -> bool {
        self.version.as_deref().is_some_and(|v| v.starts_with("6."))
    }
}
