//! Rendering `haproxy.cfg`, `keepalived.conf` and the keepalived health-check script.
//!
//! All resolution (names → addresses, defaults, per-VIP peers) happens here in Rust; the
//! minijinja templates under this crate's `templates/` only lay the values out. A caller may
//! pass a directory whose files of the same name replace the built-in templates.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use minijinja::Environment;
use rackpipe_model::Site;
use rackpipe_model::documents::RenderedFile;
use rackpipe_model::loadbalancer::{
    Balance, HealthCheck, LbInstance, LoadBalancer, TlsCertificate, Vip, VrrpEndpoint, VrrpState,
};
use serde_json::{Value, json};

use crate::Error;
use crate::check::{
    address_on_segment, addresses_of, backend_address, backend_tls, check_name, mode_name,
};
use crate::secrets::SecretSource;

/// The built-in templates, by file name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "haproxy.cfg.j2",
        include_str!("../templates/haproxy.cfg.j2"),
    ),
    (
        "keepalived.conf.j2",
        include_str!("../templates/keepalived.conf.j2"),
    ),
    (
        "check_haproxy.sh.j2",
        include_str!("../templates/check_haproxy.sh.j2"),
    ),
    (
        "keepalived_notify.sh.j2",
        include_str!("../templates/keepalived_notify.sh.j2"),
    ),
    (
        "check_endpoint.sh.j2",
        include_str!("../templates/check_endpoint.sh.j2"),
    ),
];

/// Where files go and how HAProxy runs on the instances. `{instance}` in any path is replaced
/// by the instance name (tests run several instances on one machine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Directory whose templates replace the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// Path of `haproxy.cfg` on the instance.
    pub haproxy_cfg: String,
    /// Path of `keepalived.conf` on the instance.
    pub keepalived_conf: String,
    /// Path of the health-check script keepalived runs. A VIP whose check targets a service's
    /// endpoint gets its own script next to it, `<check name>.sh`.
    pub check_script: String,
    /// HAProxy's admin socket.
    pub admin_socket: String,
    /// HAProxy master's pid file (`-p` in the systemd unit; Debian: `/run/haproxy.pid`).
    pub pid_file: String,
    /// `chroot` directory, if any.
    pub chroot: Option<String>,
    /// User HAProxy drops to, if any.
    pub user: Option<String>,
    /// Group HAProxy drops to, if any.
    pub group: Option<String>,
    /// Log to `/dev/log`.
    pub syslog: bool,
    /// User keepalived runs scripts as (`enable_script_security`).
    pub script_user: String,
    /// Prefix put before every certificate and CA path given as a path in the site (lets
    /// `haproxy -c` run against placeholder files in CI). Not applied to certificates from
    /// secret references, which are rendered files under `certs_dir`.
    pub cert_prefix: Option<String>,
    /// Directory on the instance where certificates from secret references are deployed
    /// (`<certs_dir>/<service name>.pem`).
    pub certs_dir: String,
    /// Bind VIP listeners with `transparent`, so HAProxy starts on instances that do not hold
    /// the VIP right now.
    pub transparent_bind: bool,
    /// `maxconn` in `global`.
    pub maxconn: u32,
    /// Path of the script keepalived runs on every VRRP state change (`notify`), rendered
    /// when the site's monitoring scrapes keepalived ([`crate::metrics`]).
    pub notify_script: String,
    /// node_exporter's textfile collector directory, where the notify script writes
    /// `keepalived_<vrrp instance>.prom` (Debian's `prometheus-node-exporter` reads
    /// `/var/lib/prometheus/node-exporter`).
    pub textfile_dir: String,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            templates_dir: None,
            haproxy_cfg: "/etc/haproxy/haproxy.cfg".to_owned(),
            keepalived_conf: "/etc/keepalived/keepalived.conf".to_owned(),
            check_script: "/etc/keepalived/check_haproxy.sh".to_owned(),
            admin_socket: "/run/haproxy/admin.sock".to_owned(),
            pid_file: "/run/haproxy.pid".to_owned(),
            chroot: Some("/var/lib/haproxy".to_owned()),
            user: Some("haproxy".to_owned()),
            group: Some("haproxy".to_owned()),
            syslog: true,
            script_user: "root".to_owned(),
            cert_prefix: None,
            certs_dir: "/etc/haproxy/certs".to_owned(),
            transparent_bind: true,
            maxconn: 4096,
            notify_script: "/etc/keepalived/keepalived_notify.sh".to_owned(),
            textfile_dir: "/var/lib/prometheus/node-exporter".to_owned(),
        }
    }
}

