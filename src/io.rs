//! The ends of the pipeline: input (stdin or a file) and output (stdout, or
//! a file written beside its destination and renamed only on success), and
//! a `Tracked` wrapper that remembers the first I/O error so a failure deep
//! inside the OpenPGP stack can be reported as what it really was (a broken
//! pipe, a full disk) rather than as a crypto error.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
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
            // sealpipe's own verdict from a reader below (e.g. a replayed
            // chunk that changed) is no I/O failure; it travels on as is.
            let ours = e.get_ref().is_some_and(|i| i.is::<Error>());
            if self.failure.is_none() && e.kind() != io::ErrorKind::Interrupted && !ours {
                self.failure = Some((e.kind(), e.to_string()));
            }
        }
        r
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

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Stdin(s) => s.read(buf),
            Input::File(f) => f.read(buf),
        }
    }
}

/// Where to write to. Writing to a file goes to a temp file in the same
/// directory that is renamed over the destination only by `finish`, so a
/// failed or interrupted run never leaves a half backup under the real name.
pub enum Output {
    Stdout(BufWriter<io::Stdout>),
    File {
        writer: BufWriter<tempfile::NamedTempFile>,
        dest: PathBuf,
        overwrite: bool,
    },
    /// Discard everything (verify, benchmarks).
    Null,
}

impl Output {
    /// Open the output. `binary` output is refused on a terminal; an existing
    /// file is refused unless `overwrite`.
    pub fn open(path: Option<&Path>, binary: bool, overwrite: bool) -> Result<Output> {
        match path {
            None => Self::stdout(binary),
            Some(p) if p == Path::new("-") => Self::stdout(binary),
            Some(dest) => {
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
                    if !overwrite {
                        return Err(Error::Usage(format!(
                            "{} exists; refusing to overwrite it (use --force)",
                            dest.display()
                        )));
                    }
                }
                let dir = parent_dir(dest);
                let tmp = tempfile::Builder::new()
                    .prefix(".sealpipe-")
                    .suffix(".part")
                    .tempfile_in(dir)
                    .map_err(|e| {
                        Error::io(format!("cannot create a temp file in {}", dir.display()), e)
                    })?;
                remember_partial_output(Some(tmp.path().to_path_buf()));
                Ok(Output::File {
                    writer: BufWriter::with_capacity(IO_BUFFER_SIZE, tmp),
                    dest: dest.to_path_buf(),
                    overwrite,
                })
            }
        }
    }

    fn stdout(binary: bool) -> Result<Output> {
        let stdout = io::stdout();
        if binary && stdout.is_terminal() {
            return Err(Error::Usage(
                "refusing to write binary ciphertext to a terminal; redirect stdout, use -o FILE, or --armor"
                    .into(),
            ));
        }
        Ok(Output::Stdout(BufWriter::with_capacity(
            IO_BUFFER_SIZE,
            stdout,
        )))
    }

    /// Flush everything; for a file, fsync and rename it into place. Until
    /// this returns Ok, the output must be considered incomplete.
    pub fn finish(self) -> Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush().map_err(write_error),
            Output::File {
                writer,
                dest,
                overwrite,
            } => {
                let tmp = writer
                    .into_inner()
                    .map_err(|e| write_error(e.into_error()))?;
                tmp.as_file().sync_all().map_err(write_error)?;
                let persisted = if overwrite {
                    tmp.persist(&dest)
                } else {
                    tmp.persist_noclobber(&dest)
                };
                persisted.map_err(|e| {
                    Error::io(
                        format!("cannot move the output into place at {}", dest.display()),
                        e.error,
                    )
                })?;
                remember_partial_output(None);
                // The rename itself is durable only once the directory is synced.
                let dir = parent_dir(&dest);
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| Error::io(format!("cannot sync directory {}", dir.display()), e))
            }
            Output::Null => Ok(()),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File { writer, .. } => writer.write(buf),
            Output::Null => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File { writer, .. } => writer.flush(),
            Output::Null => Ok(()),
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

/// The temp file of an unfinished `--output`, for the signal handler.
static PARTIAL_OUTPUT: Mutex<Option<PathBuf>> = Mutex::new(None);

fn remember_partial_output(path: Option<PathBuf>) {
    *PARTIAL_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()) = path;
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
                let partial = PARTIAL_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(path) = partial {
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
