//! nfs-ganesha: plan and apply the site's `EXPORT` blocks over a remote shell.
//!
//! nfs-export owns exactly one file on a ganesha NAS, the include file
//! `<config_dir>/<site>.conf` (what `render` writes), and never edits `ganesha.conf`: plan
//! refuses, in one line, a server whose main configuration does not `%include` that file
//! (nothing would load it), or whose own `EXPORT` blocks use an `Export_Id` the site uses.
//!
//! The live exports are read from ganesha itself: its D-Bus export manager
//! (`org.ganesha.nfsd.exportmgr.ShowExports`, what `ganesha_mgr show_exports` prints).
//! apply writes the include file atomically, makes ganesha re-read its exports (`systemctl
//! reload nfs-ganesha`, whose `ExecReload` sends SIGHUP: ganesha 2.8 and later add, update
//! and remove exports on SIGHUP), and checks through D-Bus that every export of the site is
//! live with its `Export_Id` and path and that no export the previous file had and the site
//! dropped is left. ganesha logs a bad block and keeps serving without it, so the read-back
//! is what tells success; when it fails the previous file is put back and ganesha reloaded
//! again, and the error names the exports that did not load.

use std::collections::BTreeSet;

use rackpipe_model::Site;
use rackpipe_model::documents::{Action, ApplyResult, Change, Plan};

use crate::Error;
use crate::desired::resolve;
use crate::linux::{Remote, file_change, result, run, sh_quote, write_file_atomic};
use crate::render::{environment, render_ganesha};
use crate::synology::digest;

/// ganesha's D-Bus call listing the live exports.
pub const SHOW_EXPORTS: &str = "dbus-send --system --print-reply --reply-timeout=10000 --dest=org.ganesha.nfsd /org/ganesha/nfsd/ExportMgr org.ganesha.nfsd.exportmgr.ShowExports";

/// Where ganesha's configuration lives on the NAS and how it is reloaded and read back.
#[derive(Debug, Clone)]
pub struct GaneshaTarget {
    /// Directory of the managed include file (`/etc/ganesha`).
    pub config_dir: String,
    /// ganesha's main configuration, which must `%include` the managed file
    /// (`/etc/ganesha/ganesha.conf`).
    pub main_config: String,
    /// Makes ganesha re-read its exports (`systemctl reload nfs-ganesha`: SIGHUP).
    pub reload: String,
    /// Lists the live exports (D-Bus `ShowExports`, see [`SHOW_EXPORTS`]).
    pub show_exports: String,
    /// Run file writes and the reload through `sudo -n` (an SSH user other than root).
    pub sudo: bool,
    /// How long to wait for ganesha to show the exports after the reload: SIGHUP returns at
    /// once and ganesha re-reads its configuration afterwards, so the read-back is polled.
    pub reload_timeout: std::time::Duration,
}

impl Default for GaneshaTarget {
    fn default() -> Self {
        Self {
            config_dir: "/etc/ganesha".to_owned(),
            main_config: "/etc/ganesha/ganesha.conf".to_owned(),
            reload: "systemctl reload nfs-ganesha".to_owned(),
            show_exports: SHOW_EXPORTS.to_owned(),
            sudo: false,
            reload_timeout: std::time::Duration::from_secs(15),
        }
    }
}

impl GaneshaTarget {
    /// The defaults for an SSH user: root runs commands directly, anyone else through
    /// `sudo -n` (which must be allowed without a password).
    #[must_use]
    pub fn for_user(user: &str) -> Self {
        Self {
            sudo: user != "root",
            ..Self::default()
        }
    }

    /// The managed include file for a site whose files are named `file_base`.
    #[must_use]
    pub fn include_path(&self, file_base: &str) -> String {
        format!("{}/{file_base}.conf", self.config_dir.trim_end_matches('/'))
    }

    fn privileged(&self, command: &str) -> String {
        crate::linux::privileged(self.sudo, command)
    }
}

/// The live exports in a `ShowExports` reply: (`Export_Id`, path), the pseudo root (id 0)
/// left out.
#[must_use]
pub fn parse_show_exports(reply: &str) -> BTreeSet<(u16, String)> {
    let mut out = BTreeSet::new();
    let mut id: Option<u16> = None;
    for line in reply.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("uint16 ") {
            id = n.trim().parse().ok();
        } else if let (Some(i), Some(rest)) = (id, line.strip_prefix("string \"")) {
            if i != 0 {
                out.insert((i, rest.trim_end_matches('"').to_owned()));
            }
            id = None;
        }
    }
    out
}

/// The `%include` targets of a ganesha configuration (quotes removed).
fn includes(config: &str) -> Vec<String> {
    config
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("%include"))
        .map(|rest| rest.trim().trim_matches('"').to_owned())
        .collect()
}

/// The `Export_Id` values of a ganesha configuration (`#` comments left out; statements may
/// share a line).
fn export_ids(config: &str) -> BTreeSet<u16> {
    config
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split([';', '{', '}']))
        .filter_map(|statement| {
            let (k, v) = statement.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("export_id")
                .then(|| v.trim().parse().ok())?
        })
        .collect()
}

