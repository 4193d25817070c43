//! Guests' stdout and stderr, passed on to the host's own a whole line at a time.
//!
//! Spin passes each write straight through. A guest's `eprintln!("a {x} b")` is several writes
//! (one per piece of the format string), so when instances run side by side their lines
//! interleave mid-line on the terminal and in log collectors. Here each instance's stream keeps
//! the unfinished line and writes only up to the last newline, in one `write`. The rest goes out
//! when the line ends, when it grows past [`MAX_PENDING`], or when the instance is dropped (so a
//! trap or a missing final newline loses nothing). What the guest sees does not change: every
//! write is accepted at once.

use bytes::Bytes;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// An unfinished line longer than this is written as it is.
pub const MAX_PENDING: usize = 8 * 1024;

/// Where a guest's output goes: the host's stdout or stderr.
#[derive(Clone, Copy, Debug)]
pub enum Stdio {
    Stdout,
    Stderr,
}

impl IsTerminal for Stdio {
    fn is_terminal(&self) -> bool {
        match self {
            Stdio::Stdout => io::IsTerminal::is_terminal(&io::stdout()),
            Stdio::Stderr => io::IsTerminal::is_terminal(&io::stderr()),
        }
    }
}

impl StdoutStream for Stdio {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Lines::new(*self))
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(Lines::new(*self))
    }
}

impl Write for Stdio {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stdio::Stdout => io::stdout().write(buf),
            Stdio::Stderr => io::stderr().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stdio::Stdout => io::stdout().lock().write_all(buf),
            Stdio::Stderr => io::stderr().lock().write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stdio::Stdout => io::stdout().flush(),
            Stdio::Stderr => io::stderr().flush(),
        }
    }
}

/// The points a trigger event's component reported (see [`Reported`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Points {
    pub accepted: u64,
    pub refused: Vec<(String, u64)>,
}

/// A guest's stderr for a trigger event (an MQTT message), where no response carries the
/// points headers: a line `fieldline-points-accepted: N` or `fieldline-points-refused:
/// reason=N, ...` (the headers' names and syntax; `fieldline_component::report_points` writes
/// them) is counted here and not passed on; every other line goes to the host's stderr.
#[derive(Clone, Default)]
pub struct Reported(Arc<Mutex<Points>>);

