//! Synology DSM: share NFS rules over the DSM Web API.
//!
//! DSM keeps one rule list per shared folder behind `SYNO.Core.FileServ.NFS.SharePrivilege`
//! (version 1, `webapi/entry.cgi`): `load` returns `{share_name, rule: [...]}`, `save`
//! **replaces the whole list**. `share_name` is sent JSON-quoted, as Synology's CSI driver does.
//! Writes carry the SynoToken (`X-SYNO-TOKEN`).
//!
//! DSM has a known defect: concurrent saves can answer `success: true` without writing. So
//! [`apply`] saves one share at a time, reads every save back with `load`, and saves again
//! until the read-back matches or the confirmation window (30 s by default) closes.

use std::time::{Duration, Instant};

use rackpipe_model::documents::{Action, ApplyResult, Change, ChangeCounts, Plan};
use rackpipe_model::nas::NfsServer;
use rackpipe_model::router::TlsTrust;
use rackpipe_model::{API_VERSION, Site};
use rackpipe_tls::transport::{self, BodyError, PlainHttp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::desired::{ClientSpec, Desired, SquashMode, resolve};
use crate::{Error, Secret};

/// The DSM API that holds the rules.
pub const API: &str = "SYNO.Core.FileServ.NFS.SharePrivilege";

/// Security flavours of a DSM rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityFlavor {
    /// AUTH_SYS.
    #[serde(default)]
    pub sys: bool,
    /// krb5.
    #[serde(default)]
    pub kerberos: bool,
    /// krb5i.
    #[serde(default)]
    pub kerberos_integrity: bool,
    /// krb5p.
    #[serde(default)]
    pub kerberos_privacy: bool,
}

/// One DSM NFS rule, in DSM's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsmRule {
    /// Host, IP, IP/prefix or `*`.
    pub client: String,
    /// `rw` or `ro` (DSM also accepts upper case).
    pub privilege: String,
    /// `root` (no mapping), `admin`, `guest`, `all_admin`, `all_guest`.
    pub root_squash: String,
    /// Asynchronous writes.
    #[serde(rename = "async", default)]
    pub is_async: bool,
    /// Allow unprivileged source ports.
    #[serde(default)]
    pub insecure: bool,
    /// Export child mounts.
    #[serde(default)]
    pub crossmnt: bool,
    /// Security flavours.
    #[serde(default)]
    pub security_flavor: SecurityFlavor,
}

impl DsmRule {
    /// The rule with case and spelling normalised, for comparison.
    #[must_use]
    pub fn normalised(&self) -> Self {
        Self {
            privilege: self.privilege.to_ascii_lowercase(),
            root_squash: self.root_squash.to_ascii_lowercase(),
            ..self.clone()
        }
    }
}

/// The desired rule list of every share, in site order: `(share name, rules)`.
pub fn desired_rules(desired: &Desired<'_>) -> Result<Vec<(String, Vec<DsmRule>)>, Error> {
    let NfsServer::Synology { volume, .. } = &desired.nas.server else {
        return Err(Error::Invalid {
            path: "nas.server.kind".to_owned(),
            message: "the NAS is not a Synology".to_owned(),
        });
    };
    let volume = volume.trim_end_matches('/');
    let mut out = Vec::new();
    for export in &desired.exports {
        let share = export
            .path
            .strip_prefix(volume)
            .and_then(|r| r.strip_prefix('/'))
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| Error::Invalid {
                path: format!("{}.path", export.field),
                message: format!("{} is not a shared folder of {volume}", export.path),
            })?;
        let rules = export
            .clients
            .iter()
            .map(|c| {
                let has = |f: &str| c.sec.iter().any(|s| s == f);
                DsmRule {
                    client: match &c.spec {
                        ClientSpec::World => "*".to_owned(),
                        other => other.text(),
                    },
                    privilege: if c.rw { "rw" } else { "ro" }.to_owned(),
                    root_squash: match c.squash {
                        SquashMode::None => "root",
                        SquashMode::Root => "guest",
                        SquashMode::All => "all_guest",
                    }
                    .to_owned(),
                    is_async: !c.sync,
                    insecure: c.insecure,
                    crossmnt: c.crossmnt,
                    security_flavor: SecurityFlavor {
                        sys: c.sec.is_empty() || has("sys"),
                        kerberos: has("krb5"),
                        kerberos_integrity: has("krb5i"),
                        kerberos_privacy: has("krb5p"),
                    },
                }
            })
            .collect();
        out.push((share.to_owned(), rules));
    }
    Ok(out)
}

