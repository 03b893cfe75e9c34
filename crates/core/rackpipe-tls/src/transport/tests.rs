use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

fn loopback_ok(text: &str) -> bool {
    check_url(text, PlainHttp::Loopback).is_ok()
}

#[test]
fn plain_http_only_to_a_literal_loopback_address() {
    for ok in [
        "http://127.0.0.1",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "http://127.1.2.3:1/api",
        "HTTP://127.0.0.1:80",
        "http://[::1]:8200",
        "http://[0:0:0:0:0:0:0:1]",
        "https://127.0.0.1:8006",
        "https://pve1.lab.example:8006",
        "https://10.3.0.1",
        "https://[2001:db8::1]:443/",
    ] {
        assert!(loopback_ok(ok), "{ok} should be accepted");
        assert!(is_loopback_http(ok) == ok.to_lowercase().starts_with("http://"));
    }
    for (bad, host) in [
        ("http://127.0.0.1@example.com", ""),
        ("http://127.0.0.1:80@example.com/", ""),
        ("http://user:pw@127.0.0.1/", ""),
        ("http://@127.0.0.1/", ""),
        ("http://127.evil.example", "127.evil.example"),
        ("http://127.0.0.1.evil.example:80", "127.0.0.1.evil.example"),
        ("http://localhost:8080", "localhost"),
        ("http://LOCALHOST", "localhost"),
        ("http://localhost.", "localhost."),
        ("http://0x7f.1", "127.0.0.1"),
        ("http://0x7f000001:80", "127.0.0.1"),
        ("http://2130706433", "127.0.0.1"),
        ("http://0177.0.0.1", "127.0.0.1"),
        ("http://127.1", "127.0.0.1"),
        ("http://127.0.0.1.", "127.0.0.1"),
        ("http://%31%32%37.0.0.1/", "127.0.0.1"),
        ("http://0.0.0.0:80", "0.0.0.0"),
        ("http://[::]:80", "[::]"),
        ("http://[::ffff:127.0.0.1]", "[::ffff:7f00:1]"),
        ("http://10.3.0.1", "10.3.0.1"),
        ("http://198.18.0.1:8728", "198.18.0.1"),
        ("http://[2001:db8::1]", "[2001:db8::1]"),
        ("http:\\\\127.0.0.1", ""),
        ("http://127.0.0.1\\@example.com", ""),
        ("http:127.0.0.1", ""),
        ("http:/127.0.0.1", ""),
        (" http://127.0.0.1", ""),
        ("http://127.0.0.1\n.evil.example", ""),
        ("ftp://127.0.0.1", ""),
        ("file:///etc/passwd", ""),
        ("127.0.0.1:8080", ""),
        ("https://user:hunter2@vault.example", ""),
        ("https://vault.example/?x=1", ""),
        ("http://127.0.0.1/#frag", ""),
        ("", ""),
    ] {
        let err = check_url(bad, PlainHttp::Loopback).expect_err(bad);
        let text = err.to_string();
        assert!(!text.contains('\n'), "{bad}: {text}");
        assert!(
            !text.contains("hunter2") && !text.contains(":pw@"),
            "{text}"
        );
        if !host.is_empty() {
            assert_eq!(
                err,
                UrlError::PlainHttp {
                    host: host.to_owned()
                },
                "{bad}"
            );
            assert!(text.contains(host), "{text}");
        }
        assert!(!is_loopback_http(bad), "{bad}");
    }
}

