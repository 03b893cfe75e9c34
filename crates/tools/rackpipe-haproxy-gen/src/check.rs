//! Load-balancer rules the site model's generic validation does not know.
//!
//! Every finding names the field path (`load_balancer.services[2].backends[0].target`).
//! Generic references (does a segment exist at all) are the model's job; these rules are about
//! what HAProxy and keepalived need.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rackpipe_model::loadbalancer::{HealthCheck, LbService, ProxyMode, VrrpState};
use rackpipe_model::{Diagnostic, Site};

const LB: &str = "load_balancer";

/// Every address a guest or host of the site has, with the segment it is declared on.
pub(crate) fn addresses_of(site: &Site, name: &str) -> Option<Vec<(IpAddr, Option<String>)>> {
    if let Some(guest) = site
        .proxmox
        .as_ref()
        .and_then(|p| p.guests.iter().find(|g| g.name == *name))
    {
        return Some(
            guest
                .nics
                .iter()
                .filter_map(|n| {
                    n.address
                        .map(|a| (a.ip(), n.segment.as_ref().map(ToString::to_string)))
                })
                .collect(),
        );
    }
    site.hosts
        .iter()
        .find(|h| h.name == *name)
        .map(|h| vec![(h.address, Some(h.segment.to_string()))])
}

/// The address of `name` on `segment` (declared there, or inside its CIDR).
pub(crate) fn address_on_segment(site: &Site, name: &str, segment: &str) -> Option<IpAddr> {
    let cidr = site
        .segments
        .iter()
        .find(|s| s.name == *segment)
        .map(|s| s.cidr);
    addresses_of(site, name)?
        .into_iter()
        .find(|(ip, seg)| seg.as_deref() == Some(segment) || cidr.is_some_and(|c| c.contains(*ip)))
        .map(|(ip, _)| ip)
}

/// The address HAProxy uses for a backend: the first address of the guest or host.
pub(crate) fn backend_address(site: &Site, name: &str) -> Result<IpAddr, String> {
    match addresses_of(site, name) {
        None => Err(format!(
            "{name:?} is neither a guest (proxmox.guests) nor a host (hosts) of the site"
        )),
        Some(addrs) => addrs.first().map(|(ip, _)| *ip).ok_or_else(|| {
            format!("guest {name:?} has no NIC with an address, so HAProxy cannot reach it")
        }),
    }
}

/// Whether the service's backends speak TLS.
pub(crate) fn backend_tls(service: &LbService) -> bool {
    service.backend_tls.as_ref().map_or(
        matches!(
            service.check,
            HealthCheck::VaultActive | HealthCheck::ConsulLeader | HealthCheck::KubernetesReadyz
        ),
        |t| t.enabled,
    )
}

