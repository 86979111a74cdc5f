//! Fuzz checks for Ferrous, shared by the cargo-fuzz targets (`fuzz_targets/`) and by the
//! deterministic stable-Rust tests that CI runs (`ferrous-resp/tests/fuzz_parser.rs` and
//! `tests/fuzz_commands.rs` include these modules by path).
//!
//! - [`parser`]: the request parser (arbitrary bytes in arbitrary chunks) and the reply
//!   parser (`parse_value`).
//! - [`commands`]: sequences of small commands run through the command table.
pub mod commands;
pub mod parser;
