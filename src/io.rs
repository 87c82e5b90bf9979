//! The ends of the pipeline: input (stdin or a file) and output (stdout, or
//! a file in its destination's directory named only on success), and
//! a `Tracked` wrapper that remembers the first I/O error so a failure deep
//! inside the OpenPGP stack can be reported as what it really was (a broken
//! pipe, a full disk) rather than as a crypto error.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Size of the I/O buffers at both ends of the pipeline.
pub const IO_BUFFER_SIZE: usize = 256 * 1024;

/// Counts bytes and remembers the first error of the reader or writer it wraps.
pub struct Tracked<T> {
    inner: T,
    bytes: u64,
    failure: Option<(io::ErrorKind, String)>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T) -> Self {
        Tracked {
            inner,
            bytes: 0,
            failure: None,
        }
    }
    pub fn count(&self) -> u64 {
        self.bytes
    }
    /// The first I/O error seen, rebuilt (io::Error is not Clone).
    pub fn failure(&self) -> Option<io::Error> {
        self.failure
            .as_ref()
            .map(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
    pub fn into_inner(self) -> T {
        self.inner
    }
    fn record<X>(&mut self, r: io::Result<X>) -> io::Result<X> {
        if let Err(e) = &r {
            note_failure(&mut self.failure, e);
        }
        r
    }
}

/// Keep the first I/O failure. sealpipe's own verdict from a reader below
/// (e.g. a replayed chunk that changed) is no I/O failure; it travels on as
/// is.
fn note_failure(failure: &mut Option<(io::ErrorKind, String)>, e: &io::Error) {
    let ours = e.get_ref().is_some_and(|i| i.is::<Error>());
    if failure.is_none() && e.kind() != io::ErrorKind::Interrupted && !ours {
        *failure = Some((e.kind(), e.to_string()));
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        let n = self.record(r)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The same tracking for a buffered reader: errors as they happen, bytes as
/// they are consumed.
impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let failure = &mut self.failure;
        self.inner
            .fill_buf()
            .inspect_err(|e| note_failure(failure, e))
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.bytes += amount as u64;
    }
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        let n = self.record(r)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.record(r)
    }
}

/// Where to read from.
pub enum Input {
    Stdin(io::Stdin),
    File(File),
}

impl Input {
    pub fn open(path: Option<&Path>) -> Result<Input> {
        match path {
            None => Ok(Input::Stdin(io::stdin())),
            Some(p) if p == Path::new("-") => Ok(Input::Stdin(io::stdin())),
            Some(p) => File::open(p)
                .map(Input::File)
                .map_err(|e| Error::io(format!("cannot open input {}", p.display()), e)),
        }
    }
}

impl Input {
    /// Open a backup to read: as [`Input::open`], but a terminal on stdin is
    /// refused at once (as zstd does) rather than waited on: nobody types a
    /// backup, and a forgotten `< file` would look like a hang.
    pub fn open_backup(path: Option<&Path>) -> Result<Input> {
        let input = Input::open(path)?;
        if let Input::Stdin(stdin) = &input {
            if stdin.is_terminal() {
                return Err(Error::Usage(
                    "refusing to read a backup from a terminal; give the backup file or redirect stdin"
                        .into(),
                ));
            }
        }
        Ok(input)
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Stdin(s) => s.read(buf),
            Input::File(f) => f.read(buf),
        }
    }
}

/// Is the output binary (refused on a terminal) or text?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Binary,
    Text,
}

impl OutputKind {
    /// Armored output is text; plain OpenPGP is binary.
    pub fn for_armor(armor: bool) -> OutputKind {
        match armor {
            true => OutputKind::Text,
            false => OutputKind::Binary,
        }
    }
}

/// What to do when the `-o` file exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Replace,
}

/// Where to write to. Writing to a file goes to an unnamed file in the same
/// directory (`PendingFile`) that gets the destination's name only in
/// `finish`, so a failed or killed run never leaves a half backup under the
/// real name, nor (where `O_TMPFILE` works) any file at all.
///
/// `finish` is the only way bytes still buffered here reach their
/// destination: dropping an unfinished `Output` (an error path) discards
/// the buffer and the temp file, so a failed decrypt does not push its last
/// unauthenticated plaintext out on the way to the error.
pub struct Output {
    /// `None` once finished.
    sink: Option<Sink>,
}

enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File {
        writer: BufWriter<PendingFile>,
        dest: PathBuf,
        existing: Existing,
    },
    /// Discard everything (verify, benchmarks).
    Null,
}

