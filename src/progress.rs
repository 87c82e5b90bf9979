//! `--progress`: one line on stderr, redrawn in place, with the bytes read
//! and written, the rate and the time so far. Counting is a Read/Write
//! adapter at each end of the pipe; the line is drawn at most a few times a
//! second by whichever thread moves bytes. Off unless asked for or stderr
//! is a terminal: backup systems treat any stderr as trouble.

use std::io::{self, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// When to draw the progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// Only when stderr is a terminal (never under cron, Amanda, Bacula).
    #[default]
    Auto,
    /// Always, even to a pipe or file.
    Always,
    /// Never.
    Never,
}

struct State {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    start: Instant,
    last_draw: Mutex<Option<Instant>>,
    drawn: AtomicBool,
    /// Whether a reader counts bytes in (`--verify-first` reads its input
    /// itself, so only bytes out are shown).
    counts_in: AtomicBool,
    /// Clear the rest of the line only on a terminal; a log gets plain text.
    terminal: bool,
}

/// The progress of one run; cheap to clone into both ends of the pipe.
/// `None` inside when nothing is to be drawn, so the adapters cost nothing.
#[derive(Clone)]
pub struct Progress(Option<Arc<State>>);

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let terminal = io::stderr().is_terminal();
        let draw = match mode {
            ProgressMode::Auto => terminal,
            ProgressMode::Always => true,
            ProgressMode::Never => false,
        };
        Progress(draw.then(|| {
            Arc::new(State {
                bytes_in: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
                start: Instant::now(),
                last_draw: Mutex::new(None),
                drawn: AtomicBool::new(false),
                counts_in: AtomicBool::new(false),
                terminal,
            })
        }))
    }

    /// Count what is read from `inner` as bytes in.
    pub fn reader<R: Read>(&self, inner: R) -> ProgressReader<R> {
        if let Some(state) = &self.0 {
            state.counts_in.store(true, Ordering::Relaxed);
        }
        ProgressReader {
            inner,
            progress: self.clone(),
        }
    }

    /// Count what is written to `inner` as bytes out.
    pub fn writer<W: Write>(&self, inner: W) -> ProgressWriter<W> {
        ProgressWriter {
            inner,
            progress: self.clone(),
        }
    }

    fn add(&self, n: usize, counter: impl Fn(&State) -> &AtomicU64) {
        if let Some(state) = &self.0 {
            counter(state).fetch_add(n as u64, Ordering::Relaxed);
            let now = Instant::now();
            let mut last = state.last_draw.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|t| now.duration_since(t) >= REDRAW_EVERY) {
                *last = Some(now);
                draw(state, false);
            }
        }
    }

    /// Draw the final line and end it, so what follows on stderr starts on
    /// a line of its own.
    pub fn finish(&self) {
        if let Some(state) = &self.0 {
            draw(state, true);
        }
    }
}

impl Drop for Progress {
    /// The last holder (the command, on an error path too) ends the line.
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            if Arc::strong_count(&state) == 1 && state.drawn.load(Ordering::Relaxed) {
                let _ = io::stderr().write_all(b"\n");
            }
        }
    }
}

fn draw(state: &State, last: bool) {
    let elapsed = state.start.elapsed();
    let bytes_in = state.bytes_in.load(Ordering::Relaxed);
    let bytes_out = state.bytes_out.load(Ordering::Relaxed);
    let rate = bytes_in.max(bytes_out) as f64 / elapsed.as_secs_f64().max(0.001);
    let secs = elapsed.as_secs();
    let bytes_in = match state.counts_in.load(Ordering::Relaxed) {
        true => format!("{} in, ", human(bytes_in as f64)),
        false => String::new(),
    };
    let line = format!(
        "\rsealpipe: {bytes_in}{} out, {}/s, {:02}:{:02}:{:02}{}{}",
        human(bytes_out as f64),
        human(rate),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        if state.terminal { "\x1b[K" } else { "" },
        if last { "\n" } else { "" }
    );
    // Progress is a courtesy: a stderr that cannot take it is no failure.
    let _ = io::stderr().write_all(line.as_bytes());
    state.drawn.store(!last, Ordering::Relaxed);
}

/// Bytes in binary units, as `ls -h` and `pv` show them.
fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{value:.0} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// A `Read` adapter counting bytes in.
pub struct ProgressReader<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n, |s| &s.bytes_in);
        Ok(n)
    }
}

/// A `Write` adapter counting bytes out. It holds no buffer: flushing and
/// finishing stay with the writer it wraps.
pub struct ProgressWriter<W> {
    inner: W,
    progress: Progress,
}

impl<W: Write> Write for ProgressWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add(n, |s| &s.bytes_out);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ls_h() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(50.0 * 1024.0 * 1024.0 * 1024.0), "50.0 GiB");
        // Past the largest unit the number grows, not the unit.
        assert_eq!(human(2f64.powi(50)), "1024.0 TiB");
    }

    /// The writer holds no buffer of its own: a flush reaches the writer it
    /// wraps (a restore's output is flushed through it).
    #[test]
    fn the_writer_passes_a_flush_on() {
        let progress = Progress::new(ProgressMode::Never);
        let mut writer = progress.writer(io::BufWriter::new(Vec::new()));
        writer.write_all(b"abc").unwrap();
        writer.flush().unwrap();
        assert_eq!(writer.inner.get_ref(), b"abc");
    }

    #[test]
    fn never_counts_nothing_and_passes_bytes_through() {
        let progress = Progress::new(ProgressMode::Never);
        let mut out = Vec::new();
        let mut reader = progress.reader(&b"abc"[..]);
        io::copy(&mut reader, &mut progress.writer(&mut out)).unwrap();
        assert_eq!(out, b"abc");
        assert!(progress.0.is_none());
    }
}
