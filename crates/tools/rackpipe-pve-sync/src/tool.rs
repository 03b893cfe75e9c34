//! pve-sync on the shared driver: its flags, its own verb (`facts`) and its [`Tool`] impl
//! ([`PveSync`]), which `bins/pve-sync` runs with [`rackpipe_cli::driver::run`].

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rackpipe_cli::driver::{Context, NoArgs, Secrets, Tool};
use rackpipe_cli::flags::ApiArgs;
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, SiteArg};
use rackpipe_model::documents::Plan;
use rackpipe_model::load::LoadedSite;
use rackpipe_model::router::TlsTrust;
use rackpipe_model::types::SecretRef;
use rackpipe_model::{Diagnostic, Site};
use rackpipe_proxmox::{ApiToken, Client, ClientOptions, Fingerprint, TlsMode};
use rackpipe_tls::transport::{self, PlainHttp};

use crate::{EnvFileSecrets, Error, Options, SecretSource, TOKEN_FIELD};

/// How to reach the cluster.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    #[command(flatten)]
    api: ApiArgs<30>,
    /// Requests in flight at most.
    #[arg(long, value_name = "N", alias = "concurrency", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
}

/// pve-sync's own verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Print the site's guests as they are: VMID, node, NICs with MACs and addresses.
    Facts {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// How to reach the cluster.
        #[command(flatten)]
        conn: Conn,
    },
    /// Print a site whose `proxmox` section describes the cluster (plan of it: zero
    /// changes); the report (secret references, guests not fully imported) on stderr.
    Import(crate::import::ImportArgs),
}

/// A client for the cluster, how hard to drive it, and the run's secrets (the token and the
/// guests' SSH keys, resolved at once by the driver).
pub struct Cluster {
    client: Client,
    parallel: usize,
    secrets: Secrets,
}

impl Cluster {
    fn options(&self, allow_destroy: bool) -> Options {
        Options {
            concurrency: self.parallel,
            allow_destroy,
        }
    }

    async fn plan(&self, site: &Site, allow_destroy: bool) -> Result<Plan, CliError> {
        let opts = self.options(allow_destroy);
        crate::plan(site, &self.client, &opts, &self.secrets)
            .await
            .map_err(|e| tool_error(&e))
    }
}

/// pve-sync as the shared driver runs it.
#[derive(Debug)]
pub struct PveSync;

impl Tool for PveSync {
    const NAME: &'static str = crate::TOOL;
    const ABOUT: &'static str =
        "Keep the Proxmox cluster's guests in line with the site: plan, apply, facts.";
    const PLAN_ABOUT: &'static str = "Compare the site's guests with the cluster (one inventory call, config reads only for guests that exist) and print the changes.";
    const APPLY_ABOUT: &'static str = "Make the changes (pools, templates, guests, power, HA; every site guest gets the `rackpipe` ownership tag); with --allow-destroy, deletes unprotected guests that carry the tag and are gone from the site, never a guest without it. Prints the result with the site and the guests' facts embedded, for `pve-sync apply | ros-render ...`.";
    type Conn = Conn;
    type PlanFlags = NoArgs;
    type ApplyFlags = NoArgs;
    type Verb = Verb;
    type Target = Cluster;
    type Applied = serde_json::Value;

    fn check(site: &Site) -> Vec<Diagnostic> {
        crate::check(site)
    }

    /// The API token and every guest's SSH keys: one resolution, so a missing token and
    /// missing keys are all named in one run.
    fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
        site.proxmox
            .as_ref()
            .map(crate::secret_refs)
            .unwrap_or_default()
    }

    /// `vault:` references read from the environment variable `KEY` when Vault is not
    /// configured (pve-sync's earlier behaviour, [`EnvFileSecrets`]).
    fn secret_source() -> &'static dyn SecretSource {
        &EnvFileSecrets
    }

    async fn connect_with(
        site: &LoadedSite,
        conn: &Conn,
        secrets: Secrets,
    ) -> Result<Cluster, CliError> {
        Ok(Cluster {
            client: client(&site.site, conn, &secrets)?,
            parallel: usize::from(conn.parallel),
            secrets,
        })
    }

    async fn plan(site: &LoadedSite, cluster: &Cluster, _: &NoArgs) -> Result<Plan, CliError> {
        cluster.plan(&site.site, false).await
    }

    async fn plan_for_apply(
        site: &LoadedSite,
        cluster: &Cluster,
        _: &NoArgs,
        args: &ApplyArgs,
    ) -> Result<Plan, CliError> {
        cluster.plan(&site.site, args.allow_destroy).await
    }

    async fn apply(
        site: &LoadedSite,
        cluster: &Cluster,
        _: &NoArgs,
        args: &ApplyArgs,
        expected: Option<Plan>,
    ) -> Result<serde_json::Value, CliError> {
        let site = &site.site;
        let opts = cluster.options(args.allow_destroy);
        let result = crate::apply(
            site,
            &cluster.client,
            &opts,
            &cluster.secrets,
            expected.as_ref(),
        )
        .await
        .map_err(|e| tool_error(&e))?;
        Ok(crate::with_site(&result, site))
    }

    async fn verb(verb: &Verb, ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
        let (site, conn) = match verb {
            Verb::Facts { site, conn } => (site, conn),
            Verb::Import(args) => return crate::import::run(args, ctx).await,
        };
        let loaded = ctx.load(site)?;
        let cluster = Self::connect(&loaded, conn).await?;
        let site = &loaded.site;
        let facts = crate::facts(
            site,
            &cluster.client,
            &cluster.options(false),
            &cluster.secrets,
        )
        .await
        .map_err(|e| tool_error(&e))?;
        ctx.emit(&crate::facts_document(site, &facts))?;
        Ok(ExitStatus::Success)
    }
}