/// How the DSM certificate is trusted: the one trust policy of rackpipe's clients.
pub use rackpipe_tls::Trust;

/// The trust the site's TLS settings ask for: a pinned fingerprint, else a CA file (read now),
/// else the system's roots.
///
/// # Errors
/// [`Error::Invalid`] naming `FIELD.fingerprint_sha256` or `FIELD.ca_file`.
pub fn trust_from_site(tls: Option<&TlsTrust>, field: &str) -> Result<Trust, Error> {
    let Some(tls) = tls else {
        return Ok(Trust::System);
    };
    if let Some(fp) = &tls.fingerprint_sha256 {
        return parse_fingerprint(fp)
            .map(|fp| Trust::Pinned(rackpipe_tls::Fingerprint(fp)))
            .ok_or_else(|| Error::Invalid {
                path: format!("{field}.fingerprint_sha256"),
                message: format!(
                    "{fp:?} is not a SHA-256 fingerprint (64 hex digits, colons optional)"
                ),
            });
    }
    if let Some(path) = &tls.ca_file {
        return std::fs::read(path)
            .map(Trust::CaPem)
            .map_err(|e| Error::Invalid {
                path: format!("{field}.ca_file"),
                message: format!("cannot read {path}: {e}"),
            });
    }
    Ok(Trust::System)
}

/// Parses `AB:CD:..` or `abcd..` into 32 bytes.
#[must_use]
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    rackpipe_tls::Fingerprint::parse(text).ok().map(|f| f.0)
}

/// Where and how to reach DSM.
#[derive(Debug, Clone)]
pub struct DsmTarget {
    /// `https://host:5001` (no trailing slash).
    pub base_url: String,
    /// DSM account.
    pub user: String,
    /// Its password.
    pub password: Secret,
    /// Certificate trust.
    pub trust: Trust,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// How long a save may take to show up in a read-back.
    pub confirm_timeout: Duration,
}

impl DsmTarget {
    /// From the site: `https://<nas fqdn or address>:<port or 5001>`, TLS from
    /// `nas.server.tls`, and `password`, the value of `nas.server.password` resolved by the
    /// caller (see [`crate::secret::secret_refs`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the site's NAS is not a Synology or its TLS settings are unusable.
    pub fn from_site(site: &Site, password: Secret) -> Result<Self, Error> {
        let desired = resolve(site)?;
        let NfsServer::Synology {
            user, port, tls, ..
        } = &desired.nas.server
        else {
            return Err(Error::Invalid {
                path: "nas.server.kind".to_owned(),
                message: "the NAS is not a Synology".to_owned(),
            });
        };
        let host = if desired.server_address.is_ipv6()
            && desired.server_name.parse::<std::net::IpAddr>().is_ok()
        {
            format!("[{}]", desired.server_name)
        } else {
            desired.server_name.clone()
        };
        Ok(Self {
            base_url: format!("https://{host}:{}", port.unwrap_or(5001)),
            user: user.clone(),
            password,
            trust: trust_from_site(tls.as_ref(), "nas.server.tls")?,
            request_timeout: Duration::from_secs(15),
            confirm_timeout: Duration::from_secs(30),
        })
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    success: bool,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<DsmErrorBody>,
}

#[derive(Debug, Deserialize)]
struct DsmErrorBody {
    code: i64,
}

/// What a DSM error code means (common codes and the NFS ones seen in the wild).
#[must_use]
pub fn error_meaning(code: i64) -> &'static str {
    match code {
        100 => "unknown error",
        101 => "no parameter of API, method or version",
        102 => "the requested API does not exist",
        103 => "the requested method does not exist",
        104 => "the requested version is not supported",
        105 => "the logged-in session does not have permission",
        106 => "session timeout",
        107 => "session interrupted by a duplicate login",
        114 => "a required parameter is missing",
        119 => "SID not found (not logged in)",
        120 => "invalid parameter",
        400 => "no such account or incorrect password",
        401 => "account disabled",
        402 => "permission denied",
        403 => "2-step verification code required",
        2301 => "invalid share parameter (share_name expected)",
        2370 => "the shared folder does not exist",
        _ => "unknown DSM error",
    }
}

