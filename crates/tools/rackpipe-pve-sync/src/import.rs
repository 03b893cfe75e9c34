//! `pve-sync import`: a site document whose `proxmox` section describes a running cluster, such
//! that `pve-sync plan` of it shows zero changes.
//!
//! The cluster is read the way `plan` reads it ([`crate::observe`]: one inventory call, then
//! every guest's config with bounded concurrency, HA resources when a guest is HA-managed),
//! plus the lists a site names: nodes, storages (`/cluster/resources?type=storage`), pools and
//! the container templates on the storages. Every guest becomes a `proxmox.guests` entry when
//! the model can hold it; the result is then checked the way it will be used: the site's
//! desired state ([`crate::desired`]) compared with the configs just read ([`crate::guest_ops`])
//! must be empty, and the YAML must read back as the same, valid site. A guest that fails the
//! check, or that the model cannot hold at all, is listed (report and a `#` comment), never
//! dropped silently; a guest with settings the model has no field for is imported with those
//! settings named as not imported.
//!
//! Secrets: the API token and the guests' SSH keys are written as references (`env:...`)
//! listed in the report; a cloud-init password is never read into the site, only named.
//! Nothing is printed unless the whole import succeeded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;

use clap::Args;
use rackpipe_cli::driver::{Context, Secrets};
use rackpipe_cli::{CliError, ExitStatus, ImportOutputArgs};
use rackpipe_model::Site;
use rackpipe_model::documents::{
    ImportCounts, ImportEntry, ImportReport, ImportStatus, SecretToStore,
};
use rackpipe_model::proxmox::{Content, Guest, GuestKind, PveApi, PveNode, Template};
use rackpipe_model::types::{Name, SecretRef};
use rackpipe_proxmox::Client;
use serde::Serialize;
use serde_json::json;

use crate::tool::Conn;
use crate::{EnvFileSecrets, Error, TOKEN_FIELD};

/// `pve-sync import`'s flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// How to reach the cluster (`--url` of a node's API is required).
    #[command(flatten)]
    pub conn: Conn,
    /// Where the API token comes from: a secret reference (`env:NAME`, `file:PATH`,
    /// `vault:MOUNT/PATH#KEY`), also written into the site as `proxmox.api.token`.
    #[arg(long, value_name = "REF", default_value = "env:PVE_TOKEN")]
    pub token: String,
    /// The site's `metadata.name` and `proxmox.cluster`.
    #[arg(long, value_name = "NAME", default_value = "imported")]
    pub name: String,
    /// The site's `metadata.domain`.
    #[arg(long, value_name = "DOMAIN", default_value = "example.invalid")]
    pub domain: String,
    /// How the references that stand for the guests' SSH keys are named: `env:PREFIX`
    /// gives `env:PREFIX_<GUEST>_<N>`.
    #[arg(long, value_name = "PREFIX", default_value = "env:PVE_SSH_KEY")]
    pub secret_prefix: String,
    /// Where the site and the report go (`--report FILE`, `--into SITE_FILE`).
    #[command(flatten)]
    pub output: ImportOutputArgs,
}

/// What the import is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The site's name (also the cluster's).
    pub name: String,
    /// The site's domain.
    pub domain: String,
    /// The API token reference written into the site.
    pub token: SecretRef,
    /// The address the API was reached at (the API node's address in the site).
    pub api_address: Option<IpAddr>,
    /// API port.
    pub api_port: u16,
    /// `env:PREFIX` for the SSH key references.
    pub secret_prefix: String,
    /// Config reads in flight at most.
    pub concurrency: usize,
}

/// A secret the import replaced by a reference, or named without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretEntry {
    /// The reference (written into the site, or to use when adding the setting).
    pub reference: String,
    /// The guest (`vm-a (qemu 301)`).
    pub guest: String,
    /// The config key (`sshkeys`, `cipassword`).
    pub property: String,
    /// Whether the reference is in the site (`false`: the model has no field for it).
    pub in_site: bool,
}

