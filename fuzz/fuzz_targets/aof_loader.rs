//! Arbitrary bytes as an AOF file, through the loader's framing (`CommandReader`) and its
//! replay (`aof::load::replay`) on a fresh database.
//!
//! Input: one byte seeding how the file is cut into read chunks, then the file.
//!
//! Must hold: no panic, no hang, no allocation beyond about twice the input; the frames are
//! the same whether the file arrives at once or in small pieces; offsets only move forward
//! and stay inside the file; the replay's valid prefix ends at a command boundary, and
//! replaying exactly that prefix is clean (no truncation) and ends at its end.
//! Files naming a command that touches files, the process or the network are not replayed.
#![no_main]
use ferrous_core::aof::load::{replay, CommandReader, Frame};
use ferrous_core::Database;
use libfuzzer_sys::fuzz_target;
use std::io::Read;

/// Commands never replayed (the same list as the `commands` target's).
const DENIED: &[&str] = &[
    "acl",
    "bgrewriteaof",
    "bgsave",
    "client",
    "cluster",
    "config",
    "debug",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "failover",
    "fcall",
    "fcall_ro",
    "function",
    "migrate",
    "module",
    "monitor",
    "pfselftest",
    "psync",
    "replicaof",
    "save",
    "script",
    "shutdown",
    "slaveof",
    "sync",
    "wait",
    "waitaof",
];

/// Hands out the input in pieces of pseudo-random sizes.
struct Chunks<'a> {
    rest: &'a [u8],
    state: u32,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = buf.len().min(self.rest.len()).min((self.state >> 16) as usize % 37 + 1);
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// Every frame with its arguments and the offsets after it.
type Frames = Vec<(Frame, Vec<Vec<u8>>, u64, u64)>;

fn frames(mut r: CommandReader<impl Read>, len: u64) -> Frames {
    let mut out = Vec::new();
    let mut last = 0;
    loop {
        let f = r.next_frame().expect("in-memory reads do not fail");
        let args = if f == Frame::Command { r.args().to_vec() } else { Vec::new() };
        assert!(r.offset() >= last && r.offset() <= len, "offset {} after {last} (len {len})", r.offset());
        if f == Frame::Command {
            assert!(!args.is_empty());
            assert!(r.command_offset() >= last && r.command_offset() < r.offset());
            let payload: usize = args.iter().map(Vec::len).sum();
            assert!(payload as u64 <= r.offset() - r.command_offset());
        }
        if let Frame::Corrupt { offset, .. } = f {
            assert!(offset >= last && offset < len);
        }
        last = r.offset();
        out.push((f, args, r.command_offset(), r.offset()));
        if f != Frame::Command {
            return out;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, file)) = data.split_first() else { return };
    let len = file.len() as u64;
    let whole = frames(CommandReader::new(file, 0), len);
    let pieces = frames(CommandReader::new(Chunks { rest: file, state: seed as u32 }, 0), len);
    assert_eq!(whole, pieces, "framing depends on how the input arrives");

    let denied = whole.iter().any(|(f, args, _, _)| {
        *f == Frame::Command && DENIED.iter().any(|d| args[0].eq_ignore_ascii_case(d.as_bytes()))
    });
    if denied {
        return;
    }
    // A fixed time, so that both replays see the same deadlines.
    ferrous_core::clock::with_batch_time(1_700_000_000_000, || {
        let db = Database::new();
        let Ok(outcome) = replay(&db, file, 0, "fuzz") else { return };
        let boundaries: Vec<u64> =
            std::iter::once(0).chain(whole.iter().filter(|f| f.0 == Frame::Command).map(|f| f.3)).collect();
        assert!(boundaries.contains(&outcome.valid_up_to), "valid prefix ends inside a command");
        if !outcome.truncated {
            assert_eq!(Some(&outcome.valid_up_to), boundaries.last());
        }
        let prefix = &file[..outcome.valid_up_to as usize];
        let again = replay(&Database::new(), prefix, 0, "fuzz").expect("the valid prefix replays");
        assert!(!again.truncated, "the valid prefix is itself truncated");
        assert_eq!(again.valid_up_to, prefix.len() as u64);
    });
});
