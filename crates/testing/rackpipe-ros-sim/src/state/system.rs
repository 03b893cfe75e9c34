//! `/system` reset and reboot, `/user` logins, `/file` and `/import`.

use std::time::Instant;

use rackpipe_routeros::config::Props;

use super::{Entry, Router};

impl Router {
    /// `/system/reset-configuration`: back to the factory state (without the default
    /// configuration with `no-defaults`). Users (with their passwords and SSH keys) survive
    /// only with `keep_users`; certificates and every key are gone; files stay. The router
    /// then reboots ([`Router::reboot`]).
    pub fn reset(&mut self, no_defaults: bool, keep_users: bool) {
        let next_id = self.state.next_id;
        let files = self.state.tables.get("/file").cloned().unwrap_or_default();
        let users: Vec<(String, Vec<Entry>)> = ["/user", "/user/ssh-keys"]
            .iter()
            .map(|m| ((*m).to_owned(), self.table(m).to_vec()))
            .collect();
        self.reach_cache.replace(None);
        self.state = if no_defaults {
            self.factory_no_defaults.clone()
        } else {
            self.factory.clone()
        };
        // Ids are never reused, also across a reset (files survive it).
        self.state.next_id = self.state.next_id.max(next_id);
        self.state.tables.insert("/file".to_owned(), files);
        if keep_users {
            for (menu, rows) in users {
                self.state.tables.insert(menu, rows);
            }
        }
        self.next_runs.clear();
        self.reboot();
    }

    /// A reboot: the router answers nothing for
    /// [`SimConfig::reboot_time`](crate::SimConfig::reboot_time); the saved configuration stays;
    /// dynamic entries, scheduler run counts and (on a device with a `flash` directory) every
    /// file outside `flash/` are lost; scheduler entries start counting again from the boot.
    pub fn reboot(&mut self) {
        self.reach_cache.replace(None);
        let flash = self.flash;
        for (menu, rows) in &mut self.state.tables {
            rows.retain(|e| !e.dynamic);
            if menu == "/file" && flash {
                rows.retain(|e| {
                    e.builtin || e.props.get("name").is_some_and(|n| n.starts_with("flash/"))
                });
            }
            if menu == "/system/scheduler" {
                for row in rows.iter_mut() {
                    row.props.remove("run-count");
                }
            }
        }
        self.down_until = Some(Instant::now() + self.reboot_time);
        self.reschedule_all();
        let delay = self.reboot_time;
        for at in self.next_runs.values_mut() {
            *at += delay;
        }
        self.log.push("system: rebooted".to_owned());
    }

    /// Whether `user` may log in with `password` (an enabled `/user` row).
    pub fn login_ok(&self, user: &str, password: &str) -> bool {
        self.table("/user").iter().any(|e| {
            e.props.get("name") == Some(user)
                && e.props.get("password").unwrap_or("") == password
                && e.props.get("disabled") != Some("true")
        })
    }

    /// Whether the router is still booting.
    pub fn rebooting(&self) -> bool {
        self.down_until.is_some_and(|t| Instant::now() < t)
    }

    pub fn file_contents(&self, name: &str) -> Option<String> {
        let table = self.table("/file");
        table
            .iter()
            .find(|e| e.props.get("name") == Some(name))
            .or_else(|| {
                table.iter().find(|e| {
                    e.props
                        .get("name")
                        .is_some_and(|n| n.strip_suffix(".rsc") == Some(name))
                })
            })
            .map(|e| e.props.get("contents").unwrap_or("").to_owned())
    }

    pub fn write_file(&mut self, name: &str, contents: &str) {
        let input = Props::from_pairs([("contents", contents)]);
        let existing = self
            .table("/file")
            .iter()
            .position(|e| e.props.get("name") == Some(name));
        let result = match existing {
            Some(i) => self.set("/file", i, &input),
            None => self.add(
                "/file",
                &Props::from_pairs([("name", name), ("contents", contents)]),
            ),
        };
        if let Err(e) = result {
            self.log.push(format!("file {name}: {e:?}"));
        }
    }

    /// `/import file-name=...`.
    pub fn import_file(&mut self, name: &str) -> Result<(), String> {
        let text = self
            .file_contents(name)
            .ok_or_else(|| format!("failure: no such file {name}"))?;
        let config =
            rackpipe_routeros::export::parse_named(name, &text).map_err(|e| e.to_string())?;
        self.run_config(&config)
    }
}
