//! The fetcher against a tiny HTTP/1.1 server on loopback that answers one canned response
//! per connection: a whole body, a 404, a body cut short of its Content-Length, and a port
//! nobody listens on.

use std::io::{Read, Write};
use std::net::TcpListener;

use super::*;

/// Serves `response` (raw bytes) to every connection, then closes it; returns the URL.
fn serve(response: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = s.read(&mut request);
            let _ = s.write_all(&response);
        }
    });
    format!("http://127.0.0.1:{port}/file.tar.gz")
}

fn fetcher() -> Fetcher {
    Fetcher::new(&FetchOptions {
        idle_timeout: Duration::from_secs(5),
    })
    .unwrap()
}

#[test]
fn a_whole_body_arrives_hashed() {
    let body = b"hello, archive".to_vec();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let url = serve(response);
    let mut out = Vec::new();
    let mut seen = 0;
    let got = fetcher()
        .get(&url, &mut out, &mut |n, total| {
            seen = n;
            assert_eq!(total, Some(14));
        })
        .unwrap();
    assert_eq!(out, body);
    assert_eq!(seen, 14);
    assert_eq!(got.size, 14);
    assert_eq!(got.blake3, *blake3::hash(&body).as_bytes());
    let sha: [u8; 32] = sha2::Sha256::digest(&body).into();
    assert_eq!(got.sha256, sha);
}

#[test]
fn a_404_names_the_url_and_the_status() {
    let url =
        serve(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec());
    let err = fetcher()
        .get(&url, &mut Vec::new(), &mut |_, _| {})
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn a_body_cut_short_is_truncated() {
    let url = serve(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nonly this".to_vec(),
    );
    let err = fetcher()
        .get(&url, &mut Vec::new(), &mut |_, _| {})
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Truncated {
                expected: 1000,
                got: 9,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_dead_server_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/x");
    let err = fetcher()
        .get(&url, &mut Vec::new(), &mut |_, _| {})
        .unwrap_err();
    assert!(matches!(err, FetchError::Transport { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}
