//! How the CLI reaches the cluster: the site's nodes with `--node` overrides, the CA bundle,
//! and the API address plan/apply talk to (`--api`, else the active node, else the VIP).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_model::vault::Vault;
use rackpipe_tls::transport::{self, PlainHttp};

use crate::client::{Client, ClientOptions};
use crate::cluster::{Cluster, NodeState, override_urls, states};
use crate::error::{Error, Result};
use crate::render::{api_address, node_addresses};

/// Where the nodes are and how they are verified.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `(node name, URL)` overrides of the site's node addresses.
    pub nodes: Vec<(String, String)>,
    /// Cluster API URL for plan/apply (`--url`; overrides the active node and the VIP).
    pub url: Option<String>,
    /// PEM CA bundle the servers' certificates are verified with (else the system roots).
    pub ca_file: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// `NAME=URL` of `--node`: the URL passes the transport rule (`https://`, or plain `http://`
/// to a literal loopback address); a trailing `/` is dropped.
///
/// # Errors
/// One line saying what is wrong with `s`.
pub fn parse_node(s: &str) -> std::result::Result<(String, String), String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=URL"))?;
    if name.is_empty() {
        return Err(format!(
            "{s:?}: expected NAME=URL, e.g. vault-1=https://127.0.0.1:8200"
        ));
    }
    transport::check_url(url, PlainHttp::Loopback).map_err(|e| format!("{name}: {e}"))?;
    Ok((name.to_owned(), url.trim_end_matches('/').to_owned()))
}

/// The site's vault section.
///
/// # Errors
/// [`Error::Site`] when there is none.
pub fn vault_of(site: &Site) -> Result<&Vault> {
    site.vault.as_ref().ok_or_else(|| Error::Site {
        path: "vault".to_owned(),
        message: "the site has no vault section".to_owned(),
    })
}

impl Connection {
    /// The CA bundle's text, when one is given.
    ///
    /// # Errors
    /// [`Error::File`] when it cannot be read.
    pub fn read_ca(&self) -> Result<Option<String>> {
        self.ca_file
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path).map_err(|e| Error::File {
                    path: path.clone(),
                    reason: format!("cannot read CA bundle: {e}"),
                })
            })
            .transpose()
    }

    /// The site's nodes with the overrides applied, and their client pool.
    ///
    /// # Errors
    /// [`Error::Usage`] for an override naming no node of the site; [`Error::Site`] without
    /// a vault section; CA and URL errors.
    pub fn cluster(&self, site: &Site) -> Result<Cluster> {
        let vault = vault_of(site)?;
        let derived = node_addresses(site, vault, &BTreeMap::new());
        let overrides: BTreeMap<String, String> = self.nodes.iter().cloned().collect();
        for name in overrides.keys() {
            if !derived.iter().any(|(n, _)| n == name) {
                let known: Vec<&str> = derived.iter().map(|(n, _)| n.as_str()).collect();
                return Err(Error::Usage(format!(
                    "--node {name}=...: no node named {name:?} in vault.nodes ({})",
                    known.join(", ")
                )));
            }
        }
        let nodes = override_urls(derived, &overrides);
        let options = ClientOptions {
            ca_pem: self.read_ca()?,
            timeout: Some(self.timeout.max(Duration::from_secs(1))),
        };
        Cluster::new(&nodes, &options)
    }

    /// The client plan/apply talk to: the `url`, else (with node overrides) the active
    /// node, else the site's cluster address.
    ///
    /// # Errors
    /// [`Error::Usage`] for a `url` the transport rule refuses; [`Error::Site`].
    pub async fn api_client(&self, site: &Site, cluster: &Cluster) -> Result<Client> {
        let vault = vault_of(site)?;
        if let Some(url) = &self.url {
            return cluster
                .http()
                .checked_node("api", url.trim_end_matches('/'))
                .map_err(|e| Error::Usage(e.to_string()));
        }
        if self.nodes.is_empty() {
            return Ok(cluster.http().node("api", api_address(vault)));
        }
        let states = states(cluster).await;
        let chosen = states
            .iter()
            .position(|s| *s == NodeState::Active)
            .or_else(|| {
                // No active node: ask the first one that answers, for the precise error
                // (sealed, not initialized); else the first node (unreachable).
                states.iter().position(|s| *s != NodeState::Unreachable)
            })
            .and_then(|i| cluster.nodes().get(i))
            .or_else(|| cluster.nodes().first())
            .ok_or_else(|| Error::Site {
                path: "vault.nodes".to_owned(),
                message: "no node".to_owned(),
            })?;
        Ok(chosen.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_overrides_parse() {
        assert_eq!(
            parse_node("vault-1=https://127.0.0.1:8200/").unwrap(),
            ("vault-1".to_owned(), "https://127.0.0.1:8200".to_owned())
        );
        assert!(parse_node("vault-1").is_err());
        assert!(parse_node("=https://x").is_err());
        assert!(parse_node("vault-1=127.0.0.1:8200").is_err());
    }
}
