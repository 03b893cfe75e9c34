//! Services: DNS, firewall rules, IP services, identity, clock and NTP, syslog, management ports.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use rackpipe_model::router::{
    Clock, Dns, DnsRecord, FirewallRule, IpService, Router, ServiceName, SyslogTarget,
};
use rackpipe_model::types::{Hostname, RosPropertyName};

use super::SETTINGS;
use super::fit::{Fit, duration, enum_word, host_name, truthy};
use super::mapper::Mapper;
use crate::import::source::EntryKind;

impl Mapper<'_> {
    pub(super) fn dns(&mut self) {
        let path = "/ip/dns";
        let settings = self.source.menu(path).and_then(|m| m.settings.clone());
        if let Some(settings) = settings {
            let typed = self.allowed(path, SETTINGS).and_then(|()| {
                let mut f = Fit::new(&settings.props, self.live);
                Ok(Dns {
                    servers: f.list("servers")?,
                    allow_remote_requests: f.flag("allow-remote-requests")?,
                    records: Vec::new(),
                })
            });
            match typed {
                Ok(dns) => {
                    self.origin("router.dns".to_owned(), path, SETTINGS);
                    self.router.dns = dns;
                    self.rest_of_settings(path, &["servers", "allow-remote-requests"], None);
                }
                Err(reason) => {
                    self.rest_of_settings(path, &[], Some(&reason));
                }
            }
        }
        let records = self.each("/ip/dns/static", EntryKind::Add, |_, _, f| {
            if let Some(t) = f.get("type")
                && t != "A"
                && t != "AAAA"
            {
                return Err(format!(
                    "`type={t}`: the typed field holds A and AAAA records"
                ));
            }
            let ttl = f.get_live("ttl", "1d");
            Ok(DnsRecord {
                name: f.need("name")?,
                address: f.need("address")?,
                ttl: ttl.map(duration).transpose()?,
                comment: f.comment(),
            })
        });
        for (i, r) in records {
            self.origin(
                format!("router.dns.records[{}]", self.router.dns.records.len()),
                "/ip/dns/static",
                i,
            );
            self.router.dns.records.push(r);
        }
    }

    /// The rules of the firewall table `path` into the list `table` (a site path under
    /// `router.`) picks. A comment that is unique in the table is the rule's identity; a rule
    /// without one is matched by its content, and a comment several rules share is kept as a
    /// plain property (`properties.comment`), not as an identity.
    pub(super) fn rules(
        &mut self,
        path: &str,
        table: &str,
        list: fn(&mut Router) -> &mut Vec<FirewallRule>,
    ) {
        let entries = self.entries(path);
        let mut count: HashMap<&str, usize> = HashMap::new();
        for e in entries {
            *count
                .entry(e.props.get("comment").unwrap_or_default())
                .or_default() += 1;
        }
        let unique: Vec<bool> = entries
            .iter()
            .map(|e| {
                let c = e.props.get("comment").unwrap_or_default();
                !c.is_empty() && count.get(c) == Some(&1)
            })
            .collect();
        let rules = self.each(path, EntryKind::Add, |m, i, f| {
            let own = unique.get(i).copied().unwrap_or(false);
            let action = match f.get("action") {
                Some(a) => a.to_owned(),
                None => {
                    m.choices.push(format!(
                        "{path}: a rule without `action` accepts (RouterOS's default)"
                    ));
                    "accept".to_owned()
                }
            };
            let chain = f.req("chain")?.to_owned();
            let comment = f.comment();
            let disabled = f.flag("disabled")?;
            let mut properties = BTreeMap::new();
            if let Some(c) = comment.as_ref().filter(|_| !own) {
                m.choices.push(format!(
                    "{path}: rules sharing the comment {c:?} keep it as a property; they are matched by their content"
                ));
                let key = RosPropertyName::from_str("comment").map_err(|e| e.clone())?;
                properties.insert(key, c.clone());
            }
            for (k, v) in f.props.iter() {
                if ["chain", "action", "comment", "disabled"].contains(&k) {
                    continue;
                }
                if f.live
                    && (["bytes", "packets", "invalid", "dynamic", "builtin"].contains(&k)
                        || (k == "log" && v == "false")
                        || (k == "log-prefix" && v.is_empty()))
                {
                    f.used.push(k.to_owned());
                    continue;
                }
                let key = RosPropertyName::from_str(k)
                    .map_err(|_| format!("`{k}` is not a property name the site accepts"))?;
                f.used.push(k.to_owned());
                properties.insert(key, v.to_owned());
            }
            Ok(FirewallRule {
                comment: comment.filter(|_| own),
                chain,
                action,
                properties,
                disabled,
            })
        });
        for (i, r) in rules {
            let list = list(&mut self.router);
            let site_path = format!("router.{table}[{}]", list.len());
            list.push(r);
            self.origin(site_path, path, i);
        }
    }

    pub(super) fn system(&mut self) {
        let services = self.each("/ip/service", EntryKind::Existing, |_, _, f| {
            let certificate = f
                .get("certificate")
                .filter(|c| *c != "none" && !c.is_empty())
                .map(str::to_owned);
            Ok(IpService {
                name: enum_word::<ServiceName>(f.req("name")?)?,
                port: f.opt("port")?,
                address: f.list("address")?,
                disabled: f.flag("disabled")?,
                certificate,
                tls_version: f.get_live("tls-version", "any").map(str::to_owned),
            })
        });
        for (i, s) in services {
            self.origin(
                format!("router.services[{}]", self.router.services.len()),
                "/ip/service",
                i,
            );
            self.router.services.push(s);
        }
        self.syslog();
        // Identity: required by the site.
        let identity = self
            .source
            .menu("/system/identity")
            .and_then(|m| m.settings.as_ref())
            .and_then(|s| s.props.get("name").map(str::to_owned));
        match identity {
            Some(name) if Hostname::from_str(&name).is_ok() => self.router.identity = name,
            Some(name) => {
                let fixed = host_name(&name);
                self.comment(
                    "router.identity".to_owned(),
                    "the router's identity is not a host name; renamed (the plan will set it)"
                        .to_owned(),
                );
                self.choices.push(format!(
                    "the identity {name:?} is not a host name; the site names the router {fixed} (the first plan sets it)"
                ));
                self.router.identity = fixed;
            }
            None => {
                self.comment(
                    "router.identity".to_owned(),
                    "not in the export: RouterOS's default name".to_owned(),
                );
                self.router.identity = "MikroTik".to_owned();
            }
        }
        self.rest_of_settings("/system/identity", &["name"], None);
        // Clock and NTP: typed only with a time zone.
        let clock = self
            .source
            .menu("/system/clock")
            .and_then(|m| m.settings.clone());
        let zone = clock
            .as_ref()
            .and_then(|c| c.props.get("time-zone-name").map(str::to_owned))
            .filter(|_| self.allowed("/system/clock", SETTINGS).is_ok());
        let Some(time_zone) = zone else {
            for path in ["/system/clock", "/system/ntp/client", "/system/ntp/server"] {
                self.rest_of_settings(path, &[], Some("the typed clock needs `time-zone-name`"));
            }
            return;
        };
        self.origin("router.clock".to_owned(), "/system/clock", SETTINGS);
        self.rest_of_settings("/system/clock", &["time-zone-name"], None);
        let client = self
            .source
            .menu("/system/ntp/client")
            .and_then(|m| m.settings.clone());
        let mut ntp_servers = Vec::new();
        if let Some(client) =
            client.filter(|_| self.allowed("/system/ntp/client", SETTINGS).is_ok())
        {
            let enabled = client.props.get("enabled").and_then(truthy) == Some(true);
            let servers: Vec<String> = client
                .props
                .get("servers")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if enabled && !servers.is_empty() {
                ntp_servers = servers;
                self.origin(
                    "router.clock.ntp_servers".to_owned(),
                    "/system/ntp/client",
                    SETTINGS,
                );
                self.rest_of_settings("/system/ntp/client", &["enabled", "servers"], None);
            } else {
                self.rest_of_settings(
                    "/system/ntp/client",
                    &[],
                    Some("the typed clock holds an enabled client with `servers`"),
                );
            }
        }
        let server = self
            .source
            .menu("/system/ntp/server")
            .and_then(|m| m.settings.clone());
        let ntp_server = server
            .as_ref()
            .and_then(|s| s.props.get("enabled"))
            .and_then(truthy)
            .unwrap_or(false);
        self.rest_of_settings("/system/ntp/server", &["enabled"], None);
        self.router.clock = Some(Clock {
            time_zone,
            ntp_servers,
            ntp_server,
        });
    }

    pub(super) fn syslog(&mut self) {
        let targets = self.each("/system/logging/action", EntryKind::Add, |_, _, f| {
            let target = f.req("target")?;
            if target != "remote" {
                return Err(format!(
                    "`target={target}`: the typed syslog holds remote targets"
                ));
            }
            let port = match f.get_live("remote-port", "514") {
                None => 514,
                Some(v) => v
                    .parse::<u16>()
                    .map_err(|_| format!("`remote-port={v}` is not a port"))?,
            };
            Ok(SyslogTarget {
                name: f.need("name")?,
                remote: f.need("remote")?,
                port,
                topics: Vec::new(),
            })
        });
        for (i, t) in targets {
            self.origin(
                format!("router.syslog[{}]", self.router.syslog.len()),
                "/system/logging/action",
                i,
            );
            self.router.syslog.push(t);
        }
        let names: Vec<String> = self
            .router
            .syslog
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        let rules = self.each("/system/logging", EntryKind::Add, |_, _, f| {
            let action = f.get("action").unwrap_or("memory");
            let target = names
                .iter()
                .position(|n| n == action)
                .ok_or_else(|| format!("its action `{action}` is not a typed remote target"))?;
            let topics = f.req("topics")?;
            if topics.contains(',') || topics.is_empty() {
                return Err(format!(
                    "`topics={topics}`: the typed syslog holds one topic per rule"
                ));
            }
            Ok((target, topics.to_owned()))
        });
        for (i, (t, topic)) in rules {
            let target = &mut self.router.syslog[t];
            let path = format!("router.syslog[{t}].topics[{}]", target.topics.len());
            target.topics.push(topic);
            self.origin(path, "/system/logging", i);
        }
    }

    /// The management ports the services give (validate checks that they agree): SSH, and
    /// the REST port (`www-ssl`), noted when the import reached the router elsewhere.
    pub(super) fn ports_from_services(&mut self, placeholder: bool) {
        let port = |name: ServiceName| {
            self.router
                .services
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.port)
        };
        let (ssh, https) = (port(ServiceName::Ssh), port(ServiceName::WwwSsl));
        let m = &mut self.router.management;
        if let Some(p) = ssh {
            m.ssh_port = p;
        }
        if let Some(p) = https
            && p != m.rest_port
        {
            if !placeholder {
                self.comments.push((
                    "router.management.rest_port".to_owned(),
                    format!(
                        "the router's www-ssl port; the import reached it at port {}",
                        m.rest_port
                    ),
                ));
            }
            m.rest_port = p;
        }
    }
}
