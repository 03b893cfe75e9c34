//! Reading the cluster-wide lists a site names: nodes, storages, pools and container templates.

use std::collections::BTreeMap;
use std::str::FromStr;

use rackpipe_model::proxmox::{Content, PvePool, Storage};
use rackpipe_model::types::Name;
use rackpipe_proxmox::Client;
use serde_json::{Value, json};

use super::Options;
use crate::Error;
use crate::desired::Desired;
use crate::observe::Observed;

pub(crate) struct Read {
    pub(crate) observed: Observed,
    pub(crate) nodes: Vec<String>,
    pub(crate) storages: Vec<Storage>,
    pub(crate) pools: Vec<PvePool>,
    /// (storage, node, file name) of every container template.
    pub(crate) templates: Vec<(String, String, String)>,
}

fn content_of(name: &str) -> Option<Content> {
    serde_json::from_value(json!(name)).ok()
}

pub(crate) async fn read(client: &Client, options: &Options) -> Result<Read, Error> {
    let none = Desired {
        guests: Vec::new(),
        templates: Vec::new(),
        pools: BTreeMap::new(),
    };
    let observed = crate::observe(client, &none, options.concurrency).await?;
    let nodes_v = client
        .get("/nodes", &rackpipe_proxmox::Params::new())
        .await
        .map_err(|e| Error::api("nodes (/nodes)", e))?;
    let mut nodes: Vec<String> = nodes_v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("node")?.as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    let st = client
        .get(
            "/cluster/resources",
            &rackpipe_proxmox::Params::new().with("type", "storage"),
        )
        .await
        .map_err(|e| Error::api("storages (/cluster/resources?type=storage)", e))?;
    let mut storages: BTreeMap<String, Storage> = BTreeMap::new();
    let mut storage_nodes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in st.as_array().into_iter().flatten() {
        let (Some(id), Some(node)) = (
            s.get("storage").and_then(Value::as_str),
            s.get("node").and_then(Value::as_str),
        ) else {
            continue;
        };
        storage_nodes
            .entry(id.to_owned())
            .or_default()
            .push(node.to_owned());
        let Ok(name) = Name::from_str(id) else {
            continue;
        };
        let content: Vec<Content> = s
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split(',')
            .filter_map(content_of)
            .collect();
        if content.is_empty() {
            continue;
        }
        storages.entry(id.to_owned()).or_insert(Storage {
            name,
            kind: s
                .get("plugintype")
                .and_then(Value::as_str)
                .unwrap_or("dir")
                .to_owned(),
            content,
            shared: s.get("shared").and_then(Value::as_i64) == Some(1),
            export: None,
        });
    }
    let pools_v = client
        .pools()
        .await
        .map_err(|e| Error::api("pools (/pools)", e))?;
    let pools = pools_v
        .iter()
        .filter_map(|p| {
            Some(PvePool {
                name: Name::from_str(p.get("poolid")?.as_str()?).ok()?,
                comment: p
                    .get("comment")
                    .and_then(Value::as_str)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            })
        })
        .collect();
    let mut templates = Vec::new();
    for s in storages.values() {
        if !s.content.contains(&Content::Vztmpl) {
            continue;
        }
        let on: Vec<String> = storage_nodes
            .get(s.name.as_str())
            .cloned()
            .unwrap_or_default();
        let on = if s.shared {
            on.into_iter().take(1).collect()
        } else {
            on
        };
        for node in on {
            let vols = client
                .storage_content(&node, s.name.as_str(), Some("vztmpl"))
                .await
                .map_err(|e| Error::api(format!("storage {} on node {node}", s.name), e))?;
            for v in vols {
                if let Some((_, file)) = v.volid.split_once(":vztmpl/") {
                    templates.push((s.name.to_string(), node.clone(), file.to_owned()));
                }
            }
        }
    }
    Ok(Read {
        observed,
        nodes,
        storages: storages.into_values().collect(),
        pools,
        templates,
    })
}

/// A template's site name from its file name (`debian-12-standard_12.7-1_amd64.tar.zst` →
/// `debian-12-standard_12.7-1_amd64`).
pub(crate) fn template_name(file: &str) -> String {
    let stem = file
        .strip_suffix(".tar.zst")
        .or_else(|| file.strip_suffix(".tar.gz"))
        .or_else(|| file.strip_suffix(".tar.xz"))
        .unwrap_or(file);
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        s.insert(0, 't');
        s.truncate(63);
    }
    s
}
