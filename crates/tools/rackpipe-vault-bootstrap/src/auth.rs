//! How plan, apply and status authenticate: a token from an environment variable or a file
//! (a plain token, or the keys file `init` wrote), or a JWT login (GitLab CI `id_tokens`).

use std::path::{Path, PathBuf};

use rackpipe_model::Site;

use crate::client::Client;
use crate::cluster::{login_jwt, root_token_from_file};
use crate::error::{Error, Result};
use rackpipe_secrets::Secret;

/// The credentials given on the command line.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// None given.
    #[default]
    None,
    /// The token is in this environment variable.
    TokenEnv(String),
    /// The token is in this file (or it is the keys file `init` wrote).
    TokenFile(PathBuf),
    /// Log in with the JWT in an environment variable.
    Jwt {
        /// The variable holding the JWT.
        var: String,
        /// The JWT role.
        role: String,
        /// The auth method's mount (default: the site's `vault.auth.gitlab_jwt.path`, else
        /// `jwt`).
        mount: Option<String>,
    },
}

impl Credentials {
    /// Whether any were given.
    #[must_use]
    pub fn given(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Refuses, before any request, a command that needs credentials and has none.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the options.
    pub fn require(&self) -> Result<()> {
        if self.given() {
            Ok(())
        } else {
            Err(Error::Usage(
                "no credentials: give --token-env VAR, --token-file FILE or --jwt-env VAR --jwt-role ROLE"
                    .to_owned(),
            ))
        }
    }

    /// The token (logging in through `api` for a JWT); `None` without credentials.
    ///
    /// # Errors
    /// [`Error::Usage`] for an unset variable, [`Error::File`] for an unusable token file,
    /// the login's errors.
    pub async fn token(&self, site: &Site, api: &Client) -> Result<Option<Secret>> {
        match self {
            Self::None => Ok(None),
            Self::TokenEnv(var) => env_secret(var, "Vault token").map(Some),
            Self::TokenFile(path) => token_from_file(path).map(Some),
            Self::Jwt { var, role, mount } => {
                let jwt = env_secret(var, "JWT (GitLab CI id_tokens)")?;
                let mount = mount.clone().unwrap_or_else(|| {
                    site.vault
                        .as_ref()
                        .and_then(|v| v.auth.gitlab_jwt.as_ref())
                        .map_or_else(|| "jwt".to_owned(), |j| j.path.clone())
                });
                let token = login_jwt(api, &mount, role, &jwt).await?;
                tracing::info!(mount = %mount, role = %role, "logged in with JWT");
                Ok(Some(token))
            }
        }
    }

    /// `api` with the token.
    ///
    /// # Errors
    /// As [`Credentials::require`] and [`Credentials::token`].
    pub async fn authenticate(&self, site: &Site, api: Client) -> Result<Client> {
        self.require()?;
        match self.token(site, &api).await? {
            Some(token) => Ok(api.with_token(token)),
            None => Err(Error::Usage("no credentials".to_owned())),
        }
    }
}

/// The trimmed value of environment variable `var`, which must not be empty.
fn env_secret(var: &str, what: &str) -> Result<Secret> {
    let value = Secret::new(std::env::var(var).unwrap_or_default());
    let trimmed = Secret::new(value.expose().trim());
    if trimmed.expose().is_empty() {
        return Err(Error::Usage(format!(
            "${var}: unset or empty; it should hold the {what}"
        )));
    }
    Ok(trimmed)
}

/// The root token of a keys file `init` wrote, else the one token a file holds.
fn token_from_file(path: &Path) -> Result<Secret> {
    if let Ok(token) = root_token_from_file(path) {
        return Ok(token);
    }
    let file_error = |reason: String| Error::File {
        path: path.to_path_buf(),
        reason,
    };
    let text = Secret::new(
        std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read token: {e}")))?,
    );
    let token = Secret::new(text.expose().trim());
    if token.expose().is_empty() || token.expose().contains(char::is_whitespace) {
        return Err(file_error(
            "neither a keys file with root_token nor a file holding one token".to_owned(),
        ));
    }
    Ok(token)
}
