//! GitLab identity claims: project paths, refs, and the issuer the runners' GitLab signs with.

use super::super::Checker;
use super::{Url, project_path};

impl Checker<'_> {
    /// GitLab ID-token claims the JWT roles bind can match what GitLab sends.
    pub(super) fn identity_claims(&mut self) {
        let Some(jwt) = self
            .site
            .vault
            .as_ref()
            .and_then(|v| v.auth.gitlab_jwt.as_ref())
        else {
            return;
        };
        for (i, r) in jwt.roles.iter().enumerate() {
            let at = format!("vault.auth.gitlab_jwt.roles[{i}]");
            for (j, p) in r.project_paths.iter().enumerate() {
                if let Err(why) = project_path(p) {
                    self.err("identity-claim", format!("{at}.project_paths[{j}]"), why);
                }
            }
            for (j, name) in r.refs.iter().enumerate() {
                if let Some(rest) = name.strip_prefix("refs/") {
                    let bare = rest
                        .strip_prefix("heads/")
                        .or_else(|| rest.strip_prefix("tags/"))
                        .unwrap_or(rest);
                    self.err(
                        "identity-claim",
                        format!("{at}.refs[{j}]"),
                        format!(
                            "GitLab's ref claim is the bare branch or tag name ({bare:?}), never {name:?}; the role would never match"
                        ),
                    );
                }
            }
        }
        let issuer = Url::parse(&jwt.issuer);
        if let Some(runners) = &self.site.runners
            && let (Some(iss), Some(gitlab)) = (&issuer, Url::parse(&runners.gitlab_url))
            && iss.origin_and_path() != gitlab.origin_and_path()
        {
            self.stated_twice(
                "identity-claim",
                "vault.auth.gitlab_jwt.issuer",
                "runners.gitlab_url",
                format!(
                    "the runners' GitLab ({}) signs ID tokens as its own URL, but Vault only accepts issuer {}",
                    gitlab.origin_and_path(),
                    iss.origin_and_path()
                ),
            );
        }
        if let (Some(iss), Some(jwks)) = (&issuer, jwt.jwks_url.as_deref().and_then(Url::parse))
            && !iss.host.eq_ignore_ascii_case(&jwks.host)
        {
            self.stated_twice(
                "identity-claim",
                "vault.auth.gitlab_jwt.jwks_url",
                "vault.auth.gitlab_jwt.issuer",
                format!(
                    "keys from {} cannot verify tokens GitLab at {} signs",
                    jwks.host, iss.host
                ),
            );
        }
    }
}
