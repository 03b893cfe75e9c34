//! The lab's network: one namespace per host the tools reach, bridges in the root namespace
//! mirroring the site's segments, one veth pair per host (`eth0` inside, with the host's lab
//! address), loopback up, and no default route anywhere.
//!
//! Names: bridges `rp<id>b<N>` (N = segment index), root-side veths `rp<id>h<N>` (N = host
//! index), namespaces `rp<id>-<host>`. The root namespace takes one address on each bridge (the
//! highest host address of the segment not used by the site) so jobs in the root namespace
//! reach the hosts. Every object is recorded in `lab.json` as soon as it exists.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::error::LabError;
use crate::host::Host;
use crate::labsite::LabSite;
use crate::state::{Bridge, LabHost, LabState, Role};

/// A random lab id (4 hex digits) not used by any namespace or interface on the machine.
///
/// # Errors
/// No randomness, or `ip` cannot list namespaces/links.
pub fn new_id() -> Result<String, LabError> {
    let existing = format!(
        "{}\n{}",
        run_output(Command::new("ip").args(["netns", "list"]))?,
        run_output(Command::new("ip").args(["-o", "link", "show"]))?
    );
    for _ in 0..32 {
        let mut bytes = [0u8; 2];
        getrandom::fill(&mut bytes).map_err(|e| LabError::State(format!("randomness: {e}")))?;
        let id = hex::encode(bytes);
        if !existing.contains(&format!("rp{id}")) {
            return Ok(id);
        }
    }
    Err(LabError::State("no free lab id after 32 tries".into()))
}

