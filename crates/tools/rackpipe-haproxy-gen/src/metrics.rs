//! What the site's `monitoring` section asks of the load balancers.
//!
//! - **HAProxy** serves its built-in Prometheus exporter (the `prometheus-exporter` service,
//!   in Debian's haproxy since 2.0) in the `stats` listener, on the instance's own address,
//!   when `monitoring.targets.haproxy` is enabled: `http-request use-service
//!   prometheus-exporter if { path /metrics }`. The site validation holds the target's port to
//!   `load_balancer.stats.port`, so the scrape configuration and the listener agree.
//! - **keepalived** has no Prometheus endpoint. When `monitoring.targets.keepalived` is
//!   enabled, every `vrrp_instance` gets a `notify` script that writes the instance's state
//!   and a transition counter as node_exporter textfile metrics
//!   (`<textfile dir>/keepalived_<vrrp instance>.prom`), which node_exporter on the instance
//!   serves with its own metrics. See `docs/reference/monitoring.md`.

use rackpipe_model::Site;
use rackpipe_model::loadbalancer::LoadBalancer;

/// Metric names the keepalived notify script writes (the alert rules use them).
pub const KEEPALIVED_METRICS: &[&str] = &[
    "keepalived_vrrp_state",
    "keepalived_vrrp_transitions_total",
    "keepalived_vrrp_last_transition_timestamp_seconds",
];

/// The path HAProxy's stats listener serves its Prometheus exporter on, when the site's
/// monitoring scrapes HAProxy (and there is a stats listener).
#[must_use]
pub fn haproxy_exporter_path(site: &Site, lb: &LoadBalancer) -> Option<String> {
    let target = &site.monitoring.as_ref()?.targets.haproxy;
    lb.stats.as_ref()?;
    target.enabled.then(|| target.path.to_string())
}

/// Whether the site's monitoring scrapes keepalived (so the notify script is rendered).
#[must_use]
pub fn keepalived_metrics(site: &Site) -> bool {
    site.monitoring
        .as_ref()
        .is_some_and(|m| m.targets.keepalived.enabled)
}
