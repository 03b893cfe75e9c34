//! Connecting to one etcd member over gRPC (mTLS via rustls/aws-lc) and turning transport
//! failures into [`Error`]s that say what went wrong where.
//!
//! Each endpoint gets its own eagerly connected channel (not etcd-client's balanced channel),
//! so a refused connection or a failed handshake is reported at once instead of hanging.

use std::error::Error as StdError;
use std::time::Duration;

use etcd_client::{Certificate, Channel, Client, Identity, TlsOptions};
use tonic::transport::Endpoint;

use crate::error::{Error, Result};
use crate::target::{Target, TlsFiles};

/// Window sizes that keep a 32 KiB-message snapshot stream flowing without stalls.
const STREAM_WINDOW: u32 = 8 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// Installs rustls' aws-lc provider as the process default (once; later calls are no-ops).
fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Reads the TLS files into tonic's config. The key bytes only live inside the config.
fn tls_options(tls: &TlsFiles) -> Result<TlsOptions> {
    let read = |path: &std::path::Path, what: &str| -> Result<Vec<u8>> {
        let bytes = std::fs::read(path).map_err(|e| Error::TlsFile {
            path: path.to_path_buf(),
            reason: format!("cannot read {what}: {e}"),
        })?;
        if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(Error::TlsFile {
                path: path.to_path_buf(),
                reason: format!("{what} is not PEM"),
            });
        }
        Ok(bytes)
    };
    let ca = read(&tls.ca, "CA certificate")?;
    let cert = read(&tls.cert, "client certificate")?;
    let key = read(&tls.key, "client key")?;
    Ok(TlsOptions::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(cert, key)))
}

/// Connects to one member. The connection is established (TCP and TLS) before returning, so a
/// refused connection or a failed handshake is an immediate, classified error.
///
/// # Errors
/// [`Error::Url`] for a URL the transport rule refuses; [`Error::Unreachable`],
/// [`Error::Timeout`], [`Error::Tls`], [`Error::TlsFile`] or [`Error::NotEtcd`], naming the
/// endpoint.
pub async fn connect(endpoint: &str, target: &Target) -> Result<Client> {
    // The shared rule: plain http:// only to a literal loopback address (the snapshot holds
    // every Kubernetes Secret), decided on the parsed host before any connection.
    rackpipe_tls::transport::check_url(endpoint, rackpipe_tls::transport::PlainHttp::Loopback)
        .map_err(|e| Error::Url(e.to_string()))?;
    install_crypto_provider();
    let mut ep = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| Error::NotEtcd {
            endpoint: endpoint.to_owned(),
            reason: format!("bad URL: {e}"),
        })?
        .connect_timeout(target.connect_timeout)
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20));
    match (&target.tls, endpoint.starts_with("https://")) {
        (Some(tls), true) => {
            ep = ep.tls_config(tls_options(tls)?).map_err(|e| Error::Tls {
                endpoint: endpoint.to_owned(),
                reason: chain(&e),
            })?;
        }
        (None, false) => {}
        (Some(_), false) => {
            return Err(Error::Tls {
                endpoint: endpoint.to_owned(),
                reason: "TLS files given but the URL is not https://".into(),
            });
        }
        (None, true) => {
            return Err(Error::Tls {
                endpoint: endpoint.to_owned(),
                reason: "https:// URL but no CA/client certificate given".into(),
            });
        }
    }
    let channel = match tokio::time::timeout(target.connect_timeout, ep.connect()).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(err)) => return Err(classify_transport(endpoint, &err)),
        Err(_) => {
            return Err(Error::Timeout {
                endpoint: endpoint.to_owned(),
                secs: target.connect_timeout.as_secs(),
                during: "connecting",
            });
        }
    };
    let mut client = Client::from_channel(Channel::Tonic(channel), None)
        .await
        .map_err(|e| classify(endpoint, "the connection", &e))?;
    // With TLS 1.3 the server judges our client certificate after the handshake: a rejected
    // certificate shows up as a closed connection on the first request. Ask once, and if the
    // connection dies, find out why with a plain rustls probe that reads the server's alert.
    match tokio::time::timeout(target.connect_timeout, client.status()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let err = classify(endpoint, "status", &e);
            return Err(explain_first_failure(endpoint, target, err).await);
        }
        Err(_) => {
            return Err(Error::Timeout {
                endpoint: endpoint.to_owned(),
                secs: target.connect_timeout.as_secs(),
                during: "asking for status",
            });
        }
    }
    Ok(client)
}

