//! etcd backups for rackpipe's `etcd-backup`.
//!
//! - [`snapshot()`]: stream `Maintenance.Snapshot` from the first healthy member (mTLS, as kubeadm
//!   sets up) into the destination in one pass: SHA-256 and etcd's integrity trailer checked on
//!   the fly, optional zstd, temp file + fsync + atomic rename, a JSON [`Manifest`] beside it.
//! - [`snapshot_via_ssh()`]: the same snapshot for runners that cannot reach port 2379: over
//!   SSH (host keys verified, no trust on first use) `etcdctl snapshot save` runs on a master
//!   into a private temp directory, the file streams back through the same writer (same checks,
//!   same manifest), and the remote copy is always removed; masters are tried in order.
//! - [`verify()`]: our SHA-256 and size, and etcd's trailer; truncation and corruption are
//!   named errors, never a crash.
//! - [`retention`]: keep-last N plus daily/weekly/monthly (GFS) as a plan; [`prune`] deletes
//!   only when asked and never the newest verified snapshot.
//! - [`restore()`]: a fresh data dir per member via `etcdctl snapshot restore`, into a temp dir
//!   renamed on success; [`drill()`]: restore into a throwaway etcd and compare with the manifest.
//! - [`list()`]: the snapshots at a destination with their manifests and verification state.
//!
//! Members and TLS files can be given explicitly ([`Target`]) or come from the site
//! ([`members_from_site`]). Errors are one line naming the endpoint or path;
//! [`Error::is_transient`] tells the CLI when to exit 75.

pub mod client;
pub mod documents;
pub mod drill;
pub mod error;
pub mod format;
pub mod list;
pub mod manifest;
pub mod restore;
pub mod retention;
pub mod snapshot;
pub mod ssh;
pub mod target;
pub mod tool;
pub mod verify;

pub use client::connect;
pub use documents::{RestoreResult, SnapshotList};
pub use drill::{DrillOptions, DrillReport, drill};
pub use error::{Error, Result};
pub use list::{
    Entry, PrunePlan, State, VerifyAll, latest_verified, list, newest, newest_verified, prune,
    retention_of,
};
pub use manifest::{Compression, Manifest};
pub use rackpipe_model::documents::{Document, Kind};
pub use restore::{RestoreMember, RestorePlan, restore, restore_for_site, restore_member};
pub use snapshot::{Snapshot, SnapshotOptions, snapshot};
pub use ssh::{SshMember, SshTarget, snapshot_via_ssh};
pub use target::{
    Member, SshOptions, Target, TlsFiles, TlsOverrides, grpc_target, members_from_site,
    split_host_port, ssh_target,
};
pub use verify::{Verified, verify};
