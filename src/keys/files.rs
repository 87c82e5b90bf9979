//! Reading the files sealpipe trusts: config, pinned certs, secret keys and
//! passphrases. A file another user can rewrite could swap a recipient, so
//! the checks here happen before anything is parsed.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

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
/// the shell). Reading stops at the first newline, so a writer that keeps
/// the pipe open (an agent, a `coproc`) does not hang sealpipe.
pub fn read_passphrase_fd(fd: u32) -> Result<Zeroizing<Vec<u8>>> {
    const MAX: usize = 64 * 1024;
    // An fd sealpipe opened itself (e.g. the signal thread's socket) would
    // hang the read: only one the caller handed over is a passphrase.
    if INHERITED_FDS.get().is_some_and(|fds| !fds.contains(&fd)) {
        return Err(Error::Key(format!(
            "--passphrase-fd {fd}: file descriptor {fd} was not open when sealpipe started; \
             pass it from the shell, e.g. `--passphrase-fd {fd} {fd}<passphrase-file`"
        )));
    }
    let failed =
        |e: std::io::Error| Error::Key(format!("cannot read passphrase from fd {fd}: {e}"));
    let mut file = fs::File::open(format!("/proc/self/fd/{fd}")).map_err(failed)?;
    // Allocated once: growing would leave copies of the secret behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX));
    let mut byte = [0u8; 1];
    while buf.len() < MAX {
        match file.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => buf.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(e)),
        }
    }
    byte.zeroize();
    Ok(buf)
}

/// The file descriptors open when the process started.
static INHERITED_FDS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();

/// Note which file descriptors the caller handed over; call first thing in
/// `main`, before anything opens a file.
pub fn remember_inherited_fds() {
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    // The listing's own directory fd shows up too; it points back here.
    let listing = Path::new("/proc")
        .join(std::process::id().to_string())
        .join("fd");
    let fds = entries
        .filter_map(|e| e.ok())
        .filter(|e| fs::read_link(e.path()).map_or(true, |t| t != listing))
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let _ = INHERITED_FDS.set(fds);
}

/// The passphrase is the first line, without its line ending.
pub fn first_line(secret: &[u8]) -> &[u8] {
    let line = secret.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Create a file that must not exist yet, with `mode` from the start, and
/// sync it (keygen: a key pair is written once and never overwritten).
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Usage(format!(
                "{} exists; refusing to overwrite it (it must not exist yet)",
                path.display()
            )),
            _ => Error::io(format!("cannot create {}", path.display()), e),
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            // No half-written key file left behind under its real name.
            let _ = fs::remove_file(path);
            Error::io(format!("cannot write {}", path.display()), e)
        })
}
