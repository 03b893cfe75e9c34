//! A stub HTTP server on loopback for the tests of the tools' HTTP clients: it answers every
//! request with one fixed reply (a hostile or broken peer: a 2 GiB `Content-Length`, a 500, a
//! redirect to another host) and counts the connections it accepted, so a test can also show that
//! a refused URL made no connection at all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// What the stub sends after reading a request's head.
#[derive(Debug, Clone)]
pub enum Reply {
    /// These bytes (status line, headers, body), then the connection is closed.
    Raw(Vec<u8>),
    /// A `200` announcing a `Content-Length` of this many bytes, then nothing: a client that
    /// waits for the whole body hangs (until the test ends), one that trusts it allocates it.
    Announced(u64),
    /// A `200` with a chunked body of spaces that goes on until the client stops reading.
    Endless,
}

impl Reply {
    /// A reply with this status line (`500 Internal Server Error`), JSON content type and body.
    #[must_use]
    pub fn status(status: &str, body: &str) -> Self {
        Self::Raw(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }
}

/// The stub server; it stops accepting when dropped.
#[derive(Debug)]
pub struct StubServer {
    addr: SocketAddr,
    tls: bool,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl StubServer {
    /// Listens on `127.0.0.1` (any free port) and answers every request with `reply`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start(reply: Reply) -> Self {
        Self::spawn(reply, None)
    }

    /// Like [`StubServer::start`], over TLS with the server certificate of `tls` (clients
    /// trust `tls.ca`).
    ///
    /// # Panics
    /// When the certificate or key does not load.
    #[must_use]
    pub fn start_tls(reply: Reply, tls: &crate::LoopbackTls) -> Self {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(&tls.cert)
            .expect("server certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate PEM");
        let key = PrivateKeyDer::from_pem_file(&tls.key).expect("server key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate and key");
        Self::spawn(reply, Some(Arc::new(config)))
    }

    fn spawn(reply: Reply, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
        let tls_enabled = tls.is_some();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        let reply = reply.clone();
                        let stopped = Arc::clone(&stopped);
                        let tls = tls.clone();
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                            match tls {
                                None => answer(stream, &reply, &stopped),
                                Some(config) => {
                                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                                        return;
                                    };
                                    answer(
                                        rustls::StreamOwned::new(conn, stream),
                                        &reply,
                                        &stopped,
                                    );
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            addr,
            tls: tls_enabled,
            connections,
            stop,
        }
    }

    /// The port it listens on (on `127.0.0.1`).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (`https://` when started with TLS).
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer<S: Read + Write>(mut stream: S, reply: &Reply, stop: &AtomicBool) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    match reply {
        Reply::Raw(bytes) => {
            let _ = stream.write_all(bytes);
        }
        Reply::Announced(length) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n["
            );
            if stream.write_all(head.as_bytes()).is_ok() {
                for _ in 0..300 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Reply::Endless => {
            let mut frame = b"10000\r\n".to_vec();
            frame.extend(std::iter::repeat_n(b' ', 0x10000));
            frame.extend_from_slice(b"\r\n");
            if stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                )
                .is_err()
            {
                return;
            }
            // At most 2 GiB, in case a client reads it all.
            for _ in 0..(1 << 15) {
                if stop.load(Ordering::Relaxed) || stream.write_all(&frame).is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n");
        }
    }
}