impl RenderOptions {
    fn path(&self, template: &str, instance: &str) -> String {
        template.replace("{instance}", instance)
    }

    /// Where the endpoint check script `check` goes on `instance`: next to `check_script`.
    fn endpoint_script(&self, instance: &str, check: &str) -> String {
        let script = self.path(&self.check_script, instance);
        match script.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{check}.sh"),
            None => format!("{check}.sh"),
        }
    }

    /// Where the certificate of service `service` from a secret reference goes on `instance`.
    fn deployed_cert(&self, instance: &str, service: &str) -> String {
        format!(
            "{}/{service}.pem",
            self.path(&self.certs_dir, instance).trim_end_matches('/')
        )
    }

    fn cert(&self, path: &str) -> String {
        match &self.cert_prefix {
            Some(prefix) => format!(
                "{}/{}",
                prefix.trim_end_matches('/'),
                path.trim_start_matches('/')
            ),
            None => path.to_owned(),
        }
    }
}

/// The template environment (`rackpipe_render`): the built-in templates, each replaced by
/// the file of the same name in `override_dir` when there is one; final newlines kept.
///
/// # Errors
/// [`Error::Template`] when an override does not parse or matches no template name.
pub fn environment(override_dir: Option<&Path>) -> Result<Environment<'static>, Error> {
    let whitespace = rackpipe_render::Whitespace {
        trim_blocks: false,
        keep_trailing_newline: true,
    };
    rackpipe_render::environment(TEMPLATES, override_dir, whitespace).map_err(Error::from)
}

/// Renders every instance's files, sorted by instance then path.
///
/// # Errors
/// [`Error::Invalid`] when [`check`](crate::check()) finds errors; template and secret errors.
pub fn render(
    site: &Site,
    options: &RenderOptions,
    secrets: &dyn SecretSource,
) -> Result<Vec<RenderedFile>, Error> {
    let lb = site.load_balancer.as_ref().ok_or(Error::NoLoadBalancer)?;
    let diagnostics = crate::check(site);
    if diagnostics.iter().any(rackpipe_model::Diagnostic::is_error) {
        return Err(Error::invalid(diagnostics));
    }
    let env = environment(options.templates_dir.as_deref())?;
    crate::secrets::check_all(lb, secrets)?;
    let certs = certificates(lb, secrets)?;
    let mut files = Vec::new();
    for inst in &lb.instances {
        files.extend(render_with(&env, site, lb, inst, options, secrets, &certs)?);
    }
    files.sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    Ok(files)
}

/// Renders the files of one instance.
///
/// # Errors
/// As [`render()`], plus [`Error::UnknownInstance`].
pub fn render_instance(
    site: &Site,
    instance: &str,
    options: &RenderOptions,
    secrets: &dyn SecretSource,
) -> Result<Vec<RenderedFile>, Error> {
    let lb = site.load_balancer.as_ref().ok_or(Error::NoLoadBalancer)?;
    let inst = lb
        .instances
        .iter()
        .find(|i| i.name == *instance)
        .ok_or_else(|| Error::UnknownInstance(instance.to_owned()))?;
    let diagnostics = crate::check(site);
    if diagnostics.iter().any(rackpipe_model::Diagnostic::is_error) {
        return Err(Error::invalid(diagnostics));
    }
    let env = environment(options.templates_dir.as_deref())?;
    crate::secrets::check_all(lb, secrets)?;
    let certs = certificates(lb, secrets)?;
    render_with(&env, site, lb, inst, options, secrets, &certs)
}

