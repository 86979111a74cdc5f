//! `cargo run --release` starts the Ferrous server (same arguments as `ferrous-server`).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(ferrous_server::main_with_args(&args));
}
