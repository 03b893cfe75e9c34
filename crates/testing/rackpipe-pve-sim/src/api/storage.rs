//! `/nodes/{node}/storage/{storage}`: content listing and download-url.

use serde_json::{Value, json};

use super::tasks::{TaskSpec, spawn_task};
use super::{ApiResult, Ctx, check_node, e400, e500};
use crate::lock;
use crate::state;

pub(super) fn storage_content(c: &Ctx) -> ApiResult {
    let (node, storage) = (c.req("node"), c.req("storage"));
    let st = lock(&c.sh.state);
    check_node(&st, &node)?;
    if st.storage(&storage).is_none() {
        return Err(e500(format!("storage '{storage}' does not exist")));
    }
    let content = c.s("content");
    let vmid = c.i("vmid").and_then(|v| u32::try_from(v).ok());
    Ok(Value::Array(
        st.volumes_of(&node, &storage)
            .iter()
            .filter(|v| content.as_deref().is_none_or(|ct| ct == v.content))
            .filter(|v| vmid.is_none_or(|id| v.vmid == Some(id)))
            .map(|v| {
                let mut o = json!({"volid": v.volid, "content": v.content, "format": v.format, "size": v.size, "ctime": v.ctime});
                if let Some(id) = v.vmid {
                    o["vmid"] = json!(id);
                }
                o
            })
            .collect(),
    ))
}

pub(super) fn download_url(c: &Ctx) -> ApiResult {
    let (node, storage) = (c.req("node"), c.req("storage"));
    let (content, filename, url) = (c.req("content"), c.req("filename"), c.req("url"));
    let ext_ok = match content.as_str() {
        "iso" => [".iso", ".img"].iter().any(|e| filename.ends_with(e)),
        "vztmpl" => [".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
            .iter()
            .any(|e| filename.ends_with(e)),
        "import" => [".ova", ".qcow2", ".raw", ".vmdk"]
            .iter()
            .any(|e| filename.ends_with(e)),
        _ => false,
    };
    if !ext_ok {
        return Err(e400("filename", "wrong file extension"));
    }
    if c.p.contains_key("checksum") != c.p.contains_key("checksum-algorithm") {
        return Err(e400(
            "checksum-algorithm",
            "'checksum-algorithm' is required when 'checksum' is set",
        ));
    }
    let mut st = lock(&c.sh.state);
    check_node(&st, &node)?;
    let Some(spec) = st.storage(&storage) else {
        return Err(e500(format!("storage '{storage}' does not exist")));
    };
    if !spec.content.contains(&content) {
        return Err(e500(format!(
            "storage '{storage}' is not configured for content-type '{content}'"
        )));
    }
    let dir = match content.as_str() {
        "vztmpl" => "template/cache",
        "iso" => "template/iso",
        _ => "import",
    };
    let volid = format!(
        "{storage}:{}/{filename}",
        if content == "import" {
            "import"
        } else {
            content.as_str()
        }
    );
    let path = format!("/var/lib/vz/{dir}/{filename}");
    let checksum = c.s("checksum").map(|s| s.to_ascii_lowercase());
    let algo = c.s("checksum-algorithm");
    let spec = TaskSpec {
        node: &node,
        kind: "download",
        id: filename.clone(),
        hold: None,
        cleanup_on_fail: false,
        log: vec![format!("downloading {url} to {path}")],
    };
    let task_node = node.clone();
    let upid = spawn_task(
        c,
        &mut st,
        spec,
        Box::new(move |st, log| {
            let remote = st.remote.get(&url).cloned();
            let matches_remote = |r: &state::RemoteFile| match (&algo, &checksum) {
                (Some(a), Some(sum)) => r.checksums.get(a).is_some_and(|h| h == sum),
                _ => false,
            };
            let node = task_node;
            if st.find_volume(&node, &volid).is_some() {
                if remote.as_ref().is_some_and(matches_remote) {
                    log.push(
                        "file already exists and checksum matches, no need to download".to_owned(),
                    );
                    return Ok(());
                }
                return Err(format!("refusing to override existing file '{path}'"));
            }
            let Some(remote) = remote else {
                return Err(format!("download failed: 404 Not Found ({url})"));
            };
            if let (Some(a), Some(sum)) = (&algo, &checksum) {
                let got = remote.checksums.get(a).cloned().unwrap_or_default();
                if &got != sum {
                    return Err(format!("checksum mismatch: got '{got}' != expect '{sum}'"));
                }
                log.push(format!("{a} checksum verified"));
            }
            st.add_volume(&node, &volid, &content, remote.size, None)?;
            log.push("download of file finished".to_owned());
            Ok(())
        }),
    );
    Ok(json!(upid))
}
