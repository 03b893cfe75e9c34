//! The `load_balancer` section: VRRP instances, VIPs, services and their backends.

use std::collections::HashMap;

use super::{Checker, unique};

impl Checker<'_> {
    pub(super) fn load_balancer(&mut self) {
        let Some(lb) = &self.site.load_balancer else {
            return;
        };
        let mut vrids: HashMap<(&str, u8), String> = HashMap::new();
        for (i, v) in lb.vips.iter().enumerate() {
            let path = format!("load_balancer.vips[{i}].vrid");
            if let Some(first) = vrids.get(&(v.segment.as_str(), v.vrid)) {
                self.err(
                    "duplicate",
                    path,
                    format!(
                        "VRID {} is already used on segment {:?} by {first}",
                        v.vrid,
                        v.segment.as_str()
                    ),
                );
            } else {
                vrids.insert((v.segment.as_str(), v.vrid), path);
            }
        }
        // Services sharing a VIP and port are told apart by distinct SNI names; one may be the default.
        let mut listeners: HashMap<(&str, u16), Vec<usize>> = HashMap::new();
        for (i, s) in lb.services.iter().enumerate() {
            listeners
                .entry((s.vip.as_str(), s.port))
                .or_default()
                .push(i);
        }
        let mut shared: Vec<(&(&str, u16), &Vec<usize>)> =
            listeners.iter().filter(|(_, v)| v.len() > 1).collect();
        shared.sort_by_key(|(_, v)| v[0]);
        for ((vip, port), services) in shared {
            let mut names: HashMap<String, usize> = HashMap::new();
            let mut default_of_listener: Option<usize> = None;
            for &i in services.iter() {
                let s = &lb.services[i];
                let path = format!("load_balancer.services[{i}]");
                match &s.sni {
                    None => {
                        // One service without SNI may take what no name matches (the default).
                        if let Some(first) = default_of_listener {
                            self.err(
                                "port-conflict",
                                path,
                                format!("port {port} on VIP {vip:?} already has load_balancer.services[{first}] as its default (no sni); give this service an sni"),
                            );
                        } else {
                            default_of_listener = Some(i);
                        }
                    }
                    Some(name) => {
                        let key = name.as_str().to_ascii_lowercase();
                        if let Some(first) = names.get(&key) {
                            self.err("duplicate", format!("{path}.sni"), format!("SNI {key:?} on {vip}:{port} is already routed to load_balancer.services[{first}]"));
                        } else {
                            names.insert(key, i);
                        }
                    }
                }
            }
        }
        unique(
            self.out,
            "VIP name",
            lb.vips
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("load_balancer.vips[{i}].name"), v.name.as_str())),
        );
        unique(
            self.out,
            "instance name",
            lb.instances.iter().enumerate().map(|(i, v)| {
                (
                    format!("load_balancer.instances[{i}].name"),
                    v.name.as_str(),
                )
            }),
        );
        unique(
            self.out,
            "service name",
            lb.services
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("load_balancer.services[{i}].name"), v.name.as_str())),
        );
        for (i, v) in lb.vips.iter().enumerate() {
            match self.segment(&v.segment) {
                None => self.err(
                    "dangling-reference",
                    format!("load_balancer.vips[{i}].segment"),
                    format!("no segment named {:?}", v.segment.as_str()),
                ),
                Some(s) if !s.cidr.contains(v.address) => {
                    let cidr = s.cidr;
                    self.err(
                        "outside-segment",
                        format!("load_balancer.vips[{i}].address"),
                        format!(
                            "VIP {} is outside segment {:?} ({cidr})",
                            v.address,
                            v.segment.as_str()
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        for (i, inst) in lb.instances.iter().enumerate() {
            if self.address_of(&inst.guest).is_none() {
                self.err(
                    "dangling-reference",
                    format!("load_balancer.instances[{i}].guest"),
                    format!("no guest or host {:?} with an address", inst.guest.as_str()),
                );
            }
        }
        self.placement(
            "load balancer",
            lb.allow_colocation,
            lb.instances
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("load_balancer.instances[{i}].guest"), &n.guest)),
        );
        for (i, s) in lb.services.iter().enumerate() {
            if !lb.vips.iter().any(|v| v.name == s.vip) {
                self.err(
                    "dangling-reference",
                    format!("load_balancer.services[{i}].vip"),
                    format!("no VIP named {:?}", s.vip.as_str()),
                );
            }
            for (j, b) in s.backends.iter().enumerate() {
                if self.address_of(&b.target).is_none() {
                    self.err(
                        "dangling-reference",
                        format!("load_balancer.services[{i}].backends[{j}].target"),
                        format!("no guest or host {:?} with an address", b.target.as_str()),
                    );
                }
            }
        }
    }
}
