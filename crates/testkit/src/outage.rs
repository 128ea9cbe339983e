//! A TCP proxy that can be cut off: an outage of the service behind it (moto), without
//! restarting the service and losing its state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections on a free port of 127.0.0.1 to `upstream` until [`cut`]; while
/// cut, every open connection is dropped and new ones are closed at once.
///
/// [`cut`]: OutageProxy::cut
pub struct OutageProxy {
    pub url: String,
    /// Connections refused or cut by an outage.
    pub dropped: Arc<AtomicU32>,
    /// Whether the outage is on. Set with `send_replace`: `send` leaves the value
    /// unchanged when no connection is open to receive it, which left a restored proxy
    /// refusing every connection for good.
    down: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OutageProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let down = watch::Sender::new(false);
        let dropped = Arc::new(AtomicU32::new(0));
        let (accept_down, accept_dropped) = (down.clone(), Arc::clone(&dropped));
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *accept_down.borrow() {
                    accept_dropped.fetch_add(1, Ordering::SeqCst);
                    continue; // dropped: closed at once
                }
                let mut cut = accept_down.subscribe();
                let dropped = Arc::clone(&accept_dropped);
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|down| *down) => {
                            dropped.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            dropped,
            down,
            task,
        }
    }

    /// Starts the outage: open connections are dropped, new ones refused.
    pub fn cut(&self) {
        self.down.send_replace(true);
    }

    /// Ends the outage.
    pub fn restore(&self) {
        self.down.send_replace(false);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// An upstream that answers each connection's first bytes with "ok".
    async fn upstream() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    if conn.read(&mut buf).await.is_ok() {
                        let _ = conn.write_all(b"ok").await;
                    }
                });
            }
        });
        addr
    }

    /// What one connection through the proxy reads back: "ok", or "" when dropped.
    async fn exchange(proxy: &OutageProxy) -> String {
        let addr = proxy.url.trim_start_matches("http://");
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        let _ = conn.write_all(b"ping").await;
        let mut reply = Vec::new();
        let _ = conn.read_to_end(&mut reply).await;
        String::from_utf8_lossy(&reply).into_owned()
    }

    #[tokio::test]
    async fn a_restored_proxy_forwards_again_even_with_no_connection_open() {
        let proxy = OutageProxy::start(upstream().await).await;
        assert_eq!(exchange(&proxy).await, "ok");
        // Neither the cut nor the restore has an open connection to tell.
        proxy.cut();
        assert_eq!(exchange(&proxy).await, "", "a connection during the outage");
        proxy.restore();
        assert_eq!(
            exchange(&proxy).await,
            "ok",
            "a connection after the outage"
        );
        assert!(proxy.dropped.load(Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn a_cut_drops_the_connections_open_at_the_time() {
        let proxy = OutageProxy::start(upstream().await).await;
        let addr = proxy.url.trim_start_matches("http://").to_owned();
        // Open, but silent: the upstream has not answered yet.
        let mut open = TcpStream::connect(&addr).await.expect("connect");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        proxy.cut();
        let mut reply = Vec::new();
        let _ = open.read_to_end(&mut reply).await;
        assert!(reply.is_empty(), "the open connection was cut");
        proxy.restore();
        assert_eq!(exchange(&proxy).await, "ok");
    }
}
