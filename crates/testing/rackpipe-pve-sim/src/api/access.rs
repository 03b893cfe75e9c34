//! `/access/permissions`: the token's effective privileges.

use std::collections::BTreeMap;

use serde_json::json;

use super::{ApiResult, Ctx, has_priv};

/// Privileges a full-access token reports (PVE's Administrator role, abridged).
const ALL_PRIVILEGES: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Audit",
    "SDN.Use",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.PowerMgmt",
];

pub(super) fn permissions(c: &Ctx) -> ApiResult {
    let grants: Vec<(String, String)> = match &c.token.privileges {
        None => ALL_PRIVILEGES
            .iter()
            .map(|p| ("/".to_owned(), (*p).to_owned()))
            .collect(),
        Some(g) => g.clone(),
    };
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    match c.s("path") {
        Some(path) => {
            let entry = out.entry(path.clone()).or_default();
            for (_, privilege) in &grants {
                if has_priv(&c.token, &path, privilege) {
                    entry.insert(privilege.clone(), 1);
                }
            }
        }
        None => {
            for (path, privilege) in grants {
                out.entry(path).or_default().insert(privilege, 1);
            }
        }
    }
    Ok(json!(out))
}
