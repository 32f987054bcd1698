//! `rill-bench`: generate workloads, run jobs, measure and record results.
use std::ffi::{c_int, c_long};

use clap::Parser;
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// `mi_option_purge_delay` in the mimalloc that `libmimalloc-sys` 0.1.49 builds (v3.3.2,
/// `c_src/mimalloc/v3/include/mimalloc.h`, `mi_option_e`); the number is not exported without
/// that crate's `extended` feature.
const MI_OPTION_PURGE_DELAY: c_int = 15;

unsafe extern "C" {
    /// mimalloc's `void mi_option_set(mi_option_t option, long value)`.
    fn mi_option_set(option: c_int, value: c_long);
}

fn main() -> anyhow::Result<()> {
    // mimalloc returns freed memory to the OS after a delay, from whichever thread next
    // allocates or frees a page; after a checkpoint freed its encode buffers (about the size of
    // the state) that purge landed inside a worker's snapshot pause. Freed memory is kept
    // instead (README, "Design decisions"); `MIMALLOC_PURGE_DELAY` still overrides.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` is part of mimalloc's public C API (linked in through
        // `libmimalloc-sys`), takes plain integers, and may be called at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    rill_bench::commands::dispatch(rill_bench::cli::Cli::parse())
}
