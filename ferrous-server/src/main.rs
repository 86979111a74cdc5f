//! `ferrous-server [config-file] [--directive value ...]`

/// Every allocation is counted, so `used_memory` and `maxmemory` are exact (as Redis's
/// zmalloc counts its allocations).
#[global_allocator]
static ALLOC: ferrous_core::memory::CountingAlloc = ferrous_core::memory::CountingAlloc;

fn main() {
    ferrous_core::memory::CountingAlloc::activate();
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(ferrous_server::main_with_args(&args));
}