/// The PEM of every service whose `tls_certificate` is a secret reference, by service index:
/// resolved once for all instances and checked ([`crate::certificate::inspect`]). A source
/// that [redacts](SecretSource::redacts) gets a placeholder instead.
fn certificates(
    lb: &LoadBalancer,
    secrets: &dyn SecretSource,
) -> Result<BTreeMap<usize, String>, Error> {
    let mut out = BTreeMap::new();
    for (i, svc) in lb.services.iter().enumerate() {
        let Some(TlsCertificate::Secret(reference)) = &svc.tls_certificate else {
            continue;
        };
        if secrets.redacts() {
            out.insert(
                i,
                format!(
                    "# certificate and private key of service {} from {reference}: read and deployed by haproxy-gen plan/apply, never shown\n",
                    svc.name
                ),
            );
            continue;
        }
        let path = format!("load_balancer.services[{i}].tls_certificate");
        let mut pem = crate::secrets::resolve_at(secrets, reference, &path)?;
        let info = crate::certificate::inspect(&pem).map_err(|reason| Error::Secret {
            path: path.clone(),
            message: format!("{reference}: {reason}"),
        })?;
        tracing::debug!(service = %svc.name, certificate = %info.describe().trim_end(), "certificate from {reference}");
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        out.insert(i, pem);
    }
    Ok(out)
}

fn render_with(
    env: &Environment<'_>,
    site: &Site,
    lb: &LoadBalancer,
    inst: &LbInstance,
    options: &RenderOptions,
    secrets: &dyn SecretSource,
    certs: &BTreeMap<usize, String>,
) -> Result<Vec<RenderedFile>, Error> {
    let ctx = context(site, lb, inst, options, secrets)?;
    let name = inst.name.to_string();
    let render = |template: &str| -> Result<String, Error> {
        rackpipe_render::render(
            env,
            template,
            minijinja::Value::from(minijinja::value::Serde(&ctx)),
        )
        .map_err(Error::from)
    };
    let mut files = vec![
        RenderedFile {
            host: name.clone(),
            path: options.path(&options.haproxy_cfg, &name),
            mode: "0644".to_owned(),
            content: render("haproxy.cfg.j2")?,
        },
        RenderedFile {
            host: name.clone(),
            path: options.path(&options.keepalived_conf, &name),
            mode: "0640".to_owned(),
            content: render("keepalived.conf.j2")?,
        },
        RenderedFile {
            host: name.clone(),
            path: options.path(&options.check_script, &name),
            mode: "0755".to_owned(),
            content: render("check_haproxy.sh.j2")?,
        },
    ];
    if let Some(path) = ctx["notify_script"].as_str() {
        files.push(RenderedFile {
            host: name.clone(),
            path: path.to_owned(),
            mode: "0755".to_owned(),
            content: render("keepalived_notify.sh.j2")?,
        });
    }
    if let Some(checks) = ctx["endpoint_checks"].as_array() {
        for check in checks {
            let one = json!({"site": ctx["site"], "instance": ctx["instance"], "check": check});
            files.push(RenderedFile {
                host: name.clone(),
                path: check["path"].as_str().unwrap_or_default().to_owned(),
                mode: "0755".to_owned(),
                content: rackpipe_render::render(
                    env,
                    "check_endpoint.sh.j2",
                    minijinja::Value::from(minijinja::value::Serde(&one)),
                )?,
            });
        }
    }
    for (&i, pem) in certs {
        files.push(RenderedFile {
            host: name.clone(),
            path: options.deployed_cert(&name, lb.services[i].name.as_str()),
            mode: crate::certificate::MODE.to_owned(),
            content: pem.clone(),
        });
    }
    Ok(files)
}

