//! A TCP proxy that can be cut off: an outage of the service behind it (moto), without
//! restarting the service and losing its state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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
    down: Arc<AtomicBool>,
    changed: watch::Sender<bool>,
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
        let down = Arc::new(AtomicBool::new(false));
        let (changed, _) = watch::channel(false);
        let dropped = Arc::new(AtomicU32::new(0));
        let (accept_down, accept_changed, accept_dropped) =
            (Arc::clone(&down), changed.clone(), Arc::clone(&dropped));
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if accept_down.load(Ordering::SeqCst) {
                    accept_dropped.fetch_add(1, Ordering::SeqCst);
                    continue; // dropped: closed at once
                }
                let mut cut = accept_changed.subscribe();
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
            changed,
            task,
        }
    }

    /// Starts the outage: open connections are dropped, new ones refused.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        let _ = self.changed.send(true);
    }

    /// Ends the outage.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
        let _ = self.changed.send(false);
    }
}
