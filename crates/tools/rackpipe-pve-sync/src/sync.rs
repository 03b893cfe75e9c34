//! plan, apply and facts: `analyse` reads the cluster against the site and plans, `guest`
//! applies one guest, `facts` reads what the guests are; this module runs a whole plan or
//! apply.

mod analyse;
mod facts;
mod guest;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use rackpipe_model::Site;
use rackpipe_model::documents::{Action, ApplyResult, Change, ChangeCounts, Plan};
use rackpipe_proxmox::serial::KeyedLocks;
use rackpipe_proxmox::{Client, GuestConfig, GuestRef, Params};
use serde_json::json;
use tokio::sync::Mutex;

use self::analyse::{analyse, changes};
use self::facts::{fact, facts_value};
pub use self::facts::{facts, facts_document, with_site};
use self::guest::{Run, destroy};
use crate::desired::SecretSource;
use crate::observe::match_guest;
use crate::{Error, TOOL};

/// How plan and apply run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight at most (config reads; guests applied in parallel).
    pub concurrency: usize,
    /// Delete guests that carry the ownership tag ([`crate::OWNER_TAG`]) and are no longer in
    /// the site (never protected ones, never guests without the tag).
    pub allow_destroy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 8,
            allow_destroy: false,
        }
    }
}

pub use rackpipe_model::facts::{GuestFact, NicFact};

/// Outcome of one guest's apply.
type GuestResult = Result<(Change, GuestRef, GuestConfig), Error>;

/// Plans: one inventory call, config reads for existing guests, a normalised diff.
///
/// # Errors
/// Bad site references, refused changes (shrinks), API failures.
pub async fn plan(
    site: &Site,
    client: &Client,
    opts: &Options,
    secrets: &dyn SecretSource,
) -> Result<Plan, Error> {
    let a = analyse(site, client, opts, secrets).await?;
    let mut plan = Plan::new(
        TOOL,
        site.metadata.name.as_str(),
        a.desired_digest.clone(),
        a.observed_digest.clone(),
        changes(&a),
    );
    plan.unmanaged.clone_from(&a.unmanaged);
    Ok(plan)
}

