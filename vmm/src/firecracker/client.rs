//! A minimal HTTP/1.1 client for Firecracker's API socket.
//!
//! Written by hand rather than with an HTTP crate: kiln speaks to exactly one peer over one
//! Unix socket, sends a handful of small `PUT`/`GET` requests with JSON bodies and
//! `Content-Length`, and reads answers that always carry `Content-Length` (or none, for
//! `204 No Content`). That is about a hundred lines that must be exact, against a client
//! stack (hyper, tokio, a Unix-socket connector) many times larger. No chunked encoding,
//! no redirects, no TLS: Firecracker uses none of them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::FcError;
use super::api::{ActionType, ApiFault, ApiRequest, InstanceActionInfo, InstanceInfo};

/// How long one request may take before kiln gives up on Firecracker.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer kiln accepts; Firecracker's are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;

/// A connection to one Firecracker API socket, kept open across requests.
#[derive(Debug)]
pub struct ApiClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

/// A parsed HTTP answer: status code and body.
#[derive(Debug)]
struct Response {
    status: u16,
    body: Vec<u8>,
}

impl ApiClient {
    /// Connects to the API socket at `socket`.
    pub fn connect(socket: &Path) -> Result<Self, FcError> {
        let io = |source| FcError::Socket {
            socket: socket.to_path_buf(),
            source,
        };
        let writer = UnixStream::connect(socket).map_err(io)?;
        writer.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        writer.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        let reader = BufReader::new(writer.try_clone().map_err(io)?);
        Ok(Self { reader, writer })
    }

    /// Sends one configuration request; a non-2xx answer becomes [`FcError::Api`].
    pub fn send(&mut self, request: &ApiRequest) -> Result<(), FcError> {
        let body = request.body().map_err(FcError::Encode)?;
        let path = request.path();
        let response = self.round_trip(request.method(), &path, Some(&body))?;
        check_status(request.method(), &path, response).map(drop)
    }

    /// `PUT /actions` with the given action.
    pub fn action(&mut self, action_type: ActionType) -> Result<(), FcError> {
        self.send(&ApiRequest::Action(InstanceActionInfo { action_type }))
    }

    /// `GET /` (describeInstance): the instance's id, version and state.
    pub fn describe_instance(&mut self) -> Result<InstanceInfo, FcError> {
        let response = self.round_trip("GET", "/", None)?;
        let body = check_status("GET", "/", response)?;
        serde_json::from_slice(&body).map_err(|e| FcError::Protocol(format!("GET /: {e}")))
    }

    /// Writes one request and reads its answer.
    fn round_trip(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, FcError> {
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n");
        if let Some(body) = body {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(body.unwrap_or_default());
        self.writer
            .write_all(&message)
            .map_err(|e| FcError::Protocol(format!("{method} {path}: writing the request: {e}")))?;
        read_response(&mut self.reader)
            .map_err(|e| FcError::Protocol(format!("{method} {path}: {e}")))
    }
}

/// Turns a non-2xx answer into [`FcError::Api`] with Firecracker's `fault_message`.
fn check_status(method: &str, path: &str, response: Response) -> Result<Vec<u8>, FcError> {
    if (200..300).contains(&response.status) {
        return Ok(response.body);
    }
    let fault_message = serde_json::from_slice::<ApiFault>(&response.body)
        .map(|f| f.fault_message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&response.body).into_owned());
    Err(FcError::Api {
        method: method.to_owned(),
        path: path.to_owned(),
        status: response.status,
        fault_message,
    })
}

/// Reads a status line, headers and a `Content-Length` body.
fn read_response(reader: &mut impl BufRead) -> Result<Response, String> {
    let status_line = read_line(reader)?;
    let status = parse_status_line(&status_line)?;
    let mut content_length = None;
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n = value.trim().parse::<usize>();
            content_length = Some(n.map_err(|_| format!("bad Content-Length {value:?}"))?);
        } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("unsupported Transfer-Encoding {:?}", value.trim()));
        }
    }
    let len = match content_length {
        Some(n) if n > MAX_BODY => return Err(format!("answer body of {n} bytes is too large")),
        Some(n) => n,
        None if status == 204 || status == 304 || status < 200 => 0,
        None => return Err(format!("status {status} answer without Content-Length")),
    };
    let mut body = vec![0; len];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("reading a {len}-byte body: {e}"))?;
    Ok(Response { status, body })
}

/// Reads one CRLF-terminated line (without the line ending).
fn read_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| format!("reading the answer: {e}"))?;
    if n == 0 {
        return Err("the connection closed before a complete answer".to_owned());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Parses `HTTP/1.1 204 No Content` into 204.
fn parse_status_line(line: &str) -> Result<u16, String> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x status line: {line:?}"));
    }
    code.parse()
        .map_err(|_| format!("bad status code in {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_204_without_body_and_a_400_with_one() {
        let raw = b"HTTP/1.1 204 No Content\r\nServer: Firecracker API\r\n\r\n\
HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n\
{\"fault_message\":\"no\"}";
        let mut reader = &raw[..];
        let first = read_response(&mut reader).unwrap();
        assert_eq!((first.status, first.body.len()), (204, 0));
        let second = read_response(&mut reader).unwrap();
        assert_eq!(second.status, 400);
        let err = check_status("PUT", "/x", second).unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(read_response(&mut &b"SSH-2.0-OpenSSH\r\n\r\n"[..]).is_err());
        assert!(
            read_response(&mut &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"[..]).is_err()
        );
        assert!(read_response(&mut &b"HTTP/1.1 200 OK\r\n\r\n"[..]).is_err());
        assert!(read_response(&mut &b""[..]).is_err());
    }
}
