//! `vault-bootstrap`'s library: bring a Vault or OpenBao cluster from nothing to the state the
//! site describes, over the HTTP API only.
//!
//! - [`render()`]: each node's server config (raft `retry_join` or Consul storage, TLS listener,
//!   telemetry, config-declared audit devices) and, for the Consul design, Consul's config.
//! - [`init()`]: `sys/init`, with the keys PGP-encrypted by the server or written to a 0600 file;
//!   refuses an initialized cluster.
//! - [`unseal()`]: unseals every sealed node and joins raft followers; idempotent.
//! - [`status()`]: per-node health, leader and raft peers as JSON.
//! - [`plan()`] / [`apply()`]: mounts, PKI hierarchy, policies and auth methods, diffed against
//!   what the API reads back; unreadable secrets are created once; leaf certificates
//!   (`vault.certificates`) are issued from a PKI role into a KV v2 entry and renewed before
//!   they expire or when their names or the mount's issuer change.
//! - [`tool`]: the `vault-bootstrap` command line on the shared driver (`rackpipe_cli::driver`):
//!   its flags, its own verbs and the mapping of [`Error`] to exit codes.
//!
//! TLS is verified (by the given CA, else the system roots); secrets live in [`Secret`], which
//! never prints itself; every client counts its requests.

pub mod auth;
pub mod certificate;
pub mod client;
pub mod cluster;
pub mod command;
pub mod connect;
pub mod desired;
pub mod documents;
pub mod error;
pub mod hcl;
pub mod import;
pub mod metrics;
pub mod pgp;
pub mod plan;
pub mod render;
pub mod tool;
mod wait;

pub use auth::Credentials;
pub use client::{Client, ClientOptions, Http, KEYGEN_TIMEOUT};
pub use cluster::{
    Cluster, InitOptions, InitReport, NodeState, StatusReport, UnsealOptions, UnsealReport, init,
    keys_from_env, keys_from_file, login_jwt, root_token_from_file, states, status, unseal,
};
pub use connect::{Connection, parse_node};
pub use desired::{Desired, check, desired};
pub use error::{Error, Result};
pub use plan::{ApplyOptions, PlanOptions, apply, plan};
pub use rackpipe_secrets::Secret;
pub use render::{RenderOptions, api_address, node_addresses, render};
