//! The `nas` section: its host, exports and their clients.

use std::collections::HashMap;

use super::{Checker, unique};

impl Checker<'_> {
    pub(super) fn nas(&mut self) {
        let Some(n) = &self.site.nas else { return };
        if self.known("hosts") && !self.site.hosts.iter().any(|h| h.name == n.host) {
            self.err(
                "dangling-reference",
                "nas.host",
                format!("no host named {:?} in hosts", n.host.as_str()),
            );
        }
        unique(
            self.out,
            "export name",
            n.exports
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("nas.exports[{i}].name"), e.name.as_str())),
        );
        unique(
            self.out,
            "export path",
            n.exports
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("nas.exports[{i}].path"), e.path.as_str())),
        );
        if matches!(n.server, crate::nas::NfsServer::Ganesha { .. }) {
            self.ganesha_exports(n);
        }
        for (i, e) in n.exports.iter().enumerate() {
            self.file_path(format!("nas.exports[{i}].path"), &e.path);
            if let Some(p) = &e.pseudo {
                self.file_path(format!("nas.exports[{i}].pseudo"), p);
            }
            for (j, c) in e.clients.iter().enumerate() {
                let path = format!("nas.exports[{i}].clients[{j}]");
                let count = usize::from(c.segment.is_some())
                    + usize::from(c.network.is_some())
                    + usize::from(c.address.is_some())
                    + usize::from(c.host.is_some());
                if count != 1 {
                    self.err(
                        "client-spec",
                        path.clone(),
                        "give exactly one of segment, network, address, host",
                    );
                }
                if let Some(s) = &c.segment
                    && self.no_segment(s)
                {
                    self.err(
                        "dangling-reference",
                        format!("{path}.segment"),
                        format!("no segment named {:?}", s.as_str()),
                    );
                }
            }
        }
    }
}

impl Checker<'_> {
    /// nfs-ganesha's EXPORT blocks: `Export_Id` "must be unique" and so must `Pseudo`
    /// (ganesha-export-config(8)); the defaults (position plus one, the path) count too.
    fn ganesha_exports(&mut self, n: &crate::nas::Nas) {
        let mut ids: HashMap<u16, String> = HashMap::new();
        let mut pseudos: HashMap<&str, String> = HashMap::new();
        for (i, e) in n.exports.iter().enumerate() {
            let (id, id_path, id_how) = match e.export_id {
                Some(id) => (id, format!("nas.exports[{i}].export_id"), String::new()),
                None => (
                    u16::try_from(i + 1).unwrap_or(u16::MAX),
                    format!("nas.exports[{i}].name"),
                    " (export_id not set: its position plus one)".to_owned(),
                ),
            };
            match ids.get(&id) {
                Some(first) => self.err(
                    "duplicate",
                    id_path,
                    format!(
                        "Export_Id {id}{id_how} is already the Export_Id of {first}: nfs-ganesha requires each Export_Id to be unique (\"must be unique\", ganesha-export-config(8)) and refuses the second EXPORT block"
                    ),
                ),
                None => {
                    ids.insert(id, format!("nas.exports[{i}]"));
                }
            }
            let (pseudo, pseudo_path) = match &e.pseudo {
                Some(p) => (p.as_str(), format!("nas.exports[{i}].pseudo")),
                None => (e.path.as_str(), format!("nas.exports[{i}].path")),
            };
            let key = pseudo.trim_end_matches('/');
            match pseudos.get(key) {
                Some(first) => self.err(
                    "duplicate",
                    pseudo_path,
                    format!(
                        "NFSv4 pseudo path {pseudo:?} is already the pseudo path of {first}: nfs-ganesha requires each Pseudo to be unique (\"It must be unique\", ganesha-export-config(8)) and refuses the second EXPORT block"
                    ),
                ),
                None => {
                    pseudos.insert(key, format!("nas.exports[{i}]"));
                }
            }
        }
    }
}
