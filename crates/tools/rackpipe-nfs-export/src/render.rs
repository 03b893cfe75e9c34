//! Rendering: Linux `/etc/exports.d` files, nfs-ganesha EXPORT blocks, Synology DSM share rules,
//! and the consumers' side (the runners' cache mount as an fstab line and a systemd mount unit,
//! the Kubernetes NFS subdir provisioner with one StorageClass per class).
//!
//! Templates are minijinja files under this crate's `templates/`, built in; a caller may pass a
//! directory whose files of the same name take precedence.

use std::path::Path;

use minijinja::Environment;
use rackpipe_model::Site;
use rackpipe_model::documents::RenderedFile;
use rackpipe_model::nas::NfsServer;
use serde::Serialize;

use crate::Error;
use crate::desired::{ClientSpec, Desired, ResolvedExport, SquashMode, resolve};
use crate::exports::escape_path;
use crate::synology;

/// The built-in templates, by file name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("exports.j2", include_str!("../templates/exports.j2")),
    (
        "ganesha.conf.j2",
        include_str!("../templates/ganesha.conf.j2"),
    ),
    (
        "cache.mount.j2",
        include_str!("../templates/cache.mount.j2"),
    ),
    ("fstab.j2", include_str!("../templates/fstab.j2")),
    (
        "nfs-provisioner.yaml.j2",
        include_str!("../templates/nfs-provisioner.yaml.j2"),
    ),
];

/// Image of the NFS subdir external provisioner.
pub const PROVISIONER_IMAGE: &str =
    "registry.k8s.io/sig-storage/nfs-subdir-external-provisioner:v4.0.2";

/// Namespace the provisioners run in.
pub const PROVISIONER_NAMESPACE: &str = "nfs-provisioner";

/// The runners' cache mount options when the site gives none: the author's real ones.
pub const DEFAULT_CACHE_OPTIONS: &[&str] = &["rw", "soft", "timeo=10", "retrans=3", "noatime"];

/// The template environment (`rackpipe_render`): the built-in templates, each replaced by
/// the file of the same name in `override_dir` when there is one; blocks trimmed, final
/// newlines kept.
///
/// # Errors
/// [`Error::Template`] when an override does not parse or matches no template name.
pub fn environment(override_dir: Option<&Path>) -> Result<Environment<'static>, Error> {
    let whitespace = rackpipe_render::Whitespace {
        trim_blocks: true,
        keep_trailing_newline: true,
    };
    rackpipe_render::environment(TEMPLATES, override_dir, whitespace).map_err(Error::from)
}

fn render_template(
    env: &Environment<'_>,
    name: &str,
    ctx: impl Serialize,
) -> Result<String, Error> {
    rackpipe_render::render(
        env,
        name,
        minijinja::Value::from(minijinja::value::Serde(ctx)),
    )
    .map_err(Error::from)
}

/// Renders every file the site's NAS section and its consumers need. A site without a NAS
/// section renders nothing.
pub fn render(site: &Site, templates: Option<&Path>) -> Result<Vec<RenderedFile>, Error> {
    if site.nas.is_none() {
        let diagnostics = crate::check(site);
        if let Some(first) = diagnostics.iter().find(|d| d.is_error()) {
            return Err(Error::Invalid {
                path: first.path.clone(),
                message: first.message.clone(),
            });
        }
        return Ok(Vec::new());
    }
    let desired = resolve(site)?;
    let env = environment(templates)?;
    let mut files = Vec::new();
    let host = desired.nas.host.to_string();
    match &desired.nas.server {
        NfsServer::Linux { .. } => files.push(RenderedFile {
            host: host.clone(),
            path: linux_exports_path(&desired),
            mode: "0644".to_owned(),
            content: render_linux_exports(&desired, &env)?,
        }),
        NfsServer::Ganesha { .. } => files.push(RenderedFile {
            host: host.clone(),
            path: format!("/etc/ganesha/{}.conf", desired.file_base),
            mode: "0644".to_owned(),
            content: render_ganesha(&desired, &env)?,
        }),
        NfsServer::Synology { .. } => {
            for (share, rules) in synology::desired_rules(&desired)? {
                let content = serde_json::to_string_pretty(
                    &serde_json::json!({ "share_name": share, "rule": rules }),
                )
                .map_err(|e| {
                    Error::Template(rackpipe_render::TemplateError {
                        name: "synology rules".to_owned(),
                        message: e.to_string(),
                    })
                })?;
                files.push(RenderedFile {
                    host: host.clone(),
                    path: format!("dsm/SYNO.Core.FileServ.NFS.SharePrivilege/{share}.json"),
                    mode: "0644".to_owned(),
                    content: content + "\n",
                });
            }
        }
    }
    files.extend(render_cache_mount(&desired, &env)?);
    files.extend(render_provisioner(&desired, &env)?);
    files.sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    Ok(files)
}

