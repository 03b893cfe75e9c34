//! The desired state of the typed menus beyond interfaces and addressing (issue 18): firewall
//! tables (every IPv4 one), interface lists and members, WireGuard, VRRP, routes,
//! IPv6 addresses, DHCP clients, neighbor discovery, NTP client servers, scripts and the
//! scheduler. Each typed field becomes the property RouterOS names it; an absent optional
//! field is left out (the router keeps its default).

use rackpipe_model::router::{FirewallRule, Route, Router, VrrpAuthentication, VrrpProtocol};
use rackpipe_routeros::Command;

use crate::P;

/// The rules of one firewall table, in order (a rule's `comment` last, as before).
pub(crate) fn rules(path: &str, rules: &[FirewallRule], push: &mut impl FnMut(&str, Command)) {
    for rule in rules {
        let mut props = P::new()
            .set("chain", rule.chain.as_str())
            .set("action", rule.action.as_str());
        for (k, v) in &rule.properties {
            props = props.set(k.as_str(), v.as_str());
        }
        if rule.disabled {
            props = props.set("disabled", "yes");
        }
        props = props.opt("comment", rule.comment.as_ref());
        push(path, Command::add(props.0));
    }
}

fn route(path: &str, r: &Route, push: &mut impl FnMut(&str, Command)) {
    let props = P::new()
        .opt("dst-address", r.dst_address.as_ref())
        .opt("gateway", r.gateway.as_ref())
        .opt("distance", r.distance)
        .opt("routing-table", r.routing_table.as_ref())
        .opt("scope", r.scope)
        .opt("target-scope", r.target_scope)
        .opt("pref-src", r.pref_src)
        .opt_yes("suppress-hw-offload", r.suppress_hw_offload)
        .opt("check-gateway", r.check_gateway.as_ref())
        .flag("blackhole", r.blackhole)
        .flag("disabled", r.disabled)
        .opt("comment", r.comment.as_ref());
    push(path, Command::add(props.0));
}

/// Every menu of this module.
pub(crate) fn push_all(r: &Router, push: &mut impl FnMut(&str, Command)) {
    interfaces(r, push);
    addressing(r, push);
    system(r, push);
}

fn interfaces(r: &Router, push: &mut impl FnMut(&str, Command)) {
    for w in &r.wireguard.interfaces {
        let props = P::new()
            .set("name", w.name.as_str())
            .opt("listen-port", w.listen_port)
            .opt("mtu", w.mtu)
            .flag("disabled", w.disabled)
            .opt("comment", w.comment.as_ref());
        push("/interface/wireguard", Command::add(props.0));
    }
    for p in &r.wireguard.peers {
        let props = P::new()
            .set("interface", p.interface.as_str())
            .set("public-key", p.public_key.as_str())
            .opt("name", p.name.as_ref())
            .list("allowed-address", &p.allowed_address)
            .opt("endpoint-address", p.endpoint_address.as_ref())
            .opt("endpoint-port", p.endpoint_port)
            .opt("persistent-keepalive", p.persistent_keepalive.as_ref())
            .opt_yes("responder", p.responder)
            .opt("client-address", p.client_address.as_ref())
            .opt("client-dns", p.client_dns.as_ref())
            .opt("client-endpoint", p.client_endpoint.as_ref())
            .opt("client-keepalive", p.client_keepalive.as_ref())
            .opt("client-listen-port", p.client_listen_port)
            .flag("disabled", p.disabled)
            .opt("comment", p.comment.as_ref());
        push("/interface/wireguard/peers", Command::add(props.0));
    }
    for v in &r.vrrp {
        let protocol = v.v3_protocol.map(|p| match p {
            VrrpProtocol::Ipv4 => "ipv4",
            VrrpProtocol::Ipv6 => "ipv6",
        });
        let authentication = v.authentication.map(|a| match a {
            VrrpAuthentication::None => "none",
            VrrpAuthentication::Simple => "simple",
            VrrpAuthentication::Ah => "ah",
        });
        let props = P::new()
            .set("name", v.name.as_str())
            .set("interface", v.interface.as_str())
            .opt("vrid", v.vrid)
            .opt("priority", v.priority)
            .opt("version", v.version)
            .opt("v3-protocol", protocol)
            .opt("group-authority", v.group_authority.as_ref())
            .opt("authentication", authentication)
            .opt("mtu", v.mtu)
            .flag("disabled", v.disabled)
            .opt("comment", v.comment.as_ref());
        push("/interface/vrrp", Command::add(props.0));
    }
    for l in &r.interface_lists {
        let props = P::new()
            .set("name", l.name.as_str())
            .list("include", &l.include)
            .list("exclude", &l.exclude)
            .opt("comment", l.comment.as_ref());
        push("/interface/list", Command::add(props.0));
    }
    for m in &r.interface_list_members {
        let props = P::new()
            .set("list", m.list.as_str())
            .set("interface", m.interface.as_str())
            .flag("disabled", m.disabled)
            .opt("comment", m.comment.as_ref());
        push("/interface/list/member", Command::add(props.0));
    }
    if let Some(nd) = &r.neighbor_discovery {
        let props = P::new()
            .opt(
                "discover-interface-list",
                nd.discover_interface_list.as_ref(),
            )
            .list("protocol", &nd.protocol);
        push(
            "/ip/neighbor/discovery-settings",
            Command::set(None, props.0),
        );
    }
}