/// Runs a command, returning stdout; a non-zero exit is an error with its stderr.
///
/// # Errors
/// The command cannot be started or fails.
pub fn run_output(cmd: &mut Command) -> Result<String, LabError> {
    let line = describe(cmd);
    let out = cmd.output().map_err(|e| LabError::Command {
        command: line.clone(),
        message: e.to_string(),
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(LabError::Command {
            command: line,
            message: err
                .lines()
                .next()
                .map_or_else(|| out.status.to_string(), str::to_owned),
        })
    }
}

/// The command line of `cmd`, for messages.
#[must_use]
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn ip(args: &[&str]) -> Result<(), LabError> {
    run_output(Command::new("ip").args(args)).map(drop)
}

/// One host to create.
#[derive(Debug, Clone)]
pub struct PlannedHost {
    /// Site name.
    pub name: String,
    /// FQDN.
    pub fqdn: Option<String>,
    /// Lab address.
    pub address: Ipv4Addr,
    /// Roles.
    pub roles: Vec<Role>,
    /// Kubernetes node name.
    pub kubernetes_node: Option<String>,
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn array<'a>(v: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn strip_len(a: &str) -> Option<Ipv4Addr> {
    a.split('/').next()?.parse().ok()
}

/// Where the site puts a guest or host: (address, fqdn).
fn locate(doc: &Value, name: &str) -> Option<(Ipv4Addr, Option<String>)> {
    for g in array(doc, "/proxmox/guests") {
        if str_at(g, "name") == Some(name) {
            let addr = array(g, "/nics").find_map(|n| str_at(n, "address").and_then(strip_len))?;
            return Some((addr, str_at(g, "fqdn").map(str::to_owned)));
        }
    }
    for h in array(doc, "/hosts") {
        if str_at(h, "name") == Some(name) {
            let addr = str_at(h, "address").and_then(strip_len)?;
            return Some((addr, str_at(h, "fqdn").map(str::to_owned)));
        }
    }
    for n in array(doc, "/proxmox/nodes") {
        if str_at(n, "name") == Some(name) {
            let addr = str_at(n, "address").and_then(strip_len)?;
            return Some((addr, None));
        }
    }
    None
}

/// The hosts the tools reach, from the lab site document.
///
/// # Errors
/// A name the site references but does not place.
pub fn plan_hosts(doc: &Value) -> Result<Vec<PlannedHost>, LabError> {
    let mut hosts: Vec<PlannedHost> = Vec::new();
    let mut add =
        |name: &str, address: Ipv4Addr, fqdn: Option<String>, role: Role, k8s: Option<String>| {
            if let Some(h) = hosts.iter_mut().find(|h| h.name == name) {
                if !h.roles.contains(&role) {
                    h.roles.push(role);
                }
                if k8s.is_some() {
                    h.kubernetes_node = k8s;
                }
            } else {
                hosts.push(PlannedHost {
                    name: name.to_owned(),
                    fqdn,
                    address,
                    roles: vec![role],
                    kubernetes_node: k8s,
                });
            }
        };
    let missing = |what: &str, name: &str| {
        LabError::Site(format!("{what}: {name:?} has no address in the site"))
    };
    if let Some(addr) = doc
        .pointer("/router/management/address")
        .and_then(Value::as_str)
        .and_then(strip_len)
    {
        let fqdn = doc
            .pointer("/router/identity")
            .and_then(Value::as_str)
            .map(str::to_owned);
        add("router", addr, fqdn, Role::Router, None);
    }
    if let Some(node) = doc.pointer("/proxmox/api/node").and_then(Value::as_str) {
        let (addr, fqdn) = locate(doc, node).ok_or_else(|| missing("proxmox.api.node", node))?;
        let fqdn = fqdn.or_else(|| {
            array(doc, "/hosts")
                .find(|h| str_at(h, "name") == Some(node))
                .and_then(|h| str_at(h, "fqdn").map(str::to_owned))
        });
        add(node, addr, fqdn, Role::Proxmox, None);
    }
    if let Some(nas) = doc.pointer("/nas/host").and_then(Value::as_str) {
        let (addr, fqdn) = locate(doc, nas).ok_or_else(|| missing("nas.host", nas))?;
        add(nas, addr, fqdn, Role::Nas, None);
    }
    for n in array(doc, "/vault/nodes") {
        let guest = str_at(n, "guest").unwrap_or_default();
        let (addr, fqdn) =
            locate(doc, guest).ok_or_else(|| missing("vault.nodes[].guest", guest))?;
        add(guest, addr, fqdn, Role::Vault, None);
    }
    for i in array(doc, "/load_balancer/instances") {
        let guest = str_at(i, "guest").unwrap_or_default();
        let (addr, fqdn) =
            locate(doc, guest).ok_or_else(|| missing("load_balancer.instances[].guest", guest))?;
        add(guest, addr, fqdn, Role::LoadBalancer, None);
    }
    for (pointer, role) in [
        ("/kubernetes/masters", Role::KubernetesMaster),
        ("/kubernetes/workers", Role::KubernetesWorker),
    ] {
        for n in array(doc, pointer) {
            let guest = str_at(n, "guest").unwrap_or_default();
            let (addr, fqdn) =
                locate(doc, guest).ok_or_else(|| missing("kubernetes node guest", guest))?;
            add(
                guest,
                addr,
                fqdn,
                role,
                str_at(n, "name").map(str::to_owned),
            );
        }
    }
    Ok(hosts)
}

/// Files each role's host gets privately: (target on the machine, source under the host dir).
/// HAProxy's pid file: haproxy-gen's keepalived check script reads `/run/haproxy.pid`.
#[must_use]
pub fn file_binds_for(roles: &[Role]) -> Vec<(&'static str, &'static str)> {
    if roles.contains(&Role::LoadBalancer) {
        vec![("/run/haproxy.pid", "run/haproxy.pid")]
    } else {
        Vec::new()
    }
}

/// Directories each role's host gets privately (bind mounts over the machine's path).
#[must_use]
pub fn binds_for(roles: &[Role]) -> Vec<&'static str> {
    let mut out = BTreeSet::new();
    for r in roles {
        match r {
            Role::LoadBalancer => {
                out.extend([
                    "/etc/haproxy",
                    "/etc/keepalived",
                    "/run/haproxy",
                    "/var/lib/haproxy",
                ]);
            }
            Role::KubernetesMaster | Role::KubernetesWorker => {
                out.insert("/etc/kubernetes");
            }
            Role::Nas => {
                out.extend(["/etc/exports.d", "/srv/nfs"]);
            }
            Role::Router | Role::Proxmox | Role::Vault => {}
        }
    }
    out.into_iter().collect()
}

