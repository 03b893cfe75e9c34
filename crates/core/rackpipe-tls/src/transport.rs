//! The transport rules every HTTP client of rackpipe follows, written once:
//!
//! - [`check_url`]: which URLs a client may send credentials to. `https://` to any host (the
//!   certificate is verified by the caller's TLS set-up); plain `http://` only to a **literal
//!   loopback address** (`127.0.0.0/8` or `[::1]`), and only where the caller allows plain HTTP
//!   at all ([`PlainHttp::Loopback`]). The decision is made on the parsed URL, the same parse
//!   `reqwest` uses to connect: `http://127.0.0.1@example.com` has the host `example.com` and
//!   `http://127.evil.example` is a name, so both are refused. Names are never loopback, not even
//!   `localhost` (it is resolved through `/etc/hosts` and DNS, which the URL cannot vouch for).
//!   Spellings that some parsers read as an address and others as a name (`http://0x7f.1`,
//!   `http://2130706433`, `http://127.0.0.1.`, percent-encoded hosts) are refused too: the host
//!   must read as the same loopback address to the WHATWG URL parser and to the strict
//!   `std::net` parser, so every client (reqwest, tonic, `getaddrinfo`) connects where the check
//!   looked. A URL never carries a user name or password (they would end up in logs).
//! - [`client_builder`]: a `reqwest` client builder whose redirect policy
//!   ([`same_origin_redirects`]) follows a redirect only to the same scheme, host and port; any
//!   other redirect is not followed, and [`read_body_limited`] turns it into
//!   [`BodyError::Redirect`] naming both hosts. (reqwest's default policy strips only the standard
//!   authorization headers on a cross-host redirect, so `X-Vault-Token` or `X-SYNO-TOKEN` would
//!   have gone to the other host.)
//! - [`read_body_limited`]: every reply body read into memory has a size limit; a larger reply
//!   (announced or streamed) is an error naming the host and the limit, read no further, never
//!   an out-of-memory.

use std::net::IpAddr;

use reqwest::Url;

/// The limit for an API reply read into memory (JSON from Proxmox VE, RouterOS, Vault, DSM).
/// The largest real replies (a Proxmox `cluster/resources` of a few hundred guests, a RouterOS
/// menu of thousands of rows) are a few MiB.
pub const API_BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// Whether a client may use plain `http://` at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainHttp {
    /// Only `https://`.
    Refuse,
    /// `https://`, or `http://` to a literal loopback address (the simulators and the loopback
    /// daemons of the tests).
    Loopback,
}

/// Why a URL is refused. Every message is one line, names the host when there is one and never
/// repeats a user name or password found in the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute URL.
    #[error("{url}: not a URL ({reason})")]
    Parse {
        /// The text, without any user information.
        url: String,
        /// Why.
        reason: String,
    },
    /// A scheme other than `https`/`http`.
    #[error("{url}: scheme {scheme}: only https:// is allowed")]
    Scheme {
        /// The URL, without any user information.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// `user:password@` in the URL.
    #[error(
        "{url}: a user name or password in the URL is refused (it would be logged); give credentials through the tool's options"
    )]
    UserInfo {
        /// The URL with the user information removed.
        url: String,
    },
    /// A base URL with a query or fragment (the tools append API paths to it).
    #[error("{url}: a base URL has no query (?) or fragment (#)")]
    QueryOrFragment {
        /// The URL.
        url: String,
    },
    /// Plain HTTP to a host that is not a literal loopback address.
    #[error(
        "plain http:// to {host} refused: credentials go only over verified TLS (https://); plain HTTP is allowed only to a literal loopback address (127.0.0.0/8 or [::1])"
    )]
    PlainHttp {
        /// The host as parsed (`example.com`, `10.0.0.1`).
        host: String,
    },
    /// Plain HTTP where the client allows none.
    #[error("plain http:// to {host} refused: this client speaks only https://")]
    PlainHttpNever {
        /// The host as parsed.
        host: String,
    },
}

/// Removes `user[:password]@` from the authority of `text` (for error messages); leaves text
/// without an authority unchanged.
#[must_use]
pub fn redact_userinfo(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***@{}{tail}", &authority[at + 1..]),
        None => text.to_owned(),
    }
}

/// Whether the authority of `text` has a `user[:password]@` part (even an empty one).
fn has_userinfo(text: &str) -> bool {
    text.split_once("://").is_some_and(|(_, rest)| {
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        rest[..end].contains('@')
    })
}

/// The host of `text` as written (between `://` and the path, without user information or
/// port), or `None` when there is no authority.
fn written_host(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("://")?;
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return None;
    }
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(host, _)| host);
    }
    Some(
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    )
}

/// The loopback address `url` (already parsed from `text`) names, if its host is a literal
/// loopback address read the same way by the WHATWG parser and by `std::net`.
fn literal_loopback(text: &str, url: &Url) -> Option<IpAddr> {
    let written: IpAddr = written_host(text)?.parse().ok()?;
    let parsed = match url.host()? {
        url::Host::Ipv4(a) => IpAddr::V4(a),
        url::Host::Ipv6(a) => IpAddr::V6(a),
        url::Host::Domain(_) => return None,
    };
    (written == parsed && parsed.is_loopback()).then_some(parsed)
}

/// `scheme://host[:port]` of a URL (no user information, path or query): what error messages
/// name.
#[must_use]
pub fn origin_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => url.scheme().to_owned(),
    }
}