/// Refines a failure of the first request: when the server sent a TLS alert (client
/// certificate rejected), say so instead of "connection closed".
async fn explain_first_failure(endpoint: &str, target: &Target, err: Error) -> Error {
    let (Error::Unreachable { .. }, Some(tls)) = (&err, target.tls.clone()) else {
        return err;
    };
    let ep = endpoint.to_owned();
    let timeout = target.connect_timeout;
    let probed = tokio::task::spawn_blocking(move || probe_alert(&ep, &tls, timeout)).await;
    match probed {
        Ok(Some(alert)) => Error::Tls {
            endpoint: endpoint.to_owned(),
            reason: format!("the server rejected our client certificate ({alert})"),
        },
        _ => err,
    }
}

/// Connects with rustls directly, sends the HTTP/2 preface and reads: returns the TLS alert
/// text if the server sends one.
fn probe_alert(endpoint: &str, tls: &TlsFiles, timeout: Duration) -> Option<String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;

    let authority = endpoint.strip_prefix("https://")?.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().ok()?;
    let ca = std::fs::read(&tls.ca).ok()?;
    let cert = std::fs::read(&tls.cert).ok()?;
    let key = std::fs::read(&tls.key).ok()?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca).flatten() {
        let _ = roots.add(c);
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&cert).flatten().collect();
    let key = PrivateKeyDer::from_pem_slice(&key).ok()?;
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .ok()?;
    let name = ServerName::try_from(host.to_owned()).ok()?;
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).ok()?;
    let addr = (host, port).to_socket_addrs().ok()?.next()?;
    let mut sock = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    let mut buf = [0u8; 256];
    let result = stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .and_then(|()| stream.flush())
        .and_then(|()| stream.read(&mut buf));
    match result {
        Err(e) if e.to_string().to_ascii_lowercase().contains("alert") => Some(e.to_string()),
        _ => None,
    }
}

/// The error and all its sources, joined with `: ` on one line.
pub(crate) fn chain(err: &dyn StdError) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ").replace('\n', " ")
}

fn classify_transport(endpoint: &str, err: &tonic::transport::Error) -> Error {
    classify_text(endpoint, "connecting", &chain(err), None)
}

/// Sorts an etcd-client error into unreachable / TLS / not-etcd / refused.
pub(crate) fn classify(endpoint: &str, during: &'static str, err: &etcd_client::Error) -> Error {
    match err {
        etcd_client::Error::GRpcStatus(status) => {
            // The member's own text: one short line, whatever it sent.
            let message = rackpipe_tls::transport::peer_text(status.message());
            let detail = match status.source() {
                Some(src) => {
                    let text = chain(src);
                    if text.starts_with(status.message()) {
                        text
                    } else {
                        format!("{message}: {text}")
                    }
                }
                None => message,
            };
            classify_text(endpoint, during, &detail, Some(status.code()))
        }
        etcd_client::Error::TransportError(e) => classify_text(endpoint, during, &chain(e), None),
        other => classify_text(endpoint, during, &chain(other), None),
    }
}