impl Output {
    /// Open the output. Binary output is refused on a terminal; an existing
    /// file is refused unless `existing` says replace it. Files are created
    /// with mode 0600 and keep it.
    pub fn open(path: Option<&Path>, kind: OutputKind, existing: Existing) -> Result<Output> {
        let sink = match path {
            None => Self::stdout(kind)?,
            Some(p) if p == Path::new("-") => Self::stdout(kind)?,
            Some(dest) => Self::file(dest, existing)?,
        };
        Ok(Output { sink: Some(sink) })
    }

    /// An output that discards everything.
    pub fn null() -> Output {
        Output {
            sink: Some(Sink::Null),
        }
    }

    fn file(dest: &Path, existing: Existing) -> Result<Sink> {
        if let Ok(meta) = dest.symlink_metadata() {
            if !meta.is_file() {
                // Renaming over a device, a directory or a link
                // would replace it, not write into it.
                return Err(Error::Usage(format!(
                    "{} exists and is not a regular file; refusing to replace it \
                     (write to stdout and redirect instead)",
                    dest.display()
                )));
            }
            if existing == Existing::Refuse {
                return Err(Error::Usage(format!(
                    "{} exists; refusing to overwrite it (use --force)",
                    dest.display()
                )));
            }
        }
        let dir = parent_dir(dest);
        let tmp = PendingFile::create(dir)
            .map_err(|e| Error::io(format!("cannot create a temp file in {}", dir.display()), e))?;
        Ok(Sink::File {
            writer: BufWriter::with_capacity(IO_BUFFER_SIZE, tmp),
            dest: dest.to_path_buf(),
            existing,
        })
    }

    fn stdout(kind: OutputKind) -> Result<Sink> {
        let stdout = io::stdout();
        if kind == OutputKind::Binary && stdout.is_terminal() {
            return Err(Error::Usage(
                "refusing to write binary ciphertext to a terminal; redirect stdout, use -o FILE, or --armor"
                    .into(),
            ));
        }
        Ok(Sink::Stdout(BufWriter::with_capacity(
            IO_BUFFER_SIZE,
            stdout,
        )))
    }

    /// Flush everything; for a file, fsync and rename it into place. Until
    /// this returns Ok, the output must be considered incomplete.
    pub fn finish(mut self) -> Result<()> {
        match self.sink.take() {
            Some(Sink::Stdout(mut w)) => w.flush().map_err(write_error),
            Some(Sink::File {
                writer,
                dest,
                existing,
            }) => {
                let tmp = writer
                    .into_inner()
                    .map_err(|e| write_error(e.into_error()))?;
                tmp.file().sync_all().map_err(write_error)?;
                tmp.persist(&dest, existing).map_err(|e| {
                    Error::io(
                        format!("cannot move the output into place at {}", dest.display()),
                        e,
                    )
                })?;
                // The rename itself is durable only once the directory is synced.
                let dir = parent_dir(&dest);
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| Error::io(format!("cannot sync directory {}", dir.display()), e))
            }
            Some(Sink::Null) | None => Ok(()),
        }
    }
}

