//! Reading the files sealpipe trusts: config, pinned certs, secret keys and
//! passphrases. A file another user can rewrite (or a directory where
//! another user can swap it) could swap a recipient, so each file is opened
//! once, checked through the open descriptor and read from that same
//! descriptor: nothing is checked by one name and read by another. The rule
//! is written out for users in docs/keys.md, "Files and permissions".

use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// The uid whose files (besides root's) sealpipe trusts: the effective one,
/// which is the one the kernel checks file access against.
fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// What a trusted file is for: decides the rule it must meet, how it is
/// named in messages, and the exit code of a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Config,
    Cert,
    SecretKey,
    Passphrase,
    /// `--session-key-file`: opens one backup without any secret key.
    SessionKey,
}

impl Role {
    /// The exit code of a refusal: a config's or a cert's is a config
    /// error, a secret's a key error.
    pub fn exit_code(self) -> u8 {
        match self {
            Role::Config | Role::Cert => crate::error::exit::CONFIG,
            Role::SecretKey | Role::Passphrase | Role::SessionKey => crate::error::exit::KEY,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Config => "config file",
            Role::Cert => "cert file",
            Role::SecretKey => "secret key file",
            Role::Passphrase => "passphrase file",
            Role::SessionKey => "session key file",
        })
    }
}

/// What is wrong with a trusted file, each cause with its fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileProblem {
    #[error("does not exist")]
    Missing,
    #[error("cannot be read: {0}")]
    Unreadable(io::Error),
    /// Refused rather than followed: a link is a second name, and the
    /// directory holding it would have to be trusted as well.
    #[error("is a symbolic link; name the file it points to instead")]
    Symlink,
    #[error("is not a regular file")]
    NotRegular,
    #[error("is owned by uid {owner}, neither root nor the user running sealpipe (uid {euid}); chown it to root")]
    ForeignOwner { owner: u32, euid: u32 },
    #[error("is writable by group or others (mode {mode:04o}); run chmod go-w on it")]
    Writable { mode: u32 },
    #[error(
        "holds a secret but is readable by others (mode {mode:04o}); run chmod 600 on it \
         (or 640 with root as its owner, to share it with one group)"
    )]
    ReadableByOthers { mode: u32 },
    /// Group read is for one case: a root-owned key shared with a daemon's
    /// group (root:backup 0640). A user's own key needs no group.
    #[error(
        "holds a secret and is readable by its group, but is not owned by root (mode {mode:04o}); \
         run chmod 600 on it (or chown it to root, to share it with a group)"
    )]
    GroupReadableNotRoot { mode: u32 },
    #[error(
        "is in directory {} owned by uid {owner}, neither root nor the user running sealpipe; \
         chown it to root", .dir.display()
    )]
    ForeignDirectory { dir: PathBuf, owner: u32 },
    #[error(
        "is in directory {} that group or others can write (mode {mode:04o}), so they could \
         replace the file; run: chmod go-w {}", .dir.display(), .dir.display()
    )]
    WritableDirectory { dir: PathBuf, mode: u32 },
    #[error("is not OpenPGP: {0}")]
    NotOpenPgp(String),
    #[error("holds {0} certs; a pinned cert file must hold exactly one")]
    CertCount(usize),
    #[error(
        "holds a secret key; a backup host needs only the public cert (the file keygen writes \
         with --cert-out, or `gpg --export`): pin that, and keep the secret key off this host"
    )]
    HoldsSecretKey,
    #[error("holds no secret key (only a public cert?); decrypt needs the secret key file")]
    NoSecretKey,
    /// `[sign] key` / `--sign-key` names a public cert, not the secret key.
    #[error(
        "holds no secret key (only a public cert?); signing needs the secret key file \
         (keygen --sign writes it with --key-out)"
    )]
    NoSigningSecret,
    /// A signing key file must say unambiguously which key signs.
    #[error("holds {0} keys; a signing key file must hold exactly one")]
    SigningKeyCount(usize),
}

