//! The trust policy against a real HTTPS listener on loopback: the pinned certificate is
//! accepted, a wrong pin is a trust failure naming the host and both fingerprints (not
//! "unreachable"), and a CA file verifies the chain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rackpipe_tls::{Fingerprint, TlsListener, Trust, http_client, reqwest_trust_failure};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// Serves `ok` over TLS with the test certificate; returns the base URL and the leaf's
/// fingerprint.
async fn serve(tls: &rackpipe_testkit::LoopbackTls) -> (String, Fingerprint) {
    let cert_pem = std::fs::read_to_string(&tls.cert).unwrap();
    let key_pem = std::fs::read_to_string(&tls.key).unwrap();
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener::new(tcp, &cert_pem, &key_pem).unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        format!("https://127.0.0.1:{port}"),
        Fingerprint::of_der(leaf.as_ref()),
    )
}

#[tokio::test]
async fn a_wrong_pin_is_a_trust_failure_not_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let tls = rackpipe_testkit::loopback_tls(dir.path());
    let (url, leaf) = serve(&tls).await;

    let pinned = http_client(&Trust::Pinned(leaf), |b| b).unwrap();
    let body = pinned.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "ok");

    let by_ca = http_client(&Trust::CaFile(tls.ca.clone()), |b| b).unwrap();
    let body = by_ca.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "ok");

    let wrong = Fingerprint([0xAB; 32]);
    let client = http_client(&Trust::Pinned(wrong), |b| b).unwrap();
    let err = client.get(&url).send().await.unwrap_err();
    let failure = reqwest_trust_failure(&err).expect("a pin mismatch is a trust failure");
    assert_eq!(failure.host, url);
    assert_eq!(failure.expected, wrong);
    assert_eq!(failure.seen, leaf);
    assert_eq!(
        failure.to_string(),
        format!(
            "{url}: TLS trust failure: certificate fingerprint mismatch: the server presented {leaf}, the pinned one is {wrong}"
        )
    );

    // Another failure (nothing listening) is not a trust failure.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = client
        .get(format!("https://127.0.0.1:{port}"))
        .send()
        .await
        .unwrap_err();
    assert!(reqwest_trust_failure(&err).is_none(), "{err}");
}
