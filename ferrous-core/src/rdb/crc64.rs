//! CRC-64 as Redis computes it over RDB files and DUMP payloads: the "Jones" polynomial
//! (0xad93d23594c935a9), reflected, initial value 0, no final xor (catalogued as
//! CRC-64/REDIS; check value 0xe9c6d914c4b8d9ca for "123456789").
//!
//! Implemented with the `crc` crate rather than by hand: it is small, widely used and
//! maintained, carries this exact algorithm in its catalogue, and its slice-by-16 tables run
//! at several GB/s, on par with Redis's own `crcspeed` (a hand-written bytewise table would
//! be ~8x slower and need its own tests for the same result).
use crc::{Crc, Digest, Table, CRC_64_REDIS};

static ALGORITHM: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// A running CRC-64 (Redis's `crc64`), fed incrementally.
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest<'static, u64, Table<16>>,
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({:#018x})", self.value())
    }
}

impl Crc64 {
    /// The checksum of nothing (0).
    pub fn new() -> Crc64 {
        Crc64 { digest: ALGORITHM.digest() }
    }
    /// Adds `bytes`.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }
    /// The checksum of everything added so far.
    pub fn value(&self) -> u64 {
        self.digest.clone().finalize()
    }
    /// The checksum of `bytes`.
    pub fn checksum(bytes: &[u8]) -> u64 {
        ALGORITHM.checksum(bytes)
    }
}

/// Chunks at least this long move the checksum to a helper thread (below it, a thread
/// costs more than it saves: DUMP payloads, small snapshots).
const OFFLOAD_MIN: usize = 32 * 1024;
/// Chunks queued to the helper before the feeder waits (bounds the memory held).
const QUEUE: usize = 4;

/// A running CRC-64 that moves to a helper thread once the data is large: what RDB saves
/// and loads use, so that the checksum (about a tenth of their CPU time) runs beside the
/// encoding or decoding instead of after it. Chunks are checksummed in the order fed; the
/// value is the same as [`Crc64`]'s over the concatenation.
pub(crate) struct BgCrc64 {
    state: BgState,
}

enum BgState {
    Inline(Crc64),
    Piped(Pipe),
}

struct Pipe {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    handle: std::thread::JoinHandle<Crc64>,
}

impl Default for BgCrc64 {
    fn default() -> Self {
        BgCrc64::new()
    }
}

impl BgCrc64 {
    /// The checksum of nothing.
    pub(crate) fn new() -> BgCrc64 {
        BgCrc64 { state: BgState::Inline(Crc64::new()) }
    }

    /// Starts the helper if `len` is worth it and it is not running; false when the
    /// checksum stays on the caller's thread.
    fn piped(&mut self, len: usize) -> bool {
        match &mut self.state {
            BgState::Piped(_) => true,
            BgState::Inline(_) if len < OFFLOAD_MIN => false,
            BgState::Inline(c) => {
                let mut crc = c.clone();
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUE);
                let (back_tx, back) = std::sync::mpsc::channel::<Vec<u8>>();
                let spawned = std::thread::Builder::new().name("ferrous-crc".into()).spawn(move || {
                    for mut chunk in rx {
                        crc.update(&chunk);
                        chunk.clear();
                        let _ = back_tx.send(chunk);
                    }
                    crc
                });
                match spawned {
                    Ok(handle) => {
                        self.state = BgState::Piped(Pipe { tx, back, handle });
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    fn send(&mut self, chunk: Vec<u8>) {
        let BgState::Piped(p) = &mut self.state else { unreachable!("send without a helper") };
        if p.tx.send(chunk).is_err() {
            // The helper is gone: it panicked; report that panic here.
            self.join();
        }
    }

    /// Adds `bytes` (copied when the helper runs).
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if !self.piped(bytes.len()) {
            if let BgState::Inline(c) = &mut self.state {
                c.update(bytes);
            }
            return;
        }
        let mut chunk = self.spare(bytes.len());
        chunk.extend_from_slice(bytes);
        self.send(chunk);
    }

    /// Adds the bytes of `chunk` and gives back an empty buffer of about its capacity
    /// (`chunk` itself when the checksum is computed here, else a recycled one): no copy.
    pub(crate) fn update_vec(&mut self, mut chunk: Vec<u8>) -> Vec<u8> {
        if !self.piped(chunk.len()) {
            if let BgState::Inline(c) = &mut self.state {
                c.update(&chunk);
            }
            chunk.clear();
            return chunk;
        }
        let cap = chunk.capacity();
        self.send(chunk);
        self.spare(cap)
    }

    /// An empty buffer with room for `n` bytes, recycled from the helper when one is back.
    fn spare(&mut self, n: usize) -> Vec<u8> {
        if let BgState::Piped(p) = &self.state {
            if let Ok(mut v) = p.back.try_recv() {
                v.reserve(n);
                return v;
            }
        }
        Vec::with_capacity(n)
    }

    /// Waits for the helper and brings the running value back to this thread.
    fn join(&mut self) {
        let state = std::mem::replace(&mut self.state, BgState::Inline(Crc64::new()));
        self.state = match state {
            BgState::Piped(p) => {
                drop(p.tx);
                match p.handle.join() {
                    Ok(c) => BgState::Inline(c),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            s => s,
        };
    }

    /// The checksum of everything added so far (waits for the helper).
    pub(crate) fn value(&mut self) -> u64 {
        self.join();
        match &self.state {
            BgState::Inline(c) => c.value(),
            BgState::Piped(_) => unreachable!("joined above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(Crc64::checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
        let mut c = Crc64::new();
        c.update(b"1234");
        c.update(b"");
        c.update(b"56789");
        assert_eq!(c.value(), 0xe9c6d914c4b8d9ca);
        assert_eq!(Crc64::new().value(), 0);
    }

    /// Large and small chunks, copied and moved, in every mix: the same value as one pass.
    #[test]
    fn background_matches_inline() {
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        let want = Crc64::checksum(&data);
        for sizes in [&[7usize, 100_000, 3, 65_536, 200_000][..], &[1 << 20], &[10, 20, 30], &[65_535, 65_536, 1]] {
            for moved in [false, true] {
                let mut c = BgCrc64::new();
                let mut at = 0;
                let mut k = 0;
                while at < data.len() {
                    let n = sizes[k % sizes.len()].min(data.len() - at);
                    if moved {
                        let back = c.update_vec(data[at..at + n].to_vec());
                        assert!(back.is_empty());
                    } else {
                        c.update(&data[at..at + n]);
                    }
                    at += n;
                    k += 1;
                    if k == 3 {
                        // A value in the middle, then more data: still one running checksum.
                        assert_eq!(c.value(), Crc64::checksum(&data[..at]));
                    }
                }
                assert_eq!(c.value(), want, "{sizes:?} {moved}");
                assert_eq!(c.value(), want);
            }
        }
        assert_eq!(BgCrc64::new().value(), 0);
    }

    #[test]
    fn redis_dump_payload() {
        // `DUMP` of a string from redis-server 7.0.15: the last 8 bytes are the LE CRC-64 of
        // everything before them.
        let p = hex::decode("00c3094074016161e067000161610a00d6cc49030dee130e").unwrap();
        let (body, crc) = p.split_at(p.len() - 8);
        assert_eq!(Crc64::checksum(body), u64::from_le_bytes(crc.try_into().unwrap()));
    }
}
