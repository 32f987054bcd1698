//! The io_uring backend: several writes in flight from registered staging buffers, fsync
//! through the ring.
//!
//! The backend owns `queue_depth` staging buffers of `buffer_size` bytes (4 KiB-aligned),
//! registered with the ring once (`IORING_REGISTER_BUFFERS`) and written with `WriteFixed`; if
//! registration is refused (e.g. `RLIMIT_MEMLOCK`), the same buffers are written with plain
//! `Write`. A chunk is copied into free staging buffers piece by piece (a memcpy is far cheaper
//! than the disk) and its caller-owned buffer is released at once, which bounds the memory pinned
//! for I/O. Invariants:
//!
//! * a staging buffer is touched by the thread only while no operation on it is in flight;
//! * an fsync is submitted only after every write has completed (io_uring does not order an
//!   fsync after earlier writes), and [`Drop`] waits for in-flight writes before the buffers go;
//! * short writes are resubmitted for the remainder; a zero-byte write is an error.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;

use io_uring::{IoUring, Probe, opcode, types};

use super::{BackendKind, Io};
use crate::snapshot::buf::AlignedBuf;
use crate::time::Epoch;

/// `user_data` of fsync operations; writes use their staging buffer's index.
const FSYNC_TAG: u64 = u64::MAX;

/// One write in flight from a staging buffer.
struct Op {
    file: Arc<File>,
    /// File offset of the staging buffer's first byte.
    offset: u64,
    /// Bytes of the staging buffer to write.
    len: usize,
    /// Bytes written so far.
    done: usize,
    tag: Epoch,
}

/// A ring and its staging buffers. `ring` is declared first so that it is closed (and the
/// buffers unregistered) before the buffers are freed.
pub(super) struct UringIo {
    ring: IoUring,
    buffers: Vec<AlignedBuf>,
    ops: Vec<Option<Op>>,
    free: Vec<usize>,
    registered: bool,
    errors: Vec<(Epoch, io::Error)>,
    fsync_result: Option<i32>,
}

impl UringIo {
    /// Sets up a ring with `queue_depth` staging buffers of `buffer_size` bytes each; fails if
    /// io_uring is unavailable or lacks the `Write`/`Fsync` opcodes.
    pub(super) fn new(queue_depth: usize, buffer_size: usize) -> io::Result<UringIo> {
        let ring = IoUring::new((queue_depth + 1) as u32)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for code in [opcode::Write::CODE, opcode::WriteFixed::CODE, opcode::Fsync::CODE] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(io::ErrorKind::Unsupported, format!("io_uring opcode {code} unsupported")));
            }
        }
        let buffers: Vec<AlignedBuf> = (0..queue_depth).map(|_| AlignedBuf::zeroed(buffer_size)).collect();
        let iovecs: Vec<libc::iovec> = buffers
            .iter()
            .map(|b| libc::iovec { iov_base: b.as_ptr().cast_mut().cast(), iov_len: b.capacity() })
            .collect();
        // SAFETY: each iovec covers exactly one staging buffer's allocation. The buffers are never
        // grown or reallocated, and they outlive the registration: `ring` is dropped (which
        // unregisters them) before `buffers`, as the field order of `UringIo` guarantees.
        let registered = match unsafe { ring.submitter().register_buffers(&iovecs) } {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "io_uring buffer registration refused; using unregistered writes");
                false
            }
        };
        Ok(UringIo {
            ring,
            ops: (0..queue_depth).map(|_| None).collect(),
            free: (0..queue_depth).rev().collect(),
            buffers,
            registered,
            errors: Vec::new(),
            fsync_result: None,
        })
    }

    /// Number of operations in flight.
    fn in_flight(&self) -> usize {
        self.ops.len() - self.free.len()
    }

    /// Pushes the (remaining part of the) write on staging buffer `slot` and submits it.
    fn push_write(&mut self, slot: usize) {
        let op = self.ops[slot].as_ref().expect("a write is pushed only for an occupied slot");
        let fd = types::Fd(op.file.as_raw_fd());
        // SAFETY: `op.done < op.len <= capacity`, so the pointer stays inside the staging buffer.
        let ptr = unsafe { self.buffers[slot].as_ptr().add(op.done) };
        let len = (op.len - op.done) as u32;
        let offset = op.offset + op.done as u64;
        let entry = if self.registered {
            opcode::WriteFixed::new(fd, ptr, len, slot as u16).offset(offset).build()
        } else {
            opcode::Write::new(fd, ptr, len).offset(offset).build()
        };
        self.push(entry.user_data(slot as u64));
    }

    /// Pushes one entry, making room in the submission queue if needed, and submits.
    fn push(&mut self, entry: io_uring::squeue::Entry) {
        loop {
            // SAFETY: the entry's buffer is a staging buffer (or none, for fsync) and its file is
            // kept open by the `Arc<File>` in `ops` (or by the caller of `fsync`, which waits for
            // the completion); both stay valid until the completion is reaped.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                break;
            }
            self.submit(0);
        }
        self.submit(0);
    }

    /// Submits queued entries and waits for `want` completions, retrying on `EINTR`.
    fn submit(&mut self, want: usize) {
        loop {
            match self.ring.submit_and_wait(want) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    self.reap();
                    continue;
                }
                Err(e) => panic!("io_uring_enter failed: {e}"),
            }
        }
    }

    /// Handles every available completion.
    fn reap(&mut self) {
        let done: Vec<(u64, i32)> = self.ring.completion().map(|c| (c.user_data(), c.result())).collect();
        for (user_data, result) in done {
            if user_data == FSYNC_TAG {
                self.fsync_result = Some(result);
                continue;
            }
            let slot = user_data as usize;
            let op = self.ops[slot].as_mut().expect("a completion names an occupied slot");
            if result < 0 {
                self.errors.push((op.tag, io::Error::from_raw_os_error(-result)));
            } else if result == 0 {
                self.errors.push((op.tag, io::Error::new(io::ErrorKind::WriteZero, "io_uring write wrote 0 bytes")));
            } else {
                op.done += result as usize;
                if op.done < op.len {
                    self.push_write(slot);
                    continue;
                }
            }
            self.ops[slot] = None;
            self.free.push(slot);
        }
    }

    /// Waits until at least one more completion has been handled.
    fn wait_one(&mut self) {
        self.submit(1);
        self.reap();
    }
}

