//! Async client for the Proxmox VE API, as `pve-sync` needs it.
//!
//! - [`ApiToken`]: `USER@REALM!TOKENID=SECRET` from a string, file or environment
//!   variable; the secret never appears in `Debug`, `Display` or logs.
//! - [`TlsMode`]: verify against a CA file, or pin the SHA-256 fingerprint of the
//!   server's leaf certificate (handshake signatures are still verified).
//! - [`Client`]: typed errors ([`Error::is_transient`]), one-call inventory via
//!   `/cluster/resources?type=vm`, bounded-concurrency config reads, task polling with a
//!   deadline and the log tail on failure ([`Client::wait_task`]).
//! - [`serial`]: per-key serialisation (one clone at a time per template and per node)
//!   and bounded retries of the errors that prove nothing was done (locks).
//! - [`normalize`]: Proxmox's own normalisation (property strings, sizes, tags,
//!   booleans, MACs) so a converged cluster diffs to zero changes.

mod client;
mod error;
pub mod normalize;
pub mod serial;
mod tls;
mod token;
mod types;

pub use client::{Client, ClientOptions, Params};
pub use error::Error;
pub use tls::{Fingerprint, TlsMode};
pub use token::ApiToken;
pub use types::{
    ClusterResource, GuestConfig, GuestRef, GuestType, PendingItem, StorageVolume, TaskStatus, Upid,
};
