//! The `vchat` binary: parses the command line and runs it (`vchat_control::cli`).

use clap::Parser;

// Every forwarded packet allocates and frees buffers on a media worker (str0m's API
// hands them over by value); mimalloc's thread-local free lists cost 7 % less CPU per
// packet than glibc's malloc in the A/B runs of benches/RESULTS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = vchat_control::cli::run(vchat_control::cli::Cli::parse()) {
        eprintln!("vchat: {e:#}");
        std::process::exit(1);
    }
}
