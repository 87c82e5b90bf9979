//! Reading the files sealpipe trusts: config, pinned certs, secret keys and
//! passphrases. A file another user can rewrite could swap a recipient, so
//! the checks here happen before anything is parsed.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The effective uid of this process, read without libc: /proc/self belongs
/// to the process's effective user.
fn effective_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Which rule a trusted file must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Config and pinned certs: public, but must not be writable by anyone
    /// except their owner, and the owner must be root or us.
    Public,
    /// Secret keys and passphrase files: additionally unreadable by group and
    /// others (as ssh insists for private keys).
    Secret,
}

/// Check ownership and mode of `path` for the given trust level. Returns a
/// reason with the fix when the file is unsafe.
pub fn check_permissions(path: &Path, trust: Trust) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("is unreadable: {e}"),
    })?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "is writable by group or others (mode {mode:04o}); run: chmod go-w {}",
            path.display()
        ));
    }
    if trust == Trust::Secret && mode & 0o044 != 0 {
        return Err(format!(
            "holds a secret but is readable by group or others (mode {mode:04o}); run: chmod 600 {}",
            path.display()
        ));
    }
    let owner = meta.uid();
    if owner != 0 && Some(owner) != effective_uid() {
        return Err(format!(
            "is owned by uid {owner}, neither root nor the user running sealpipe; \
             chown it to root or to this user"
        ));
    }
    Ok(())
}

/// Read a public trusted file (config, cert) after checking it.
pub fn read_trusted(path: &Path, what: &str) -> Result<Vec<u8>> {
    check_permissions(path, Trust::Public)
        .map_err(|reason| Error::config(path, format!("{what} {reason}")))?;
    fs::read(path).map_err(|e| Error::config(path, format!("cannot read {what}: {e}")))
}

/// Read a secret file (secret key, passphrase) after checking it. The buffer
/// is wiped when dropped.
pub fn read_secret(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    check_permissions(path, Trust::Secret)
        .map_err(|reason| Error::Key(format!("{what} {}: {reason}", path.display())))?;
    let mut buf = Zeroizing::new(Vec::new());
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| Error::Key(format!("cannot read {what} {}: {e}", path.display())))?;
    Ok(buf)
}

/// Read a passphrase from an inherited file descriptor (e.g. `3<secret` in
/// the shell). Only one line is taken.
pub fn read_passphrase_fd(fd: u32) -> Result<Zeroizing<Vec<u8>>> {
    let path = format!("/proc/self/fd/{fd}");
    let mut buf = Zeroizing::new(Vec::new());
    fs::File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| Error::Key(format!("cannot read passphrase from fd {fd}: {e}")))?;
    Ok(buf)
}

/// The passphrase is the first line, without its line ending.
pub fn first_line(secret: &[u8]) -> &[u8] {
    let line = secret.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}