/// `/etc/exports.d/<name>.exports` (only `*.exports` files count to exportfs).
#[must_use]
pub fn linux_exports_path(desired: &Desired<'_>) -> String {
    format!("/etc/exports.d/{}.exports", desired.file_base)
}

#[derive(Serialize)]
struct ExportsCtx<'a> {
    site: &'a str,
    exports: Vec<ExportLineCtx<'a>>,
}

#[derive(Serialize)]
struct ExportLineCtx<'a> {
    name: &'a str,
    field: &'a str,
    path_escaped: String,
    clients: Vec<String>,
}

/// The exports(5) client entry: `spec(opts)`, never a space before `(`.
#[must_use]
pub fn linux_client_entry(client: &crate::desired::ResolvedClient) -> String {
    format!(
        "{}({})",
        client.spec.text(),
        client.linux_options().join(",")
    )
}

/// Renders the Linux exports file.
pub fn render_linux_exports(desired: &Desired<'_>, env: &Environment<'_>) -> Result<String, Error> {
    let ctx = ExportsCtx {
        site: desired.site.metadata.name.as_str(),
        exports: desired
            .exports
            .iter()
            .map(|e| ExportLineCtx {
                name: &e.name,
                field: &e.field,
                path_escaped: escape_path(&e.path),
                clients: e.clients.iter().map(linux_client_entry).collect(),
            })
            .collect(),
    };
    render_template(env, "exports.j2", ctx)
}

#[derive(Serialize)]
struct GaneshaCtx<'a> {
    site: &'a str,
    exports: Vec<GaneshaExport<'a>>,
}

#[derive(Serialize)]
struct GaneshaExport<'a> {
    name: &'a str,
    field: &'a str,
    export_id: u16,
    path: &'a str,
    pseudo: &'a str,
    clients: Vec<GaneshaClient<'a>>,
}

#[derive(Serialize)]
struct GaneshaClient<'a> {
    field: &'a str,
    spec: String,
    access: &'static str,
    squash: &'static str,
    anonuid: Option<u32>,
    anongid: Option<u32>,
    sec: String,
    privileged_port: bool,
}

fn ganesha_export(e: &ResolvedExport) -> GaneshaExport<'_> {
    GaneshaExport {
        name: &e.name,
        field: &e.field,
        export_id: e.export_id,
        path: &e.path,
        pseudo: &e.pseudo,
        clients: e
            .clients
            .iter()
            .map(|c| GaneshaClient {
                field: &c.field,
                spec: match &c.spec {
                    ClientSpec::World => "*".to_owned(),
                    other => other.text(),
                },
                access: if c.rw { "RW" } else { "RO" },
                squash: match c.squash {
                    SquashMode::Root => "Root_Squash",
                    SquashMode::None => "No_Root_Squash",
                    SquashMode::All => "All_Squash",
                },
                anonuid: c.anonuid,
                anongid: c.anongid,
                sec: if c.sec.is_empty() {
                    "sys".to_owned()
                } else {
                    c.sec.join(", ")
                },
                privileged_port: !c.insecure,
            })
            .collect(),
    }
}

