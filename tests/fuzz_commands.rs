//! The cargo-fuzz `commands` check (`fuzz/src/commands.rs`), run on stable Rust without a
//! fuzzing engine: random command sequences from a fixed seed, each on a fresh database,
//! must never panic and must always produce well-formed replies. A failure prints the input
//! (hex) to replay with `cargo +nightly fuzz run commands <file>`.
//!
//! `FERROUS_FUZZ_ITERS` (default 8000 sequences) and `FERROUS_FUZZ_SEED` tune it.
#[path = "../fuzz/src/commands.rs"]
mod checks;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn random_command_sequences_never_panic() {
    let seed = std::env::var("FERROUS_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xC0DE_F022u64);
    let iters = std::env::var("FERROUS_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(8000usize);
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut executed, mut errors) = (0, 0);
    for case in 0..iters {
        let len = rng.gen_range(1..400);
        let input: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        match catch_unwind(AssertUnwindSafe(|| checks::check_commands(&input))) {
            Ok(outcome) => {
                executed += outcome.executed;
                errors += outcome.errors;
            }
            Err(panic) => {
                let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
                eprintln!("seed {seed} case {case}: failing input ({len} bytes): {hex}");
                std::panic::resume_unwind(panic);
            }
        }
    }
    eprintln!("{executed} commands, {errors} error replies");
    // Random argument counts make most commands fail their arity check; still, a decent share
    // must get through to the handlers or this test exercises nothing but error paths.
    assert!(errors * 10 < executed * 9, "{errors} of {executed} commands failed");
}
