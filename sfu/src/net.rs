//! The media socket: batched receive (recvmmsg, GRO) and send, through quinn-udp.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

/// Datagrams read per `recvmmsg`.
pub(crate) const BATCH: usize = 32;
/// Room for one receive buffer: a GRO train of datagrams from one sender, or one datagram.
const BUFFER: usize = 64 * 1024;

pub(crate) struct UdpIo {
    socket: mio::net::UdpSocket,
    state: UdpSocketState,
    storage: Vec<u8>,
    metas: [RecvMeta; BATCH],
}

impl UdpIo {
    pub(crate) fn new(socket: UdpSocket, buffer_bytes: usize) -> io::Result<UdpIo> {
        socket.set_nonblocking(true)?;
        let state = UdpSocketState::new((&socket).into())?;
        // Bursts of video from many publishers arrive together; the default buffers
        // (~200 KB) overflow long before a core is busy.
        if let Err(e) = state.set_recv_buffer_size((&socket).into(), buffer_bytes) {
            tracing::warn!("cannot raise the UDP receive buffer: {e}");
        }
        if let Err(e) = state.set_send_buffer_size((&socket).into(), buffer_bytes) {
            tracing::warn!("cannot raise the UDP send buffer: {e}");
        }
        Ok(UdpIo {
            socket: mio::net::UdpSocket::from_std(socket),
            state,
            storage: vec![0; BATCH * BUFFER],
            metas: [RecvMeta::default(); BATCH],
        })
    }

    pub(crate) fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads one batch and hands each datagram to `each`. Returns how many datagrams
    /// were read; `Err(WouldBlock)` when there were none.
    pub(crate) fn recv_batch(
        &mut self,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let mut chunks = self.storage.chunks_mut(BUFFER);
        let mut iovs: [IoSliceMut<'_>; BATCH] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let n = self
            .state
            .recv((&self.socket).into(), &mut iovs, &mut self.metas)?;
        let mut datagrams = 0;
        for (meta, iov) in self.metas[..n].iter().zip(iovs.iter()) {
            let received = &iov[..meta.len.min(iov.len())];
            // With GRO one buffer holds several datagrams of `stride` bytes each.
            for datagram in received.chunks(meta.stride.max(1)) {
                each(meta.addr, datagram);
                datagrams += 1;
            }
        }
        Ok(datagrams)
    }

    pub(crate) fn send(&self, destination: SocketAddr, contents: &[u8]) -> io::Result<()> {
        let transmit = Transmit {
            destination,
            ecn: None,
            contents,
            segment_size: None,
            src_ip: None,
        };
        self.state.try_send((&self.socket).into(), &transmit)
    }
}
