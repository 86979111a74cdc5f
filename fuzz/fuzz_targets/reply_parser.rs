//! Arbitrary bytes given to `parse_value`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferrous_fuzz::parser::check_reply_parser(data));