impl Io for UringIo {
    fn kind(&self) -> BackendKind {
        BackendKind::IoUring
    }

    fn registered_buffers(&self) -> bool {
        self.registered
    }

    fn write(&mut self, file: &Arc<File>, offset: u64, data: AlignedBuf, tag: Epoch) {
        let piece_size = self.buffers.first().map_or(0, AlignedBuf::capacity);
        let mut piece_offset = offset;
        for piece in data.padded().chunks(piece_size) {
            while self.free.is_empty() {
                self.wait_one();
            }
            let slot = self.free.pop().expect("a free slot after waiting");
            self.buffers[slot].as_mut_slice()[..piece.len()].copy_from_slice(piece);
            self.ops[slot] = Some(Op { file: Arc::clone(file), offset: piece_offset, len: piece.len(), done: 0, tag });
            self.push_write(slot);
            piece_offset += piece.len() as u64;
        }
        self.reap();
    }

    fn drain(&mut self) -> Vec<(Epoch, io::Error)> {
        while self.in_flight() > 0 {
            self.wait_one();
        }
        std::mem::take(&mut self.errors)
    }

    fn fsync(&mut self, file: &File, data_only: bool) -> io::Result<()> {
        let failed = self.drain();
        self.errors.extend(failed);
        let flags = if data_only { types::FsyncFlags::DATASYNC } else { types::FsyncFlags::empty() };
        let entry = opcode::Fsync::new(types::Fd(file.as_raw_fd())).flags(flags).build().user_data(FSYNC_TAG);
        self.fsync_result = None;
        self.push(entry);
        while self.fsync_result.is_none() {
            self.wait_one();
        }
        match self.fsync_result.take() {
            Some(r) if r < 0 => Err(io::Error::from_raw_os_error(-r)),
            _ => Ok(()),
        }
    }
}

impl Drop for UringIo {
    fn drop(&mut self) {
        // The kernel may still read the staging buffers: wait before they are freed.
        while self.in_flight() > 0 {
            self.wait_one();
        }
    }
}