/// What was read from the NAS.
#[derive(Debug, Clone)]
struct Observed {
    file: Option<String>,
    live: BTreeSet<(u16, String)>,
}

async fn read_file(remote: &impl Remote, path: &str) -> Result<Option<String>, Error> {
    let q = sh_quote(path);
    let out = run(
        remote,
        &format!("if [ -e {q} ]; then echo present; cat {q}; else echo absent; fi"),
        None,
    )
    .await?;
    Ok(out.stdout.strip_prefix("present\n").map(str::to_owned))
}

async fn live(
    remote: &impl Remote,
    target: &GaneshaTarget,
) -> Result<BTreeSet<(u16, String)>, Error> {
    let out = run(remote, &target.privileged(&target.show_exports), None).await?;
    Ok(parse_show_exports(&out.stdout))
}

/// Desired (`Export_Id`, path) pairs, and the ones of a previous file's blocks.
fn wanted(desired: &crate::Desired<'_>) -> BTreeSet<(u16, String)> {
    desired
        .exports
        .iter()
        .map(|e| (e.export_id, e.path.clone()))
        .collect()
}

/// Checks the main configuration loads our file and does not reuse our ids; returns the
/// managed file's path and content and what the NAS has.
async fn prepare(
    site: &Site,
    remote: &impl Remote,
    target: &GaneshaTarget,
) -> Result<(String, String, BTreeSet<(u16, String)>, Observed), Error> {
    let desired = resolve(site)?;
    let content = render_ganesha(&desired, &environment(None)?)?;
    let path = target.include_path(&desired.file_base);
    let refuse = |message: String| Error::Invalid {
        path: format!("{}:{}", remote.host(), target.main_config),
        message,
    };
    let main = read_file(remote, &target.main_config)
        .await?
        .ok_or_else(|| refuse("ganesha's main configuration does not exist".to_owned()))?;
    if !includes(&main).contains(&path) {
        return Err(refuse(format!(
            "does not %include \"{path}\", so ganesha would never load the site's exports: add that line (nfs-export manages only its own include file, never ganesha.conf)"
        )));
    }
    let ours = wanted(&desired);
    let clash: Vec<String> = export_ids(&main)
        .into_iter()
        .filter(|id| ours.iter().any(|(o, _)| o == id))
        .map(|id| id.to_string())
        .collect();
    if !clash.is_empty() {
        return Err(refuse(format!(
            "its own EXPORT blocks use Export_Id {} that the site's exports use (ganesha would keep only one)",
            clash.join(", ")
        )));
    }
    let observed = Observed {
        file: read_file(remote, &path).await?,
        live: live(remote, target).await?,
    };
    Ok((path, content, ours, observed))
}

fn observed_value(o: &Observed) -> serde_json::Value {
    serde_json::json!({ "file": o.file, "live": o.live })
}

/// The exports the file `previous` declares that `wanted` no longer has.
fn dropped(previous: Option<&str>, wanted: &BTreeSet<(u16, String)>) -> BTreeSet<u16> {
    previous
        .map(export_ids)
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !wanted.iter().any(|(w, _)| w == id))
        .collect()
}

/// What is wrong with `live` for the site: exports not live, or dropped ones still live.
fn problems(
    live: &BTreeSet<(u16, String)>,
    wanted: &BTreeSet<(u16, String)>,
    dropped: &BTreeSet<u16>,
) -> Vec<String> {
    let mut out: Vec<String> = wanted
        .iter()
        .filter(|w| !live.contains(*w))
        .map(|(id, p)| format!("Export_Id {id} ({p}) not live"))
        .collect();
    out.extend(
        live.iter()
            .filter(|(id, _)| dropped.contains(id))
            .map(|(id, p)| format!("Export_Id {id} ({p}) still live")),
    );
    out
}

/// Plans the ganesha include file on `remote`.
///
/// # Errors
/// The site's first error; [`Error::Invalid`] naming `host:main config` when ganesha's main
/// configuration does not include the managed file or clashes with it; remote failures.
pub async fn plan(
    site: &Site,
    remote: &impl Remote,
    target: &GaneshaTarget,
) -> Result<Plan, Error> {
    let (path, content, wanted, observed) = prepare(site, remote, target).await?;
    let reload = [target.reload.clone(), target.show_exports.clone()];
    let mut changes = Vec::new();
    if observed.file.as_deref() != Some(content.as_str()) {
        changes.push(file_change(
            remote.host(),
            &path,
            observed.file.as_deref(),
            &content,
            reload.to_vec(),
        ));
    } else {
        let wrong = problems(&observed.live, &wanted, &BTreeSet::new());
        if !wrong.is_empty() {
            changes.push(Change {
                action: Action::Update,
                target: remote.host().to_owned(),
                resource: "nfs-ganesha (live exports)".to_owned(),
                before: Some(serde_json::json!({ "problems": wrong })),
                after: None,
                diff: None,
                commands: reload.to_vec(),
            });
        }
    }
    Ok(Plan::new(
        "nfs-export",
        site.metadata.name.as_str(),
        digest(&serde_json::Value::String(content)),
        digest(&observed_value(&observed)),
        changes,
    ))
}

