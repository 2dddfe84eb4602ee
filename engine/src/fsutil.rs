//! Small file-system helpers shared by the engine and its users: atomic writes, and copies
//! hashed on the way.

use std::io::{self, ErrorKind, Read, Write};
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

/// The size of each chunk [`copy_hashing`] reads.
const COPY_CHUNK: usize = 4 << 20;

/// Which side of [`copy_hashing`] failed.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source.
    Read(io::Error),
    /// Writing the copy.
    Write(io::Error),
}

impl CopyError {
    /// The I/O error, whichever side it came from.
    pub fn into_io(self) -> io::Error {
        match self {
            CopyError::Read(e) | CopyError::Write(e) => e,
        }
    }
}

/// Copies the rest of `src` to `out`, adding every byte to `hasher` on the way: each chunk is
/// read once, then hashed (BLAKE3 on all cores for large chunks) while it is written. Returns
/// the number of bytes copied. Copies out of a content-addressed store use it so that damage
/// is found in the same pass as the copy.
pub fn copy_hashing(
    src: &mut impl Read,
    out: &mut (impl Write + Send),
    hasher: &mut blake3::Hasher,
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        let chunk = &buf[..n];
        let (_, written) = rayon::join(
            || {
                if chunk.len() >= 1 << 20 {
                    hasher.update_rayon(chunk);
                } else {
                    hasher.update(chunk);
                }
            },
            || out.write_all(chunk),
        );
        written.map_err(CopyError::Write)?;
        total += n as u64;
    }
}
