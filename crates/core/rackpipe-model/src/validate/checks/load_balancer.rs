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
                None if self.known("segments") => self.err(
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
                _ => {}
            }
        }
        for (i, inst) in lb.instances.iter().enumerate() {
            if self.machines_known() && self.address_of(&inst.guest).is_none() {
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
        self.haproxy_keepalived_rules(lb);
        for (i, s) in lb.services.iter().enumerate() {
            if !lb.vips.iter().any(|v| v.name == s.vip) {
                self.err(
                    "dangling-reference",
                    format!("load_balancer.services[{i}].vip"),
                    format!("no VIP named {:?}", s.vip.as_str()),
                );
            }
            for (j, b) in s.backends.iter().enumerate() {
                if self.machines_known() && self.address_of(&b.target).is_none() {
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

/// HAProxy's timers are signed 32-bit milliseconds: a longer time is refused as too large.
const HAPROXY_MAX_TIMER_MS: u64 = 2_147_483_647;

impl Checker<'_> {
    /// What `haproxy -c` or keepalived would refuse in the configuration rendered from the
    /// site: two servers of one backend with one name, names that collide once rendered, a
    /// listener without a port, a check interval HAProxy cannot hold, a zero advert interval.
    fn haproxy_keepalived_rules(&mut self, lb: &crate::loadbalancer::LoadBalancer) {
        for (i, s) in lb.services.iter().enumerate() {
            let mut seen: HashMap<(&str, u16), usize> = HashMap::new();
            for (j, b) in s.backends.iter().enumerate() {
                if let Some(first) = seen.get(&(b.target.as_str(), b.port)) {
                    self.err(
                        "duplicate-server",
                        format!("load_balancer.services[{i}].backends[{j}]"),
                        format!(
                            "{}:{} is already load_balancer.services[{i}].backends[{first}]: HAProxy would get one server twice (haproxy-gen names the copy {}-{}), send it a double share and check it twice",
                            b.target.as_str(),
                            b.port,
                            b.target.as_str(),
                            b.port
                        ),
                    );
                } else {
                    seen.insert((b.target.as_str(), b.port), j);
                }
            }
            let mut names: HashMap<String, usize> = HashMap::new();
            for (j, name) in s.server_names().into_iter().enumerate() {
                if let Some(first) = names.get(&name) {
                    self.err(
                        "duplicate-server",
                        format!("load_balancer.services[{i}].backends[{j}].name"),
                        format!(
                            "server name {name:?} is already load_balancer.services[{i}].backends[{first}]'s: haproxy -c refuses two servers of one backend with one name"
                        ),
                    );
                } else {
                    names.insert(name, j);
                }
            }
            if s.port == 0 {
                self.err(
                    "bind-port",
                    format!("load_balancer.services[{i}].port"),
                    "port 0: haproxy -c refuses the frontend's bind line (\"'bind' : invalid port '0'\")",
                );
            }
            if let Some(d) = &s.check_interval {
                let ms = d.as_millis();
                if ms == 0 || ms > HAPROXY_MAX_TIMER_MS {
                    self.err(
                        "timeout",
                        format!("load_balancer.services[{i}].check_interval"),
                        format!(
                            "check_interval {d} becomes the servers' inter, which haproxy -c refuses ({})",
                            if ms == 0 {
                                "\"invalid value 0 for argument 'inter'\"".to_owned()
                            } else {
                                format!("\"timer overflow\": the maximum is {HAPROXY_MAX_TIMER_MS} ms, about 24.8 days")
                            }
                        ),
                    );
                }
            }
        }
        if let Some(st) = &lb.stats
            && st.port == 0
        {
            self.err(
                "bind-port",
                "load_balancer.stats.port",
                "port 0: haproxy -c refuses the stats bind line (\"'bind' : invalid port '0'\")",
            );
        }
        let mut lowered: HashMap<String, usize> = HashMap::new();
        for (i, v) in lb.vips.iter().enumerate() {
            let key = v.name.as_str().to_ascii_lowercase();
            match lowered.get(&key) {
                Some(&first) if lb.vips[first].name != v.name => self.err(
                    "name-collision",
                    format!("load_balancer.vips[{i}].name"),
                    format!(
                        "{:?} and load_balancer.vips[{first}].name {:?} differ only in case, and the rendered names are lower case: the keepalived check script of both is chk_haproxy_{key}, and the HAProxy frontends of a port both use are both fe_{key}_PORT, which haproxy -c refuses (\"frontend 'fe_{key}_PORT' has the same name as frontend ...\")",
                        v.name.as_str(),
                        lb.vips[first].name.as_str()
                    ),
                ),
                Some(_) => {}
                None => {
                    lowered.insert(key, i);
                }
            }
            if v.advert_int == 0 {
                self.err(
                    "advert-int",
                    format!("load_balancer.vips[{i}].advert_int"),
                    "advert_int 0: keepalived reports \"Advert interval (0) not valid! Must be > 0 - ignoring\" and advertises every second instead",
                );
            }
            if let (Some(c), Some(name)) = (&v.check, v.check_name())
                && c.name.is_some()
            {
                let other = lb
                    .vips
                    .iter()
                    .position(|o| o.check.is_some() && o.check_name().as_deref() == Some(&name));
                if let Some(first) = other.filter(|&f| f != i) {
                    self.err(
                        "name-collision",
                        format!("load_balancer.vips[{i}].check.name"),
                        format!("{name:?} is already the check of load_balancer.vips[{first}]: keepalived would keep one vrrp_script of that name for both VIPs"),
                    );
                }
            }
            if let Some(user) = v.check.as_ref().and_then(|c| c.user.as_deref()) {
                let mut chars = user.chars();
                let first_ok = chars
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
                let rest_ok = chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
                if !first_ok || !rest_ok || user.len() > 32 {
                    self.err(
                        "vrrp-endpoint",
                        format!("load_balancer.vips[{i}].check.user"),
                        format!("{user:?} is not a system user name (lower-case letters, digits, '_', '-'; at most 32)"),
                    );
                }
            }
            if let Some(e) = v.check.as_ref().and_then(|c| c.endpoint.as_ref()) {
                if e.status.is_empty() || e.status.iter().any(|s| !(100..=599).contains(s)) {
                    self.err(
                        "vrrp-endpoint",
                        format!("load_balancer.vips[{i}].check.endpoint.status"),
                        "status: one or more HTTP status codes (100 to 599) that count as healthy",
                    );
                }
                let path_char =
                    |c: char| c.is_ascii_alphanumeric() || "._~!$&()*+,;=:@%/?-".contains(c);
                if !e.path.starts_with('/') || !e.path.chars().all(path_char) {
                    self.err(
                        "vrrp-endpoint",
                        format!("load_balancer.vips[{i}].check.endpoint.path"),
                        format!("{:?} is not a URL path with its query (starts with '/', no spaces, quotes or '#')", e.path),
                    );
                }
                if e.port == 0 {
                    self.err(
                        "vrrp-endpoint",
                        format!("load_balancer.vips[{i}].check.endpoint.port"),
                        "port 0: the check could never connect",
                    );
                }
            }
            if let Some(c) = &v.check
                && c.interval == 0
            {
                self.err(
                    "timeout",
                    format!("load_balancer.vips[{i}].check.interval"),
                    "interval 0: keepalived reports \"vrrp script interval must be greater than 0, setting to 1\" and runs the check every second instead",
                );
            }
        }
    }
}
