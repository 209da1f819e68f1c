//! Connections: how many, and for how long each may be held (`[serve.connections]`).
//!
//! Every way a client can hold a connection without finishing a request is bounded:
//!
//! | held by | bounded by |
//! |---|---|
//! | a silent socket, or an idle keep-alive connection | `idle_timeout_seconds`: no byte in either direction for that long closes it |
//! | half-sent headers | `header_timeout_seconds` (hyper's header read timeout), from the connection's start or the previous response |
//! | a stalled or dripping body, whatever its `Content-Length` | `body_timeout_seconds` for the whole body (408), and a declared length over the cap is refused before reading (413) |
//! | a request whose answer takes too long | `request_timeout_seconds` (503 with `Retry-After`) |
//! | many connections at once | `max`: one more is answered 503 at once and closed, so the accept loop never starves |

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;
use usher_core::ConfigProblem;

/// `[serve.connections]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Connections open at once; one more is answered 503 and closed. Default 1024 (keep it
    /// under the process's file descriptor limit).
    pub max: usize,
    /// Seconds to receive a request's headers. Default 10.
    pub header_timeout_seconds: u64,
    /// Seconds to receive a request's whole body. Default 10.
    pub body_timeout_seconds: u64,
    /// Seconds from a request's headers to its answer. Default 30.
    pub request_timeout_seconds: u64,
    /// Seconds a connection may pass without a byte either way. Default 60; at least the
    /// request timeout, so a slow answer is not cut.
    pub idle_timeout_seconds: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max: 1024,
            header_timeout_seconds: 10,
            body_timeout_seconds: 10,
            request_timeout_seconds: 30,
            idle_timeout_seconds: 60,
        }
    }
}

impl ConnectionLimits {
    /// Every problem with these limits, each keyed within `[serve.connections]`, for
    /// `usher config check`.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.max == 0 {
            problems.push(ConfigProblem::new("max", "must be at least 1"));
        }
        for (name, v) in [
            ("header_timeout_seconds", self.header_timeout_seconds),
            ("body_timeout_seconds", self.body_timeout_seconds),
            ("request_timeout_seconds", self.request_timeout_seconds),
            ("idle_timeout_seconds", self.idle_timeout_seconds),
        ] {
            if !(1..=3600).contains(&v) {
                problems.push(ConfigProblem::new(name, "must be within 1..=3600"));
            }
        }
        if self.idle_timeout_seconds < self.request_timeout_seconds {
            problems.push(ConfigProblem::new(
                "idle_timeout_seconds",
                "must be at least request_timeout_seconds, or a slow answer is cut off",
            ));
        }
        problems
    }

    pub(crate) fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds)
    }

    pub(crate) fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_seconds)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds)
    }
}

/// Accepts connections on `listener` and serves `app` on each (HTTP/1.1) within `limits`,
/// until `shutdown` resolves; then stops accepting and lets the requests in flight finish
/// (for at most the request timeout).
pub(crate) async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: the
                // loop goes on, after a breath for the first.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max, "connection refused: too many open");
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = app
            .clone()
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let io = TokioIo::new(IdleStream::new(stream, limits.idle_timeout()));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout());
        let conn = graceful.watch(builder.serve_connection(io, TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.request_timeout(), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at shutdown were cut off");
    }
    Ok(())
}

/// Answers a connection over the cap with 503 and closes it, spending at most a second on it.
async fn refuse(mut stream: TcpStream) {
    let body = crate::error::error_body("too_many_connections").to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// A stream that fails with `TimedOut` once no byte has moved either way for `idle`: a silent
/// socket or an idle keep-alive connection is closed, whatever hyper is waiting for.
struct IdleStream<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleStream<S> {
    fn new(inner: S, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn touch(&mut self) {
        let now = Instant::now();
        // `idle` is at most an hour (validated): no overflow.
        self.deadline
            .as_mut()
            .reset(now.checked_add(self.idle).unwrap_or(now));
    }

    /// `Pending` from the inner stream becomes `TimedOut` once the deadline passed.
    fn idle_check<T>(
        &mut self,
        cx: &mut Context<'_>,
        pending: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )));
        }
        pending
    }
}

impl<S> IdleStream<S> {
    /// A write's outcome: bytes written count as activity, a pending write is checked
    /// against the deadline.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Pending => self.idle_check(cx, Poll::Pending),
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            ready @ Poll::Ready(Err(_)) => ready,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this.idle_check(cx, Poll::Pending),
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            ready @ Poll::Ready(Err(_)) => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, written)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_keyed_within_the_table() {
        assert_eq!(ConnectionLimits::default().validate(), []);
        let bad = ConnectionLimits {
            max: 0,
            header_timeout_seconds: 0,
            request_timeout_seconds: 60,
            idle_timeout_seconds: 30,
            ..ConnectionLimits::default()
        };
        let keys: Vec<String> = bad.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["max", "header_timeout_seconds", "idle_timeout_seconds"]
        );
    }
}
