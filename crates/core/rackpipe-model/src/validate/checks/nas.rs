//! The `nas` section: its host, exports and their clients.

use super::{Checker, unique};

impl Checker<'_> {
    pub(super) fn nas(&mut self) {
        let Some(n) = &self.site.nas else { return };
        if !self.site.hosts.iter().any(|h| h.name == n.host) {
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
                    && self.segment(s).is_none()
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
