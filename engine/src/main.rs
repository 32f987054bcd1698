//! The `rill` command line.
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> anyhow::Result<()> {
    println!("rill {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
