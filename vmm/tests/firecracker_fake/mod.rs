//! A fake Firecracker API server for tests, which validates every request it receives
//! against `specs/firecracker-api.yaml` (the shared copy of Firecracker's Swagger 2.0 spec).
//!
//! Validation: the method and path must name an operation in `paths` (`{id}` templates
//! match one non-empty segment); a body must be present exactly when the operation has a
//! body parameter (and one marked `required`); the body must satisfy that parameter's
//! schema. The spec's `definitions` are turned into a draft-4 JSON Schema document and
//! checked with the `jsonschema` crate, so types, `required`, `enum`, `minimum`/`maximum`
//! are enforced. The spec declares no `additionalProperties: false`, so a misspelt field
//! would pass a literal reading; the conversion therefore closes every object schema that
//! lists `properties` and says nothing of extra ones (`additionalProperties: false`), which
//! makes every property kiln sends have to be declared. Objects the spec explicitly opens
//! (`additionalProperties: true`, MMDS contents) stay open.
//!
//! Answers: 204 to a valid `PUT` (or 400 with a `fault_message` when the test asked for a
//! fault on that path), 400 with the validator's findings to an invalid one, and an
//! `InstanceInfo` to `GET /`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One operation of the spec: its path template split into segments, and its body schema.
struct Operation {
    method: String,
    segments: Vec<String>,
    body: Option<(Value, bool)>,
}

/// Firecracker's API, as the Swagger spec describes it.
pub struct SpecValidator {
    operations: Vec<Operation>,
    definitions: Value,
}

/// The spec file: Firecracker's own OpenAPI description (Apache-2.0, from the firecracker
/// repository, as given to the project in `shared/specs/`), kept in the repository so the
/// tests need nothing outside it.
pub fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/firecracker-api.yaml")
}

impl SpecValidator {
    /// Reads and converts the spec.
    pub fn load() -> Self {
        let path = spec_path();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value = serde_saphyr::from_str(&text).expect("the spec is YAML");
        assert_eq!(doc["swagger"], "2.0", "not a Swagger 2.0 document");
        let mut definitions = doc["definitions"].clone();
        if let Value::Object(defs) = &mut definitions {
            defs.values_mut().for_each(close_objects);
        }
        let mut operations = Vec::new();
        for (template, methods) in doc["paths"].as_object().expect("paths") {
            for (method, op) in methods.as_object().expect("methods") {
                operations.push(Operation {
                    method: method.to_uppercase(),
                    segments: split(template),
                    body: body_schema(op),
                });
            }
        }
        Self {
            operations,
            definitions,
        }
    }

