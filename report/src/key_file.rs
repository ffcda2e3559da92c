//! Reading a shared key from a file, by one rule for every program that holds
//! one (presenced, presenced-receiver, presenced-server): if the two ends read
//! the same file differently, their signatures would not match; if one of them
//! opened a FIFO or `/dev/zero` as a key file, it would block or fill memory.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The environment variable that may carry the key instead of a file.
pub const KEY_ENV: &str = "PRESENCED_KEY";

/// A key is a secret of some bytes; a larger "key file" is a mistake
/// (`/dev/zero`, a log file), and reading it must not exhaust memory.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A key read from a file, and a warning when others may read it too.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFile {
    pub bytes: Vec<u8>,
    pub warning: Option<String>,
}

/// Never prints the key.
impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("warning", &self.warning)
            .finish()
    }
}

/// Reads the key file that `option` names (the warning names it too).
/// Only a regular file of at most [`MAX_KEY_FILE_BYTES`] is read: a FIFO would
/// block for ever, `/dev/zero` would fill memory. The file is opened without
/// blocking, so even a FIFO named here is refused rather than waited on.
/// The key is the file's bytes less trailing line ends ([`key_from_file`]).
/// The error is the problem only; the caller names the option.
///
/// [`key_from_file`]: crate::key_from_file
pub fn read_key_file(path: &Path, option: &str) -> Result<KeyFile, String> {
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot look at {shown}: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!("{shown} is not a regular file (the key must be in a plain file)"));
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "{shown} is {} bytes; a key file holds at most {MAX_KEY_FILE_BYTES} bytes",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The bound holds even if the file grows after the size was read.
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!("{shown} grew past {MAX_KEY_FILE_BYTES} bytes while it was read"));
    }
    let key = crate::key_from_file(bytes);
    if key.is_empty() {
        return Err(format!("{shown} holds no key"));
    }
    let warning = (meta.mode() & 0o044 != 0).then(|| {
        format!(
            "{option}: {shown} can be read by {} (mode {:04o}); chmod 600 it",
            if meta.mode() & 0o004 != 0 { "every user" } else { "its group" },
            meta.mode() & 0o7777
        )
    });
    Ok(KeyFile { bytes: key, warning })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("presenced-report-key-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn only_a_small_regular_file_is_read() {
        let problem = |p: &Path| read_key_file(p, "--key-file").unwrap_err();
        assert!(problem(Path::new("/dev/zero")).contains("not a regular file"));
        let dir = Dir::new("kinds");
        assert!(problem(&dir.0).contains("not a regular file"));
        // No writer: a blocking open would wait for one for ever.
        let fifo = dir.0.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(problem(&fifo).contains("not a regular file"));
        assert!(problem(&dir.0.join("absent")).starts_with("cannot open "));
        let big = dir.0.join("big");
        std::fs::write(&big, vec![b'k'; 4097]).unwrap();
        assert!(problem(&big).contains("4097 bytes"), "{}", problem(&big));
        std::fs::write(&big, vec![b'k'; 4096]).unwrap();
        assert_eq!(read_key_file(&big, "--key-file").unwrap().bytes.len(), 4096);
        std::fs::write(&big, b"\r\n\n").unwrap();
        assert!(problem(&big).ends_with("holds no key"));
    }

    #[test]
    fn trailing_line_ends_are_not_part_of_the_key() {
        let dir = Dir::new("ends");
        let path = dir.0.join("key");
        std::fs::write(&path, b" s3cret \r\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = read_key_file(&path, "--key-file").unwrap();
        assert_eq!(key.bytes, b" s3cret ");
        assert_eq!(key.warning, None);
        assert!(!format!("{key:?}").contains("s3cret"));
    }

    #[test]
    fn a_file_others_can_read_is_taken_with_a_warning_naming_the_option() {
        let dir = Dir::new("modes");
        let path = dir.0.join("key");
        std::fs::write(&path, b"k\n").unwrap();
        let warning = |mode: u32| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            read_key_file(&path, "--opt").unwrap().warning
        };
        assert_eq!(warning(0o600), None);
        assert_eq!(warning(0o400), None);
        let group = warning(0o640).unwrap();
        assert!(group.starts_with("--opt: ") && group.contains("its group") && group.contains("0640"), "{group}");
        let everyone = warning(0o604).unwrap();
        assert!(everyone.contains("every user") && everyone.contains("0604"), "{everyone}");
    }
}
