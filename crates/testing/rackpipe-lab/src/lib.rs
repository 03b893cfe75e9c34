//! The rackpipe lab: the example site on one machine. One network namespace per host, joined
//! by bridges that mirror the site's segments (198.18.0.0/15 only, no route out), with the
//! RouterOS, Proxmox and DSM simulators, OpenBao, HAProxy + keepalived, etcd, nfs-ganesha and
//! sshd (with the kubeadm stand-in) running where the site puts them.
//!
//! [`Lab::up`] builds it from a site file into a state directory (`lab.json`, the lab site
//! `site.yaml`, `ci-variables.json`, `creds/`, `hosts/<name>/`), [`Lab::health`] checks it and
//! [`Lab::down`] (or dropping the [`Lab`]) removes exactly what it created.

pub mod daemons;
pub mod error;
pub mod health;
pub mod host;
pub mod lab;
pub mod labsite;
pub mod process;
pub mod sims;
pub mod slots;
pub mod sshd;
pub mod state;
pub mod tls;
pub mod topology;

pub use error::LabError;
pub use lab::{Lab, LabOptions};
