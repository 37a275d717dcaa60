//! The media socket: batched receive (recvmmsg, GRO) and send, through quinn-udp.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

/// Largest UDP payload one GSO send may carry.
const GSO_MAX_BYTES: usize = 65_000;

/// Datagrams read per `recvmmsg`.
pub(crate) const BATCH: usize = 32;
/// Room for one receive buffer: a GRO train of datagrams from one sender, or one datagram.
const BUFFER: usize = 64 * 1024;

/// A worker's media socket.
#[cfg_attr(not(feature = "testkit"), allow(unreachable_pub))]
pub struct UdpIo {
    socket: mio::net::UdpSocket,
    state: UdpSocketState,
    storage: Vec<u8>,
    metas: [RecvMeta; BATCH],
    /// Segments of one GSO send, end to end.
    gso: Vec<u8>,
}

/// What a send pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "testkit"), allow(unreachable_pub))]
pub struct Sent {
    /// Datagrams sent.
    pub datagrams: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Syscalls made.
    pub syscalls: u64,
    /// Datagrams the kernel refused.
    pub dropped: u64,
}

impl UdpIo {
    /// Wraps a bound socket, with kernel buffers of `buffer_bytes`.
    #[cfg_attr(not(feature = "testkit"), allow(unreachable_pub))]
    pub fn new(socket: UdpSocket, buffer_bytes: usize) -> io::Result<UdpIo> {
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
            gso: Vec::with_capacity(GSO_MAX_BYTES),
        })
    }

    pub(crate) fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads one batch and hands each datagram to `each`. Returns whether the batch was
    /// full (more may be waiting); `Err(WouldBlock)` when there was nothing.
    pub(crate) fn recv_batch(
        &mut self,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<bool> {
        let mut chunks = self.storage.chunks_mut(BUFFER);
        let mut iovs: [IoSliceMut<'_>; BATCH] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let n = self
            .state
            .recv((&self.socket).into(), &mut iovs, &mut self.metas)?;
        for (meta, iov) in self.metas[..n].iter().zip(iovs.iter()) {
            let received = &iov[..meta.len.min(iov.len())];
            // With GRO one buffer holds several datagrams of `stride` bytes each.
            for datagram in received.chunks(meta.stride.max(1)) {
                each(meta.addr, datagram);
            }
        }
        Ok(n == BATCH)
    }

    /// Sends every datagram of `out` (and empties it), coalescing runs to one
    /// destination into UDP GSO sends: a frame's packets to one subscriber cost one
    /// syscall instead of one each.
    #[cfg_attr(not(feature = "testkit"), allow(unreachable_pub))]
    pub fn send_all<D: AsRef<[u8]>>(&mut self, out: &mut Vec<(SocketAddr, D)>) -> Sent {
        let mut sent = Sent::default();
        // Stable: the order of packets to each destination is kept.
        out.sort_by_key(|(destination, _)| *destination);
        let max_segments = self.state.max_gso_segments().max(1);
        let mut i = 0;
        while i < out.len() {
            let run = gso_run(&out[i..], max_segments);
            let destination = out[i].0;
            let result = if run == 1 {
                self.try_send(destination, out[i].1.as_ref(), None)
            } else {
                let mut contents = std::mem::take(&mut self.gso);
                contents.clear();
                for (_, d) in &out[i..i + run] {
                    contents.extend_from_slice(d.as_ref());
                }
                let result = self.try_send(destination, &contents, Some(out[i].1.as_ref().len()));
                self.gso = contents;
                result
            };
            let bytes: usize = out[i..i + run].iter().map(|(_, d)| d.as_ref().len()).sum();
            sent.syscalls += 1;
            match result {
                Ok(()) => {
                    sent.datagrams += run as u64;
                    sent.bytes += bytes as u64;
                }
                Err(e) => {
                    // UDP may drop; a full send buffer or an unreachable browser is a lost
                    // packet, which NACK and keyframe requests repair.
                    sent.dropped += run as u64;
                    if e.kind() != io::ErrorKind::WouldBlock {
                        tracing::debug!(destination = %destination, "media send: {e}");
                    }
                }
            }
            i += run;
        }
        out.clear();
        sent
    }

    fn try_send(
        &self,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let transmit = Transmit {
            destination,
            ecn: None,
            contents,
            segment_size,
            src_ip: None,
        };
        self.state.try_send((&self.socket).into(), &transmit)
    }
}

/// How many datagrams from the start of `out` one GSO send can carry: same destination,
/// all the size of the first except a shorter last one, within the kernel's limits.
fn gso_run<D: AsRef<[u8]>>(out: &[(SocketAddr, D)], max_segments: usize) -> usize {
    let Some((destination, first)) = out.first() else {
        return 0;
    };
    let size = first.as_ref().len();
    let mut run = 1;
    let mut total = size;
    while run < out.len() && run < max_segments {
        let (d, next) = (&out[run].0, out[run].1.as_ref());
        if d != destination || next.len() > size || total + next.len() > GSO_MAX_BYTES {
            break;
        }
        run += 1;
        total += next.len();
        if next.len() < size {
            break; // a shorter segment can only be the last
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn runs_keep_one_destination_and_one_size_but_the_last() {
        let out = vec![
            (addr(1), vec![0; 100]),
            (addr(1), vec![0; 100]),
            (addr(1), vec![0; 60]),
            (addr(1), vec![0; 100]),
        ];
        assert_eq!(gso_run(&out, 64), 3, "the 60-byte datagram ends the run");
        assert_eq!(gso_run(&out[3..], 64), 1);
        let mixed = vec![(addr(1), vec![0; 100]), (addr(2), vec![0; 100])];
        assert_eq!(gso_run(&mixed, 64), 1, "another destination");
        let bigger = vec![(addr(1), vec![0; 100]), (addr(1), vec![0; 120])];
        assert_eq!(gso_run(&bigger, 64), 1, "a bigger segment cannot follow");
        assert_eq!(gso_run(&out, 2), 2, "the kernel's segment limit");
    }

    #[test]
    fn a_gso_batch_arrives_as_separate_datagrams() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let to = receiver.local_addr().unwrap();
        let mut io =
            UdpIo::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap(), 1 << 20).unwrap();
        let mut out: Vec<(SocketAddr, Vec<u8>)> = (0..5u8)
            .map(|i| (to, vec![i; if i == 4 { 300 } else { 1200 }]))
            .collect();
        let sent = io.send_all(&mut out);
        assert_eq!(sent.datagrams, 5);
        assert!(out.is_empty());
        let mut buf = [0u8; 2000];
        for i in 0..5u8 {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(n, if i == 4 { 300 } else { 1200 });
            assert!(
                buf[..n].iter().all(|b| *b == i),
                "datagram {i} intact and in order"
            );
        }
        if io.state.max_gso_segments() > 1 {
            assert_eq!(sent.syscalls, 1, "one GSO send");
        }
    }
}