fn socket(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("ipv6@{v6}:{port}"),
    }
}

fn ident(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn balance_name(b: Balance) -> &'static str {
    match b {
        Balance::Roundrobin => "roundrobin",
        Balance::First => "first",
        Balance::Leastconn => "leastconn",
        Balance::Source => "source",
    }
}

/// The instance's own address: on the first VIP's segment, else its first address.
fn own_address(site: &Site, lb: &LoadBalancer, inst: &LbInstance) -> Option<IpAddr> {
    lb.vips
        .first()
        .and_then(|v| address_on_segment(site, inst.guest.as_str(), v.segment.as_str()))
        .or_else(|| {
            addresses_of(site, inst.guest.as_str()).and_then(|a| a.first().map(|(ip, _)| *ip))
        })
}

fn context(
    site: &Site,
    lb: &LoadBalancer,
    inst: &LbInstance,
    options: &RenderOptions,
    secrets: &dyn SecretSource,
) -> Result<Value, Error> {
    let name = inst.name.to_string();
    let own = own_address(site, lb, inst);

    let prometheus =
        crate::metrics::haproxy_exporter_path(site, lb).map(|path| json!({"path": path}));
    let notify_script = crate::metrics::keepalived_metrics(site)
        .then(|| options.path(&options.notify_script, &name));
    let stats = lb.stats.as_ref().map(|s| {
        let addr = own.map_or_else(|| format!("*:{}", s.port), |a| socket(a, s.port));
        json!({
            "bind": addr,
            "probe": addr.trim_start_matches("ipv6@"),
            "uri": s.uri,
            "refresh": s.refresh.as_ref().map(ToString::to_string),
        })
    });

    // Frontends: one per (VIP, port), in order of first appearance.
    let mut order: Vec<(String, u16)> = Vec::new();
    let mut groups: BTreeMap<(String, u16), Vec<usize>> = BTreeMap::new();
    for (i, svc) in lb.services.iter().enumerate() {
        let key = (svc.vip.to_string(), svc.port);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(i);
    }
    let mut frontends = Vec::new();
    for key in &order {
        let members = &groups[key];
        let Some(vip) = lb.vips.iter().find(|v| v.name == *key.0) else {
            continue;
        };
        let first = &lb.services[members[0]];
        let mut routes = Vec::new();
        let mut default_backend = Value::Null;
        let mut certificates = Vec::new();
        for &i in members {
            let svc = &lb.services[i];
            let backend = format!("be_{}", ident(svc.name.as_str()));
            match &svc.sni {
                Some(sni) => routes
                    .push(json!({"name": sni.as_str().to_ascii_lowercase(), "backend": backend})),
                None => default_backend = Value::String(backend),
            }
            if let Some(crt) = &svc.tls_certificate {
                let crt = match crt {
                    TlsCertificate::Path(path) => options.cert(path),
                    TlsCertificate::Secret(_) => options.deployed_cert(&name, svc.name.as_str()),
                };
                if !certificates.contains(&crt) {
                    certificates.push(crt);
                }
            }
        }
        frontends.push(json!({
            "name": format!("fe_{}_{}", ident(&key.0).to_ascii_lowercase(), key.1),
            "bind": socket(vip.address, key.1),
            "transparent": options.transparent_bind,
            "mode": mode_name(first.mode),
            "certificates": certificates,
            "routes": routes,
            "default_backend": default_backend,
        }));
    }

    let mut backends = Vec::new();
    for svc in &lb.services {
        let tls = backend_tls(svc);
        let tls_cfg = svc.backend_tls.as_ref();
        let sni = tls_cfg
            .and_then(|t| t.server_name.as_ref())
            .or(svc.sni.as_ref())
            .map(ToString::to_string);
        let host = sni.clone().unwrap_or_else(|| svc.name.to_string());
        let default_inter = if svc.check == HealthCheck::VaultActive {
            "1s"
        } else {
            "2s"
        };
        let inter = svc.check_interval.as_ref().map_or_else(
            || default_inter.to_owned(),
            |d| format!("{}ms", d.as_millis()),
        );
        let mut servers = Vec::new();
        for (be, server_name) in svc.backends.iter().zip(svc.server_names()) {
            // check() has already proven every backend resolves.
            let Ok(addr) = backend_address(site, be.target.as_str()) else {
                continue;
            };
            servers.push(json!({"name": ident(&server_name), "address": socket(addr, be.port)}));
        }
        backends.push(json!({
            "name": format!("be_{}", ident(svc.name.as_str())),
            "mode": mode_name(svc.mode),
            "balance": balance_name(svc.balance),
            "check": {
                "kind": check_name(svc.check),
                "host": host,
                "inter": inter,
                "fall": svc.check_fall.unwrap_or(2),
                "rise": svc.check_rise.unwrap_or(2),
                "port": svc.check_port,
                "tls": tls && svc.check != HealthCheck::Tcp,
                "ca_file": tls_cfg.and_then(|t| t.ca_file.as_deref()).map(|p| options.cert(p)),
                "sni": if tls { sni.map_or(Value::Null, Value::String) } else { Value::Null },
                "shutdown_sessions": matches!(svc.check, HealthCheck::VaultActive | HealthCheck::ConsulLeader),
            },
            "servers": servers,
        }));
    }

    let mut vrrp = Vec::new();
    let mut endpoint_checks = Vec::new();
    for (i, vip) in lb.vips.iter().enumerate() {
        let prefix = site
            .segments
            .iter()
            .find(|s| s.name == vip.segment)
            .map_or(32, |s| s.cidr.0.prefix_len());
        let src = address_on_segment(site, inst.guest.as_str(), vip.segment.as_str());
        let peers: Vec<String> = lb
            .instances
            .iter()
            .filter(|other| other.name != inst.name)
            .filter_map(|other| {
                address_on_segment(site, other.guest.as_str(), vip.segment.as_str())
            })
            .map(|a| a.to_string())
            .collect();
        let auth_pass = match &vip.auth_pass {
            Some(reference) => {
                let path = format!("load_balancer.vips[{i}].auth_pass");
                let value = crate::secrets::resolve_at(secrets, reference, &path)?;
                // keepalived splits on white space, reads `#` and `!` as comments, `"` as
                // quotes and `{ }` as blocks: only printable ASCII outside those goes in.
                let unsafe_char = |c: char| {
                    !c.is_ascii_graphic() || matches!(c, '#' | '!' | '"' | '\'' | '{' | '}' | '\\')
                };
                if value.is_empty() || value.len() > 8 || value.chars().any(unsafe_char) {
                    return Err(Error::Secret {
                        path,
                        message: format!(
                            "the VRRP PASS password must be 1 to 8 printable ASCII characters without spaces, quotes, braces, '\\', '#' or '!' (keepalived truncates longer ones and reads those as syntax); {} has {} characters",
                            reference,
                            value.chars().count()
                        ),
                    });
                }
                Value::String(value)
            }
            None => Value::Null,
        };
        let state = if vip.nopreempt || inst.state == VrrpState::Backup {
            "BACKUP"
        } else {
            "MASTER"
        };
        let check = match (&vip.check, vip.check_name()) {
            (Some(c), Some(check_name)) => {
                let script = match &c.endpoint {
                    Some(e) => {
                        let check = endpoint_check(site, inst, vip, e, options, &check_name);
                        let path = options.endpoint_script(&name, &check_name);
                        let mut check = check;
                        check["path"] = Value::String(path.clone());
                        endpoint_checks.push(check);
                        path
                    }
                    None => options.path(&options.check_script, &name),
                };
                json!({
                    "name": check_name,
                    "script": script,
                    "user": c.user,
                    "interval": c.interval,
                    "weight": c.weight,
                    "fall": c.fall,
                    "rise": c.rise,
                })
            }
            _ => Value::Null,
        };
        vrrp.push(json!({
            "name": ident(vip.name.as_str()),
            "state": state,
            "interface": vip.interface,
            "vrid": vip.vrid,
            "priority": inst.priority,
            "advert_int": vip.advert_int,
            "nopreempt": vip.nopreempt,
            "unicast": vip.unicast,
            "src_ip": src.map(|a| a.to_string()),
            "peers": peers,
            "auth_pass": auth_pass,
            "address": format!("{}/{prefix}", vip.address),
            "vip": vip.address.to_string(),
            "check": check,
        }));
    }

    Ok(json!({
        "site": site.metadata.name.to_string(),
        "instance": {"name": name, "address": own.map(|a| a.to_string())},
        "global": {
            "syslog": options.syslog,
            "chroot": options.chroot,
            "user": options.user,
            "group": options.group,
            "admin_socket": options.path(&options.admin_socket, &name),
            "maxconn": options.maxconn,
        },
        "stats": stats,
        "prometheus": prometheus,
        "notify_script": notify_script,
        "textfile_dir": options.path(&options.textfile_dir, &name),
        "frontends": frontends,
        "backends": backends,
        "vrrp": vrrp,
        "endpoint_checks": endpoint_checks,
        "script_user": options.script_user,
        "check_script": options.path(&options.check_script, &name),
        "pid_file": options.path(&options.pid_file, &name),
    }))
}