impl Reported {
    /// What the guest reported so far, leaving nothing behind.
    pub fn take(&self) -> Points {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn read(&self, line: &[u8]) -> bool {
        let Ok(line) = std::str::from_utf8(line) else {
            return false;
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        let mut p = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if name.eq_ignore_ascii_case(crate::metrics::POINTS_ACCEPTED) {
            if let Ok(n) = value.trim().parse::<u64>() {
                p.accepted += n;
            }
            true
        } else if name.eq_ignore_ascii_case(crate::metrics::POINTS_REFUSED) {
            p.refused
                .extend(crate::metrics::parse_refused(value.trim()));
            true
        } else {
            false
        }
    }
}

impl IsTerminal for Reported {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Reported {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Lines::new(self.filter(Stdio::Stderr)))
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(Lines::new(self.filter(Stdio::Stderr)))
    }
}

impl Reported {
    fn filter<W: Write>(&self, inner: W) -> Filter<W> {
        Filter {
            reported: self.clone(),
            inner,
        }
    }
}

/// `inner` (the host's stderr) without the points lines, which go to the [`Reported`].
struct Filter<W: Write> {
    reported: Reported,
    inner: W,
}

impl<W: Write> Write for Filter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut rest = Vec::new();
        for line in buf.split_inclusive(|&b| b == b'\n') {
            if !self.reported.read(line) {
                rest.extend_from_slice(line);
            }
        }
        if rest.is_empty() {
            Ok(())
        } else {
            self.inner.write_all(&rest)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One stream's unfinished line in front of `sink`.
pub struct Lines<W: Write> {
    sink: W,
    pending: Vec<u8>,
}

impl<W: Write> Lines<W> {
    pub fn new(sink: W) -> Self {
        Lines {
            sink,
            pending: Vec::new(),
        }
    }

    /// Takes `bytes` and writes every line they finish, in one `write_all`. `pending` never
    /// holds a newline, so only the new bytes are searched.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        let (done, rest) = split_after_last_newline(bytes);
        if !done.is_empty() {
            if self.pending.is_empty() {
                // The usual case, a whole line or more in one write: no copy.
                self.sink.write_all(done)?;
            } else {
                self.pending.extend_from_slice(done);
                self.sink.write_all(&self.pending)?;
                self.pending.clear();
            }
        }
        self.pending.extend_from_slice(rest);
        if self.pending.len() > MAX_PENDING {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Writes the unfinished line as it is.
    pub fn write_pending(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.sink.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// `bytes` up to and including the last newline, and the rest.
fn split_after_last_newline(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.split_at(end)
}

impl<W: Write> Drop for Lines<W> {
    fn drop(&mut self) {
        if self.write_pending().is_ok() {
            let _ = self.sink.flush();
        }
    }
}

fn stream_error(e: io::Error) -> StreamError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        StreamError::Closed
    } else {
        StreamError::LastOperationFailed(e.into())
    }
}

impl<W: Write + Send + Sync + 'static> OutputStream for Lines<W> {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes).map_err(stream_error)
    }

    /// Flushing keeps an unfinished line back: the guest flushes after every write.
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl<W: Write + Send + Sync + 'static> Pollable for Lines<W> {
    async fn ready(&mut self) {}
}

impl<W: Write + Unpin> AsyncWrite for Lines<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().push(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().write_pending())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records each `write_all` as one entry, as one `write` to a pipe would land.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<String>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_all(buf).map(|()| buf.len())
        }
        fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
            let mut w = self.0.lock().map_err(|_| io::ErrorKind::Other)?;
            w.push(String::from_utf8_lossy(buf).into_owned());
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Writes {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().expect("lock"))
        }
    }

    #[test]
    fn two_instances_writing_a_line_piece_by_piece_each_land_whole() {
        let out = Writes::default();
        let (mut a, mut b) = (Lines::new(out.clone()), Lines::new(out.clone()));
        // eprintln!("mqtt: message on {where_} refused: {e}") is five writes
        for (x, y) in [
            ("mqtt: message on ", "mqtt: message on "),
            ("…/dev/99/data", "…/dev/publish/v4"),
            (" refused: ", " refused: "),
            ("bad channel", "odd digits"),
            ("\n", "\n"),
        ] {
            a.push(x.as_bytes()).expect("push");
            b.push(y.as_bytes()).expect("push");
        }
        assert_eq!(
            out.take(),
            [
                "mqtt: message on …/dev/99/data refused: bad channel\n",
                "mqtt: message on …/dev/publish/v4 refused: odd digits\n"
            ]
        );
    }

    #[test]
    fn finished_lines_go_out_together_and_the_rest_waits() {
        let out = Writes::default();
        let mut a = Lines::new(out.clone());
        a.push(b"one\ntwo\nthr").expect("push");
        assert_eq!(out.take(), ["one\ntwo\n"]);
        a.push(b"ee\nfo").expect("push");
        assert_eq!(out.take(), ["three\n"]);
        a.push(b"ur").expect("push");
        assert!(out.take().is_empty());
    }

    #[test]
    fn an_unfinished_line_is_written_when_the_instance_ends() {
        let out = Writes::default();
        let mut a = Lines::new(out.clone());
        a.push(b"panicked at src/lib.rs:1:1: no newline")
            .expect("push");
        assert!(out.take().is_empty());
        drop(a);
        assert_eq!(out.take(), ["panicked at src/lib.rs:1:1: no newline"]);
    }

    #[test]
    fn a_line_longer_than_the_bound_is_not_held_back() {
        let out = Writes::default();
        let mut a = Lines::new(out.clone());
        let long = "x".repeat(MAX_PENDING);
        a.push(long.as_bytes()).expect("push");
        assert!(out.take().is_empty(), "exactly the bound is still held");
        a.push(b"y").expect("push");
        assert_eq!(out.take(), [format!("{long}y")]);
        a.push(b"\n").expect("push");
        assert_eq!(out.take(), ["\n"]);
    }

    #[test]
    fn points_lines_are_counted_and_kept_out_of_the_output_and_others_pass() {
        let out = Writes::default();
        let reported = Reported::default();
        let mut a = Lines::new(reported.filter(out.clone()));
        a.push(b"before\nfieldline-points-accepted: 3\nfieldline-points-ref")
            .expect("push");
        a.push(b"used: quota=2, parse=1\nFieldline-Points-Accepted:4\nafter\n")
            .expect("push");
        a.push(b"fieldline-points-accepted: lots\nfieldline-points-accepted 5\n")
            .expect("push");
        assert_eq!(
            out.take().concat(),
            "before\nafter\nfieldline-points-accepted 5\n",
            "the points lines are the host's; a line that only looks like one is output"
        );
        assert_eq!(
            reported.take(),
            Points {
                accepted: 7,
                refused: vec![("quota".into(), 2), ("parse".into(), 1)],
            }
        );
        assert_eq!(reported.take(), Points::default(), "taken once");
    }
}