/// Renders the nfs-ganesha EXPORT blocks.
pub fn render_ganesha(desired: &Desired<'_>, env: &Environment<'_>) -> Result<String, Error> {
    // `Path = "...";` and `Pseudo = "...";`: a quote, `;`, `#`, a brace or a newline in either
    // would end the value or the block. Site validation refuses them already; this holds for
    // a site built in code too.
    for e in &desired.exports {
        for (what, value) in [("path", &e.path), ("pseudo", &e.pseudo)] {
            rackpipe_model::types::check_file_path(value).map_err(|message| Error::Invalid {
                path: format!("{}.{what}", e.field),
                message,
            })?;
        }
    }
    let ctx = GaneshaCtx {
        site: desired.site.metadata.name.as_str(),
        exports: desired.exports.iter().map(ganesha_export).collect(),
    };
    render_template(env, "ganesha.conf.j2", ctx)
}

/// `systemd-escape --path --suffix=mount`.
#[must_use]
pub fn mount_unit_name(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return "-.mount".to_owned();
    }
    let mut out = String::new();
    for (i, byte) in trimmed.bytes().enumerate() {
        match byte {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => {
                out.push(char::from(b))
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out + ".mount"
}

#[derive(Serialize)]
struct MountCtx<'a> {
    site: &'a str,
    field: &'a str,
    unit: String,
    description: String,
    what: String,
    #[serde(rename = "where")]
    where_: &'a str,
    options: String,
}

/// The runners' cache mount: for each runner, its systemd mount unit and an fstab line.
pub fn render_cache_mount(
    desired: &Desired<'_>,
    env: &Environment<'_>,
) -> Result<Vec<RenderedFile>, Error> {
    let Some(runners) = &desired.site.runners else {
        return Ok(Vec::new());
    };
    let cache = &runners.cache;
    let export = desired
        .exports
        .iter()
        .find(|e| e.name == cache.export.as_str())
        .ok_or_else(|| Error::Invalid {
            path: "runners.cache.export".to_owned(),
            message: format!("export {:?} is not in nas.exports", cache.export.as_str()),
        })?;
    let remote = cache.path.clone().unwrap_or_else(|| export.path.clone());
    let options = if cache.options.is_empty() {
        DEFAULT_CACHE_OPTIONS.join(",")
    } else {
        cache.options.join(",")
    };
    let what = format!("{}:{remote}", desired.server_name);
    let unit = mount_unit_name(&cache.mountpoint);
    let ctx = MountCtx {
        site: desired.site.metadata.name.as_str(),
        field: "runners.cache",
        unit: unit.clone(),
        description: format!("GitLab runner cache ({what})"),
        what,
        where_: &cache.mountpoint,
        options,
    };
    let unit_text = render_template(env, "cache.mount.j2", &ctx)?;
    let fstab_text = render_template(env, "fstab.j2", &ctx)?;
    let mut files = Vec::new();
    for runner in &runners.runners {
        files.push(RenderedFile {
            host: runner.guest.to_string(),
            path: format!("/etc/systemd/system/{unit}"),
            mode: "0644".to_owned(),
            content: unit_text.clone(),
        });
        files.push(RenderedFile {
            host: runner.guest.to_string(),
            path: "/etc/rackpipe/nfs/fstab".to_owned(),
            mode: "0644".to_owned(),
            content: fstab_text.clone(),
        });
    }
    files.dedup_by(|a, b| a.host == b.host && a.path == b.path);
    Ok(files)
}

#[derive(Serialize)]
struct ProvisionerCtx<'a> {
    site: &'a str,
    namespace: &'a str,
    image: &'a str,
    classes: Vec<ClassCtx>,
}

#[derive(Serialize)]
struct ClassCtx {
    name: String,
    field: String,
    export: String,
    server: String,
    path: String,
    deployment: String,
    provisioner: String,
    default: bool,
    reclaim_policy: String,
    archive_on_delete: bool,
}

