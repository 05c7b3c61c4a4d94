//! Peer: the /broadcast hub on fastwebsockets behind hyper's upgrade, as in its examples.
//!
//! Current-thread runtime and `unconstrained` client tasks like its `echo_server`
//! example; each client is split into a reader (broadcasts) and a writer (drains a
//! bounded queue through a `BufWriter`, flushing once the queue is empty, which is the
//! corking the crate leaves to its user). Same semantics as loopcast's /broadcast.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fastwebsockets::{Frame, OpCode, Payload, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use slab::Slab;
use tokio::io::BufWriter;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Messages a slow client may have queued before it is dropped.
const QUEUE: usize = 256;

/// One outgoing message: shared payload bytes, sent with the opcode it came with.
struct Out {
    opcode: OpCode,
    payload: Bytes,
}

type Peers = Arc<Mutex<Slab<mpsc::Sender<Out>>>>;

/// Serves /broadcast on 127.0.0.1:0, prints `PORT n`, runs until killed.
pub fn serve() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        super::announce(listener.local_addr()?);
        let peers = Peers::default();
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let peers = peers.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = service_fn(move |req| server_upgrade(peers.clone(), req));
                let conn = http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades();
                let _ = conn.await;
            });
        }
    })
}

async fn server_upgrade(
    peers: Peers,
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    if req.uri().path() != "/broadcast" {
        let mut resp = Response::new(Empty::new());
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return Ok(resp);
    }
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::task::spawn(async move {
        let _ = tokio::task::unconstrained(handle_client(peers, fut)).await;
    });
    Ok(response)
}

async fn handle_client(peers: Peers, fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let ws = fut.await?;
    let (read, mut write) = ws.split(|s| {
        let (r, w) = tokio::io::split(s);
        (r, BufWriter::new(w))
    });
    let mut read = fastwebsockets::FragmentCollectorRead::new(read);
    let (tx, mut rx) = mpsc::channel::<Out>(QUEUE);
    let key = peers.lock().expect("peers lock").insert(tx.clone());

    let writer = tokio::spawn(async move {
        let mut dropped_as_slow = true;
        'outer: while let Some(mut out) = rx.recv().await {
            loop {
                let frame = Frame::new(true, out.opcode, None, Payload::Borrowed(&out.payload));
                if write.write_frame(frame).await.is_err() || out.opcode == OpCode::Close {
                    dropped_as_slow = false;
                    break 'outer;
                }
                match rx.try_recv() {
                    Ok(next) => out = next,
                    Err(_) => break,
                }
            }
            if write.flush().await.is_err() {
                dropped_as_slow = false;
                break;
            }
        }
        if dropped_as_slow {
            let _ = write
                .write_frame(Frame::close(1013, b"slow consumer"))
                .await;
        }
        let _ = write.flush().await;
    });

    // Pongs and the close reply go through the writer's queue, after queued messages.
    // A weak sender, so that removing a slow client from the map closes its queue.
    let control = tx.downgrade();
    drop(tx);
    let mut send_control = |frame: Frame<'_>| {
        let out = Out {
            opcode: frame.opcode,
            payload: Bytes::copy_from_slice(&frame.payload),
        };
        let sent = match control.upgrade() {
            Some(tx) => tx.try_send(out).map_err(|_| "writer queue full"),
            None => Err("dropped as a slow consumer"),
        };
        async move { sent }
    };
    let mut slow = Vec::new();
    loop {
        let frame = match read.read_frame(&mut send_control).await {
            Ok(f) => f,
            Err(_) => break,
        };
        match frame.opcode {
            OpCode::Text | OpCode::Binary => {
                let payload = Bytes::copy_from_slice(&frame.payload);
                let mut map = peers.lock().expect("peers lock");
                for (k, peer) in map.iter() {
                    let out = Out {
                        opcode: frame.opcode,
                        payload: payload.clone(),
                    };
                    if peer.try_send(out).is_err() {
                        slow.push(k);
                    }
                }
                for k in slow.drain(..) {
                    map.try_remove(k);
                }
            }
            OpCode::Close => break,
            _ => {}
        }
    }
    peers.lock().expect("peers lock").try_remove(key);
    let _ = writer.await;
    Ok(())
}
