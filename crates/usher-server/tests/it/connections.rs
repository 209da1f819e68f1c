//! Connections and error answers, over raw sockets against the real server loop: nothing holds a
//! connection for ever (issue 11 item 9), and every error answer is one JSON shape with a
//! request id (item 13).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use usher_server::{AppState, Bridge, ConnectionLimits, HashPool, SessionKeys};

/// Far beyond every limit the servers below are given, and far below the 55 s the connections
/// used to stay open: a connection still open at this point was not bounded.
const BOUND: Duration = Duration::from_secs(15);

/// A server with no legacy source over a fresh SQLite store, within `limits`.
async fn server(dir: &std::path::Path, limits: ConnectionLimits) -> SocketAddr {
    let store = usher_testkit::store(dir).await;
    let policy = usher_testkit::policy();
    let bridge = Bridge::new(Arc::from(store), vec![], HashPool::new(1, 8), policy).unwrap();
    let mut state = AppState::new(
        bridge,
        SessionKeys::generate("https://usher.test", 600).unwrap(),
    );
    state.connections = limits;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(usher_server::serve(
        listener,
        Arc::new(state),
        std::future::pending(),
    ));
    addr
}

fn short() -> ConnectionLimits {
    ConnectionLimits {
        max: 64,
        header_timeout_seconds: 1,
        body_timeout_seconds: 1,
        request_timeout_seconds: 2,
        idle_timeout_seconds: 2,
    }
}

/// Everything the server sends until it closes the connection; panics if it is still open
/// after [`BOUND`].
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    match tokio::time::timeout(BOUND, stream.read_to_end(&mut got)).await {
        Ok(_) => String::from_utf8_lossy(&got).into_owned(),
        Err(_) => panic!(
            "the connection is still open after {BOUND:?}; it sent {:?}",
            String::from_utf8_lossy(&got)
        ),
    }
}

/// Sends `request` on a new connection and reads the answer to the end.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    until_closed(&mut stream).await
}

/// The status, the `x-request-id` header and the JSON body of a raw answer.
fn parse(answer: &str) -> (u16, Option<String>, serde_json::Value) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let id = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("x-request-id")
            .then(|| value.trim().to_owned())
    });
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: body of {answer:?}"));
    (status, id, body)
}

/// Asserts the one error shape: `{"error": code, "request_id": id}` with the same id in the
/// header.
fn assert_error(answer: &str, status: u16, code: &str) {
    let (got, header_id, body) = parse(answer);
    assert_eq!(got, status, "{answer}");
    assert_eq!(body["error"], code, "{answer}");
    let id = body["request_id"].as_str().expect("a request_id");
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(header_id.as_deref(), Some(id), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_socket_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let addr = server(dir.path(), short()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_headers_are_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let addr = server(dir.path(), short()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /v1/login HTTP/1.1\r\nHost: usher.test\r\nContent-Type: appl")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_gets_408_and_a_huge_declared_one_413_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let addr = server(dir.path(), short()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/login HTTP/1.1\r\nHost: usher.test\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"identifier\":",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert_error(&answer, 408, "body_timeout");

    // 10 GB declared, nothing sent: refused before a byte of it is read.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/login HTTP/1.1\r\nHost: usher.test\r\nContent-Type: application/json\r\n\
              Content-Length: 10000000000\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut first = [0u8; 12];
    tokio::time::timeout(Duration::from_millis(900), stream.read_exact(&mut first))
        .await
        .expect("answered before the body timeout")
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 413");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let addr = server(dir.path(), short()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: usher.test\r\n\r\n")
        .await
        .unwrap();
    // The answer comes, and then the connection, kept alive, goes quiet until it is closed.
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_get_503_at_once_and_others_are_served_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ConnectionLimits {
        max: 4,
        header_timeout_seconds: 2,
        body_timeout_seconds: 2,
        request_timeout_seconds: 2,
        idle_timeout_seconds: 2,
    };
    let addr = server(dir.path(), limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // The four are accepted in order; the fifth finds no slot.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: usher.test\r\n\r\n").await;
    let (status, _, body) = parse(&answer);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(body["error"], "too_many_connections");
    assert!(body["request_id"].is_string(), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // Once the silent ones are closed, their slots serve again.
    for mut stream in held {
        until_closed(&mut stream).await;
    }
    let answer = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: usher.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_answer_is_json_with_a_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let addr = server(dir.path(), ConnectionLimits::default()).await;
    let close = "Host: usher.test\r\nConnection: close\r\n";

    // 405, which axum answers with an empty body.
    let answer = exchange(
        addr,
        format!("GET /v1/login HTTP/1.1\r\n{close}\r\n").as_bytes(),
    )
    .await;
    assert_error(&answer, 405, "method_not_allowed");
    // 404 for a path no route has.
    let answer = exchange(
        addr,
        format!("GET /nowhere HTTP/1.1\r\n{close}\r\n").as_bytes(),
    )
    .await;
    assert_error(&answer, 404, "not_found");
    // 414: a request target over 8 KiB.
    let long = "a".repeat(usher_server::MAX_URI_BYTES + 1);
    let answer = exchange(
        addr,
        format!("GET /v1/users/{long} HTTP/1.1\r\n{close}\r\n").as_bytes(),
    )
    .await;
    assert_error(&answer, 414, "uri_too_long");
    // 431: headers over 16 KiB.
    let big = "b".repeat(usher_server::MAX_HEADER_BYTES);
    let answer = exchange(
        addr,
        format!("GET /healthz HTTP/1.1\r\n{close}X-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_error(&answer, 431, "headers_too_large");
    // 413: a body over the cap, sent in full.
    let body = format!(
        "{{\"identifier\":\"a@b.c\",\"password\":\"{}\"}}",
        "p".repeat(usher_server::http::MAX_BODY_BYTES)
    );
    let answer = exchange(
        addr,
        format!(
            "POST /v1/login HTTP/1.1\r\n{close}Content-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    assert_error(&answer, 413, "body_too_large");
    // A body that is not JSON: axum's own rejection, in the same shape.
    let answer = exchange(
        addr,
        format!(
            "POST /v1/users HTTP/1.1\r\n{close}Content-Type: application/json\r\n\
             Content-Length: 5\r\n\r\n{{nope"
        )
        .as_bytes(),
    )
    .await;
    let (status, ..) = parse(&answer);
    assert!((400..500).contains(&status), "{answer}");
    assert_error(&answer, status, parse(&answer).2["error"].as_str().unwrap());
    // A handler's own error keeps its code and gains the id.
    let login = r#"{"identifier":"nobody@example.com","password":"x"}"#;
    let answer = exchange(
        addr,
        format!(
            "POST /v1/login HTTP/1.1\r\n{close}Content-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{login}",
            login.len()
        )
        .as_bytes(),
    )
    .await;
    assert_error(&answer, 401, "invalid_credentials");
}