/// A guest that is not in the site, or is with settings left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImported {
    /// The guest (`vm-a (qemu 301)`).
    pub guest: String,
    /// Whether the guest is in the site (with `missing` left out) or not at all.
    pub in_site: bool,
    /// What is missing, and why.
    pub missing: Vec<String>,
}

/// Guests by where they went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Guests read (templates excluded).
    pub guests: usize,
    /// In the site, fully described.
    pub imported: usize,
    /// In the site, some settings not imported.
    pub partly: usize,
    /// Not in the site.
    pub not_imported: usize,
}

/// What the import did: printed on stderr, or written as JSON with `--report FILE`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The cluster's URL.
    pub source: String,
    /// Guests by destination.
    pub counts: Counts,
    /// Every secret reference the user must store (or would use).
    pub secrets: Vec<SecretEntry>,
    /// Choices the import made, one line each.
    pub choices: Vec<String>,
    /// Guests not (fully) imported.
    pub not_imported: Vec<NotImported>,
}

impl Report {
    /// The report as the one import document ([`ImportReport`], `--report FILE`) of the site
    /// named `site`: guests by destination, each guest not (fully) imported with what is
    /// missing, the secret references.
    #[must_use]
    pub fn document(&self, site: &str) -> ImportReport {
        let c = &self.counts;
        let mut d = ImportReport::new("pve-sync", site, &self.source, "guests", &["proxmox"]);
        d.counts = ImportCounts {
            total: c.guests,
            typed: c.imported,
            generic: 0,
            partly: c.partly,
            not_imported: c.not_imported,
        };
        d.entries = self
            .not_imported
            .iter()
            .map(|n| ImportEntry {
                status: if n.in_site {
                    ImportStatus::Partly
                } else {
                    ImportStatus::NotImported
                },
                what: n.guest.clone(),
                location: None,
                reasons: n.missing.clone(),
                count: None,
            })
            .collect();
        d.secrets = self
            .secrets
            .iter()
            .map(|e| SecretToStore {
                reference: e.reference.clone(),
                stands_for: format!("{} {}", e.guest, e.property),
                location: None,
                in_site: e.in_site,
            })
            .collect();
        d.choices.clone_from(&self.choices);
        // The import fails unless the plan of every imported guest is empty.
        d.plan_changes = Some(Vec::new());
        d
    }

    /// The report as lines for a person (stderr): [`ImportReport::human`].
    #[must_use]
    pub fn human(&self) -> String {
        self.document("").human()
    }
}

/// An imported site: the model, its YAML and this tool's report.
pub type Imported = rackpipe_model::documents::import::Imported<Report>;

mod check;
mod cluster;
mod guest;

use check::{ReadKeys, adoption, first_difference};
use cluster::{read, template_name};
use guest::{build_guest, label};