/// Every address the site uses (so the root namespace's bridge address avoids them).
fn used_addresses(doc: &Value, out: &mut BTreeSet<Ipv4Addr>) {
    match doc {
        Value::String(s) => {
            for token in s.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
                if let Ok(a) = token.parse::<Ipv4Addr>() {
                    out.insert(a);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| used_addresses(v, out)),
        Value::Object(map) => map.values().for_each(|v| used_addresses(v, out)),
        _ => {}
    }
}

/// Creates bridges, namespaces and veths for `hosts`, recording each object in `state` (and
/// saving it) as soon as it exists.
///
/// # Errors
/// The first failing `ip` command or filesystem operation; what was created is in `state`.
pub fn create(state: &mut LabState, site: &LabSite, hosts: &[PlannedHost]) -> Result<(), LabError> {
    let id = state.id.clone();
    let mut used = BTreeSet::new();
    used_addresses(&site.document, &mut used);
    // Bridges for the segments that have hosts (and every segment, so the root namespace can
    // reach any address the site names).
    for (i, seg) in site.segments.iter().enumerate() {
        let name = format!("rp{id}b{i}");
        let root_addr = (1..seg.lab.hosts().count() as u32)
            .map(|k| Ipv4Addr::from(u32::from(seg.lab.broadcast()) - k))
            .find(|a| !used.contains(a))
            .ok_or_else(|| {
                LabError::Site(format!(
                    "segment {}: no free address for the root namespace",
                    seg.name
                ))
            })?;
        ip(&["link", "add", &name, "type", "bridge"])?;
        state.bridges.push(Bridge {
            name: name.clone(),
            segment: seg.name.clone(),
            address: Ipv4Net::new(root_addr, seg.lab.prefix_len())
                .map_err(|_| LabError::Site("bridge prefix".into()))?,
        });
        state.save()?;
        disable_ipv6(&name);
        ip(&[
            "addr",
            "add",
            &format!("{root_addr}/{}", seg.lab.prefix_len()),
            "dev",
            &name,
        ])?;
        ip(&["link", "set", &name, "up"])?;
    }
    for (i, planned) in hosts.iter().enumerate() {
        let seg_index = site
            .segments
            .iter()
            .position(|s| s.lab.contains(&planned.address))
            .ok_or_else(|| {
                LabError::Site(format!(
                    "{}: address {} is in no segment",
                    planned.name, planned.address
                ))
            })?;
        let seg = &site.segments[seg_index];
        let netns = format!("rp{id}-{}", planned.name);
        let veth = format!("rp{id}h{i}");
        let peer = format!("rp{id}p{i}");
        let dir = state.dir.join("hosts").join(&planned.name);
        for sub in ["logs", "run", "bin", "ssh"] {
            mkdir(&dir.join(sub))?;
        }
        let mut binds = Vec::new();
        for target in binds_for(&planned.roles) {
            let source = dir.join("root").join(target.trim_start_matches('/'));
            mkdir(&source)?;
            ensure_dir(state, Path::new(target))?;
            binds.push((source, PathBuf::from(target)));
        }
        for (target, rel) in file_binds_for(&planned.roles) {
            let source = dir.join(rel);
            if !source.exists() {
                std::fs::write(&source, "").map_err(|e| LabError::io(&source, &e))?;
            }
            ensure_file(state, Path::new(target))?;
            binds.push((source, PathBuf::from(target)));
        }
        ip(&["netns", "add", &netns])?;
        state.netns.push(netns.clone());
        state.hosts.push(LabHost {
            host: Host {
                name: planned.name.clone(),
                netns: netns.clone(),
                address: planned.address,
                dir,
                binds,
            },
            fqdn: planned.fqdn.clone(),
            segment: seg.name.clone(),
            prefix_len: seg.lab.prefix_len(),
            roles: planned.roles.clone(),
            kubernetes_node: planned.kubernetes_node.clone(),
            veth: veth.clone(),
        });
        state.save()?;
        ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])?;
        state.veths.push(veth.clone());
        state.save()?;
        disable_ipv6(&veth);
        ip(&["link", "set", &peer, "netns", &netns])?;
        ip(&["-n", &netns, "link", "set", &peer, "name", "eth0"])?;
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{}/{}", planned.address, seg.lab.prefix_len()),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
        ip(&[
            "link",
            "set",
            &veth,
            "master",
            &format!("rp{id}b{seg_index}"),
        ])?;
        ip(&["link", "set", &veth, "up"])?;
    }
    Ok(())
}

fn disable_ipv6(ifname: &str) {
    // Best effort: keeps the lab's links quiet (no router solicitations, no link-local v6).
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"),
        "1",
    );
}

fn mkdir(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io(path, &e))
}

