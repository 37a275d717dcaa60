//! Batched UDP receive (recvmmsg, GRO) for the listener and the relay sockets, through
//! quinn-udp. A short batch means the socket is drained, which saves the extra
//! "would block" read an edge-triggered loop would otherwise make per wake-up.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use mio::net::UdpSocket;
use quinn_udp::{RecvMeta, UdpSocketState};

/// Datagrams per `recvmmsg`.
const BATCH: usize = 32;
/// One receive buffer: a GRO train from one sender, or one datagram.
const BUFFER: usize = 64 * 1024;

/// Receive buffers shared by every socket of the thread.
pub(crate) struct Receiver {
    storage: Vec<u8>,
    metas: [RecvMeta; BATCH],
}

impl Receiver {
    pub(crate) fn new() -> Receiver {
        Receiver {
            storage: vec![0; BATCH * BUFFER],
            metas: [RecvMeta::default(); BATCH],
        }
    }

    /// Reads one batch from `socket` and hands each datagram (source, bytes) to
    /// `each`. `Ok(true)` when the batch was full (more may wait).
    pub(crate) fn read(
        &mut self,
        socket: &UdpSocket,
        state: &UdpSocketState,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<bool> {
        let mut chunks = self.storage.chunks_mut(BUFFER);
        let mut iovs: [IoSliceMut<'_>; BATCH] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let n = state.recv(socket.into(), &mut iovs, &mut self.metas)?;
        for (meta, iov) in self.metas[..n].iter().zip(iovs.iter()) {
            let received = &iov[..meta.len.min(iov.len())];
            for datagram in received.chunks(meta.stride.max(1)) {
                each(meta.addr, datagram);
            }
        }
        Ok(n == BATCH)
    }
}

/// quinn-udp's per-socket state (it turns on GRO and the ancillary data it reads).
pub(crate) fn state(socket: &UdpSocket) -> io::Result<UdpSocketState> {
    UdpSocketState::new(socket.into())
}