/// Imports the cluster `client` reaches.
///
/// # Errors
/// [`Error::Api`] when a read fails (nothing is returned then); [`Error::Site`] when the
/// imported site does not validate (a bug, reported rather than printed).
#[allow(clippy::too_many_lines)]
pub async fn import(client: &Client, options: &Options) -> Result<Imported, Error> {
    let read = read(client, options).await?;
    let mut report = Report {
        source: client.options().base_url.clone(),
        counts: Counts::default(),
        secrets: Vec::new(),
        choices: Vec::new(),
        not_imported: Vec::new(),
    };
    let mut comments: Vec<(String, String)> = Vec::new();
    let mut header = vec![format!(
        "Imported by pve-sync import from {}.",
        report.source
    )];
    // Templates: every container template on the storages.
    let mut templates: Vec<Template> = Vec::new();
    let mut used_names = BTreeSet::new();
    for (storage, node, file) in &read.templates {
        let mut name = template_name(file);
        if !used_names.insert(name.clone()) {
            name = template_name(&format!("{storage}-{file}"));
            if !used_names.insert(name.clone()) {
                continue;
            }
        }
        let (Ok(name), Ok(storage), Ok(node)) = (
            Name::from_str(&name),
            Name::from_str(storage),
            Name::from_str(node),
        ) else {
            continue;
        };
        comments.push((
            format!("proxmox.templates[{}].url", templates.len()),
            "Proxmox does not record where a template was downloaded from: set the real URL (and checksum)".to_owned(),
        ));
        templates.push(Template {
            name,
            storage,
            node,
            url: format!("https://templates.example.invalid/{file}"),
            file_name: file.clone(),
            content: Content::Vztmpl,
            checksum: None,
            checksum_algorithm: None,
        });
    }
    // Guests.
    let mut guests: Vec<Guest> = Vec::new();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let mut partial: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut labels = Vec::new();
    for (vmid, r) in &read.observed.guests {
        if r.template {
            continue;
        }
        report.counts.guests += 1;
        let name = r.name.clone().unwrap_or_else(|| vmid.to_string());
        let Some(config) = read.observed.configs.get(vmid) else {
            report.not_imported.push(NotImported {
                guest: label(r, &name),
                in_site: false,
                missing: vec!["its config was not read".to_owned()],
            });
            continue;
        };
        let sid = format!("{}:{vmid}", if r.kind == "lxc" { "ct" } else { "vm" });
        let ha = read.observed.ha.contains_key(&sid);
        match build_guest(r, config, &read, &templates, ha, options, guests.len()) {
            Ok(b) => {
                comments.extend(b.comments);
                report.secrets.extend(b.secrets);
                keys.extend(b.keys);
                if !b.missing.is_empty() {
                    partial.insert(guests.len(), b.missing);
                }
                labels.push(label(r, b.guest.name.as_str()));
                guests.push(b.guest);
            }
            Err(why) => {
                report.not_imported.push(NotImported {
                    guest: label(r, &name),
                    in_site: false,
                    missing: why,
                });
            }
        }
    }
    // Nodes: their bridges are those the guests use.
    let mut bridges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &guests {
        for n in &g.nics {
            bridges
                .entry(g.node.to_string())
                .or_default()
                .insert(n.bridge.to_string());
        }
    }
    let mut nodes = Vec::new();
    for (i, n) in read.nodes.iter().enumerate() {
        let Ok(name) = Name::from_str(n) else {
            continue;
        };
        let address = match (i, options.api_address) {
            (0, Some(a)) => a,
            _ => {
                comments.push((
                    format!("proxmox.nodes[{i}].address"),
                    "the import does not read node addresses: a placeholder, set the real one"
                        .to_owned(),
                ));
                IpAddr::from([192, 0, 2, u8::try_from(i + 1).unwrap_or(254)])
            }
        };
        let node_bridges: Vec<Name> = bridges
            .get(n)
            .map(|b| b.iter().filter_map(|b| Name::from_str(b).ok()).collect())
            .filter(|b: &Vec<Name>| !b.is_empty())
            .unwrap_or_else(|| vec![Name::from_str("vmbr0").unwrap_or_else(|_| unreachable!())]);
        comments.push((
            format!("proxmox.nodes[{i}].bridges"),
            "the bridges its guests use (the import does not read the node's network)".to_owned(),
        ));
        nodes.push(PveNode {
            name,
            address,
            bridges: node_bridges,
        });
    }
    let Some(api_node) = nodes.first().map(|n| n.name.clone()) else {
        return Err(Error::Site {
            field: "proxmox.nodes".to_owned(),
            message: "the cluster lists no node (/nodes)".to_owned(),
        });
    };
    comments.push((
        "proxmox.api.node".to_owned(),
        "the node the import reached, at the address of --url".to_owned(),
    ));
    let site_v = json!({
        "apiVersion": "rackpipe/v1",
        "kind": "Site",
        "metadata": {"name": options.name, "domain": options.domain},
    });
    let mut site: Site = serde_json::from_value(site_v).map_err(|e| Error::Site {
        field: "metadata".to_owned(),
        message: e.to_string(),
    })?;
    let cluster = Name::from_str(&options.name).map_err(|e| Error::Site {
        field: "proxmox.cluster".to_owned(),
        message: e,
    })?;
    site.proxmox = Some(rackpipe_model::proxmox::Proxmox {
        cluster,
        api: PveApi {
            node: api_node,
            port: options.api_port,
            token: options.token.clone(),
            tls: None,
        },
        nodes,
        storages: read.storages.clone(),
        pools: read.pools.clone(),
        templates,
        guests,
    });
    // The check: the plan of every imported guest against the config just read is empty.
    let keys = ReadKeys(keys);
    let mut notes: Vec<(usize, String)> = Vec::new();
    let mut check = |site: &Site| -> Result<Vec<(usize, String)>, Error> {
        notes.clear();
        let pve = site.proxmox.as_ref().unwrap_or_else(|| unreachable!());
        let desired = crate::desired(pve, &keys)?;
        let mut bad = Vec::new();
        for g in &desired.guests {
            let vmid = g.vmid.unwrap_or_default();
            let (Some(r), Some(c)) = (
                read.observed.guests.get(&vmid),
                read.observed.configs.get(&vmid),
            ) else {
                continue;
            };
            match crate::guest_ops(g, r, c, &read.observed.ha) {
                Ok(mut ops) => {
                    let adopted = adoption(&mut ops);
                    if !adopted.is_empty() {
                        notes.push((g.index, adopted));
                    }
                    if !ops.is_empty() {
                        let mut what: Vec<String> = ops.set.keys().cloned().collect();
                        what.extend(ops.delete.iter().map(|k| format!("delete {k}")));
                        what.extend(ops.resize.keys().map(|k| format!("resize {k}")));
                        if ops.pool.is_some() {
                            what.push("pool".to_owned());
                        }
                        if ops.ha.is_some() {
                            what.push("HA".to_owned());
                        }
                        if ops.power.is_some() {
                            what.push("power".to_owned());
                        }
                        bad.push((
                            g.index,
                            format!(
                                "plan would change {} (the model cannot say it as it is)",
                                what.join(", ")
                            ),
                        ));
                    }
                }
                Err(e) => bad.push((g.index, e.to_string())),
            }
        }
        Ok(bad)
    };
    let bad = check(&site)?;
    if !bad.is_empty() {
        let pve = site.proxmox.as_mut().unwrap_or_else(|| unreachable!());
        let drop: BTreeSet<usize> = bad.iter().map(|(i, _)| *i).collect();
        for (i, why) in bad {
            report.not_imported.push(NotImported {
                guest: labels[i].clone(),
                in_site: false,
                missing: vec![why],
            });
        }
        let mut kept = Vec::new();
        let mut moved: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, g) in std::mem::take(&mut pve.guests).into_iter().enumerate() {
            if !drop.contains(&i) {
                moved.insert(i, kept.len());
                kept.push(g);
            }
        }
        pve.guests = kept;
        partial = partial
            .into_iter()
            .filter_map(|(i, m)| moved.get(&i).map(|&j| (j, m)))
            .collect();
        let renumber = |path: &str| -> Option<String> {
            let rest = path.strip_prefix("proxmox.guests[")?;
            let (n, tail) = rest.split_once(']')?;
            let j = moved.get(&n.parse::<usize>().ok()?)?;
            Some(format!("proxmox.guests[{j}]{tail}"))
        };
        comments = comments
            .into_iter()
            .filter_map(|(p, c)| {
                if p.starts_with("proxmox.guests[") {
                    renumber(&p).map(|p| (p, c))
                } else {
                    Some((p, c))
                }
            })
            .collect();
        report.secrets.retain(|s| {
            !report
                .not_imported
                .iter()
                .any(|n| n.guest == s.guest && !n.in_site)
        });
        let again = check(&site)?;
        if let Some((_, why)) = again.first() {
            return Err(Error::Site {
                field: "proxmox.guests".to_owned(),
                message: format!("the imported site still plans changes: {why}"),
            });
        }
    }
    for (i, note) in notes {
        let g = &site
            .proxmox
            .as_ref()
            .unwrap_or_else(|| unreachable!())
            .guests[i];
        report.choices.push(format!(
            "{} (vmid {}): adopting it, the first apply {note}",
            g.name,
            g.vmid.unwrap_or_default()
        ));
        comments.push((
            format!("proxmox.guests[{i}]"),
            format!("the first apply {note}"),
        ));
    }
    let pve = site.proxmox.as_ref().unwrap_or_else(|| unreachable!());
    for (i, missing) in &partial {
        let g = &pve.guests[*i];
        let guest = format!(
            "{} ({} {})",
            g.name,
            if g.kind == GuestKind::Lxc {
                "lxc"
            } else {
                "qemu"
            },
            g.vmid.unwrap_or_default()
        );
        comments.push((
            format!("proxmox.guests[{i}]"),
            format!("not imported: {}", missing.join("; ")),
        ));
        report.not_imported.push(NotImported {
            guest,
            in_site: true,
            missing: missing.clone(),
        });
    }
    report.counts.partly = partial.len();
    report.counts.imported = pve.guests.len() - partial.len();
    report.counts.not_imported = report.counts.guests - pve.guests.len();
    for n in report.not_imported.iter().filter(|n| !n.in_site) {
        header.push(format!(
            "not imported: {}: {}",
            n.guest,
            n.missing.join("; ")
        ));
    }
    let adoptions = std::mem::take(&mut report.choices);
    report.choices = comments
        .iter()
        .filter(|(_, c)| !c.starts_with("not imported") && !c.starts_with("the first apply"))
        .map(|(p, c)| format!("{p}: {c}"))
        .chain(adoptions)
        .collect();
    let yaml = rackpipe_model::site_yaml::write(&site, &comments, &header);
    let loaded =
        rackpipe_model::load::load_and_validate("import", yaml.as_bytes()).map_err(|e| {
            Error::Site {
                field: "import".to_owned(),
                message: format!("the imported site does not validate: {e}"),
            }
        })?;
    if loaded.site != site {
        let path = first_difference(
            &serde_json::to_value(&site).unwrap_or_default(),
            &serde_json::to_value(&loaded.site).unwrap_or_default(),
            String::new(),
        )
        .unwrap_or_default();
        return Err(Error::Site {
            field: format!("import{path}"),
            message: "the YAML written does not read back as the imported site".to_owned(),
        });
    }
    if let Some(d) = crate::check(&site).first() {
        return Err(Error::Site {
            field: "import".to_owned(),
            message: format!("the imported site does not validate: {d}"),
        });
    }
    Ok(Imported { site, yaml, report })
}

