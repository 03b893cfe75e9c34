//! The rackpipe site model.
//!
//! One document describes the whole homelab: addressing plan, router, Proxmox cluster and guests,
//! NAS exports, Vault, load balancers, GitLab runners, Kubernetes and backups. This crate
//!
//! - defines the typed model ([`Site`] and its sections),
//! - generates its JSON Schema ([`schema::site_schema`]) — committed under `schemas/`,
//! - loads YAML or JSON with source locations ([`load::load`]), checks it against the schema,
//!   and runs the semantic checks ([`validate`]) that no schema can express, collecting every
//!   problem as a [`Diagnostic`] that names the field path and, for YAML, line and column.

pub mod child;
pub mod diagnostic;
pub mod documents;
pub mod facts;
pub mod files;
pub mod kubernetes;
pub mod load;
pub mod loadbalancer;
pub mod monitoring;
pub mod nas;
pub mod network;
pub mod proxmox;
pub mod router;
pub mod schema;
pub mod site;
pub mod site_yaml;
pub mod types;
pub mod validate;
pub mod vault;
pub mod wait;

pub use diagnostic::{Diagnostic, Severity};
pub use load::{LoadError, LoadedSite, load, load_and_validate, load_and_validate_with};
pub use site::{API_VERSION, Site};
