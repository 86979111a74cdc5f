//! Arbitrary bytes, fed to `RequestParser` whole and in input-seeded chunks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrous_fuzz::parser::check_request_parser(data));