fn addressing(r: &Router, push: &mut impl FnMut(&str, Command)) {
    for a in &r.ipv6.addresses {
        let props = P::new()
            .set("address", a.address.to_string())
            .set("interface", a.interface.as_str())
            .opt_yes("advertise", a.advertise)
            .flag("disabled", a.disabled)
            .opt("comment", a.comment.as_ref());
        push("/ipv6/address", Command::add(props.0));
    }
    for c in &r.dhcp_clients {
        let props = P::new()
            .set("interface", c.interface.as_str())
            .opt_yes("use-peer-dns", c.use_peer_dns)
            .opt_yes("use-peer-ntp", c.use_peer_ntp)
            .opt("add-default-route", c.add_default_route.as_ref())
            .opt("default-route-distance", c.default_route_distance)
            .opt("script", c.script.as_ref())
            .flag("disabled", c.disabled)
            .opt("comment", c.comment.as_ref());
        push("/ip/dhcp-client", Command::add(props.0));
    }
    for rt in &r.routes {
        route("/ip/route", rt, push);
    }
    for rt in &r.ipv6.routes {
        route("/ipv6/route", rt, push);
    }
}

fn system(r: &Router, push: &mut impl FnMut(&str, Command)) {
    for s in &r.ntp_client_servers {
        let props = P::new()
            .set("address", s.address.as_str())
            .flag("disabled", s.disabled)
            .opt("comment", s.comment.as_ref());
        push("/system/ntp/client/servers", Command::add(props.0));
    }
    for s in &r.scripts {
        let props = P::new()
            .set("name", s.name.as_str())
            .opt("owner", s.owner.as_ref())
            .list("policy", &s.policy)
            .opt_yes("dont-require-permissions", s.dont_require_permissions)
            .set("source", s.source.as_str())
            .opt("comment", s.comment.as_ref());
        push("/system/script", Command::add(props.0));
    }
    for s in &r.scheduler {
        let props = P::new()
            .set("name", s.name.as_str())
            .opt("start-date", s.start_date.as_ref())
            .opt("start-time", s.start_time.as_ref())
            .opt("interval", s.interval.as_ref())
            .list("policy", &s.policy)
            .set("on-event", s.on_event.as_str())
            .flag("disabled", s.disabled)
            .opt("comment", s.comment.as_ref());
        push("/system/scheduler", Command::add(props.0));
    }
}
