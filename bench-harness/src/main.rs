//! `rill-bench`: generate workloads, run jobs, measure and record results.
use clap::Parser;
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> anyhow::Result<()> {
    rill_bench::commands::dispatch(rill_bench::cli::Cli::parse())
}