#[test]
fn messages_are_one_line_and_name_the_host() {
    let e = check_url("http://127.0.0.1@nas.example:5000/x", PlainHttp::Loopback).unwrap_err();
    assert_eq!(
        e.to_string(),
        "http://***@nas.example:5000/x: a user name or password in the URL is refused (it would be logged); give credentials through the tool's options"
    );
    let e = check_url("http://vault.example:8200", PlainHttp::Loopback).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plain http:// to vault.example refused: credentials go only over verified TLS (https://); plain HTTP is allowed only to a literal loopback address (127.0.0.0/8 or [::1])"
    );
    let e = check_url("http://127.0.0.1:8200", PlainHttp::Refuse).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plain http:// to 127.0.0.1 refused: this client speaks only https://"
    );
    assert!(check_url("https://127.0.0.1:8200", PlainHttp::Refuse).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any IPv4 address: plain HTTP is accepted exactly for 127.0.0.0/8.
    #[test]
    fn ipv4_accepted_iff_loopback(a in any::<u32>(), port in 1u16..) {
        let ip = std::net::Ipv4Addr::from(a);
        let url = format!("http://{ip}:{port}/rest");
        prop_assert_eq!(loopback_ok(&url), ip.octets()[0] == 127);
    }

    /// Any IPv6 address: plain HTTP is accepted exactly for ::1.
    #[test]
    fn ipv6_accepted_iff_loopback(a in any::<u128>(), port in 1u16..) {
        let ip = std::net::Ipv6Addr::from(a);
        let url = format!("http://[{ip}]:{port}");
        prop_assert_eq!(loopback_ok(&url), a == 1);
    }

    /// Strings built from the characters that make URLs ambiguous: whatever is accepted as
    /// plain HTTP names a loopback address as reqwest parses it, also once the tools append
    /// their API path, and carries no user information.
    #[test]
    fn accepted_plain_http_connects_to_loopback(
        host in "(127\\.0\\.0\\.1|\\[::1\\]|127\\.1|0x7f\\.1|localhost)?[0-9a-fx.:@\\[\\]%/#?\\\\ ]{0,12}(127\\.0\\.0\\.1)?",
        upper in any::<bool>(),
        path in "(/[a-z0-9]{0,6}){0,3}",
    ) {
        let scheme = if upper { "HTTP" } else { "http" };
        let text = format!("{scheme}://{host}");
        if let Ok(url) = check_url(&text, PlainHttp::Loopback)
            && url.scheme() == "http"
        {
            let ip: std::net::IpAddr = match url.host() {
                Some(url::Host::Ipv4(a)) => a.into(),
                Some(url::Host::Ipv6(a)) => a.into(),
                other => return Err(TestCaseError::fail(format!("{text}: host {other:?}"))),
            };
            prop_assert!(ip.is_loopback(), "{}", text);
            prop_assert!(url.username().is_empty() && url.password().is_none());
            let joined = reqwest::Url::parse(&format!("{}{path}", text.trim_end_matches('/')))
                .map_err(|e| TestCaseError::fail(format!("{text}{path}: {e}")))?;
            prop_assert_eq!(joined.host_str(), url.host_str());
            prop_assert_eq!(joined.port_or_known_default(), url.port_or_known_default());
        }
    }
}

#[test]
fn peer_text_is_one_short_line() {
    assert_eq!(
        peer_text("  permission\n\tdenied \u{1b}[2J now "),
        "permission denied [2J now"
    );
    let long = "boom ".repeat(5000);
    let cut = peer_text(&long);
    assert!(cut.starts_with("boom boom"), "{cut}");
    // 300 characters kept ("boom" x 60 with their spaces), the rest counted.
    assert!(cut.ends_with("boom… (24700 more characters)"), "{cut}");
    assert_eq!(
        cut.chars().count(),
        299 + "… (24700 more characters)".chars().count()
    );
    assert_eq!(
        peer_text(&"é".repeat(PEER_TEXT_LIMIT)),
        "é".repeat(PEER_TEXT_LIMIT)
    );
    assert_eq!(peer_text(""), "");
}

#[test]
fn sizes_read_as_people_write_them() {
    assert_eq!(human_size(API_BODY_LIMIT), "64 MiB");
    assert_eq!(human_size(2 << 30), "2 GiB");
    assert_eq!(human_size(1500), "1500 bytes");
}