impl Drop for Output {
    /// Unfinished: throw the buffer away instead of flushing it (BufWriter's
    /// own drop would flush); the temp file is removed by its own drop.
    fn drop(&mut self) {
        match self.sink.take() {
            Some(Sink::Stdout(w)) => drop(w.into_parts()),
            Some(Sink::File { writer, .. }) => writer.into_parts().0.discard(),
            Some(Sink::Null) | None => {}
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Some(Sink::Stdout(w)) => w.write(buf),
            Some(Sink::File { writer, .. }) => writer.write(buf),
            Some(Sink::Null) => Ok(buf.len()),
            None => Err(io::Error::other("write after finish")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Some(Sink::Stdout(w)) => w.flush(),
            Some(Sink::File { writer, .. }) => writer.flush(),
            Some(Sink::Null) | None => Ok(()),
        }
    }
}

/// The file an `-o` output is written to until `finish` gives it its name.
enum PendingFile {
    /// `O_TMPFILE`: a file without a name until it is linked in complete,
    /// so nothing is left behind whatever ends the process (even SIGKILL).
    Unnamed { file: File, dir: PathBuf },
    /// Where the filesystem has no `O_TMPFILE` (or /proc is missing): a
    /// named `.sealpipe-*.part` beside the destination, removed on error
    /// and by the signal handler; only SIGKILL or a power loss leaves it.
    Named(tempfile::NamedTempFile),
}

impl PendingFile {
    fn create(dir: &Path) -> io::Result<PendingFile> {
        use std::os::unix::fs::OpenOptionsExt;
        if Path::new("/proc/self/fd").is_dir() {
            let unnamed = File::options()
                .write(true)
                .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
                .mode(0o600)
                .open(dir);
            match unnamed {
                Ok(file) => {
                    return Ok(PendingFile::Unnamed {
                        file,
                        dir: dir.to_path_buf(),
                    })
                }
                // Not supported here: fall back to a named temp file.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let named = tempfile::Builder::new()
            .prefix(".sealpipe-")
            .suffix(".part")
            .tempfile_in(dir)?;
        remember_partial_output(named.path());
        Ok(PendingFile::Named(named))
    }

    fn file(&self) -> &File {
        match self {
            PendingFile::Unnamed { file, .. } => file,
            PendingFile::Named(named) => named.as_file(),
        }
    }

    /// Give the complete file its name: never over an existing file unless
    /// `existing` says replace it, and then by an atomic rename.
    fn persist(self, dest: &Path, existing: Existing) -> io::Result<()> {
        match self {
            PendingFile::Named(named) => {
                let path = named.path().to_path_buf();
                let persisted = match existing {
                    Existing::Replace => named.persist(dest),
                    Existing::Refuse => named.persist_noclobber(dest),
                };
                persisted.map_err(|e| e.error)?;
                forget_partial_output(&path);
                Ok(())
            }
            PendingFile::Unnamed { file, dir } => {
                use std::os::fd::AsRawFd;
                let link = |to: &Path| {
                    rustix::fs::linkat(
                        rustix::fs::CWD,
                        format!("/proc/self/fd/{}", file.as_raw_fd()),
                        rustix::fs::CWD,
                        to,
                        rustix::fs::AtFlags::SYMLINK_FOLLOW,
                    )
                    .map_err(io::Error::from)
                };
                match existing {
                    // linkat never replaces: an atomic no-clobber.
                    Existing::Refuse => link(dest),
                    // Linked under a temp name, complete, then renamed over.
                    Existing::Replace => {
                        // A name no one else uses: a stale one from a killed
                        // run with the same pid is skipped, never removed.
                        let mut attempt = 0;
                        let named = loop {
                            let candidate = dir
                                .join(format!(".sealpipe-{}-{attempt}.part", std::process::id()));
                            match link(&candidate) {
                                Ok(()) => break candidate,
                                Err(e)
                                    if e.kind() == io::ErrorKind::AlreadyExists
                                        && attempt < 100 =>
                                {
                                    attempt += 1
                                }
                                Err(e) => return Err(e),
                            }
                        };
                        remember_partial_output(&named);
                        let renamed = std::fs::rename(&named, dest);
                        if renamed.is_err() {
                            let _ = std::fs::remove_file(&named);
                        }
                        forget_partial_output(&named);
                        renamed
                    }
                }
            }
        }
    }

    /// An unfinished file: gone with its descriptor (unnamed) or removed
    /// by tempfile's drop (named).
    fn discard(self) {
        if let PendingFile::Named(named) = &self {
            forget_partial_output(named.path());
        }
    }
}

impl Write for PendingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PendingFile::Unnamed { file, .. } => file.write(buf),
            PendingFile::Named(named) => named.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            PendingFile::Unnamed { file, .. } => file.flush(),
            PendingFile::Named(named) => named.flush(),
        }
    }
}

/// The directory a file is (to be) in.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The temp files of unfinished outputs (`-o`, a digest file), for the
/// signal handler.
static PARTIAL_OUTPUTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn partial_outputs() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PARTIAL_OUTPUTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn remember_partial_output(path: &Path) {
    partial_outputs().push(path.to_path_buf());
}

fn forget_partial_output(path: &Path) {
    partial_outputs().retain(|p| p != path);
}

/// On SIGINT, SIGTERM or SIGHUP: remove an unfinished `--output` temp file,
/// say so on stderr and exit with 128 + the signal number. A run that was
/// killed must never look like it made a backup. (Drop handlers do not run
/// when a signal ends the process, so this cannot be left to tempfile.)
pub fn exit_on_termination_signals() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("cannot install signal handlers", e))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                for path in partial_outputs().drain(..) {
                    let _ = std::fs::remove_file(path);
                }
                eprintln!("sealpipe: error: interrupted by signal {signal}; the output is incomplete and was not kept");
                std::process::exit(128 + signal);
            }
        })
        .map_err(|e| Error::io("cannot start the signal thread", e))?;
    Ok(())
}