impl Conn {
    /// `--url`, when given.
    pub(crate) fn url(&self) -> Option<&str> {
        self.api.url.url.as_deref()
    }

    /// `--parallel`.
    pub(crate) fn parallel(&self) -> usize {
        usize::from(self.parallel)
    }
}

/// The API client for `--url` without a site (`import`): the trust from the flags, the token
/// resolved into `secrets` under [`TOKEN_FIELD`].
pub(crate) fn client_for_url(conn: &Conn, secrets: &Secrets) -> Result<Client, CliError> {
    let url = conn
        .api
        .url
        .url
        .as_deref()
        .ok_or_else(|| CliError::usage("--url: required"))?
        .trim_end_matches('/')
        .to_owned();
    client_at(url, None, conn, secrets)
}

fn tool_error(e: &Error) -> CliError {
    CliError::from_tool(e, e.is_transient())
}

/// The API client for `conn`: `--url` or the site's API node, the trust (`--ca-file`, a pinned
/// fingerprint from the flag or the site, the site's CA file, else the system roots) and the
/// token the driver resolved.
fn client(site: &Site, conn: &Conn, secrets: &Secrets) -> Result<Client, CliError> {
    let pve = site
        .proxmox
        .as_ref()
        .ok_or_else(|| tool_error(&Error::NoProxmox))?;
    let url = match &conn.api.url.url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let node = pve
                .nodes
                .iter()
                .find(|n| n.name == pve.api.node)
                .ok_or_else(|| {
                    CliError::error(format!(
                        "proxmox.api.node: unknown node \"{}\"",
                        pve.api.node
                    ))
                })?;
            match node.address {
                IpAddr::V4(a) => format!("https://{a}:{}", pve.api.port),
                IpAddr::V6(a) => format!("https://[{a}]:{}", pve.api.port),
            }
        }
    };
    client_at(url, pve.api.tls.as_ref(), conn, secrets)
}

/// The API client for `url`: plain HTTP only to loopback with `--insecure-http`, the trust
/// (`--ca-file`, a pinned fingerprint from the flag or `site_tls`, `site_tls`'s CA file, else
/// the system roots) and the token the driver resolved.
fn client_at(
    url: String,
    site_tls: Option<&TlsTrust>,
    conn: &Conn,
    secrets: &Secrets,
) -> Result<Client, CliError> {
    let insecure_http = conn.api.tls.insecure_http;
    let plain = if insecure_http {
        PlainHttp::Loopback
    } else {
        PlainHttp::Refuse
    };
    transport::check_url(&url, plain).map_err(|e| {
        let hint = match (insecure_http, &e) {
            (false, transport::UrlError::PlainHttpNever { .. })
                if transport::is_loopback_http(&url) =>
            {
                " (--insecure-http allows it to a loopback simulator)"
            }
            _ => "",
        };
        CliError::usage(format!("--url: {e}{hint}"))
    })?;
    let tls = if let Some(ca) = &conn.api.tls.ca_file {
        TlsMode::CaFile(ca.clone())
    } else if let Some(fp) = conn.api.tls.fingerprint {
        TlsMode::Pinned(fp)
    } else {
        match site_tls {
            Some(t) if t.fingerprint_sha256.is_some() => {
                let fp = t.fingerprint_sha256.as_deref().unwrap_or_default();
                TlsMode::Pinned(Fingerprint::parse(fp).map_err(|e| {
                    CliError::error(format!("proxmox.api.tls.fingerprint_sha256: {e}"))
                })?)
            }
            Some(t) if t.ca_file.is_some() && conn.api.url.url.is_none() => {
                TlsMode::CaFile(PathBuf::from(t.ca_file.clone().unwrap_or_default()))
            }
            _ => TlsMode::System,
        }
    };
    let token = ApiToken::parse(secrets.require(TOKEN_FIELD)?.expose())
        .map_err(|e| CliError::error(format!("{TOKEN_FIELD}: {e}")))?;
    let mut opts = ClientOptions::new(&url, token);
    opts.tls = tls;
    opts.request_timeout = conn.api.timeout.duration();
    Client::new(opts).map_err(|e| CliError::error(e.to_string()))
}
