//! Arbitrary bytes decoded into a sequence of commands run on a fresh database.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrous_fuzz::commands::check_commands(data);
});
