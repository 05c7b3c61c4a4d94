//! Peer: the /broadcast hub on tokio-tungstenite, shaped like the crate's own `server` example.
//!
//! Multi-thread runtime, one task pair per client (reader broadcasts, writer drains a
//! bounded queue), a shared map of client queues. Same semantics as loopcast's
//! /broadcast: every text or binary message to every client, sender included, same
//! opcode; a client whose queue holds 256 messages is dropped (close 1013).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use slab::Slab;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Messages a slow client may have queued before it is dropped.
const QUEUE: usize = 256;

type Peers = Arc<Mutex<Slab<mpsc::Sender<Message>>>>;

/// Serves /broadcast on 127.0.0.1:0, prints `PORT n`, runs until killed.
pub fn serve() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        super::announce(listener.local_addr()?);
        let peers = Peers::default();
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(handle(peers.clone(), stream));
        }
    })
}

/// Upgrades only /broadcast; the callback's error type is tungstenite's, hence the allow.
#[allow(clippy::result_large_err)]
fn only_broadcast(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == "/broadcast" {
        Ok(resp)
    } else {
        let mut e = ErrorResponse::new(Some("not found".into()));
        *e.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
        Err(e)
    }
}

async fn handle(peers: Peers, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, only_broadcast).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let key = peers.lock().expect("peers lock").insert(tx);

    let writer = tokio::spawn(async move {
        // Feed everything queued, then flush once: tungstenite buffers until flush.
        while let Some(msg) = rx.recv().await {
            if sink.feed(msg).await.is_err() {
                return;
            }
            while let Ok(msg) = rx.try_recv() {
                if sink.feed(msg).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        // Our queue was closed: this client was too slow (or has left).
        let close = CloseFrame {
            code: CloseCode::Again,
            reason: "slow consumer".into(),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
    });

    let mut slow = Vec::new();
    // Reading on past a close frame lets tungstenite send its close reply, then ends.
    while let Some(Ok(msg)) = source.next().await {
        if !(msg.is_text() || msg.is_binary()) {
            continue;
        }
        let mut map = peers.lock().expect("peers lock");
        for (k, peer) in map.iter() {
            if peer.try_send(msg.clone()).is_err() {
                slow.push(k);
            }
        }
        for k in slow.drain(..) {
            map.try_remove(k);
        }
    }
    peers.lock().expect("peers lock").try_remove(key);
    let _ = writer.await;
}