/// Describe an output failure with what it means for the backup.
pub fn write_error(e: io::Error) -> Error {
    let what = match e.kind() {
        io::ErrorKind::BrokenPipe => {
            "writing output failed: the reading end of the pipe closed early, so the stream is incomplete"
        }
        io::ErrorKind::StorageFull => "writing output failed: no space left, so the output is incomplete",
        _ => "writing output failed, so the output is incomplete",
    };
    Error::io(what, e)
}

/// Describe an input failure.
pub fn read_error(e: io::Error) -> Error {
    Error::io("reading input failed", e)
}

/// Print a report to stdout. A closed pipe or a full disk is an error
/// (exit 7), never a panic as with `println!`.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(write_error)
}

/// `Read::read` for a reader that is a `BufRead` over its own buffer: what
/// `fill_buf` offers, copied out and consumed.
pub fn read_buffered<R: BufRead + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = buf.len().min(available.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

/// Sources for the unit tests of the loops that read: a script of reads.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::VecDeque;
    use std::io::{self, BufRead, Read};

    /// A source that plays its script: each step is the bytes one read
    /// returns (split if the caller's buffer is smaller) or the error it
    /// fails with, once; then the end.
    pub(crate) struct Scripted(VecDeque<io::Result<Vec<u8>>>);

    impl Scripted {
        pub(crate) fn new(steps: Vec<io::Result<Vec<u8>>>) -> Self {
            Scripted(steps.into())
        }
    }

    /// An EINTR, as a signal landing in read(2) gives it.
    pub(crate) fn interrupted() -> io::Result<Vec<u8>> {
        Err(io::ErrorKind::Interrupted.into())
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            super::read_buffered(self, buf)
        }
    }

    impl BufRead for Scripted {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            // An error step is played once: taken off the script as it fails.
            if let Some(Err(_)) = self.0.front() {
                return self.0.pop_front().unwrap().map(|_| &[][..]);
            }
            match self.0.front() {
                Some(Ok(bytes)) => Ok(bytes),
                _ => Ok(&[]),
            }
        }

        fn consume(&mut self, amount: usize) {
            if let Some(Ok(bytes)) = self.0.front_mut() {
                bytes.drain(..amount);
                if bytes.is_empty() {
                    self.0.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read through `BufRead`, a tracked source counts what was consumed
    /// (not what was looked at) and keeps its first failure, as through
    /// `Read`.
    #[test]
    fn a_tracked_buffered_reader_counts_consumed_bytes_and_keeps_its_failure() {
        let mut tracked = Tracked::new(testing::Scripted::new(vec![
            Ok(b"0123456789".to_vec()),
            Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut short")),
        ]));
        assert_eq!(tracked.fill_buf().unwrap(), b"0123456789");
        tracked.consume(4);
        assert_eq!(tracked.fill_buf().unwrap(), b"456789");
        assert_eq!(tracked.count(), 4);
        assert!(tracked.failure().is_none());
        tracked.consume(6);
        assert_eq!(tracked.count(), 10);
        let e = tracked.fill_buf().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let kept = tracked.failure().expect("the failure is kept");
        assert_eq!((kept.kind(), kept.to_string()), (e.kind(), e.to_string()));
    }

    /// Through `Read`, the count is of bytes read, in reads of any size.
    #[test]
    fn a_tracked_reader_counts_what_was_read() {
        let mut tracked = Tracked::new(&b"0123456789"[..]);
        let mut buf = [0u8; 3];
        assert_eq!(tracked.read(&mut buf).unwrap(), 3);
        assert_eq!(tracked.count(), 3);
        let mut rest = Vec::new();
        tracked.read_to_end(&mut rest).unwrap();
        assert_eq!((rest.len(), tracked.count()), (7, 10));
    }

    /// The signal handler removes every unfinished output's temp file: an
    /// encrypt with `--digest-file` has two open at once, and finishing
    /// the backup must leave the digest file's on the list.
    #[test]
    fn finishing_one_output_keeps_the_others_temp_file_on_the_list() {
        let listed = |p: &Path| partial_outputs().iter().any(|q| q == p);
        let backup = Path::new("/nonexistent/.sealpipe-test-backup.part");
        let digest = Path::new("/nonexistent/.sealpipe-test-digest.part");
        remember_partial_output(backup);
        remember_partial_output(digest);
        assert!(listed(backup) && listed(digest));
        forget_partial_output(backup);
        assert!(!listed(backup) && listed(digest));
        forget_partial_output(digest);
        assert!(!listed(digest));
    }
}