/// Creates `target` (and missing parents) if absent, recording each directory created.
///
/// # Errors
/// A directory cannot be created or the state cannot be saved.
pub fn ensure_dir(state: &mut LabState, target: &Path) -> Result<(), LabError> {
    let mut missing = Vec::new();
    let mut cur = Some(target);
    while let Some(p) = cur {
        if p.exists() {
            break;
        }
        missing.push(p.to_owned());
        cur = p.parent();
    }
    for p in missing.into_iter().rev() {
        std::fs::create_dir(&p).map_err(|e| LabError::io(&p, &e))?;
        state.created_dirs.push(p);
        state.save()?;
    }
    Ok(())
}

/// Creates the empty file `target` if absent, recording it.
fn ensure_file(state: &mut LabState, target: &Path) -> Result<(), LabError> {
    if target.exists() {
        return Ok(());
    }
    if let Some(parent) = target.parent() {
        ensure_dir(state, parent)?;
    }
    std::fs::write(target, "").map_err(|e| LabError::io(target, &e))?;
    state.created_files.push(target.to_owned());
    state.save()
}

/// Other labs' namespaces on this machine (their hosts may have bind mounts on the paths this
/// lab created: removing those would detach their mounts).
fn other_labs(id: &str) -> bool {
    std::fs::read_dir("/run/netns").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("rp")
                && name.len() > 7
                && !name.starts_with(&format!("rp{id}-"))
                && name.as_bytes().get(6) == Some(&b'-')
        })
    })
}

/// Removes every namespace, veth and bridge and every created directory recorded in `state`,
/// forgetting each as it goes. Objects already gone are not errors. Processes still inside a
/// lab namespace are killed first.
///
/// # Errors
/// The first object that exists but cannot be removed (the rest are still tried).
pub fn destroy(state: &mut LabState) -> Result<(), LabError> {
    let mut first_err = None;
    for ns in state.netns.clone() {
        kill_netns_pids(&ns);
        match ip(&["netns", "del", &ns]) {
            Ok(()) => {}
            Err(e) if !netns_exists(&ns) => drop(e),
            Err(e) => {
                first_err.get_or_insert(e);
                continue;
            }
        }
        state.netns.retain(|n| n != &ns);
        state.save()?;
    }
    for link in state.veths.clone().into_iter().chain(
        state
            .bridges
            .iter()
            .map(|b| b.name.clone())
            .collect::<Vec<_>>(),
    ) {
        if link_exists(&link)
            && let Err(e) = ip(&["link", "del", &link])
            && link_exists(&link)
        {
            first_err.get_or_insert(e);
            continue;
        }
        state.veths.retain(|v| v != &link);
        state.bridges.retain(|b| b.name != link);
        state.save()?;
    }
    if other_labs(&state.id) && !(state.created_dirs.is_empty() && state.created_files.is_empty()) {
        // Leave the bind targets to the last lab (they are empty); say so in the state.
        tracing::warn!(
            "other labs are running: leaving {} created bind target(s) in place",
            state.created_dirs.len() + state.created_files.len()
        );
        state.created_dirs.clear();
        state.created_files.clear();
        state.save()?;
    }
    while let Some(file) = state.created_files.last().cloned() {
        if file.exists()
            && let Err(e) = std::fs::remove_file(&file)
        {
            first_err.get_or_insert(LabError::io(&file, &e));
            break;
        }
        state.created_files.pop();
        state.save()?;
    }
    while let Some(dir) = state.created_dirs.last().cloned() {
        if dir.exists()
            && let Err(e) = std::fs::remove_dir(&dir)
        {
            first_err.get_or_insert(LabError::io(&dir, &e));
            break;
        }
        state.created_dirs.pop();
        state.save()?;
    }
    first_err.map_or(Ok(()), Err)
}

fn netns_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Sends SIGKILL to every process still in namespace `ns`.
pub fn kill_netns_pids(ns: &str) {
    if !netns_exists(ns) {
        return;
    }
    let Ok(out) = run_output(Command::new("ip").args(["netns", "pids", ns])) else {
        return;
    };
    for pid in out.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Whether any namespace, link or bridge whose name starts with `rp<id>` exists.
#[must_use]
pub fn leftovers(id: &str) -> Vec<String> {
    let prefix = format!("rp{id}");
    let mut out = Vec::new();
    for dir in ["/run/netns", "/sys/class/net"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&prefix) {
                    out.push(format!("{dir}/{name}"));
                }
            }
        }
    }
    out
}