/// A logged-in DSM session.
pub struct DsmClient {
    http: reqwest::Client,
    target: DsmTarget,
    sid: Secret,
    token: Secret,
}

impl std::fmt::Debug for DsmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsmClient")
            .field("base_url", &self.target.base_url)
            .finish_non_exhaustive()
    }
}

fn http_client(target: &DsmTarget) -> Result<reqwest::Client, Error> {
    let tls_err = |message: String| Error::Tls {
        target: target.base_url.clone(),
        message,
    };
    transport::check_url(&target.base_url, PlainHttp::Loopback).map_err(|e| Error::Invalid {
        path: "DSM URL".to_owned(),
        message: e.to_string(),
    })?;
    rackpipe_tls::http_client(&target.trust, |builder| {
        builder
            .timeout(target.request_timeout)
            .connect_timeout(target.request_timeout)
    })
    .map_err(|e| match e {
        rackpipe_tls::TrustError::CaFileUnreadable { reason, .. }
        | rackpipe_tls::TrustError::CaNotPem { reason, .. } => {
            tls_err(format!("CA file: {reason}"))
        }
        rackpipe_tls::TrustError::CaEmpty { .. } => {
            tls_err("CA file holds no certificate".to_owned())
        }
        e => tls_err(e.reason()),
    })
}

fn classify(target: &str, e: &reqwest::Error) -> Error {
    if let Some(failure) = rackpipe_tls::reqwest_trust_failure(e) {
        return Error::Tls {
            target: target.to_owned(),
            message: failure.reason(),
        };
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    let message = message.replace('\n', " ");
    if e.is_timeout() {
        Error::Timeout {
            target: target.to_owned(),
            message,
        }
    } else if message.contains("certificate")
        || message.contains("fingerprint")
        || message.contains("UnknownIssuer")
    {
        Error::Tls {
            target: target.to_owned(),
            message,
        }
    } else {
        Error::Unreachable {
            target: target.to_owned(),
            message,
        }
    }
}

async fn call(
    http: &reqwest::Client,
    target: &DsmTarget,
    what: &str,
    form: &[(&str, &str)],
    token: Option<&Secret>,
) -> Result<Option<serde_json::Value>, Error> {
    let url = format!("{}/webapi/entry.cgi", target.base_url);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut request = http.post(&url).form(form);
        if let Some(token) = token {
            request = request.header("X-SYNO-TOKEN", token.expose());
        }
        let result = request.send().await;
        let retry = match &result {
            Err(e) => e.is_connect() || e.is_timeout(),
            Ok(r) => r.status().is_server_error(),
        };
        if retry && attempt < 3 {
            tracing::debug!(what, attempt, "transient failure, retrying");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            continue;
        }
        let response = result.map_err(|e| classify(&target.base_url, &e))?;
        let status = response.status();
        if !status.is_success() && !status.is_redirection() {
            return Err(Error::Http {
                target: target.base_url.clone(),
                status: status.as_u16(),
                what: what.to_owned(),
            });
        }
        // A redirect is refused here, naming where it pointed; a body is read up to the limit.
        let body = transport::read_body_limited(response, transport::API_BODY_LIMIT)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => classify(&target.base_url, &e),
                other => Error::Protocol {
                    target: target.base_url.clone(),
                    what: what.to_owned(),
                    message: other.to_string(),
                },
            })?;
        let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            target: target.base_url.clone(),
            what: what.to_owned(),
            message: format!("not a DSM envelope: {e}"),
        })?;
        if !envelope.success {
            let code = envelope.error.map_or(100, |e| e.code);
            return Err(Error::Dsm {
                target: target.base_url.clone(),
                what: what.to_owned(),
                code,
                meaning: error_meaning(code),
            });
        }
        return Ok(envelope.data);
    }
}

