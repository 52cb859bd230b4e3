//! Connections: the accept loop and each connection's life, with the limits that keep idle or
//! slow peers from exhausting the server. Open connections are capped (plain HTTP beyond the
//! cap gets a canned 503), TLS handshakes in progress are capped and timed out, request
//! headers must arrive within the header timeout (hyper's timer also closes idle keep-alive
//! connections, since it runs while waiting for the next request), and a connection that makes
//! no progress either way for the idle timeout is shut down, then dropped. Ctrl-C stops
//! accepting and lets open connections finish briefly.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::rustls;

use super::http::App;
use super::log::quote;

/// How long open connections get to finish after Ctrl-C before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// After a connection is asked to shut down (idle, or Ctrl-C), how long before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The resource limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time from connection (or the end of the last response) to a complete request head.
    pub header_timeout: Duration,
    /// Time without a byte read or written after which a connection is shut down.
    pub idle_timeout: Duration,
    /// Open connections, counting upgraded WebSockets and handshakes in progress.
    pub max_connections: usize,
    /// TLS handshakes in progress at once.
    pub max_handshakes: usize,
    /// Time a TLS handshake may take.
    pub handshake_timeout: Duration,
}

/// Accepts connections until `shutdown` resolves, then lets open ones finish for a moment.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let handshakes = Arc::new(Semaphore::new(limits.max_handshakes));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let busy = app.busy_response(limits.max_connections);
    let (stop_tx, stop) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(_) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if acceptor.is_none() {
                // Best effort: a fresh socket's send buffer is empty, so this rarely blocks.
                let _ = stream.try_write(&busy);
            }
            app.log.failure(
                peer.ip(),
                format!(
                    "http: refused a connection from {peer}: {} are open (--max-connections)",
                    limits.max_connections
                ),
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = Tracked {
            inner: stream,
            activity: activity.clone(),
            _permit: permit,
        };
        let connection = Connection {
            peer,
            app: app.clone(),
            http: http.clone(),
            activity,
            limits,
            stop: stop.clone(),
        };
        match &acceptor {
            None => {
                tokio::spawn(connection.drive(io, 0));
            }
            Some(acceptor) => {
                let Ok(handshake) = handshakes.clone().try_acquire_owned() else {
                    app.log.failure(
                        peer.ip(),
                        format!(
                            "tls: refused {peer}: {} handshakes are in progress",
                            limits.max_handshakes
                        ),
                    );
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let accepted =
                        tokio::time::timeout(limits.handshake_timeout, acceptor.accept(io)).await;
                    drop(handshake);
                    match accepted {
                        Ok(Ok(tls)) => {
                            let after_handshake = connection.activity.bytes_read();
                            connection.drive(tls, after_handshake).await;
                        }
                        Ok(Err(e)) => connection.app.log.failure(
                            peer.ip(),
                            format!(
                                "tls: handshake with {peer} failed: {}",
                                quote(&e.to_string())
                            ),
                        ),
                        Err(_) => connection.app.log.failure(
                            peer.ip(),
                            format!(
                                "tls: handshake with {peer} took over {} s",
                                limits.handshake_timeout.as_secs()
                            ),
                        ),
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection's permit lives in its socket, upgraded WebSockets included.
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while open.available_permits() < limits.max_connections && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One accepted connection and what driving it needs.
struct Connection {
    peer: SocketAddr,
    app: Arc<App>,
    http: http1::Builder,
    activity: Arc<Activity>,
    limits: Limits,
    stop: watch::Receiver<bool>,
}

impl Connection {
    /// Serves HTTP/1.1 on `io` (upgrades included) until the peer leaves, a limit ends it or
    /// the server stops. `read_before` is what the TLS handshake read, not part of a request.
    async fn drive<I>(mut self, io: I, read_before: u64)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let app = self.app.clone();
        let requests = Arc::new(AtomicU64::new(0));
        let counted = requests.clone();
        let service = hyper::service::service_fn(move |request| {
            counted.fetch_add(1, Ordering::Relaxed);
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(request, peer).await) }
        });
        let conn = self
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing: Option<Instant> = None;
        if *self.stop.borrow() {
            conn.as_mut().graceful_shutdown();
            closing = Some(Instant::now());
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        self.log_error(&e, requests.load(Ordering::Relaxed), read_before);
                    }
                    return;
                }
                _ = self.stop.changed(), if closing.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now());
                }
                _ = tick.tick() => {
                    if let Some(since) = closing {
                        if since.elapsed() >= CLOSE_GRACE {
                            return;
                        }
                    } else if self.activity.idle() >= self.limits.idle_timeout {
                        self.app.log.failure(
                            peer.ip(),
                            format!(
                                "http: closing {peer}: nothing sent or received for {} s",
                                self.limits.idle_timeout.as_secs()
                            ),
                        );
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now());
                    }
                }
            }
        }
    }

    /// Logs what is worth knowing about a connection that ended in an error: a request head
    /// that started but never finished (slowloris) or did not parse. Idle keep-alive and
    /// preconnected sockets that time out without a byte, and peers that hang up, are normal.
    fn log_error(&self, e: &hyper::Error, requests: u64, read_before: u64) {
        let peer = self.peer;
        let line = if e.is_timeout() {
            if requests > 0 || self.activity.bytes_read() <= read_before {
                return;
            }
            format!(
                "http: closed {peer}: request headers did not arrive within {} s",
                self.limits.header_timeout.as_secs()
            )
        } else if e.is_parse() {
            format!("http: bad request from {peer}: {}", quote(&e.to_string()))
        } else {
            return;
        };
        self.app.log.failure(peer.ip(), line);
    }
}

/// When a connection last moved a byte, and how many it read.
#[derive(Debug)]
struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    read: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            read: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

/// A socket that records its activity and holds its connection slot until it is dropped,
/// wherever it ends up (hyper, the TLS stream, an upgraded WebSocket).
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before) as u64;
        if read > 0 {
            self.activity.read.fetch_add(read, Ordering::Relaxed);
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_counts_idle_time_from_the_last_byte() {
        let activity = Activity::new();
        std::thread::sleep(Duration::from_millis(30));
        assert!(activity.idle() >= Duration::from_millis(30));
        activity.touch();
        assert!(activity.idle() < Duration::from_millis(30));
    }
}
