//! The site document: every section of the homelab in one model.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kubernetes::{Backups, Kubernetes, Runners};
use crate::loadbalancer::LoadBalancer;
use crate::monitoring::Monitoring;
use crate::nas::Nas;
use crate::network::{Host, Segment};
use crate::proxmox::Proxmox;
use crate::router::Router;
use crate::types::{Hostname, Name};
use crate::vault::Vault;

/// The `apiVersion` every rackpipe document carries.
pub const API_VERSION: &str = "rackpipe/v1";

/// The whole site. Each tool reads only its sections. Unknown top-level sections are kept in
/// [`Site::extra`] (with a warning) so documents pass through a pipe unharmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Site {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// Always `Site`.
    pub kind: SiteKind,
    /// Name and domain.
    pub metadata: Metadata,
    /// The addressing plan.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Machines that are not guests (NAS, hypervisors, access points).
    #[serde(default)]
    pub hosts: Vec<Host>,
    /// The MikroTik router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Router>,
    /// The Proxmox cluster and its guests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox: Option<Proxmox>,
    /// The NAS and its NFS exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nas: Option<Nas>,
    /// The Vault cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<Vault>,
    /// VIPs and HAProxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    /// GitLab runners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runners: Option<Runners>,
    /// The Kubernetes cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Kubernetes>,
    /// Scheduled backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Backups>,
    /// The monitoring stack, its scrape targets and alerting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<Monitoring>,
    /// Top-level sections rackpipe does not know, passed through untouched.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The `apiVersion` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// Version 1.
    #[serde(rename = "rackpipe/v1")]
    V1,
}

/// The `kind` marker of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SiteKind {
    /// A site document.
    Site,
}

/// Site name and domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Site name.
    pub name: Name,
    /// DNS domain of the site; PKI roles may only issue inside it.
    pub domain: Hostname,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Warnings the site intends, each with its rule id and the reason (see
    /// [`crate::diagnostic::Acknowledgement`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledge: Vec<crate::diagnostic::Acknowledgement>,
}

/// Top-level keys the model knows; anything else is passed through.
pub const KNOWN_SECTIONS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "segments",
    "hosts",
    "router",
    "proxmox",
    "nas",
    "vault",
    "load_balancer",
    "runners",
    "kubernetes",
    "backups",
    "monitoring",
];