/// Runs every load-balancer rule; an empty list when the site has no `load_balancer`.
#[must_use]
pub fn check(site: &Site) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(lb) = &site.load_balancer else {
        return out;
    };

    // VIPs: segment, address inside it, VRID unique per segment.
    let mut vrids: BTreeMap<(String, u8), usize> = BTreeMap::new();
    for (i, vip) in lb.vips.iter().enumerate() {
        let path = format!("{LB}.vips[{i}]");
        match site.segments.iter().find(|s| s.name == vip.segment) {
            None => out.push(Diagnostic::error(
                "lb-vip-segment",
                format!("{path}.segment"),
                format!("unknown segment {:?}", vip.segment.as_str()),
            )),
            Some(seg) if !seg.cidr.contains(vip.address) => out.push(Diagnostic::error(
                "lb-vip-outside-segment",
                format!("{path}.address"),
                format!(
                    "VIP {} is outside its segment {} ({})",
                    vip.address, seg.name, seg.cidr
                ),
            )),
            Some(_) => {}
        }
        if let Some(first) = vrids.insert((vip.segment.to_string(), vip.vrid), i) {
            out.push(Diagnostic::error(
                "lb-duplicate-vrid",
                format!("{path}.vrid"),
                format!(
                    "VRID {} is already used on segment {} by {LB}.vips[{first}] ({}); VRRP routers on one segment need distinct ids",
                    vip.vrid, vip.segment, lb.vips[first].name
                ),
            ));
        }
        if let Some(e) = vip.check.as_ref().and_then(|c| c.endpoint.as_ref())
            && e.tls
            && e.ca_file.is_none()
        {
            out.push(Diagnostic::warning(
                "lb-check-unverified",
                format!("{path}.check.endpoint.ca_file"),
                "the VRRP endpoint check does not verify the service's certificate (set check.endpoint.ca_file)",
            ));
        }
        if vip.unicast && lb.instances.len() < 2 {
            out.push(Diagnostic::warning(
                "lb-unicast-alone",
                format!("{path}.unicast"),
                "unicast VRRP with a single instance has no peers",
            ));
        }
        if vip.nopreempt
            && let Some((j, inst)) = lb
                .instances
                .iter()
                .enumerate()
                .find(|(_, i)| i.state == VrrpState::Master)
        {
            out.push(Diagnostic::warning(
                "lb-nopreempt-master",
                format!("{LB}.instances[{j}].state"),
                format!(
                    "instance {} starts as MASTER but VIP {} has nopreempt, which keepalived only honours in state BACKUP; rendered as BACKUP (the highest priority still wins the first election)",
                    inst.name, vip.name
                ),
            ));
        }
    }

    // Instances: unique names and guests, an address on every VIP's segment, priorities.
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut guests: BTreeMap<&str, usize> = BTreeMap::new();
    let mut priorities: BTreeMap<u8, usize> = BTreeMap::new();
    for (i, inst) in lb.instances.iter().enumerate() {
        let path = format!("{LB}.instances[{i}]");
        if let Some(first) = names.insert(inst.name.as_str(), i) {
            out.push(Diagnostic::error(
                "lb-duplicate-instance",
                format!("{path}.name"),
                format!(
                    "instance name {:?} is already used by {LB}.instances[{first}]",
                    inst.name.as_str()
                ),
            ));
        }
        if let Some(first) = guests.insert(inst.guest.as_str(), i) {
            out.push(Diagnostic::error(
                "lb-duplicate-instance",
                format!("{path}.guest"),
                format!(
                    "guest {:?} already runs {LB}.instances[{first}]",
                    inst.guest.as_str()
                ),
            ));
        }
        if inst.priority == 0 || inst.priority == 255 {
            out.push(Diagnostic::error(
                "lb-priority",
                format!("{path}.priority"),
                format!("priority {} is reserved by VRRP; use 1..254", inst.priority),
            ));
        }
        if let Some(first) = priorities.insert(inst.priority, i) {
            out.push(Diagnostic::warning(
                "lb-duplicate-priority",
                format!("{path}.priority"),
                format!(
                    "priority {} equals {LB}.instances[{first}]'s; the higher address wins ties",
                    inst.priority
                ),
            ));
        }
        if addresses_of(site, inst.guest.as_str()).is_none() {
            out.push(Diagnostic::error(
                "lb-unresolved",
                format!("{path}.guest"),
                format!(
                    "{:?} is neither a guest (proxmox.guests) nor a host (hosts) of the site",
                    inst.guest.as_str()
                ),
            ));
            continue;
        }
        for vip in &lb.vips {
            if address_on_segment(site, inst.guest.as_str(), vip.segment.as_str()).is_none() {
                out.push(Diagnostic::error(
                    "lb-instance-segment",
                    format!("{path}.guest"),
                    format!(
                        "{} has no address on segment {} where VIP {} lives",
                        inst.guest, vip.segment, vip.name
                    ),
                ));
            }
        }
        if let Some(fp) = &inst.ssh_host_key
            && !fp.starts_with("SHA256:")
        {
            out.push(Diagnostic::error(
                "lb-ssh-host-key",
                format!("{path}.ssh_host_key"),
                format!("{fp:?} is not a SHA-256 fingerprint (SHA256:…, from ssh-keygen -lf)"),
            ));
        }
    }

    // Services: VIP exists, backends resolve, modes and TLS are coherent, ports not bound twice.
    let mut listeners: BTreeMap<(String, u16), Vec<usize>> = BTreeMap::new();
    for (i, svc) in lb.services.iter().enumerate() {
        let path = format!("{LB}.services[{i}]");
        if !lb.vips.iter().any(|v| v.name == svc.vip) {
            out.push(Diagnostic::error(
                "lb-unknown-vip",
                format!("{path}.vip"),
                format!("no VIP named {:?} in {LB}.vips", svc.vip.as_str()),
            ));
        }
        for (j, be) in svc.backends.iter().enumerate() {
            if let Err(message) = backend_address(site, be.target.as_str()) {
                out.push(Diagnostic::error(
                    "lb-unresolved",
                    format!("{path}.backends[{j}].target"),
                    message,
                ));
            }
        }
        if svc.tls_certificate.is_some() && svc.mode == ProxyMode::Tcp {
            out.push(Diagnostic::error(
                "lb-tls-mode",
                format!("{path}.tls_certificate"),
                "TLS termination needs mode http; mode tcp passes TLS through (route by sni instead)",
            ));
        }
        let tls = backend_tls(svc);
        if svc.check == HealthCheck::KubernetesReadyz && !tls {
            out.push(Diagnostic::error(
                "lb-check-tls",
                format!("{path}.backend_tls.enabled"),
                "kubernetes_readyz checks the API server, which only speaks TLS",
            ));
        }
        if tls
            && svc.check != HealthCheck::Tcp
            && svc
                .backend_tls
                .as_ref()
                .and_then(|t| t.ca_file.as_ref())
                .is_none()
        {
            out.push(Diagnostic::warning(
                "lb-check-unverified",
                format!("{path}.backend_tls.ca_file"),
                format!("the {} health check does not verify the backends' certificates (set backend_tls.ca_file)", check_name(svc.check)),
            ));
        }
        listeners
            .entry((svc.vip.to_string(), svc.port))
            .or_default()
            .push(i);
    }
    for ((vip, port), members) in &listeners {
        let svcs: Vec<&LbService> = members.iter().map(|&i| &lb.services[i]).collect();
        let Some(&first) = members.first() else {
            continue;
        };
        let mode = lb.services[first].mode;
        for (&i, svc) in members.iter().zip(&svcs).skip(1) {
            if svc.mode != mode {
                out.push(Diagnostic::error(
                    "lb-port-bound-twice",
                    format!("{LB}.services[{i}].port"),
                    format!(
                        "port {port} on VIP {vip} is bound twice: mode {} here, mode {} in {LB}.services[{first}] ({})",
                        mode_name(svc.mode),
                        mode_name(mode),
                        lb.services[first].name
                    ),
                ));
            }
        }
        let mut default: Option<usize> = None;
        let mut snis: BTreeMap<String, usize> = BTreeMap::new();
        for (&i, svc) in members.iter().zip(&svcs) {
            match &svc.sni {
                None => {
                    if let Some(d) = default {
                        out.push(Diagnostic::error(
                            "lb-port-bound-twice",
                            format!("{LB}.services[{i}].port"),
                            format!(
                                "port {port} on VIP {vip} is bound twice: {LB}.services[{d}] ({}) also takes it without an sni to route by",
                                lb.services[d].name
                            ),
                        ));
                    } else {
                        default = Some(i);
                    }
                }
                Some(name) => {
                    if let Some(d) = snis.insert(name.as_str().to_ascii_lowercase(), i) {
                        out.push(Diagnostic::error(
                            "lb-port-bound-twice",
                            format!("{LB}.services[{i}].sni"),
                            format!("sni {name} on {vip}:{port} is already routed to {LB}.services[{d}] ({})", lb.services[d].name),
                        ));
                    }
                }
            }
        }
        if mode == ProxyMode::Http {
            let terminating = svcs.iter().filter(|s| s.tls_certificate.is_some()).count();
            if terminating != 0 && terminating != svcs.len() {
                out.push(Diagnostic::error(
                    "lb-port-bound-twice",
                    format!("{LB}.services[{first}].tls_certificate"),
                    format!("port {port} on VIP {vip}: either every service on it terminates TLS or none does"),
                ));
            }
        }
    }
    if let Some(stats) = &lb.stats
        && lb.services.iter().any(|s| s.port == stats.port)
    {
        out.push(Diagnostic::warning(
            "lb-stats-port",
            format!("{LB}.stats.port"),
            format!("stats port {} is also a service port; stats bind the instance address, services the VIP", stats.port),
        ));
    }
    out
}

pub(crate) fn check_name(check: HealthCheck) -> &'static str {
    match check {
        HealthCheck::VaultActive => "vault_active",
        HealthCheck::ConsulLeader => "consul_leader",
        HealthCheck::KubernetesReadyz => "kubernetes_readyz",
        HealthCheck::TraefikPing => "traefik_ping",
        HealthCheck::Http => "http",
        HealthCheck::Tcp => "tcp",
    }
}

pub(crate) fn mode_name(mode: ProxyMode) -> &'static str {
    match mode {
        ProxyMode::Tcp => "tcp",
        ProxyMode::Http => "http",
    }
}