/// A loopback server that answers each connection with `respond(request_head)`.
async fn serve<F, Fut>(listener: TcpListener, respond: F)
where
    F: Fn(String, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let respond = Arc::new(respond);
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let respond = Arc::clone(&respond);
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            respond(String::from_utf8_lossy(&head).into_owned(), stream).await;
        });
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[test]
fn an_announced_2_gib_reply_is_refused_before_reading() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, |_, mut stream| async move {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n[")
                .await;
            // Keep the connection open: a client that waits for the body would hang here.
            tokio::time::sleep(Duration::from_secs(30)).await;
        }));
        let client = client_builder().build().unwrap();
        let started = Instant::now();
        let reply = client
            .get(format!("http://127.0.0.1:{port}/api2/json/cluster/resources"))
            .send()
            .await
            .unwrap();
        let err = read_body_limited(reply, API_BODY_LIMIT).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("http://127.0.0.1:{port}: reply larger than 64 MiB, refused (not read further)")
        );
        assert!(!err.is_transient());
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn an_endless_streamed_reply_stops_at_the_limit_and_memory_stays_small() {
    const LIMIT: u64 = 8 << 20;
    const SERVER_SENDS_UP_TO: u64 = 2 << 30;
    let before = peak_rss_kib();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent_by_server = Arc::clone(&sent);
    runtime().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, move |_, mut stream| {
            let sent = Arc::clone(&sent_by_server);
            async move {
                if stream
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let chunk = [b' '; 65536];
                let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                frame.extend_from_slice(&chunk);
                frame.extend_from_slice(b"\r\n");
                let mut total = 0u64;
                while total < SERVER_SENDS_UP_TO {
                    if stream.write_all(&frame).await.is_err() {
                        return;
                    }
                    total += chunk.len() as u64;
                    sent.store(
                        usize::try_from(total).unwrap_or(usize::MAX),
                        Ordering::Relaxed,
                    );
                }
                let _ = stream.write_all(b"0\r\n\r\n").await;
            }
        }));
        let client = client_builder().build().unwrap();
        let reply = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        let err = read_body_limited(reply, LIMIT).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("larger than 8 MiB"), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("http://127.0.0.1:{port}:"))
        );
    });
    // The client stopped reading a little past the limit (socket buffers aside), far from the
    // 2 GiB the server would have sent.
    let sent = sent.load(Ordering::Relaxed) as u64;
    assert!(sent < SERVER_SENDS_UP_TO / 8, "server sent {sent} bytes");
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        let grown_mib = after.saturating_sub(before) / 1024;
        assert!(
            grown_mib < 64,
            "peak memory grew by {grown_mib} MiB reading an 8 MiB-limited reply"
        );
    }
}

#[test]
fn a_reply_within_the_limit_is_read_whole() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, |_, mut stream| async move {
            let body = "x".repeat(1000);
            let _ = stream
                .write_all(
                    format!(
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000\r\n\r\n{body}"
                    )
                    .as_bytes(),
                )
                .await;
        }));
        let client = client_builder().build().unwrap();
        let reply = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 500);
        assert_eq!(read_body_limited(reply, 1000).await.unwrap().len(), 1000);
    });
}

#[test]
fn a_redirect_to_another_host_is_refused_and_the_token_stays_home() {
    runtime().block_on(async {
        // The other host: 127.0.0.2 (the whole of 127.0.0.0/8 is loopback on Linux).
        let Ok(other) = TcpListener::bind("127.0.0.2:0").await else {
            return;
        };
        let other_port = other.local_addr().unwrap().port();
        let leaked = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&leaked);
        tokio::spawn(serve(other, move |_, mut stream| {
            seen.fetch_add(1, Ordering::Relaxed);
            async move {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    .await;
            }
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, move |head, mut stream| async move {
            let reply = if head.starts_with("GET /same ") {
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{port}/final\r\nContent-Length: 0\r\n\r\n"
                )
            } else if head.starts_with("GET /final ") {
                "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhome".to_owned()
            } else {
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.2:{other_port}/v1/secret?token=abc\r\nContent-Length: 0\r\n\r\n"
                )
            };
            let _ = stream.write_all(reply.as_bytes()).await;
        }));
        let client = client_builder().build().unwrap();
        let reply = client
            .get(format!("http://127.0.0.1:{port}/v1/sys/health"))
            .header("X-Vault-Token", "s.secret-token")
            .send()
            .await
            .unwrap();
        let err = read_body_limited(reply, API_BODY_LIMIT).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "http://127.0.0.1:{port}: HTTP 307 redirect to http://127.0.0.2:{other_port} refused (credentials are never sent to another host)"
            )
        );
        assert_eq!(leaked.load(Ordering::Relaxed), 0, "the other host was contacted");
        // The same host: followed.
        let reply = client
            .get(format!("http://127.0.0.1:{port}/same"))
            .send()
            .await
            .unwrap();
        assert_eq!(read_body_limited(reply, 100).await.unwrap(), b"home");
    });
}
