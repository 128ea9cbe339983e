//! The HTTP edge under hostile clients, against the real binary: connections that send
//! nothing, headers and bodies trickled byte by byte, connections held open past the
//! cap, refused calls whose bodies keep coming, and a call that runs past the shutdown
//! grace.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use common::{KEY, Server, client};

fn connect(server: &Server) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

#[test]
fn a_client_trickling_headers_is_cut_off_at_the_header_timeout() {
    let server = Server::start(&["--header-read-timeout", "1"]);
    let mut slow = connect(&server);
    let start = Instant::now();
    slow.write_all(b"POST /v1/algo/blueprints/Echo HTTP/1.1\r\nHost: x\r\n")
        .expect("first bytes");
    // One more header byte a while later, never the blank line that ends them.
    std::thread::sleep(Duration::from_millis(300));
    let _ = slow.write_all(b"X");
    let mut buffer = [0u8; 1024];
    let read = slow.read(&mut buffer);
    let waited = start.elapsed();
    assert!(
        matches!(read, Ok(0) | Err(_))
            || String::from_utf8_lossy(&buffer).starts_with("HTTP/1.1 408"),
        "the connection is closed (or answered 408), not kept: {read:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "closed after {waited:?}, not at the 1 s limit"
    );
}

/// Reads one HTTP/1.1 answer (head and `Content-Length` body); its status and head.
fn read_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => bytes.push(byte[0]),
            other => panic!("the answer's head ended early ({other:?}): {bytes:?}"),
        }
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("the answer's body");
    let status = head[9..12].parse().expect("a status code");
    (status, head)
}

/// True when the server closes `stream` within `within` (EOF or reset).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut buffer = [0u8; 64];
    match stream.read(&mut buffer) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
    let server = Server::start(&["--header-read-timeout", "1"]);
    let mut silent = connect(&server);
    let start = Instant::now();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)),
        "a silent connection was still open after 5 s"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    // Kept alive after an answer, the connection gets the same time for the next one.
    let mut kept = connect(&server);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    assert_eq!(read_answer(&mut kept).0, 200);
    assert!(
        closed_within(&mut kept, Duration::from_secs(5)),
        "an idle kept-alive connection was still open after 5 s"
    );
}

#[test]
fn a_body_trickled_past_the_body_timeout_is_answered_408() {
    let server = Server::start(&["--body-read-timeout", "1"]);
    let mut slow = connect(&server);
    let head = format!(
        "POST /v1/algo/blueprints/Echo HTTP/1.1\r\nHost: x\r\nAuthorization: {KEY}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 4096\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).expect("headers");
    let start = Instant::now();
    let trickle = slow.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let mut trickle = trickle;
        // 16 bytes every 200 ms: every read makes progress, the whole never arrives.
        for _ in 0..40 {
            if trickle.write_all(&[b'x'; 16]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (status, head) = read_answer(&mut slow);
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("--body-read-timeout"), "{head}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    drop(slow);
    writer.join().expect("writer");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_is_freed() {
    let server = Server::start(&["--max-connections", "2"]);
    let first = connect(&server);
    let second = connect(&server);
    let health = || {
        client()
            .get(server.url("/healthz"))
            .timeout(Duration::from_millis(1500))
            .send()
    };
    assert!(
        health().await.is_err(),
        "a third connection is not served while two are held"
    );
    drop(first);
    let reply = health().await.expect("served once a slot is free");
    assert_eq!(reply.status(), StatusCode::OK);
    drop(second);
}

#[tokio::test]
async fn shutdown_ends_within_the_grace_even_when_a_call_runs_away() {
    let mut server = Server::start(&["--shutdown-grace", "1"]);
    let url = server.url("/v1/algo/blueprints/Sleep?timeout=600");
    let call = tokio::spawn(async move {
        client()
            .post(url)
            .header(header::AUTHORIZATION, KEY)
            .header(header::CONTENT_TYPE, "application/json")
            .body("120")
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.in_flight().await == 0 {
        assert!(Instant::now() < deadline, "the call never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let start = Instant::now();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server exits although the call would run 120 s");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "exited after {:?}",
        start.elapsed()
    );
    assert!(status.success(), "{status:?}");
    call.abort();
}

#[tokio::test]
async fn a_call_over_capacity_is_refused_before_its_body_is_read() {
    let server = Server::start(&["--workers", "1", "--queue", "0"]);
    let url = server.url("/v1/algo/blueprints/Sleep");
    let busy = tokio::spawn(async move {
        client()
            .post(url)
            .header(header::AUTHORIZATION, KEY)
            .header(header::CONTENT_TYPE, "application/json")
            .body("3")
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.in_flight().await == 0 {
        assert!(Instant::now() < deadline, "the first call never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // 9 MiB announced, 64 bytes sent: the old server waited for (and parsed) it all.
    let mut stream = connect(&server);
    let head = format!(
        "POST /v1/algo/blueprints/Echo HTTP/1.1\r\nHost: x\r\nAuthorization: {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n[0,0,0,0,0,0,0,0,",
        9 * 1024 * 1024
    );
    let start = Instant::now();
    stream.write_all(head.as_bytes()).expect("headers");
    let (status, answer) = read_answer(&mut stream);
    assert_eq!(status, 429, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // The client goes on sending the body it announced: the server reads it into
    // nothing, so there is no reset and the connection serves the next request.
    let rest = vec![b'0'; 9 * 1024 * 1024 - "[0,0,0,0,0,0,0,0,".len()];
    stream
        .write_all(&rest)
        .expect("the rest of the refused body, no reset");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("the next request on the same connection");
    let (status, answer) = read_answer(&mut stream);
    assert_eq!(status, 200, "{answer}");
    let first = busy.await.expect("task").expect("the running call");
    assert_eq!(first.status(), StatusCode::OK);
}

/// A call waiting on a slow URL hands its worker back: with one worker, Echo answers
/// while FaceDetection still waits for its image (before, Echo waited for it to end).
#[tokio::test]
async fn a_call_waiting_on_a_url_does_not_hold_a_worker() {
    let origin = common::Origin::start().await;
    let server = std::sync::Arc::new(Server::start(&[
        "--workers",
        "1",
        "--allow-fetch-host",
        "127.0.0.1",
    ]));
    let image = origin.url("/slow/1500/astronaut.jpg");
    let detecting = {
        let server = std::sync::Arc::clone(&server);
        tokio::spawn(async move {
            let reply = server
                .call_json(
                    "/v1/algo/blueprints/FaceDetection",
                    &serde_json::json!({ "image": image }),
                )
                .await;
            (reply, Instant::now())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.in_flight().await == 0 {
        assert!(Instant::now() < deadline, "the fetch never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, reply) = server
        .call_json("/v1/algo/blueprints/Echo", &serde_json::json!("meanwhile"))
        .await;
    let echo_done = Instant::now();
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["result"], "meanwhile", "{reply}");
    let ((status, reply), detected) = detecting.await.expect("task");
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["result"]["faces"].is_array(), "{reply}");
    assert!(
        echo_done < detected,
        "Echo waited for the fetch: the worker was held"
    );
}
