//! What the CI jobs are given (`DIR/ci-variables.json`): each tool's arguments pointing at
//! the lab (URLs, fingerprints, SSH key and known_hosts, Vault nodes, etcd endpoints) and
//! fresh random values for the lab site's secret variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::Lab;
use crate::error::LabError;
use crate::labsite::{LabSite, SecretKind};
use crate::state::{Probe, Role};

impl Lab {
    pub(super) fn build_ci_variables(
        &self,
        site: &LabSite,
        secrets: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut vars = secrets.clone();
        let creds = &self.state.creds;
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let ssh = format!(
            "--ssh-key {} --known-hosts {}",
            path(&creds.ssh_key),
            path(&creds.known_hosts)
        );
        for c in &self.state.components {
            let Probe::Https { port, .. } = c.probe else {
                continue;
            };
            let fp = creds.fingerprints.get(&c.kind).cloned().unwrap_or_default();
            let url = format!("https://{}:{port}", c.address);
            match c.kind.as_str() {
                "ros-sim" => {
                    vars.insert(
                        "RACKPIPE_ROS_RENDER_ARGS".into(),
                        format!("--url {url} --fingerprint {fp}"),
                    );
                }
                "pve-sim" => {
                    vars.insert(
                        "RACKPIPE_PVE_SYNC_ARGS".into(),
                        format!("--url {url} --fingerprint {fp}"),
                    );
                }
                "dsm-sim" => {
                    vars.insert("RACKPIPE_NFS_EXPORT_ARGS".into(), format!("--target {url}"));
                }
                _ => {}
            }
        }
        vars.entry("RACKPIPE_NFS_EXPORT_ARGS".into())
            .or_insert_with(|| ssh.clone());
        vars.insert("RACKPIPE_HAPROXY_GEN_ARGS".into(), ssh.clone());
        vars.insert("RACKPIPE_KUBEADM_JOIN_ARGS".into(), ssh);
        // vault-bootstrap: every node by its lab address; CA and token from the OpenBao module.
        let nodes: Vec<String> = site
            .document
            .pointer("/vault/nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let name = n.get("name")?.as_str()?;
                let guest = n.get("guest")?.as_str()?;
                let port = n.get("api_port").and_then(Value::as_u64).unwrap_or(8200);
                let h = self.state.host(guest)?;
                Some(format!("--node {name}=https://{}:{port}", h.host.address))
            })
            .collect();
        if !nodes.is_empty() {
            let ca = self
                .state
                .extra
                .get("vault_ca_file")
                .and_then(Value::as_str)
                .map_or_else(|| path(&creds.ca_file), str::to_owned);
            vars.insert(
                "RACKPIPE_VAULT_BOOTSTRAP_ARGS".into(),
                format!("{} --ca-file {ca}", nodes.join(" ")),
            );
        }
        // etcd-backup: the masters' client URLs; TLS files from the etcd module when it ran.
        let endpoints: Vec<String> = self
            .state
            .hosts
            .iter()
            .filter(|h| h.roles.contains(&Role::KubernetesMaster))
            .map(|h| format!("--endpoint https://{}:2379", h.host.address))
            .collect();
        if !endpoints.is_empty() {
            let mut args = endpoints.join(" ");
            for (flag, key) in [
                ("--cacert", "etcd_ca"),
                ("--cert", "etcd_client_cert"),
                ("--key", "etcd_client_key"),
            ] {
                if let Some(v) = self.state.extra.get(key).and_then(Value::as_str) {
                    args.push_str(&format!(" {flag} {v}"));
                }
            }
            vars.insert("RACKPIPE_ETCD_BACKUP_ARGS".into(), args);
        }
        vars
    }
}

fn random_hex(bytes: usize) -> Result<String, LabError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| LabError::State(format!("randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Values for the lab site's secret variables.
pub(super) fn secret_values(
    site: &LabSite,
    client_pub: &str,
) -> Result<BTreeMap<String, String>, LabError> {
    let mut out = BTreeMap::new();
    for slot in &site.secrets {
        let value = match slot.kind {
            SecretKind::Password => random_hex(12)?,
            SecretKind::VrrpPassword => random_hex(4)?,
            SecretKind::ProxmoxToken => {
                let h = random_hex(16)?;
                format!(
                    "root@pam!rackpipe-lab={}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
            SecretKind::SshPublicKey => client_pub.to_owned(),
            SecretKind::Opaque => random_hex(16)?,
        };
        out.insert(slot.var.clone(), value);
    }
    Ok(out)
}
