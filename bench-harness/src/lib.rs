//! `rill-bench`: Rill's benchmark harness.
//!
//! It generates workloads ([`workload`]), runs Rill jobs on them ([`job`]) and the reference
//! points without Rill ([`baseline`]), measures the process ([`machine`]), and records every
//! run as a JSON file with its configuration, machine and git revision ([`results`]), printed
//! for humans by [`summary`]. The command line is in [`cli`], the subcommands in [`commands`].
//!
//! Figures come only from runs: nothing in the harness estimates or extrapolates them.
#![deny(missing_docs)]

pub mod baseline;
pub mod checkpointing;
pub mod cli;
pub mod commands;
pub mod job;
pub mod machine;
pub mod progress;
pub mod recovery;
pub mod report;
pub mod results;
pub mod state_cost;
pub mod suite;
pub mod summary;
pub mod workload;
pub mod writer_bench;