/// Checks a base URL a client will send credentials to (see the [module](self) documentation
/// for the rule) and returns it parsed.
///
/// # Errors
/// [`UrlError`], one line naming the host.
pub fn check_url(text: &str, plain: PlainHttp) -> Result<Url, UrlError> {
    let shown = redact_userinfo(text);
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(UrlError::Parse {
            url: shown.escape_debug().to_string(),
            reason: "it contains spaces, control characters or a backslash".to_owned(),
        });
    }
    let url = Url::parse(text).map_err(|e| UrlError::Parse {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    if !url.username().is_empty() || url.password().is_some() || has_userinfo(text) {
        return Err(UrlError::UserInfo { url: shown });
    }
    if written_host(text).is_none_or(str::is_empty) {
        return Err(UrlError::Parse {
            url: shown,
            reason: "expected scheme://host[:port]".to_owned(),
        });
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    match url.scheme() {
        "https" => {}
        "http" => match plain {
            PlainHttp::Refuse => return Err(UrlError::PlainHttpNever { host }),
            PlainHttp::Loopback => {
                if literal_loopback(text, &url).is_none() {
                    return Err(UrlError::PlainHttp { host });
                }
            }
        },
        scheme => {
            return Err(UrlError::Scheme {
                url: shown,
                scheme: scheme.to_owned(),
            });
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(UrlError::QueryOrFragment { url: shown });
    }
    Ok(url)
}

/// Whether `text` is an `http://` URL to a literal loopback address (the same test
/// [`check_url`] makes).
#[must_use]
pub fn is_loopback_http(text: &str) -> bool {
    check_url(text, PlainHttp::Loopback).is_ok_and(|url| url.scheme() == "http")
}

/// A redirect policy that follows at most 5 redirects, each to the same scheme, host and port
/// as the original request, and stops at any other (the redirect reply is then returned, and
/// [`read_body_limited`] reports it as [`BodyError::Redirect`]).
#[must_use]
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// `reqwest::Client::builder()` with [`same_origin_redirects`]: the start of every client
/// that carries a token, a password or a key. The caller adds timeouts and TLS trust.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().redirect(same_origin_redirects())
}

/// An error and its sources on one line (`outer: inner: cause`), a source whose text the line
/// already holds left out, newlines made spaces: how every client shows a transport error.
#[must_use]
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out.replace('\n', " ")
}

/// Why a reply body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The reply is larger than the limit (announced by `Content-Length` or streamed).
    #[error("{host}: reply larger than {limit}, refused (not read further)")]
    TooLarge {
        /// `scheme://host:port`.
        host: String,
        /// The limit, human-readable (`64 MiB`).
        limit: String,
    },
    /// A redirect [`same_origin_redirects`] did not follow.
    #[error(
        "{host}: HTTP {status} redirect to {to} refused (credentials are never sent to another host)"
    )]
    Redirect {
        /// `scheme://host:port` of the request.
        host: String,
        /// The redirect status.
        status: u16,
        /// `scheme://host:port` of the `Location` (or what it says when it is not a URL).
        to: String,
    },
    /// The transport failed while reading (the caller classifies it: timeout, reset, ...).
    #[error("{0}")]
    Transport(#[source] reqwest::Error),
}

impl BodyError {
    /// Whether retrying may help (a transport failure while reading); a redirect or an
    /// oversized reply is the peer's answer and will not change by itself.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transport(_))
    }
}

/// `1073741824` → `1 GiB`, `1500` → `1500 bytes`.
#[must_use]
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// How many characters of a peer's own text (an API error message) an error line repeats.
pub const PEER_TEXT_LIMIT: usize = 300;

/// A peer's text made fit for one error line: runs of whitespace and control characters
/// (newlines, tabs, terminal escape sequences' ESC) become one space, and the text is cut at
/// [`PEER_TEXT_LIMIT`] characters, saying how much was left out. A hostile or broken peer
/// cannot print a 2 MB line or move the cursor of the terminal reading our errors.
#[must_use]
pub fn peer_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(PEER_TEXT_LIMIT + 32));
    let mut kept = 0usize;
    let mut space = false;
    let mut chars = text.trim().chars();
    for c in chars.by_ref() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        let gap = space && !out.is_empty();
        if kept + usize::from(gap) >= PEER_TEXT_LIMIT {
            let rest = 1 + usize::from(gap) + chars.count();
            out.push_str(&format!("… ({rest} more characters)"));
            return out;
        }
        if gap {
            out.push(' ');
            kept += 1;
        }
        space = false;
        out.push(c);
        kept += 1;
    }
    out
}

/// Reads a reply body into memory, at most `limit` bytes: a `Content-Length` above the limit
/// is refused before reading, a streamed (chunked, or close-delimited) body is read chunk by
/// chunk and refused as soon as it passes the limit. A redirect reply (one the
/// [`same_origin_redirects`] policy did not follow) is refused, naming where it pointed.
///
/// # Errors
/// [`BodyError`].
pub async fn read_body_limited(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    let host = origin_of(response.url());
    let status = response.status();
    if status.is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || "(no Location)".to_owned(),
                |location| match response.url().join(location) {
                    Ok(next) => origin_of(&next),
                    Err(_) => format!("{:?}", redact_userinfo(location)),
                },
            );
        return Err(BodyError::Redirect {
            host,
            status: status.as_u16(),
            to,
        });
    }
    let too_large = || BodyError::TooLarge {
        host: host.clone(),
        limit: human_size(limit),
    };
    let announced = response.content_length();
    if announced.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let start = announced.unwrap_or(0).min(1 << 20);
    let mut body = Vec::with_capacity(usize::try_from(start).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