/// Reads the live exports back until they are what the site says or `reload_timeout` has
/// passed (ganesha reloads after SIGHUP has returned). `Err` holds what was still wrong and
/// how long it waited.
async fn loaded(
    remote: &impl Remote,
    target: &GaneshaTarget,
    wanted: &BTreeSet<(u16, String)>,
    dropped: &BTreeSet<u16>,
) -> Result<Result<(), (Vec<String>, std::time::Duration)>, Error> {
    let mut backoff = rackpipe_model::wait::Backoff::new(target.reload_timeout);
    loop {
        let wrong = problems(&live(remote, target).await?, wanted, dropped);
        if wrong.is_empty() {
            return Ok(Ok(()));
        }
        match backoff.next_delay() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => return Ok(Err((wrong, backoff.waited()))),
        }
    }
}

/// Applies the plan: write the include file, reload ganesha, read the live exports back;
/// put the previous file back (and reload) when they are not what the site says.
///
/// # Errors
/// As [`plan`]; [`Error::StalePlan`] when `expected` no longer matches; [`Error::Remote`]
/// naming the exports that did not load (the previous file restored).
pub async fn apply(
    site: &Site,
    remote: &impl Remote,
    target: &GaneshaTarget,
    expected: Option<&Plan>,
) -> Result<ApplyResult, Error> {
    let current = plan(site, remote, target).await?;
    current.check_fresh(
        expected,
        &format!("the ganesha exports on {}", remote.host()),
    )?;
    if current.changes.is_empty() {
        return Ok(result(site, Vec::new()));
    }
    let (path, content, wanted, observed) = prepare(site, remote, target).await?;
    let previous = observed.file;
    let dropped = dropped(previous.as_deref(), &wanted);
    write_file_atomic(remote, target.sudo, &path, &content).await?;
    let verified = match run(remote, &target.privileged(&target.reload), None).await {
        Ok(_) => match loaded(remote, target, &wanted, &dropped).await? {
            Ok(()) => Ok(()),
            Err((wrong, waited)) => Err(Error::Remote {
                target: remote.host().to_owned(),
                command: target.reload.clone(),
                message: format!(
                    "ganesha did not load {path} as written: {} (still so after {}; see ganesha's log); the previous file is restored",
                    wrong.join(", "),
                    rackpipe_model::wait::human(waited)
                ),
            }),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = verified {
        tracing::warn!("{e}");
        match &previous {
            Some(old) => write_file_atomic(remote, target.sudo, &path, old).await?,
            None => {
                run(
                    remote,
                    &target.privileged(&format!("rm -f {}", sh_quote(&path))),
                    None,
                )
                .await?;
            }
        }
        let _ = run(remote, &target.privileged(&target.reload), None).await;
        return Err(e);
    }
    Ok(result(site, current.changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_show_exports_replies() {
        let reply = "method return time=1 sender=:1.0 -> destination=:1.1 serial=5 reply_serial=2\n   struct {\n      uint64 1\n      uint64 2\n   }\n   array [\n      struct {\n         uint16 0\n         string \"/\"\n         struct {\n            struct {\n               string \"NFSv3\"\n               boolean false\n            }\n         }\n      }\n      struct {\n         uint16 11\n         string \"/srv/data\"\n      }\n   ]\n";
        let live = parse_show_exports(reply);
        assert_eq!(
            live.into_iter().collect::<Vec<_>>(),
            vec![(11, "/srv/data".to_owned())]
        );
    }

    #[test]
    fn finds_includes_and_export_ids() {
        let conf = "NFS_CORE_PARAM { Protocols = 4; }\n%include \"/etc/ganesha/site.conf\"\n  %include /etc/ganesha/other.conf\nEXPORT {\n\tExport_Id = 7; # old\n\tPath = /x;\n}\n# Export_Id = 9;\n";
        assert_eq!(
            includes(conf),
            vec!["/etc/ganesha/site.conf", "/etc/ganesha/other.conf"]
        );
        assert_eq!(export_ids(conf).into_iter().collect::<Vec<_>>(), vec![7]);
    }

    #[test]
    fn problems_name_missing_and_leftover_exports() {
        let live: BTreeSet<(u16, String)> = [(1, "/a".to_owned()), (3, "/c".to_owned())].into();
        let wanted: BTreeSet<(u16, String)> = [(1, "/a".to_owned()), (2, "/b".to_owned())].into();
        assert_eq!(
            problems(&live, &wanted, &[3].into()),
            vec!["Export_Id 2 (/b) not live", "Export_Id 3 (/c) still live"]
        );
        assert_eq!(
            dropped(
                Some("EXPORT { Export_Id = 3; }\nEXPORT { Export_Id = 1; }"),
                &wanted
            ),
            [3].into()
        );
    }
}