/// The Kubernetes NFS subdir provisioner manifests, one Deployment + StorageClass per class.
pub fn render_provisioner(
    desired: &Desired<'_>,
    env: &Environment<'_>,
) -> Result<Vec<RenderedFile>, Error> {
    let Some(k8s) = &desired.site.kubernetes else {
        return Ok(Vec::new());
    };
    if k8s.storage_classes.is_empty() {
        return Ok(Vec::new());
    }
    let mut classes = Vec::new();
    for (i, class) in k8s.storage_classes.iter().enumerate() {
        let field = format!("kubernetes.storage_classes[{i}]");
        let export = desired
            .exports
            .iter()
            .find(|e| e.name == class.export.as_str())
            .ok_or_else(|| Error::Invalid {
                path: format!("{field}.export"),
                message: format!("export {:?} is not in nas.exports", class.export.as_str()),
            })?;
        classes.push(ClassCtx {
            name: class.name.to_string(),
            field,
            export: export.name.clone(),
            server: desired.server_name.clone(),
            path: export.path.clone(),
            deployment: format!(
                "nfs-provisioner-{}",
                class.name.as_str().to_ascii_lowercase()
            ),
            provisioner: format!(
                "k8s-sigs.io/nfs-subdir-external-provisioner-{}",
                class.name.as_str().to_ascii_lowercase()
            ),
            default: class.default,
            reclaim_policy: class.reclaim_policy.clone(),
            archive_on_delete: class.reclaim_policy == "Retain",
        });
    }
    let ctx = ProvisionerCtx {
        site: desired.site.metadata.name.as_str(),
        namespace: PROVISIONER_NAMESPACE,
        image: PROVISIONER_IMAGE,
        classes,
    };
    Ok(vec![RenderedFile {
        host: String::new(),
        path: "kubernetes/nfs-provisioner.yaml".to_owned(),
        mode: "0644".to_owned(),
        content: render_template(env, "nfs-provisioner.yaml.j2", ctx)?,
    }])
}

#[cfg(test)]
mod tests {
    use super::mount_unit_name;

    /// A site built in code (never validated) with a quote in a ganesha path: the renderer
    /// refuses it naming the field instead of writing `Path = "/srv/a";…`.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn ganesha_refuses_a_path_that_would_end_the_value() {
        let yaml = "apiVersion: rackpipe/v1\nkind: Site\nmetadata: {name: g, domain: g.example}\nsegments:\n  - {name: storage, cidr: 198.18.1.0/24}\nhosts:\n  - {name: nas, address: 198.18.1.1, segment: storage}\nnas:\n  host: nas\n  server: {kind: ganesha, ssh_user: root}\n  exports:\n    - {name: data, path: /srv/data, clients: [{segment: storage}]}\n";
        let (mut site, _) = rackpipe_model::load("g.yaml", yaml.as_bytes()).unwrap();
        assert!(super::render(&site, None).is_ok());
        for bad in ["/srv/a\";Path=\"/", "/srv/a b", "/srv/a}", "/srv/a#b"] {
            site.nas.as_mut().unwrap().exports[0].path = bad.to_owned();
            let err = super::render(&site, None).unwrap_err().to_string();
            assert!(err.starts_with("nas.exports[0].path: "), "{bad:?}: {err}");
        }
        site.nas.as_mut().unwrap().exports[0].path = "/srv/data".to_owned();
        site.nas.as_mut().unwrap().exports[0].pseudo = Some("/data\"x".to_owned());
        let err = super::render(&site, None).unwrap_err().to_string();
        assert!(err.starts_with("nas.exports[0].pseudo: "), "{err}");
    }

    #[test]
    fn unit_names_follow_systemd_escape() {
        assert_eq!(mount_unit_name("/cache"), "cache.mount");
        assert_eq!(
            mount_unit_name("/mnt/runner-cache"),
            "mnt-runner\\x2dcache.mount"
        );
        assert_eq!(mount_unit_name("/srv/.hidden"), "srv-.hidden.mount");
        assert_eq!(mount_unit_name("/"), "-.mount");
    }
}