impl DsmClient {
    /// Logs in (`SYNO.API.Auth` v6, `format=sid`, `enable_syno_token=yes`).
    pub async fn login(target: DsmTarget) -> Result<Self, Error> {
        let http = http_client(&target)?;
        let form = [
            ("api", "SYNO.API.Auth"),
            ("version", "6"),
            ("method", "login"),
            ("account", target.user.as_str()),
            ("passwd", target.password.expose()),
            ("session", "rackpipe"),
            ("format", "sid"),
            ("enable_syno_token", "yes"),
        ];
        let data = call(&http, &target, "SYNO.API.Auth.login", &form, None)
            .await?
            .unwrap_or_default();
        let field = |name: &str| {
            data.get(name)
                .and_then(serde_json::Value::as_str)
                .map(Secret::new)
                .ok_or_else(|| Error::Protocol {
                    target: target.base_url.clone(),
                    what: "SYNO.API.Auth.login".to_owned(),
                    message: format!("no {name} in the answer"),
                })
        };
        let (sid, token) = (field("sid")?, field("synotoken")?);
        Ok(Self {
            http,
            target,
            sid,
            token,
        })
    }

    /// The base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.target.base_url
    }

    /// Reads a share's rules.
    pub async fn load(&self, share: &str) -> Result<Vec<DsmRule>, Error> {
        let quoted = serde_json::Value::String(share.to_owned()).to_string();
        let what = format!("{API}.load (share {share})");
        let form = [
            ("api", API),
            ("version", "1"),
            ("method", "load"),
            ("share_name", quoted.as_str()),
            ("_sid", self.sid.expose()),
        ];
        let data = call(&self.http, &self.target, &what, &form, Some(&self.token))
            .await?
            .unwrap_or_default();
        let rules = data
            .get("rule")
            .cloned()
            .unwrap_or(serde_json::Value::Array(Vec::new()));
        serde_json::from_value(rules).map_err(|e| Error::Protocol {
            target: self.target.base_url.clone(),
            what,
            message: format!("rule list: {e}"),
        })
    }

    /// Replaces a share's rules (one call; see [`DsmClient::save_confirmed`]).
    pub async fn save(&self, share: &str, rules: &[DsmRule]) -> Result<(), Error> {
        let quoted = serde_json::Value::String(share.to_owned()).to_string();
        let what = format!("{API}.save (share {share})");
        let rule_json = serde_json::to_string(rules).map_err(|e| Error::Protocol {
            target: self.target.base_url.clone(),
            what: what.clone(),
            message: e.to_string(),
        })?;
        let form = [
            ("api", API),
            ("version", "1"),
            ("method", "save"),
            ("share_name", quoted.as_str()),
            ("rule", rule_json.as_str()),
            ("_sid", self.sid.expose()),
        ];
        call(&self.http, &self.target, &what, &form, Some(&self.token))
            .await
            .map(|_| ())
    }

    /// Saves and reads back until the read-back equals `rules` or the confirmation window
    /// closes. Returns the number of saves made.
    pub async fn save_confirmed(&self, share: &str, rules: &[DsmRule]) -> Result<u32, Error> {
        let want: Vec<DsmRule> = rules.iter().map(DsmRule::normalised).collect();
        let start = Instant::now();
        let mut attempts = 0u32;
        let mut pause = Duration::from_millis(100);
        loop {
            attempts += 1;
            self.save(share, rules).await?;
            // Read back (twice, a moment apart, before deciding the save was lost).
            for _ in 0..2 {
                let got: Vec<DsmRule> = self
                    .load(share)
                    .await?
                    .iter()
                    .map(DsmRule::normalised)
                    .collect();
                if got == want {
                    if attempts > 1 {
                        tracing::warn!(
                            share,
                            attempts,
                            "DSM reported success for a save it did not apply; saved again"
                        );
                    }
                    return Ok(attempts);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if start.elapsed() + pause > self.target.confirm_timeout || attempts >= 20 {
                return Err(Error::NotConfirmed {
                    target: self.target.base_url.clone(),
                    share: share.to_owned(),
                    attempts,
                    seconds: start.elapsed().as_secs(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Logs out (best effort).
    pub async fn logout(self) {
        let form = [
            ("api", "SYNO.API.Auth"),
            ("version", "6"),
            ("method", "logout"),
            ("session", "rackpipe"),
            ("_sid", self.sid.expose()),
        ];
        if let Err(e) = call(
            &self.http,
            &self.target,
            "SYNO.API.Auth.logout",
            &form,
            None,
        )
        .await
        {
            tracing::debug!("logout failed: {e}");
        }
    }
}

/// SHA-256 of a JSON value, hex.
#[must_use]
pub fn digest(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// A unified diff between two texts.
#[must_use]
pub fn unified_diff(before: &str, after: &str, name: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Plans the share rules: reads each managed share's rules and diffs them against the site.
pub async fn plan(site: &Site, client: &DsmClient) -> Result<Plan, Error> {
    let desired = resolve(site)?;
    let wanted = desired_rules(&desired)?;
    let mut observed = serde_json::Map::new();
    let mut changes = Vec::new();
    for (share, rules) in &wanted {
        let current = client.load(share).await?;
        let want: Vec<DsmRule> = rules.iter().map(DsmRule::normalised).collect();
        let have: Vec<DsmRule> = current.iter().map(DsmRule::normalised).collect();
        let before = serde_json::to_value(&current).unwrap_or_default();
        observed.insert(share.clone(), before.clone());
        if want == have {
            continue;
        }
        let after = serde_json::to_value(rules).unwrap_or_default();
        let resource = format!("{API}/{share}");
        changes.push(Change {
            action: if current.is_empty() {
                Action::Create
            } else {
                Action::Update
            },
            target: client.base_url().to_owned(),
            resource: resource.clone(),
            diff: Some(unified_diff(&pretty(&before), &pretty(&after), &resource)),
            before: if current.is_empty() {
                None
            } else {
                Some(before)
            },
            after: Some(after),
            commands: vec![format!(
                "{API}.save share_name={share:?} ({} rules), then load to confirm",
                rules.len()
            )],
        });
    }
    let desired_value = serde_json::to_value(&wanted).unwrap_or_default();
    Ok(Plan::new(
        "nfs-export",
        site.metadata.name.as_str(),
        digest(&desired_value),
        digest(&serde_json::Value::Object(observed)),
        changes,
    ))
}

/// Applies: plans again, refuses when `expected` (a saved plan) no longer matches, then saves
/// each changed share in turn and confirms it by reading back.
pub async fn apply(
    site: &Site,
    client: &DsmClient,
    expected: Option<&Plan>,
) -> Result<ApplyResult, Error> {
    let current = plan(site, client).await?;
    current.check_fresh(expected, &format!("the rules on {}", client.base_url()))?;
    let desired = resolve(site)?;
    let wanted = desired_rules(&desired)?;
    let mut applied = Vec::new();
    let mut facts = std::collections::BTreeMap::new();
    for change in current.changes {
        let share = change
            .resource
            .trim_start_matches(&format!("{API}/"))
            .to_owned();
        let Some((_, rules)) = wanted.iter().find(|(s, _)| *s == share) else {
            continue;
        };
        let attempts = client.save_confirmed(&share, rules).await?;
        facts.insert(
            format!("synology.saves.{share}"),
            serde_json::json!(attempts),
        );
        applied.push(change);
    }
    Ok(ApplyResult {
        api_version: API_VERSION.to_owned(),
        kind: "ApplyResult".to_owned(),
        tool: "nfs-export".to_owned(),
        site: site.metadata.name.to_string(),
        summary: ChangeCounts::of(&applied),
        applied,
        facts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> DsmTarget {
        DsmTarget {
            base_url: url.to_owned(),
            user: "admin".to_owned(),
            password: Secret::new("hunter2"),
            trust: Trust::System,
            request_timeout: Duration::from_secs(5),
            confirm_timeout: Duration::from_secs(5),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The shared URL rule before the login (the password is in its form): plain HTTP to a
    /// name or a non-loopback address is refused without a connection. Before, any
    /// `--target http://...` sent the DSM password in clear.
    #[test]
    fn plain_http_only_to_a_literal_loopback_address() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let stub = StubServer::start(Reply::status("200 OK", "{\"success\":false}"));
        let rt = runtime();
        for (url, host) in [
            (format!("http://localhost:{}", stub.port()), "localhost"),
            ("http://nas.lab.example:5000".to_owned(), "nas.lab.example"),
            ("http://10.3.0.5:5000".to_owned(), "10.3.0.5"),
        ] {
            let err = rt.block_on(DsmClient::login(target(&url))).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("DSM URL: plain http:// to {host} refused")),
                "{text}"
            );
            assert!(!text.contains('\n') && !text.contains("hunter2"), "{text}");
        }
        assert_eq!(stub.connections(), 0, "a refused URL was contacted");
    }

    /// A hostile NAS: a 2 GiB reply, a redirect to another host, a 500. One line each.
    #[test]
    fn hostile_replies_are_one_line_errors() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let rt = runtime();
        let huge = StubServer::start(Reply::Announced(2 << 30));
        let err = rt
            .block_on(DsmClient::login(target(&huge.url())))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{0}: unexpected answer to SYNO.API.Auth.login: {0}: reply larger than 64 MiB, refused (not read further)",
                huge.url()
            )
        );
        assert!(!err.is_transient());
        let redirect = StubServer::start(Reply::Raw(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:9/webapi/entry.cgi\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ));
        let err = rt
            .block_on(DsmClient::login(target(&redirect.url())))
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("HTTP 302 redirect to http://127.0.0.2:9 refused (credentials are never sent to another host)"),
            "{err}"
        );
        let failing = StubServer::start(Reply::status("500 Internal Server Error", "oops"));
        let err = rt
            .block_on(DsmClient::login(target(&failing.url())))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: HTTP 500 from SYNO.API.Auth.login", failing.url())
        );
        assert!(err.is_transient());
        assert_eq!(failing.connections(), 3, "a 500 is retried twice");
    }

    #[test]
    fn fingerprints() {
        let colon = "AB:".repeat(31) + "AB";
        assert_eq!(parse_fingerprint(&colon), Some([0xAB; 32]));
        assert_eq!(parse_fingerprint(&"ab".repeat(32)), Some([0xAB; 32]));
        assert_eq!(parse_fingerprint("abcd"), None);
    }

    #[test]
    fn rule_json_shape() {
        let rule = DsmRule {
            client: "10.2.0.0/24".to_owned(),
            privilege: "rw".to_owned(),
            root_squash: "guest".to_owned(),
            is_async: false,
            insecure: false,
            crossmnt: false,
            security_flavor: SecurityFlavor {
                sys: true,
                ..SecurityFlavor::default()
            },
        };
        let v = serde_json::to_value(&rule).unwrap();
        assert_eq!(v["async"], false);
        assert_eq!(v["security_flavor"]["sys"], true);
        let back: DsmRule =
            serde_json::from_str(r#"{"client":"*","privilege":"RW","root_squash":"root"}"#)
                .unwrap();
        assert_eq!(back.normalised().privilege, "rw");
    }
}