/// A trusted file that was refused: which one, what for, and why.
#[derive(Debug, thiserror::Error)]
#[error("{role} {} {problem}", .path.display())]
pub struct FileError {
    pub role: Role,
    pub path: PathBuf,
    pub problem: FileProblem,
}

impl FileError {
    pub fn new(role: Role, path: &Path, problem: FileProblem) -> Self {
        FileError {
            role,
            path: path.to_path_buf(),
            problem,
        }
    }

    /// A missing or unreadable file, as opposed to one that is unsafe or wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.problem,
            FileProblem::Missing | FileProblem::Unreadable(_)
        )
    }
}

/// A trusted file's bytes (wiped when dropped) and the metadata of the
/// descriptor they were read from.
pub struct TrustedFile {
    pub path: PathBuf,
    pub role: Role,
    pub bytes: Zeroizing<Vec<u8>>,
    meta: Metadata,
}

impl TrustedFile {
    /// Open `path` once (not following a symlink), check the open file and
    /// the directories above it, and read it from the same descriptor.
    /// Secret files are not yet checked for readability by others: see
    /// [`TrustedFile::require_private`].
    pub fn read(path: &Path, role: Role) -> Result<TrustedFile, FileError> {
        let fail = |problem| FileError::new(role, path, problem);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(path)
            .map_err(|e| fail(open_problem(path, e)))?;
        let meta = file
            .metadata()
            .map_err(|e| fail(FileProblem::Unreadable(e)))?;
        if !meta.is_file() {
            return Err(fail(FileProblem::NotRegular));
        }
        check_owner_and_mode(&meta).map_err(fail)?;
        check_directories(path).map_err(fail)?;
        let bytes = read_all(&mut file, &meta).map_err(|e| fail(FileProblem::Unreadable(e)))?;
        Ok(TrustedFile {
            path: path.to_path_buf(),
            role,
            bytes,
            meta,
        })
    }

    /// A secret must not be readable by others; by its group only when root
    /// owns it (root:backup 0640 shares a key with a daemon's group).
    pub fn require_private(&self) -> Result<(), FileError> {
        let mode = self.meta.mode() & 0o7777;
        let problem = if mode & 0o004 != 0 {
            FileProblem::ReadableByOthers { mode }
        } else if mode & 0o040 != 0 && self.meta.uid() != 0 {
            FileProblem::GroupReadableNotRoot { mode }
        } else {
            return Ok(());
        };
        Err(FileError::new(self.role, &self.path, problem))
    }

    pub fn problem(&self, problem: FileProblem) -> FileError {
        FileError::new(self.role, &self.path, problem)
    }
}

/// Why opening failed, in the user's terms.
fn open_problem(path: &Path, e: io::Error) -> FileProblem {
    match e.kind() {
        io::ErrorKind::NotFound => FileProblem::Missing,
        // O_NOFOLLOW on a symlink fails with ELOOP.
        _ if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32)
            && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            FileProblem::Symlink
        }
        _ => FileProblem::Unreadable(e),
    }
}

/// Only root or the user running sealpipe may own a trusted file, and no one
/// else may write it.
fn check_owner_and_mode(meta: &Metadata) -> Result<(), FileProblem> {
    let (owner, euid) = (meta.uid(), effective_uid());
    if owner != 0 && owner != euid {
        return Err(FileProblem::ForeignOwner { owner, euid });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(FileProblem::Writable { mode });
    }
    // A secret file's readability is checked by require_private, once a
    // key file is known to hold a secret at all.
    Ok(())
}

