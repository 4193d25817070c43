//! An HTTP request's deadline.
//!
//! A component has [`Options::request_timeout`](crate::app::Options) to set its response. Once
//! it has, it runs as long as its body keeps moving: each chunk must follow the one before
//! within the same time. So a streamed body (a year of data exported, 31.5 million rows) runs
//! to its end, while a component that stops answering, or stops writing, is stopped after the
//! same time as before: the epoch callback traps it where it computes, and the task drops it
//! where it waits on the host.
//!
//! A component stopped before it finished its body (stopped here, or trapped) ends the body
//! with an error, so the client sees a broken transfer (HTTP/1.1: no last chunk) and not a file
//! cut at a line end that looks whole. (wasmtime-wasi-http ends the body cleanly when the
//! component's store is dropped: its finish channel closes, which it reads as the end.)

use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::EPOCH_TICK;

/// One request's deadline, shared by its store, its task and its response body.
#[derive(Debug)]
pub struct Deadline {
    timeout: Duration,
    origin: Instant,
    /// Milliseconds after `origin` of the last sign of life: the start, the response set, a
    /// chunk of the body taken by the connection.
    moved_ms: AtomicU64,
    /// Whether the component has set its response (`moved_ms` may still be 0 if it did so
    /// within a millisecond).
    answered: AtomicBool,
    /// Set before a store whose run failed is dropped, so that the body's end reads as broken.
    failed: AtomicBool,
}

impl Deadline {
    pub fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Deadline {
            timeout,
            origin: Instant::now(),
            moved_ms: AtomicU64::new(0),
            answered: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        })
    }

    /// The component showed life: its response is set, or a chunk of its body went out.
    pub fn moved(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.moved_ms.fetch_max(ms, Ordering::Relaxed);
        self.answered.store(true, Ordering::Relaxed);
    }

    /// When the component is stopped unless it shows life again.
    fn due(&self) -> Instant {
        self.origin + Duration::from_millis(self.moved_ms.load(Ordering::Relaxed)) + self.timeout
    }

    fn passed(&self) -> bool {
        Instant::now() >= self.due()
    }

    /// Why a component was stopped.
    fn reason(&self) -> wasmtime::Error {
        if !self.answered.load(Ordering::Relaxed) {
            wasmtime::format_err!("no answer within {:?}", self.timeout)
        } else {
            wasmtime::format_err!("the response stood still for {:?}", self.timeout)
        }
    }

    /// Traps the store's guest where it computes past the deadline; until then its epoch
    /// deadline moves with the component's progress.
    pub fn watch<T: 'static>(self: &Arc<Self>, store: &mut Store<T>) {
        let ticks = |d: Duration| {
            u64::try_from(d.as_millis() / EPOCH_TICK.as_millis())
                .unwrap_or(u64::MAX)
                .max(1)
        };
        store.set_epoch_deadline(ticks(self.timeout));
        let me = self.clone();
        store.epoch_deadline_callback(move |_| {
            let left = me.due().saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(me.reason())
            } else {
                Ok(UpdateDeadline::Continue(ticks(left)))
            }
        });
    }

    /// Runs a component's call until it ends or the deadline passes. A failure (the deadline,
    /// a trap) is recorded before the caller drops the store; see [`Deadline::body`].
    pub async fn run(
        &self,
        run: impl Future<Output = wasmtime::Result<()>>,
    ) -> wasmtime::Result<()> {
        tokio::pin!(run);
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                () = tokio::time::sleep_until(self.due().into()) => {
                    if self.passed() {
                        break Err(self.reason());
                    }
                }
            }
        };
        if result.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        result
    }

    /// The component's response body, watched: each chunk counts as progress, and an end
    /// after the component failed is an error.
    pub fn body(self: &Arc<Self>, inner: HyperOutgoingBody) -> HyperOutgoingBody {
        http_body_util::BodyExt::boxed_unsync(Watched {
            inner,
            deadline: self.clone(),
        })
    }
}

struct Watched {
    inner: HyperOutgoingBody,
    deadline: Arc<Deadline>,
}

impl Body for Watched {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let next = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match next {
            Some(Ok(frame)) => {
                self.deadline.moved();
                Some(Ok(frame))
            }
            None if self.deadline.failed.load(Ordering::Acquire) => {
                Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                    "the component stopped before it finished its response".into(),
                ))))
            }
            other => other,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