fn classify_text(
    endpoint: &str,
    during: &'static str,
    detail: &str,
    code: Option<tonic::Code>,
) -> Error {
    let endpoint = endpoint.to_owned();
    let lower = detail.to_ascii_lowercase();
    let reason = if detail.is_empty() {
        "no detail".to_owned()
    } else {
        detail.to_owned()
    };
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&["received fatal alert"]) {
        let reason = format!("the server rejected our client certificate ({reason})");
        return Error::Tls { endpoint, reason };
    }
    // A connection that drops (also mid-stream) is not a TLS problem, even when rustls reports
    // it ("peer closed connection without sending TLS close_notify").
    if has(&[
        "peer closed connection",
        "unexpected eof",
        "connection reset",
        "broken pipe",
        "error reading a body",
    ]) {
        return Error::Unreachable { endpoint, reason };
    }
    if has(&[
        "certificate",
        "handshake",
        "tls",
        "alert",
        "unknownissuer",
        "peer sent no",
    ]) {
        return Error::Tls { endpoint, reason };
    }
    if has(&[
        "connection refused",
        "no route to host",
        "network is unreachable",
        "dns error",
    ]) {
        return Error::Unreachable { endpoint, reason };
    }
    if has(&["timed out", "deadline"]) {
        return Error::Timeout {
            endpoint,
            secs: 0,
            during,
        };
    }
    if has(&[
        "content-type",
        "http/2 was not negotiated",
        "invalid http version",
        "frame with invalid size",
        "http2 error",
        "protocol error",
        "invalid compression flag",
        "unimplemented",
        "malformed",
    ]) || matches!(code, Some(tonic::Code::Unimplemented))
    {
        return Error::NotEtcd { endpoint, reason };
    }
    if has(&[
        "connection reset",
        "broken pipe",
        "connection closed",
        "transport error",
        "unexpected eof",
    ]) {
        return Error::Unreachable { endpoint, reason };
    }
    match code {
        Some(tonic::Code::Unavailable | tonic::Code::Aborted | tonic::Code::ResourceExhausted) => {
            Error::Refused {
                endpoint,
                during,
                reason,
                transient: true,
            }
        }
        Some(tonic::Code::DeadlineExceeded) => Error::Timeout {
            endpoint,
            secs: 0,
            during,
        },
        Some(_) => Error::Refused {
            endpoint,
            during,
            reason,
            transient: false,
        },
        None => Error::Unreachable { endpoint, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared URL rule: a plain http:// endpoint that is not a literal loopback address is
    /// refused before any connection (before, `--insecure-http` sent the snapshot request, and
    /// received every Kubernetes Secret, in clear to any master address).
    #[test]
    fn plain_http_only_to_a_literal_loopback_address() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let stub = StubServer::start(Reply::status("200 OK", ""));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (endpoint, host) in [
            (format!("http://localhost:{}", stub.port()), "localhost"),
            (format!("http://0x7f.1:{}", stub.port()), "127.0.0.1"),
            ("http://10.3.0.21:2379".to_owned(), "10.3.0.21"),
            ("http://127.0.0.1@k8s-m1.lab.example:2379".to_owned(), ""),
        ] {
            let target = Target::new(vec![endpoint.clone()], None);
            let Err(e) = rt.block_on(connect(&endpoint, &target)) else {
                panic!("{endpoint} was accepted");
            };
            let text = e.to_string();
            assert!(matches!(e, Error::Url(_)) && !e.is_transient(), "{text}");
            assert!(text.starts_with("etcd endpoint "), "{text}");
            if !host.is_empty() {
                assert!(
                    text.contains(&format!("plain http:// to {host} refused")),
                    "{text}"
                );
            }
        }
        assert_eq!(stub.connections(), 0, "a refused endpoint was contacted");
        // A snapshot checks every endpoint first: one line, non-transient, nothing contacted
        // (not even the acceptable first endpoint) and nothing written.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("snapshots");
        let target = Target::new(vec![stub.url(), "http://10.3.0.21:2379".to_owned()], None);
        let e = rt
            .block_on(crate::snapshot(
                &target,
                &dest,
                &crate::SnapshotOptions::default(),
            ))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "etcd endpoint plain http:// to 10.3.0.21 refused: credentials go only over verified TLS (https://); plain HTTP is allowed only to a literal loopback address (127.0.0.0/8 or [::1])"
        );
        assert!(!e.is_transient());
        assert!(!dest.exists());
        assert_eq!(stub.connections(), 0);
    }

    #[test]
    fn classification_by_text() {
        let e = classify_text(
            "https://x",
            "snapshot",
            "h2 protocol error: error reading a body from connection: peer closed connection without sending TLS close_notify",
            Some(tonic::Code::Internal),
        );
        assert!(
            matches!(e, Error::Unreachable { .. }) && e.is_transient(),
            "{e}"
        );
        let e = classify_text(
            "https://x",
            "status",
            "invalid peer certificate: UnknownIssuer",
            None,
        );
        assert!(matches!(e, Error::Tls { .. }), "{e}");
        let e = classify_text(
            "https://x",
            "status",
            "tcp connect error: Connection refused (os error 111)",
            None,
        );
        assert!(
            matches!(e, Error::Unreachable { .. }) && e.is_transient(),
            "{e}"
        );
        let e = classify_text(
            "https://x",
            "status",
            "protocol error: invalid content-type \"text/html\"",
            None,
        );
        assert!(
            matches!(e, Error::NotEtcd { .. }) && !e.is_transient(),
            "{e}"
        );
        let e = classify_text(
            "https://x",
            "status",
            "etcdserver: not capable",
            Some(tonic::Code::Unavailable),
        );
        assert!(e.is_transient(), "{e}");
        let e = classify_text(
            "https://x",
            "status",
            "etcdserver: permission denied",
            Some(tonic::Code::PermissionDenied),
        );
        assert!(!e.is_transient(), "{e}");
    }

    #[test]
    fn missing_tls_files_name_the_path() {
        let files = TlsFiles {
            ca: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/c.pem".into(),
            key: "/nonexistent/k.pem".into(),
        };
        let err = tls_options(&files).unwrap_err().to_string();
        assert!(
            err.starts_with("/nonexistent/ca.pem: cannot read CA certificate"),
            "{err}"
        );
    }
}