    /// Checks one request; `Ok` names the matched path template.
    pub fn validate(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, String> {
        let segments = split(path);
        let op = self
            .operations
            .iter()
            .find(|op| op.method == method && matches(&op.segments, &segments))
            .ok_or_else(|| format!("{method} {path}: no such operation in the spec"))?;
        let template = format!("/{}", op.segments.join("/"));
        match (&op.body, body) {
            (None, None) => Ok(template),
            (None, Some(_)) => Err(format!("{method} {template} takes no body")),
            (Some((_, true)), None) => Err(format!("{method} {template} requires a body")),
            (Some(_), None) => Ok(template),
            (Some((schema, _)), Some(body)) => self.check_body(schema, body).map(|()| template),
        }
    }

    /// Validates `body` against `schema`, resolving `#/definitions/...`.
    fn check_body(&self, schema: &Value, body: &Value) -> Result<(), String> {
        let document = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "definitions": self.definitions,
            "allOf": [schema],
        });
        let validator = jsonschema::draft4::new(&document).map_err(|e| format!("schema: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// The body parameter's schema and whether it is required.
fn body_schema(op: &Value) -> Option<(Value, bool)> {
    let params = op.get("parameters")?.as_array()?;
    let body = params.iter().find(|p| p["in"] == "body")?;
    let mut schema = body["schema"].clone();
    close_objects(&mut schema);
    Some((schema, body["required"] == true))
}

/// Adds `additionalProperties: false` to every object schema with `properties` that does
/// not say otherwise, recursing only through schema positions (a property may itself be
/// named `properties`, as in `Metrics`).
fn close_objects(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(close_objects);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = map.get_mut(key) {
            close_objects(sub);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(subs)) = map.get_mut(key) {
            subs.iter_mut().for_each(close_objects);
        }
    }
}

fn split(path: &str) -> Vec<String> {
    let path = path.split('?').next().unwrap_or_default();
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn matches(template: &[String], path: &[String]) -> bool {
    template.len() == path.len()
        && template
            .iter()
            .zip(path)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

/// One request the fake received, with the validator's verdict.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
    pub verdict: Result<String, String>,
}

/// A running fake server.
pub struct FakeFirecracker {
    received: Arc<Mutex<Vec<Received>>>,
}

/// What the fake answers besides validation: a 400 with this message on this path.
#[derive(Clone, Default)]
pub struct Fault {
    pub path: String,
    pub fault_message: String,
}

impl FakeFirecracker {
    /// Binds `socket` now and serves it on a thread.
    pub fn start(socket: &Path, fault: Option<Fault>) -> Self {
        let listener = UnixListener::bind(socket).expect("bind the fake API socket");
        Self::serve(move || Some(listener), fault)
    }

    /// Binds `socket` once `trigger` exists (so a launcher can first clear stale sockets).
    pub fn start_when(socket: &Path, trigger: &Path, fault: Option<Fault>) -> Self {
        let (socket, trigger) = (socket.to_path_buf(), trigger.to_path_buf());
        let bind = move || {
            let start = Instant::now();
            while !trigger.exists() {
                if start.elapsed() > Duration::from_secs(10) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            UnixListener::bind(&socket).ok()
        };
        Self::serve(bind, fault)
    }

    fn serve(
        bind: impl FnOnce() -> Option<UnixListener> + Send + 'static,
        fault: Option<Fault>,
    ) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let validator = SpecValidator::load();
        std::thread::spawn(move || {
            let Some(listener) = bind() else { return };
            for stream in listener.incoming().flatten() {
                serve_connection(stream, &validator, &log, fault.as_ref());
            }
        });
        Self { received }
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }
}

fn serve_connection(
    stream: UnixStream,
    validator: &SpecValidator,
    log: &Mutex<Vec<Received>>,
    fault: Option<&Fault>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader) {
        let body = body.map(|b| serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null));
        let verdict = validator.validate(&method, &path, body.as_ref());
        let started = log.lock().expect("log").iter().any(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| b["action_type"] == "InstanceStart")
        });
        let response = match (&verdict, fault) {
            (Err(why), _) => answer(400, &json!({ "fault_message": why })),
            (Ok(_), Some(f)) if f.path == path => {
                answer(400, &json!({ "fault_message": f.fault_message }))
            }
            (Ok(_), _) if method == "GET" && path == "/" => answer(
                200,
                &json!({
                    "app_name": "Firecracker", "id": "anonymous-instance", "vmm_version": "1.17.0-fake",
                    "state": if started { "Running" } else { "Not started" },
                }),
            ),
            (Ok(_), _) => "HTTP/1.1 204 No Content\r\nServer: Firecracker API\r\n\r\n".to_owned(),
        };
        log.lock().expect("log").push(Received {
            method,
            path,
            body,
            verdict,
        });
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(status: u16, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} X\r\nServer: Firecracker API\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one request: method, path, body (if it had a `Content-Length`).
fn read_request(reader: &mut impl BufRead) -> Option<(String, String, Option<Vec<u8>>)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
    assert_eq!(words.next(), Some("HTTP/1.1"), "request line {line:?}");
    let mut length = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').expect("header line");
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>().expect("Content-Length"));
        }
    }
    let body = match length {
        Some(n) => {
            let mut body = vec![0; n];
            reader.read_exact(&mut body).ok()?;
            Some(body)
        }
        None => None,
    };
    Some((method, path, body))
}
