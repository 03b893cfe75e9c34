//! Server configs: one Vault/OpenBao config per node (raft with `retry_join` to the peers, or
//! Consul on the node's local agent) and, for the Consul design, one Consul server config per
//! node. Templates are minijinja files under this crate's `templates/`, embedded at build
//! time; a caller may pass a directory whose files override them by name.

use std::collections::BTreeMap;
use std::path::PathBuf;

use minijinja::Environment;
use rackpipe_model::Site;
use rackpipe_model::documents::RenderedFile;
use rackpipe_model::vault::{Vault, VaultImplementation, VaultStorage};
use serde_json::json;

use crate::error::{Error, Result};

const SERVER_TEMPLATE: (&str, &str) = ("server.hcl.j2", include_str!("../templates/server.hcl.j2"));
const CONSUL_TEMPLATE: (&str, &str) = ("consul.hcl.j2", include_str!("../templates/consul.hcl.j2"));

/// Options of [`render`].
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Directory whose `server.hcl.j2` / `consul.hcl.j2` replace the embedded templates.
    pub template_dir: Option<PathBuf>,
    /// Host (name or IP) each node is reached at, by node name (default `<guest>.<domain>`).
    pub hosts: BTreeMap<String, String>,
    /// Address the listeners bind to (default `0.0.0.0`).
    pub listen_host: Option<String>,
}

/// Where a node's config file goes.
#[must_use]
pub fn server_config_path(implementation: VaultImplementation) -> &'static str {
    match implementation {
        VaultImplementation::Openbao => "/etc/openbao/openbao.hcl",
        VaultImplementation::Vault => "/etc/vault.d/vault.hcl",
    }
}

/// The API address of every node (`https://<host>:<api_port>`), in site order.
#[must_use]
pub fn node_addresses(
    site: &Site,
    vault: &Vault,
    hosts: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    vault
        .nodes
        .iter()
        .map(|n| {
            let host = node_host(site, n.name.as_str(), n.guest.as_str(), hosts);
            (
                n.name.to_string(),
                format!("https://{}:{}", bracket(&host), n.api_port),
            )
        })
        .collect()
}

/// The cluster's API address behind the VIP: `https://<fqdn>:<api port of the first node>`.
#[must_use]
pub fn api_address(vault: &Vault) -> String {
    let port = vault.nodes.first().map_or(8200, |n| n.api_port);
    format!("https://{}:{port}", vault.fqdn)
}

