//! The fallback backend: `pwrite` and `fsync` on the writer thread, one write at a time.
//!
//! Used where io_uring cannot be set up (old kernel, `kernel.io_uring_disabled`, seccomp) or when
//! asked for. The writer's caller still never blocks on I/O: only the writer thread does.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use super::{BackendKind, Io};
use crate::snapshot::buf::AlignedBuf;
use crate::time::Epoch;

/// Blocking positioned writes.
#[derive(Debug, Default)]
pub(super) struct PlainIo {
    errors: Vec<(Epoch, io::Error)>,
}

impl Io for PlainIo {
    fn kind(&self) -> BackendKind {
        BackendKind::Plain
    }

    fn registered_buffers(&self) -> bool {
        false
    }

    fn write(&mut self, file: &Arc<File>, offset: u64, data: AlignedBuf, tag: Epoch) {
        if let Err(e) = file.write_all_at(data.padded(), offset) {
            self.errors.push((tag, e));
        }
    }

    fn drain(&mut self) -> Vec<(Epoch, io::Error)> {
        std::mem::take(&mut self.errors)
    }

    fn fsync(&mut self, file: &File, data_only: bool) -> io::Result<()> {
        if data_only { file.sync_data() } else { file.sync_all() }
    }
}