/// Every directory above the file, by the name given and after resolving
/// symlinks, must be owned by root or us and not writable by group or
/// others unless sticky (as /tmp): otherwise someone else could replace the
/// file between two runs, or during one (sshd's StrictModes).
fn check_directories(path: &Path) -> Result<(), FileProblem> {
    let absolute = std::path::absolute(path).map_err(FileProblem::Unreadable)?;
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let resolved = fs::canonicalize(parent).map_err(FileProblem::Unreadable)?;
    // By name: a symlinked directory on the way is checked as a link (its
    // owner) and its target is covered by the resolved walk.
    for dir in parent.ancestors() {
        let meta = fs::symlink_metadata(dir).map_err(FileProblem::Unreadable)?;
        check_directory(dir, &meta)?;
    }
    for dir in resolved.ancestors() {
        let meta = fs::metadata(dir).map_err(FileProblem::Unreadable)?;
        check_directory(dir, &meta)?;
    }
    Ok(())
}

fn check_directory(dir: &Path, meta: &Metadata) -> Result<(), FileProblem> {
    let owner = meta.uid();
    if owner != 0 && owner != effective_uid() {
        return Err(FileProblem::ForeignDirectory {
            dir: dir.to_path_buf(),
            owner,
        });
    }
    let mode = meta.mode() & 0o7777;
    let sticky = mode & 0o1000 != 0;
    if meta.is_dir() && mode & 0o022 != 0 && !sticky {
        return Err(FileProblem::WritableDirectory {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Read the whole file into a buffer sized once from its length, so no
/// reallocation leaves a copy of a secret behind.
fn read_all(file: &mut File, meta: &Metadata) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Read a public trusted file (config, cert) after checking it.
pub fn read_trusted(path: &Path, role: Role) -> Result<Zeroizing<Vec<u8>>, FileError> {
    Ok(TrustedFile::read(path, role)?.bytes)
}

/// Read a secret file (passphrase) after checking it, readability included.
pub fn read_secret(path: &Path, role: Role) -> Result<Zeroizing<Vec<u8>>, FileError> {
    let file = TrustedFile::read(path, role)?;
    file.require_private()?;
    Ok(file.bytes)
}

/// Read a passphrase from an inherited file descriptor (e.g. `3<secret` in
/// the shell): the descriptor itself, not a reopening of it (reopening
/// `/proc/self/fd/1` on a pipe would read sealpipe's own output). Reading
/// stops at the first newline, so a writer that keeps the pipe open (an
/// agent, a `coproc`) does not hang sealpipe.
pub fn read_passphrase_fd(fd: u32) -> Result<Zeroizing<Vec<u8>>> {
    const MAX: usize = 64 * 1024;
    let refuse = |why: String| Error::Key(format!("--passphrase-fd {fd}: {why}"));
    // An fd sealpipe opened itself (e.g. the signal thread's socket) would
    // hang the read: only one the caller handed over is a passphrase.
    let inherited = INHERITED_FDS.get().is_none_or(|fds| fds.contains(&fd));
    let raw = i32::try_from(fd)
        .ok()
        .filter(|_| inherited)
        .ok_or_else(|| {
            refuse(format!(
                "file descriptor {fd} was not open when sealpipe started; \
             pass it from the shell, e.g. `--passphrase-fd {fd} {fd}<passphrase-file`"
            ))
        })?;
    let flags = nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_GETFL)
        .map_err(|e| refuse(format!("cannot use file descriptor {fd}: {e}")))?;
    let access = nix::fcntl::OFlag::from_bits_truncate(flags) & nix::fcntl::OFlag::O_ACCMODE;
    if access == nix::fcntl::OFlag::O_WRONLY {
        return Err(refuse(format!(
            "file descriptor {fd} is open for writing only (e.g. stdout); \
             pass the passphrase on a descriptor opened for reading, e.g. `{fd}<passphrase-file`"
        )));
    }
    // Allocated once: growing would leave copies of the secret behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX));
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(raw, &mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if buf.len() == MAX => {
                byte.zeroize();
                return Err(refuse(format!(
                    "the passphrase on file descriptor {fd} is longer than {} KiB; \
                     is it the right descriptor?",
                    MAX / 1024
                )));
            }
            Ok(_) => buf.push(byte[0]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(refuse(format!(
                    "cannot read the passphrase from file descriptor {fd}: {}",
                    io::Error::from(e)
                )))
            }
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
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::Usage(format!(
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
