//! A pause point for tests: `KILN_TEST_PAUSE_BEFORE=<step id>:<dir>` makes a build stop right
//! before that step executes (after its inputs were hashed), create `<dir>/paused`, and wait
//! until `<dir>/resume` exists. Tests use it to change a source at exactly that moment,
//! deterministically. It does nothing unless the variable is set; never set it otherwise.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a paused build waits for the test before going on.
const MAX_PAUSE: Duration = Duration::from_secs(120);

/// Pauses if the hook names `id`.
pub fn pause_before(id: &str) {
    let Some(setting) = std::env::var_os("KILN_TEST_PAUSE_BEFORE") else {
        return;
    };
    let setting = setting.to_string_lossy();
    let Some((step, dir)) = setting.split_once(':') else {
        return;
    };
    if step != id {
        return;
    }
    let dir = PathBuf::from(dir);
    let _ = std::fs::write(dir.join("paused"), id);
    let start = Instant::now();
    while !dir.join("resume").exists() && start.elapsed() < MAX_PAUSE {
        std::thread::sleep(Duration::from_millis(5));
    }
}
