//! Small file-system helpers shared by the engine: atomic writes.

use std::io::{self, Write};
use std::path::Path;

use crate::temp_owner;

/// Writes `bytes` to `path` through a uniquely named temporary file in the same directory,
/// then renames it into place, so readers see the old or the new file, never half of one.
/// The temporary name carries this process's identity (see [`temp_owner`]), so a later run can
/// remove it if this process dies before the rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = temp_owner::temp_path_for(dir, &name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
