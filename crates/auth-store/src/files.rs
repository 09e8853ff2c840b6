//! The SQLite database's files hold password hashes, sealed keys and the audit log, so nobody
//! but the service's user may read them, whatever the umask: the directory Latchkey creates for
//! the database is created 0700, and the database file is created 0600 before SQLite opens it
//! (SQLite gives the `-wal` and `-shm` files it creates the database file's mode). Existing files
//! are left as they are, with a warning when group or others can read them.

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::StoreError;

/// Creates the database's directory (0700) and file (0600) when they do not exist; warns about
/// existing files that group or others can read. `path` is the path of a `sqlite://PATH` URL.
pub(crate) fn prepare_sqlite(path: &str) -> Result<(), StoreError> {
    // An SQLite URI (`file:…?mode=…`): SQLite opens it as it says.
    if path.starts_with("file:") {
        return Ok(());
    }
    let file = Path::new(path);
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot create the database directory: {e}"))
            })?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(StoreError::Unavailable(format!(
                "cannot create the database file: {e}"
            )));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        warn_if_readable_by_others(&format!("{path}{suffix}"));
    }
    Ok(())
}

fn warn_if_readable_by_others(path: &str) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path,
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the database file is readable by group or others (it holds password hashes and \
                 the audit log); chmod 600 it and its -wal and -shm files"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_directory_and_file_are_private_and_existing_ones_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("a/b/latchkey.sqlite3");
        prepare_sqlite(db.to_str().unwrap()).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
        assert_eq!(mode(&db), 0o600);
        // An existing file keeps its mode and its content.
        std::fs::write(&db, b"x").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
        prepare_sqlite(db.to_str().unwrap()).unwrap();
        assert_eq!(mode(&db), 0o640);
        assert_eq!(std::fs::read(&db).unwrap(), b"x");
    }
}
