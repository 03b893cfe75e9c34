//! The verbs of `vault-bootstrap` as library calls: from the site and typed options to the
//! document the binary prints. The binary only turns its flags into these options.

use std::path::PathBuf;
use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_model::documents::{ApplyResult, Document, Plan};

use crate::auth::Credentials;
use crate::client::Client;
use crate::cluster::{
    self, Cluster, InitOptions, InitReport, StatusReport, UnsealOptions, UnsealReport,
    keys_from_env, keys_from_file,
};
use crate::connect::{Connection, vault_of};
use crate::desired::{Desired, desired};
use crate::documents::document;
use crate::error::{Error, Result};
use crate::pgp::pgp_key;
use crate::plan::{self, ApplyOptions, PlanOptions};

/// What `init` is given besides the site.
#[derive(Debug, Clone, Default)]
pub struct InitRequest {
    /// PGP public key files, one per share; empty: the site's `vault.seal.pgp_keys`.
    pub pgp_keys: Vec<PathBuf>,
    /// PGP public key file the root token is encrypted to.
    pub root_token_pgp_key: Option<PathBuf>,
    /// New 0600 file for whatever is not PGP-encrypted (refused if it exists).
    pub keys_file: Option<PathBuf>,
}

/// `init`: the cluster initialised on its first node, the report in its envelope.
///
/// # Errors
/// [`Error::File`] for an existing keys file or an unusable PGP key (before any request),
/// then as [`cluster::init`].
pub async fn init(
    site: &Site,
    connection: &Connection,
    request: &InitRequest,
) -> Result<Document<InitReport>> {
    let vault = vault_of(site)?;
    if let Some(path) = &request.keys_file
        && std::fs::symlink_metadata(path).is_ok()
    {
        return Err(Error::File {
            path: path.clone(),
            reason: "already exists; refusing to overwrite (unseal keys may be in it)".to_owned(),
        });
    }
    let pgp_files: Vec<PathBuf> = if request.pgp_keys.is_empty() {
        vault.seal.pgp_keys.iter().map(PathBuf::from).collect()
    } else {
        request.pgp_keys.clone()
    };
    let options = InitOptions {
        shares: vault.seal.shares,
        threshold: vault.seal.threshold,
        pgp_keys: pgp_files
            .iter()
            .map(|p| pgp_key(p))
            .collect::<Result<_>>()?,
        root_token_pgp_key: request
            .root_token_pgp_key
            .as_deref()
            .map(pgp_key)
            .transpose()?,
        keys_file: request.keys_file.clone(),
    };
    let cluster = connection.cluster(site)?;
    let report = cluster::init(&cluster, &options).await?;
    Ok(document(site, report))
}

/// Where `unseal` reads the unseal keys from.
#[derive(Debug, Clone)]
pub enum UnsealKeys {
    /// The keys file `init` wrote, or one key per line.
    File(PathBuf),
    /// An environment variable (comma or whitespace separated).
    Env(String),
}

/// `unseal`: every sealed node unsealed (raft followers joined first), waiting up to `wait`.
///
/// # Errors
/// Unusable keys, then as [`cluster::unseal`].
pub async fn unseal(
    site: &Site,
    connection: &Connection,
    keys: &UnsealKeys,
    wait: Duration,
) -> Result<Document<UnsealReport>> {
    let keys = match keys {
        UnsealKeys::File(path) => keys_from_file(path),
        UnsealKeys::Env(var) => keys_from_env(var),
    }?;
    let cluster = connection.cluster(site)?;
    let options = UnsealOptions {
        leader_ca_pem: connection.read_ca()?,
        timeout: wait.max(Duration::from_secs(1)),
        ..Default::default()
    };
    let report = cluster::unseal(&cluster, &keys, &options).await?;
    Ok(document(site, report))
}

/// `status`: per-node health and, with credentials, the raft peers.
///
/// # Errors
/// Connection and credential errors.
pub async fn status(
    site: &Site,
    connection: &Connection,
    credentials: &Credentials,
) -> Result<Document<StatusReport>> {
    let cluster = connection.cluster(site)?;
    let token = if credentials.given() {
        let api = connection.api_client(site, &cluster).await?;
        credentials.token(site, &api).await?
    } else {
        None
    };
    let report = cluster::status(&cluster, token.as_ref()).await?;
    Ok(document(site, report))
}

/// What `plan` and `apply` work on: the site's desired state and the cluster's API, logged in.
#[derive(Debug)]
pub struct Session {
    want: Desired,
    cluster: Cluster,
    api: Client,
}

impl Session {
    /// Connects for `plan` and `apply`: refuses missing credentials (before any request),
    /// computes the desired state, picks the API address ([`Connection::api_client`]) and
    /// logs in.
    ///
    /// # Errors
    /// [`Error::Usage`] without credentials, the site's errors, then connection, login and
    /// API errors.
    pub async fn open(
        site: &Site,
        connection: &Connection,
        credentials: &Credentials,
    ) -> Result<Self> {
        credentials.require()?;
        let want = desired(site)?;
        let cluster = connection.cluster(site)?;
        let api = connection.api_client(site, &cluster).await?;
        let api = credentials.authenticate(site, api).await?;
        Ok(Self { want, cluster, api })
    }

    /// `plan`: the site's mounts, PKI, policies and auth methods diffed against the cluster.
    ///
    /// # Errors
    /// API errors.
    pub async fn plan(&self, options: &PlanOptions) -> Result<Plan> {
        let plan = plan::plan(&self.api, &self.want, options).await?;
        // The plan counts its own reads; this adds finding the active node and logging in.
        tracing::info!(
            requests = self.cluster.http().requests(),
            "API requests of this command"
        );
        Ok(plan)
    }

    /// `apply`: the cluster made to match the site; with `expected` (a saved plan), refused
    /// unless its changes are still exactly what apply would do now ([`Plan::check_same`]).
    ///
    /// # Errors
    /// [`Error::StalePlan`], API errors, the first failed write.
    pub async fn apply(
        &self,
        options: &PlanOptions,
        expected: Option<Plan>,
    ) -> Result<ApplyResult> {
        if let Some(expected) = &expected {
            // Also the same changes: a plan made with other options (--allow-destroy) is refused.
            plan::plan(&self.api, &self.want, options)
                .await?
                .check_same(Some(expected), "the cluster")
                .map_err(Error::StalePlan)?;
        }
        let options = ApplyOptions {
            plan: options.clone(),
            expected,
        };
        plan::apply(&self.api, &self.want, &options).await
    }
}