/// The values of one endpoint check script: the URL on the instance's own name (its guest's
/// FQDN, else its address on the VIP's segment), pinned to that address with `--resolve` so
/// the check needs no DNS.
fn endpoint_check(
    site: &Site,
    inst: &LbInstance,
    vip: &Vip,
    e: &VrrpEndpoint,
    options: &RenderOptions,
    check_name: &str,
) -> Value {
    let own = address_on_segment(site, inst.guest.as_str(), vip.segment.as_str())
        .or_else(|| own_address(site, site.load_balancer.as_ref()?, inst));
    let fqdn = fqdn_of(site, inst.guest.as_str());
    let bracketed = |a: IpAddr| match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let host = fqdn
        .clone()
        .or_else(|| own.map(bracketed))
        .unwrap_or_else(|| "localhost".to_owned());
    let resolve = match (&fqdn, own) {
        (Some(f), Some(a)) => Value::String(format!("{f}:{}:{}", e.port, bracketed(a))),
        _ => Value::Null,
    };
    let scheme = if e.tls { "https" } else { "http" };
    json!({
        "name": check_name,
        "url": format!("{scheme}://{host}:{}{}", e.port, e.path),
        "resolve": resolve,
        "tls": e.tls,
        "ca_file": e.ca_file.as_deref().map(|p| options.cert(p)),
        "status": e.status,
        "timeout": e.timeout,
    })
}

/// The FQDN of a guest or host, when the site gives one.
fn fqdn_of(site: &Site, name: &str) -> Option<String> {
    if let Some(g) = site
        .proxmox
        .as_ref()
        .and_then(|p| p.guests.iter().find(|g| g.name == *name))
    {
        return g.fqdn.as_ref().map(ToString::to_string);
    }
    site.hosts
        .iter()
        .find(|h| h.name == *name)
        .and_then(|h| h.fqdn.as_ref().map(ToString::to_string))
}

/// What `haproxy-gen render` prints: the default paths, secrets as `********`, certificates
/// from secret references as a placeholder line (not read), templates optionally from
/// `templates_dir`.
///
/// # Errors
/// As [`render()`].
pub fn render_redacted(
    site: &Site,
    templates_dir: Option<&Path>,
) -> Result<Vec<RenderedFile>, Error> {
    let options = RenderOptions {
        templates_dir: templates_dir.map(Path::to_path_buf),
        ..RenderOptions::default()
    };
    render(site, &options, &crate::secrets::Redacted)
}
