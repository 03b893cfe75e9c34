//! What the site's `monitoring.targets.vault` asks of the cluster: who may read
//! `/v1/sys/metrics`.
//!
//! Every node's config has a `telemetry` stanza (Prometheus retention, no host name prefix;
//! `templates/server.hcl.j2`). Reading the endpoint then needs a token, unless the listener
//! allows it anonymously:
//!
//! - **With `token`** (a secret reference): `apply` writes the ACL policy [`POLICY`] (`read` on
//!   `sys/metrics`) and makes sure a token whose value is the referenced secret exists: an
//!   orphan periodic service token with that policy only (`auth/token/create-orphan` with
//!   `id`, which needs a root or `sudo` token), renewed by `apply` when less than half of its
//!   period is left. Prometheus reads the same secret from a file and sends it as a bearer
//!   token. The value never appears in a plan, a log or a resource name.
//! - **Without `token`**: each node's listener gets `telemetry { unauthenticated_metrics_access =
//!   true }`.

use rackpipe_model::Site;
use rackpipe_model::types::SecretRef;

/// The ACL policy a metrics token carries.
pub const POLICY: &str = "prometheus-metrics";

/// The policy's HCL (as [`crate::hcl::render_policy`] lays it out).
pub const POLICY_HCL: &str = "path \"sys/metrics\" {\n  capabilities = [\"read\"]\n}\n";

/// Period of the metrics token: it lives as long as it is renewed within this (32 days,
/// OpenBao's and Vault's default maximum lease TTL); `apply` renews it.
pub const TOKEN_PERIOD_SECS: u64 = 768 * 3600;

/// Display name of the metrics token (shown in audit logs as `token-prometheus-metrics`).
pub const TOKEN_DISPLAY_NAME: &str = "prometheus-metrics";

/// The reference of the token Prometheus scrapes with and its field path, when the site's
/// monitoring scrapes Vault with a token.
#[must_use]
pub fn token_ref(site: &Site) -> Option<(&SecretRef, String)> {
    let target = &site.monitoring.as_ref()?.targets.vault;
    site.vault.as_ref()?;
    if !target.enabled {
        return None;
    }
    target
        .token
        .as_ref()
        .map(|t| (t, "monitoring.targets.vault.token".to_owned()))
}

/// Whether the listeners let anyone read `/v1/sys/metrics` (the site's monitoring scrapes
/// Vault without a token).
#[must_use]
pub fn unauthenticated_access(site: &Site) -> bool {
    site.monitoring
        .as_ref()
        .is_some_and(|m| m.targets.vault.enabled && m.targets.vault.token.is_none())
}