/// Applies: re-plans (refusing a stale `expected` plan), then pools, template downloads,
/// guests in parallel (bounded; clones serialised per template and node), and deletions
/// of unmanaged, unprotected guests only with `allow_destroy`.
///
/// # Errors
/// A stale plan, bad site references, refused changes, API or task failures (after every
/// independent guest was attempted).
#[allow(clippy::too_many_lines)]
pub async fn apply(
    site: &Site,
    client: &Client,
    opts: &Options,
    secrets: &dyn SecretSource,
    expected: Option<&Plan>,
) -> Result<ApplyResult, Error> {
    let a = analyse(site, client, opts, secrets).await?;
    rackpipe_model::documents::check_digests(
        expected,
        &a.desired_digest,
        &a.observed_digest,
        "the Proxmox cluster",
    )?;
    let mut applied = Vec::new();
    let planned = changes(&a);
    for (p, comment) in &a.pools {
        let params = Params::new()
            .with("poolid", p)
            .opt("comment", Some(comment).filter(|c| !c.is_empty()));
        client
            .post("/pools", &params)
            .await
            .map_err(|e| Error::api(format!("pool {p}"), e))?;
        if let Some(c) = planned.iter().find(|c| c.resource == format!("pool/{p}")) {
            applied.push(c.clone());
        }
    }
    let downloads = a.downloads.iter().map(|&i| {
        let t = &a.desired.templates[i];
        async move {
            let mut params = Params::new()
                .with("url", &t.url)
                .with("content", &t.content)
                .with("filename", &t.file_name);
            if let Some((sum, algo)) = &t.checksum {
                params.push("checksum", sum);
                params.push("checksum-algorithm", algo);
            }
            let upid = client
                .download_url(&t.node, &t.storage, &params)
                .await
                .map_err(|e| {
                    Error::api(format!("proxmox.templates[{}] ({})", t.index, t.volid), e)
                })?;
            client.wait_task(&upid).await.map_err(|e| {
                Error::api(format!("proxmox.templates[{}] ({})", t.index, t.volid), e)
            })?;
            Ok::<_, Error>(t.volid.clone())
        }
    });
    for res in futures_util::future::join_all(downloads).await {
        let volid = res?;
        if let Some(c) = planned
            .iter()
            .find(|c| c.resource == format!("template/{volid}"))
        {
            applied.push(c.clone());
        }
    }
    let run = Arc::new(Run {
        client,
        observed: &a.observed,
        clone_locks: KeyedLocks::new(),
        vmids: Mutex::new(BTreeSet::new()),
    });
    let taken: BTreeSet<u32> = a
        .desired
        .guests
        .iter()
        .filter_map(|g| g.vmid)
        .chain(a.observed.guests.keys().copied())
        .collect();
    let touched: BTreeSet<usize> = a.guests.iter().map(|(i, _)| *i).collect();
    let mut guests = stream::iter(a.guests.iter())
        .map(|(i, work)| {
            let run = Arc::clone(&run);
            let g = &a.desired.guests[*i];
            let taken = &taken;
            async move { (*i, run.guest(g, work, taken).await) }
        })
        .buffer_unordered(opts.concurrency.max(1));
    // Progress (rackpipe_cli::progress): guests done of those to create or change.
    let total = a.guests.len() as u64;
    if total > 0 {
        tracing::info!(target: "progress", step = "guests", done = 0u64, total);
    }
    let mut results: Vec<(usize, GuestResult)> = Vec::new();
    while let Some(result) = guests.next().await {
        results.push(result);
        tracing::info!(target: "progress", step = "guests", done = results.len() as u64, total);
    }
    let mut errors = Vec::new();
    let mut facts_by_index: BTreeMap<usize, GuestFact> = BTreeMap::new();
    let mut sorted = results;
    sorted.sort_by_key(|(i, _)| *i);
    for (i, res) in sorted {
        match res {
            Ok((change, gref, config)) => {
                applied.push(change);
                let g = &a.desired.guests[i];
                facts_by_index.insert(i, fact(Some(g), &g.name, &gref, &config));
            }
            Err(e) => errors.push(e),
        }
    }
    for (i, g) in a.desired.guests.iter().enumerate() {
        if touched.contains(&i) {
            continue;
        }
        if let Ok(Some(r)) = match_guest(&a.observed, g)
            && let (Some(gref), Some(vmid)) = (r.guest_ref(), r.vmid)
            && let Some(config) = a.observed.configs.get(&vmid)
        {
            facts_by_index.insert(i, fact(Some(g), &g.name, &gref, config));
        }
    }
    if opts.allow_destroy {
        for gref in &a.deletes {
            match destroy(client, gref, &a.observed).await {
                Ok(()) => applied.push(Change {
                    action: Action::Delete,
                    target: format!("{}/{}", gref.node, gref.vmid),
                    resource: format!(
                        "guest/{}",
                        a.observed
                            .guests
                            .get(&gref.vmid)
                            .and_then(|r| r.name.clone())
                            .unwrap_or_default()
                    ),
                    before: Some(json!({"vmid": gref.vmid, "kind": gref.kind})),
                    after: None,
                    diff: None,
                    commands: vec![format!("DELETE {} purge=1", gref.path())],
                }),
                Err(e) => errors.push(Error::api(
                    format!("{} {} on {}", gref.kind, gref.vmid, gref.node),
                    e,
                )),
            }
        }
    } else if !a.deletes.is_empty() {
        tracing::warn!(
            count = a.deletes.len(),
            "unmanaged guests left alone (use --allow-destroy)"
        );
    }
    if !errors.is_empty() {
        let more = errors.len() - 1;
        let first = errors.swap_remove(0);
        return Err(if more == 0 {
            first
        } else {
            Error::Many {
                first: Box::new(first),
                more,
            }
        });
    }
    let facts: Vec<GuestFact> = facts_by_index.into_values().collect();
    Ok(ApplyResult {
        api_version: rackpipe_model::API_VERSION.to_owned(),
        kind: "ApplyResult".to_owned(),
        tool: TOOL.to_owned(),
        site: site.metadata.name.to_string(),
        summary: ChangeCounts::of(&applied),
        applied,
        facts: facts_value(&facts),
    })
}