fn node_host(site: &Site, name: &str, guest: &str, hosts: &BTreeMap<String, String>) -> String {
    hosts
        .get(name)
        .cloned()
        .unwrap_or_else(|| format!("{guest}.{}", site.metadata.domain))
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Renders every node's server config (and the Consul configs for the Consul design).
///
/// # Errors
/// [`Error::Site`] without a `vault` section, [`Error::Template`] for template errors.
pub fn render(site: &Site, options: &RenderOptions) -> Result<Vec<RenderedFile>> {
    let vault = site.vault.as_ref().ok_or_else(|| Error::Site {
        path: "vault".into(),
        message: "the site has no vault section".into(),
    })?;
    if let Some((path, message)) = storage_problem(vault) {
        return Err(Error::Site { path, message });
    }
    let env = environment(options)?;
    let listen = options
        .listen_host
        .clone()
        .unwrap_or_else(|| "0.0.0.0".to_owned());
    let implementation = match vault.implementation {
        VaultImplementation::Openbao => "openbao",
        VaultImplementation::Vault => "vault",
    };
    let storage = match &vault.storage {
        VaultStorage::Raft {
            path,
            performance_multiplier,
        } => {
            json!({"backend": "raft", "path": path, "performance_multiplier": performance_multiplier})
        }
        VaultStorage::Consul {
            address,
            path,
            token,
            datacenter,
        } => json!({
            "backend": "consul", "address": address, "path": path,
            "token": token.as_str(), "datacenter": datacenter,
        }),
    };
    let nodes: Vec<_> = vault
        .nodes
        .iter()
        .map(|n| {
            let host = node_host(site, n.name.as_str(), n.guest.as_str(), &options.hosts);
            json!({
                "name": n.name.as_str(),
                "guest": n.guest.as_str(),
                "host": host,
                "api_addr": format!("https://{}:{}", bracket(&host), n.api_port),
                "cluster_addr": format!("https://{}:{}", bracket(&host), n.cluster_port),
                "listen_address": format!("{}:{}", bracket(&listen), n.api_port),
                "cluster_listen_address": format!("{}:{}", bracket(&listen), n.cluster_port),
            })
        })
        .collect();
    let mut files = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let peers: Vec<_> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p.clone())
            .collect();
        let guest = vault.nodes[i].guest.to_string();
        let ctx = json!({
            "site": site.metadata.name.as_str(),
            "implementation": implementation,
            "implementation_name": if implementation == "openbao" { "OpenBao" } else { "Vault" },
            "ui": vault.ui,
            "response_header_hostname": vault.response_header_hostname,
            "node": node,
            "peers": peers,
            "storage": storage,
            "tls": {"cert_file": vault.tls.cert_file, "key_file": vault.tls.key_file, "ca_file": vault.tls.ca_file, "client_ca_file": vault.tls.client_ca_file},
            "metrics_unauthenticated": crate::metrics::unauthenticated_access(site),
            "audit": vault.audit.iter().map(|a| json!({"name": a.name.as_str(), "file": a.file})).collect::<Vec<_>>(),
        });
        files.push(RenderedFile {
            host: guest.clone(),
            path: server_config_path(vault.implementation).to_owned(),
            mode: "0640".to_owned(),
            content: render_one(&env, SERVER_TEMPLATE.0, &ctx)?,
        });
        if let VaultStorage::Consul {
            address,
            datacenter,
            ..
        } = &vault.storage
        {
            let https_port = address
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(8501);
            let ctx = json!({
                "site": site.metadata.name.as_str(),
                "node": node,
                "peers": peers,
                "tls": {"cert_file": vault.tls.cert_file, "key_file": vault.tls.key_file, "ca_file": vault.tls.ca_file},
                "consul": {"datacenter": datacenter, "bootstrap_expect": nodes.len(), "https_port": https_port},
            });
            files.push(RenderedFile {
                host: guest,
                path: "/etc/consul.d/consul.hcl".to_owned(),
                mode: "0640".to_owned(),
                content: render_one(&env, CONSUL_TEMPLATE.0, &ctx)?,
            });
        }
    }
    files.sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    Ok(files)
}

/// OpenBao dropped the Consul storage backend (raft and postgresql only).
pub(crate) fn storage_problem(vault: &Vault) -> Option<(String, String)> {
    let consul = matches!(vault.storage, VaultStorage::Consul { .. });
    (consul && vault.implementation == VaultImplementation::Openbao).then(|| {
        (
            "vault.storage.backend".to_owned(),
            "OpenBao has no consul storage backend; use raft, or implementation: vault".to_owned(),
        )
    })
}

/// The template environment (`rackpipe_render`): the built-in templates, each replaced by
/// the file of the same name in `template_dir` when there is one.
fn environment(options: &RenderOptions) -> Result<Environment<'static>> {
    rackpipe_render::environment(
        &[SERVER_TEMPLATE, CONSUL_TEMPLATE],
        options.template_dir.as_deref(),
        rackpipe_render::Whitespace::default(),
    )
    .map_err(Error::from)
}

fn render_one(env: &Environment<'_>, name: &str, ctx: &serde_json::Value) -> Result<String> {
    let mut text = rackpipe_render::render(
        env,
        name,
        minijinja::Value::from(minijinja::value::Serde(ctx)),
    )?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}
