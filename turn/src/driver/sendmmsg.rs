//! Datagrams to many clients through the one listener socket, sent with one
//! `sendmmsg` per loop turn instead of one `sendto` each.
//!
//! This is the only unsafe code of the relay: `sendmmsg` takes arrays of C structs
//! pointing into our buffers. quinn-udp batches only runs to one destination (GSO),
//! and the relay's answers go to a different client each.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::SockAddr;

/// At most this many datagrams per syscall (the kernel's UIO_MAXIOV is 1024).
pub(crate) const MAX_BATCH: usize = 64;

/// Datagrams queued for one socket.
#[derive(Default)]
pub(crate) struct SendBatch {
    data: Vec<u8>,
    items: Vec<(SockAddr, usize, usize)>,
}

impl SendBatch {
    pub(crate) fn push(&mut self, to: SocketAddr, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.items.push((SockAddr::from(to), start, bytes.len()));
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Sends everything queued (what the kernel refuses is dropped, as UDP may) and
    /// empties the batch. Returns the datagrams sent.
    pub(crate) fn flush(&mut self, socket: &impl AsRawFd) -> usize {
        let mut sent = 0;
        let mut at = 0;
        while at < self.items.len() {
            let chunk = &self.items[at..self.items.len().min(at + MAX_BATCH)];
            match send_chunk(socket.as_raw_fd(), &self.data, chunk) {
                Ok(n) => {
                    sent += n;
                    // A partial send means the next one failed: skip it.
                    at += n.max(1);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A full buffer or an unreachable client: drop this one, go on.
                Err(_) => at += 1,
            }
        }
        self.items.clear();
        self.data.clear();
        sent
    }
}

fn send_chunk(fd: i32, data: &[u8], chunk: &[(SockAddr, usize, usize)]) -> io::Result<usize> {
    let mut iovs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_BATCH];
    // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) header.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for (i, (addr, start, len)) in chunk.iter().enumerate() {
        iovs[i] = libc::iovec {
            iov_base: data[*start..].as_ptr() as *mut libc::c_void,
            iov_len: *len,
        };
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
        hdr.msg_namelen = addr.len();
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
    }
    // SAFETY: every header points at a live address (`chunk`) and one iovec into
    // `data`, all borrowed for the duration of the call; the kernel only reads them
    // (and writes `msg_len`, which is ours).
    let n = unsafe {
        libc::sendmmsg(
            fd,
            msgs.as_mut_ptr(),
            chunk.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reaches_every_destination_in_order() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
        }
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = SendBatch::default();
        for i in 0..100u8 {
            let to = if i % 2 == 0 { &a } else { &b };
            batch.push(to.local_addr().unwrap(), &[i; 10]);
        }
        assert_eq!(batch.len(), 100);
        assert_eq!(batch.flush(&sender), 100);
        assert_eq!(batch.len(), 0);
        let mut buf = [0u8; 64];
        for i in 0..100u8 {
            let to = if i % 2 == 0 { &a } else { &b };
            let n = to.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 10]);
        }
    }
}
