//! The token Prometheus reads `sys/metrics` with ([`crate::metrics`]): looked up by its value
//! (`auth/token/lookup`), created with that value when missing, re-created when its policies or
//! period differ, renewed when less than half of its period is left. The value is only ever in
//! request bodies; plans show the policy and period.

use rackpipe_model::documents::Action;
use serde_json::{Value, json};

use super::execute::resolve_with;
use super::{Planner, Step, TokenStep};
use crate::error::Result;
use crate::metrics::{POLICY, TOKEN_PERIOD_SECS};

/// The resource name of the metrics token in plans (never its value).
pub(super) const RESOURCE: &str = "auth/token/create-orphan (monitoring.targets.vault.token)";

impl Planner<'_> {
    pub(super) async fn metrics_token(&mut self) -> Result<()> {
        let Some(reference) = self.desired.metrics_token.clone() else {
            return Ok(());
        };
        // A vault: secret not written yet only holds the token back, as for users.
        let Some(token) = resolve_with(self.api, &reference, &self.options.resolved).await? else {
            tracing::warn!(%reference, "metrics token not readable yet; skipped");
            self.unmanaged.push(format!(
                "{RESOURCE} (pending: {reference} not readable yet)"
            ));
            return Ok(());
        };
        let reply = self
            .api
            .call(
                "POST",
                "auth/token/lookup",
                Some(&json!({"token": token.expose()})),
            )
            .await?;
        let current = if reply.ok() {
            reply.body.get("data").cloned()
        } else if reply.status == 403 && reply.errors().contains("bad token") {
            None
        } else {
            return Err(self.api.api_error("POST", "auth/token/lookup", &reply));
        };
        let want = json!({"policies": [POLICY], "period": TOKEN_PERIOD_SECS, "orphan": true});
        let Some(data) = current else {
            self.observed.insert("metrics_token".into(), Value::Null);
            self.push(
                Action::Create,
                RESOURCE.to_owned(),
                None,
                Some(want),
                Step::Token {
                    reference,
                    step: TokenStep::Create,
                },
            );
            return Ok(());
        };
        let mut policies: Vec<String> = data
            .get("policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        policies.sort();
        let have = json!({
            "policies": policies,
            "period": data.get("period").and_then(Value::as_u64).unwrap_or(0),
            "orphan": data.get("orphan").and_then(Value::as_bool).unwrap_or(false),
        });
        self.observed.insert("metrics_token".into(), have.clone());
        let ttl = data.get("ttl").and_then(Value::as_u64).unwrap_or(0);
        if have != want {
            // A token's policies cannot change: revoke it and create it again.
            self.push(
                Action::Update,
                RESOURCE.to_owned(),
                Some(have),
                Some(want),
                Step::Token {
                    reference,
                    step: TokenStep::Recreate,
                },
            );
        } else if ttl < TOKEN_PERIOD_SECS / 2 {
            self.push(
                Action::Update,
                RESOURCE.to_owned(),
                Some(json!({"ttl": ttl})),
                Some(json!({"ttl": TOKEN_PERIOD_SECS})),
                Step::Token {
                    reference,
                    step: TokenStep::Renew,
                },
            );
        }
        Ok(())
    }
}
