//! Optional HTTPS listener for the simulator (rustls), so clients can test CA and
//! fingerprint pinning.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::{SimError, TlsIdentity};

/// A TCP listener that completes a TLS handshake before handing the stream to axum.
pub(crate) struct TlsListener {
    inner: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub(crate) fn new(inner: TcpListener, identity: &TlsIdentity) -> Result<Self, SimError> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| SimError::Tls(format!("certificate PEM: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.expose().as_bytes())
            .map_err(|e| SimError::Tls(format!("private key PEM: {e}")))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SimError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| SimError::Tls(e.to_string()))?;
        Ok(Self {
            inner,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.inner.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            // A failed handshake (e.g. a client rejecting our pin) only drops that connection.
            if let Ok(Ok(tls)) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                self.acceptor.accept(stream),
            )
            .await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