fn address_of(url: &str) -> (Option<IpAddr>, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or_default();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, p.parse::<u16>().unwrap_or(8006))
        }
        _ => (host_port, 8006),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (IpAddr::from_str(host).ok(), port)
}

/// Runs `import`: the site on stdout (YAML), the report on stderr or in `--report FILE`.
/// Nothing is printed on stdout unless the whole import succeeded.
///
/// # Errors
/// Usage errors, an unresolvable token, a failing read, an unwritable report.
pub async fn run(args: &ImportArgs, _ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
    let url = args
        .conn
        .url()
        .ok_or_else(|| CliError::usage("import needs --url URL of a node's API"))?
        .to_owned();
    let token =
        SecretRef::from_str(&args.token).map_err(|e| CliError::usage(format!("--token: {e}")))?;
    if !args.secret_prefix.starts_with("env:") {
        return Err(CliError::usage(
            "--secret-prefix: expected env:NAME (references env:NAME_<GUEST>_<N>)",
        ));
    }
    let secrets = Secrets::resolve(&EnvFileSecrets, [(&token, TOKEN_FIELD.to_owned())])?;
    let (api_address, api_port) = address_of(&url);
    let options = Options {
        name: args.name.clone(),
        domain: args.domain.clone(),
        token,
        api_address,
        api_port,
        secret_prefix: args.secret_prefix.clone(),
        concurrency: args.conn.parallel(),
    };
    let client = crate::tool::client_for_url(&args.conn, &secrets)?;
    let imported = import(&client, &options)
        .await
        .map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    rackpipe_cli::emit_import(
        &imported
            .report
            .document(imported.site.metadata.name.as_str()),
        &imported.yaml,
        &args.output,
    )?;
    Ok(ExitStatus::Success)
}
