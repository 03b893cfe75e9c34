//! The site's Prometheus alert rules, as code: rendered from the site (thresholds from
//! `monitoring.alerts`, defaults when the section is absent) by the built-in template
//! `addons/alert-rules.yaml.j2` into a Prometheus rules file (`groups:`), which the
//! kube-prometheus-stack addon wraps in a `PrometheusRule`.
//!
//! | alert | fires when | rendered when |
//! |---|---|---|
//! | `RackpipeBackupTooOld` | the last success of `etcd-backup snapshot` / `ros-render backup` is older than `backup_max_age` | `backups.etcd` / `backups.router` |
//! | `RackpipeBackupMissing` | no success timestamp of that backup at all, for `backup_max_age` | the same |
//! | `RackpipeBackupFailed` | the last run of that backup exited non-zero | the same |
//! | `RackpipeDrift` | a pushed (scheduled) plan has changes | always |
//! | `RackpipeCertificateExpiring` | a certificate vault-bootstrap issued expires within `certificate_min_validity` | `vault` |
//! | `VaultSealed` | a Vault/OpenBao node's `vault_core_unsealed` is 0 for 1m | `vault` |
//! | `VaultNoLeader` | no unsealed node reports `vault_core_active` 1 for 1m | `vault` |
//! | `VipFlapping` | a VIP moved more than `vip_max_moves` times within `vip_flap_window` | `load_balancer` and the keepalived target |
//! | `RunnerCacheMountMissing` | node_exporter of a runner's guest shows no file system at the cache mount point for `target_down_for` | `runners` |
//!
//! The series each rule reads are listed in `docs/reference/monitoring.md`.

use std::path::Path;

use rackpipe_model::Site;
use rackpipe_model::monitoring::AlertThresholds;
use serde::Serialize;

use crate::{Error, environment, mj, render_template};

/// The template of the rules file.
pub const TEMPLATE: &str = "addons/alert-rules.yaml.j2";

/// One backup the site schedules and the rackpipe run that makes it.
#[derive(Debug, Serialize)]
struct BackupRule {
    what: &'static str,
    tool: &'static str,
    verb: &'static str,
}

/// A runner's guest as node_exporter's `instance` label names it.
#[derive(Debug, Serialize)]
struct RunnerRule {
    name: String,
    guest: String,
    /// A PromQL-quoted regular expression matching the guest's address or name, with or
    /// without a port.
    instance: String,
}

#[derive(Debug, Serialize)]
struct Vip {
    max_moves: u32,
    window: String,
}

/// The site's alert rules as a Prometheus rules file, from the built-in template.
///
/// # Errors
/// The template does not render.
pub fn alert_rules(site: &Site) -> Result<String, Error> {
    alert_rules_with(site, None)
}

/// [`alert_rules`] with templates from `templates` (the `--templates DIR` rule: a file named
/// like a built-in template replaces it).
///
/// # Errors
/// The template does not render; an unknown file in `templates`.
pub fn alert_rules_with(site: &Site, templates: Option<&Path>) -> Result<String, Error> {
    let defaults = AlertThresholds::default();
    let monitoring = site.monitoring.as_ref();
    let alerts = monitoring.map_or(&defaults, |m| &m.alerts);
    let mut backups = Vec::new();
    if let Some(b) = &site.backups {
        if b.etcd.is_some() {
            backups.push(BackupRule {
                what: "etcd",
                tool: "etcd-backup",
                verb: "snapshot",
            });
        }
        if b.router.is_some() {
            backups.push(BackupRule {
                what: "router",
                tool: "ros-render",
                verb: "backup",
            });
        }
    }
    let keepalived = monitoring.is_none_or(|m| m.targets.keepalived.enabled);
    let vip = (site.load_balancer.is_some() && keepalived).then(|| Vip {
        max_moves: alerts.vip_max_moves,
        window: alerts.vip_flap_window.to_string(),
    });
    let runners = site.runners.as_ref();
    let runner_rules: Vec<RunnerRule> = runners
        .map(|r| {
            r.runners
                .iter()
                .map(|runner| runner_rule(site, runner))
                .collect()
        })
        .unwrap_or_default();
    let env = environment(templates)?;
    let ctx = minijinja::context! {
        site => site.metadata.name.as_str(),
        backups => mj(&backups),
        max_age => alerts.backup_max_age.to_string(),
        max_age_secs => alerts.backup_max_age.as_secs(),
        certificates => site.vault.is_some(),
        certificate_min_validity => alerts.certificate_min_validity.to_string(),
        certificate_min_validity_secs => alerts.certificate_min_validity.as_secs(),
        vault => site.vault.is_some(),
        vip => mj(&vip),
        runners => mj(&runner_rules),
        cache_mountpoint => runners.map(|r| r.cache.mountpoint.clone()),
        down_for => alerts.target_down_for.to_string(),
    };
    render_template(&env, TEMPLATE, ctx)
}

/// The rule data of one runner: its guest's addresses and names as an `instance` regex.
fn runner_rule(site: &Site, runner: &rackpipe_model::kubernetes::Runner) -> RunnerRule {
    let guest = site
        .proxmox
        .as_ref()
        .and_then(|p| p.guests.iter().find(|g| g.name == runner.guest));
    let mut names: Vec<String> = Vec::new();
    if let Some(g) = guest {
        names.extend(
            g.nics
                .iter()
                .filter_map(|n| n.address.as_ref())
                .map(|a| match a.ip() {
                    std::net::IpAddr::V6(ip) => format!("\\[{ip}\\]"),
                    std::net::IpAddr::V4(ip) => ip.to_string(),
                }),
        );
        names.extend(g.fqdn.as_ref().map(ToString::to_string));
    }
    names.push(runner.guest.to_string());
    names.dedup();
    let alternatives: Vec<String> = names.iter().map(|n| promql_regex_escape(n)).collect();
    RunnerRule {
        name: runner.name.to_string(),
        guest: runner.guest.to_string(),
        instance: format!("({})(:[0-9]+)?", alternatives.join("|")),
    }
}

/// A literal for a regex inside a PromQL double-quoted string: `.` becomes `\\.` (a regex
/// `\.` once PromQL has read its string escapes). Names and addresses hold no other regex
/// meta-characters (IPv6 brackets arrive escaped already).
fn promql_regex_escape(text: &str) -> String {
    text.replace('.', "\\\\.")
        .replace("\\[", "\\\\[")
        .replace("\\]", "\\\\]")
}

#[cfg(test)]
mod tests {
    use super::promql_regex_escape;

    #[test]
    fn regex_literals_survive_promql_string_escapes() {
        assert_eq!(promql_regex_escape("10.3.1.2"), "10\\\\.3\\\\.1\\\\.2");
        assert_eq!(promql_regex_escape("\\[::1\\]"), "\\\\[::1\\\\]");
    }
}
