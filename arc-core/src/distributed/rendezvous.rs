//! The torchrun-style rendezvous for NCCL: rank 0 serves the 128-byte NCCL
//! id on `MASTER_ADDR:MASTER_PORT`, every other rank fetches it. Only the
//! id crosses this connection, once, at start; the gradients go through NCCL.
//!
//! ```
//! use arc_core::distributed::rendezvous::{fetch, serve};
//! use std::time::Duration;
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?.to_string();
//! let id = [7u8; 128];
//! let peer = std::thread::spawn({
//!     let addr = addr.clone();
//!     move || fetch(&addr, 1, Duration::from_secs(10))
//! });
//! serve(listener, 2, &id, Duration::from_secs(10))?;
//! assert_eq!(peer.join().unwrap()?, id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::error;
use crate::Result;

/// The id's size: NCCL's `ncclUniqueId`.
pub const ID_BYTES: usize = 128;

/// What opens each message, so that a stray connection is told apart.
const MAGIC: &[u8; 8] = b"ARCRDV01";

fn failed(message: String) -> crate::Error {
    error("rendezvous", message)
}

/// Rank 0: hands `id` to each of the `world - 1` other ranks that connect
/// to `listener`, within `timeout` in all. Each peer first sends the magic
/// and its rank; a duplicate or out-of-range rank is an error.
pub fn serve(listener: TcpListener, world: usize, id: &[u8; ID_BYTES], timeout: Duration) -> Result<()> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let deadline = Instant::now() + timeout;
    listener.set_nonblocking(true).map_err(|e| failed(format!("{addr}: {e}")))?;
    let mut served = vec![false; world];
    served[0] = true;
    while served.iter().any(|s| !s) {
        let (mut stream, peer) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> =
                        served.iter().enumerate().filter(|(_, s)| !**s).map(|(r, _)| r.to_string()).collect();
                    return Err(failed(format!(
                        "{addr}: ranks {} did not connect within {}s",
                        missing.join(", "),
                        timeout.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(failed(format!("{addr}: {e}"))),
        };
        let io = |e: std::io::Error| failed(format!("{addr}: peer {peer}: {e}"));
        stream.set_nonblocking(false).map_err(io)?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(io)?;
        let mut hello = [0u8; 12];
        stream.read_exact(&mut hello).map_err(io)?;
        if &hello[..8] != MAGIC {
            // Not one of ours (a port scan, a stale client): ignore it.
            continue;
        }
        let rank = u32::from_le_bytes([hello[8], hello[9], hello[10], hello[11]]) as usize;
        match served.get_mut(rank) {
            Some(s) if !*s => *s = true,
            Some(_) => return Err(failed(format!("{addr}: rank {rank} connected twice (peer {peer})"))),
            None => return Err(failed(format!("{addr}: peer {peer} says rank {rank}, but the world has {world}"))),
        }
        stream.write_all(MAGIC).and_then(|()| stream.write_all(id)).map_err(io)?;
    }
    Ok(())
}

/// Rank `rank` > 0: connects to rank 0 at `addr` (retrying until it
/// listens, within `timeout`) and reads the id.
pub fn fetch(addr: &str, rank: usize, timeout: Duration) -> Result<[u8; ID_BYTES]> {
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => {
                return Err(failed(format!("rank 0 at {addr} did not answer within {}s: {e}", timeout.as_secs())));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let io = |e: std::io::Error| failed(format!("rank 0 at {addr}: {e}"));
    stream
        .set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1))))
        .map_err(io)?;
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&(rank as u32).to_le_bytes());
    stream.write_all(&hello).map_err(io)?;
    let mut answer = [0u8; 8 + ID_BYTES];
    stream.read_exact(&mut answer).map_err(io)?;
    if &answer[..8] != MAGIC {
        return Err(failed(format!("rank 0 at {addr} answered something that is not an Arc rendezvous")));
    }
    let mut id = [0u8; ID_BYTES];
    id.copy_from_slice(&answer[8..]);
    Ok(id)
}
