//! The RDB codec: Redis's snapshot format, bytes <-> [`Value`](crate::value::Value)s. Pure: no locks, no files,
//! no clock. The snapshot service walks the keyspace and calls the writer; the loader feeds
//! a file to the [`Reader`]; DUMP/RESTORE use [`dump_payload`] / [`restore_payload`].
//!
//! ```
//! use ferrous_core::rdb::{self, DecodeOptions, EncodeOptions, Item, Reader};
//! use ferrous_core::value::Value;
//! let mut file = Vec::new();
//! rdb::write_header(&mut file);
//! rdb::write_select_db(&mut file, 0);
//! rdb::write_entry(&mut file, b"k", &Value::string(b"v"), None, &EncodeOptions::default());
//! let crc = rdb::Crc64::checksum(&[&file, &[0xFF][..]].concat());
//! rdb::write_eof(&mut file, crc);
//! let mut r = Reader::new(&file[..], DecodeOptions::default()).unwrap();
//! assert!(matches!(r.next_item().unwrap(), Item::SelectDb(0)));
//! let Item::Entry(e) = r.next_item().unwrap() else { panic!() };
//! assert_eq!(e.key, b"k");
//! assert!(matches!(r.next_item().unwrap(), Item::Eof));
//! ```
//!
//! # Layout
//!
//! - this file: the public vocabulary ([`RdbError`], [`EncodeOptions`], [`DecodeOptions`],
//!   [`ValueLimits`]) and the format's constants (opcodes, value types, length encodings).
//! - `write`: the writer of RDB version 10 (Redis 7.0) and DUMP payloads. It writes what
//!   Redis 7.0 writes for the value's current encoding, so that DUMP output is byte-identical
//!   to Redis's for the same value in the same encoding.
//! - `read`: [`Reader`] (a file, item by item, over any `io::Read`, buffered, tracking the
//!   byte offset) and [`restore_payload`]; reads versions 1 to 10.
//! - `listpack`, `ziplist`, `zipmap`, `intset`: Redis's packed blob formats. Ferrous's own
//!   in-memory encodings are not Redis's bytes, so the writer encodes blobs from the values'
//!   elements and the reader validates blobs while converting them.
//! - `lzf`: LZF compression of strings (`rdbcompression`), byte-compatible with the liblzf
//!   3.6 compressor Redis embeds. `crc64`: the checksum of files and DUMP payloads.
//!
//! # File layout (version 10)
//!
//! `REDIS0010`, then items: `AUX` fields, `FUNCTION2` libraries, per database `SELECTDB` +
//! `RESIZEDB` followed by entries (`[EXPIRETIME_MS t] [IDLE s] [FREQ f] type key value`),
//! then `EOF` and the CRC-64 of everything before it (0 when checksums are disabled).
//!
//! # Robustness
//!
//! Input is untrusted. Every length read from the input is checked against what follows
//! before it sizes an allocation (strings are read in chunks as they arrive; collections are
//! never preallocated beyond a small bound), every blob is walked with bounds checks, and a
//! problem comes back as an [`RdbError`] naming the byte offset, never as a panic. Empty
//! collections (possible in files from old Redis versions) are skipped by the [`Reader`], as
//! Redis skips them; [`restore_payload`] rejects them, as RESTORE does.
mod crc64;
mod intset;
pub(crate) mod listpack;
mod lzf;
mod read;
mod write;
mod ziplist;
mod zipmap;

use std::borrow::Cow;

pub(crate) use crc64::BgCrc64;
pub use crc64::Crc64;
pub use read::{restore_payload, Entry, Item, Reader};
pub use write::{
    dump_payload, write_aux, write_aux_int, write_aux_with, write_entry, write_eof, write_freq, write_function,
    write_function_with, write_header, write_idle, write_resize_db, write_select_db, write_value,
};

/// The RDB version this codec writes (Redis 7.0's), and the newest it reads.
pub const RDB_VERSION: u16 = 10;

// Value types (the byte before a key).
pub(crate) const TYPE_STRING: u8 = 0;
pub(crate) const TYPE_LIST: u8 = 1;
pub(crate) const TYPE_SET: u8 = 2;
pub(crate) const TYPE_ZSET: u8 = 3;
pub(crate) const TYPE_HASH: u8 = 4;
pub(crate) const TYPE_ZSET_2: u8 = 5;
pub(crate) const TYPE_MODULE_PRE_GA: u8 = 6;
pub(crate) const TYPE_MODULE_2: u8 = 7;
pub(crate) const TYPE_HASH_ZIPMAP: u8 = 9;
pub(crate) const TYPE_LIST_ZIPLIST: u8 = 10;
pub(crate) const TYPE_SET_INTSET: u8 = 11;
pub(crate) const TYPE_ZSET_ZIPLIST: u8 = 12;
pub(crate) const TYPE_HASH_ZIPLIST: u8 = 13;
pub(crate) const TYPE_LIST_QUICKLIST: u8 = 14;
pub(crate) const TYPE_STREAM_LISTPACKS: u8 = 15;
pub(crate) const TYPE_HASH_LISTPACK: u8 = 16;
pub(crate) const TYPE_ZSET_LISTPACK: u8 = 17;
pub(crate) const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub(crate) const TYPE_STREAM_LISTPACKS_2: u8 = 19;

// Opcodes (special type bytes).
pub(crate) const OP_FUNCTION2: u8 = 0xF5;
pub(crate) const OP_FUNCTION_PRE_GA: u8 = 0xF6;
pub(crate) const OP_MODULE_AUX: u8 = 0xF7;
pub(crate) const OP_IDLE: u8 = 0xF8;
pub(crate) const OP_FREQ: u8 = 0xF9;
pub(crate) const OP_AUX: u8 = 0xFA;
pub(crate) const OP_RESIZEDB: u8 = 0xFB;
pub(crate) const OP_EXPIRETIME_MS: u8 = 0xFC;
pub(crate) const OP_EXPIRETIME: u8 = 0xFD;
pub(crate) const OP_SELECTDB: u8 = 0xFE;
pub(crate) const OP_EOF: u8 = 0xFF;

// Length encodings: the top two bits of the first byte.
pub(crate) const LEN_6BIT: u8 = 0;
pub(crate) const LEN_14BIT: u8 = 1;
pub(crate) const LEN_32BIT: u8 = 0x80;
pub(crate) const LEN_64BIT: u8 = 0x81;
pub(crate) const LEN_ENCVAL: u8 = 3;
// Special string encodings (after `LEN_ENCVAL`).
pub(crate) const ENC_INT8: u8 = 0;
pub(crate) const ENC_INT16: u8 = 1;
pub(crate) const ENC_INT32: u8 = 2;
pub(crate) const ENC_LZF: u8 = 3;

// Quicklist node containers (QUICKLIST_2).
pub(crate) const CONTAINER_PLAIN: u64 = 1;
pub(crate) const CONTAINER_PACKED: u64 = 2;

/// Redis's default `packed_threshold`: a list element at least this long gets a PLAIN
/// quicklist node (the raw element instead of a listpack).
pub(crate) const PLAIN_THRESHOLD: usize = 1 << 30;

/// The `packed_threshold` in force: [`PLAIN_THRESHOLD`] unless DEBUG
/// QUICKLIST-PACKED-THRESHOLD changed it. Process-wide, as in Redis.
static PACKED_THRESHOLD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(PLAIN_THRESHOLD);

/// The current `packed_threshold` (see [`PACKED_THRESHOLD`]).
#[inline]
pub(crate) fn packed_threshold() -> usize {
    PACKED_THRESHOLD.load(std::sync::atomic::Ordering::Relaxed)
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD: 0 restores the default.
pub(crate) fn set_packed_threshold(bytes: usize) {
    let v = if bytes == 0 { PLAIN_THRESHOLD } else { bytes };
    PACKED_THRESHOLD.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// What went wrong reading RDB input. Every variant about the input names the byte offset
/// (from the start of the file or payload) where the problem was found.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    /// The underlying reader failed.
    #[error("I/O error reading RDB: {0}")]
    Io(#[from] std::io::Error),
    /// The input ended in the middle of an item.
    #[error("RDB input truncated: more bytes were expected at offset {offset}")]
    Truncated {
        /// Where more input was needed.
        offset: u64,
    },
    /// The bytes do not form valid RDB data.
    #[error("RDB data corrupt at offset {offset}: {what}")]
    Corrupt {
        /// Start of the faulty item or field.
        offset: u64,
        /// What was wrong.
        what: Cow<'static, str>,
    },
    /// The input does not start with `REDIS` and a four-digit version.
    #[error("not an RDB file: bad magic (expected 'REDIS' and a 4-digit version)")]
    BadMagic,
    /// A version newer than [`RDB_VERSION`] (or 0).
    #[error("unsupported RDB format version {0} (versions 1 to 10 are supported)")]
    UnsupportedVersion(u16),
    /// A value type this codec knows but does not support (modules, streams).
    #[error("{} (value type {type_id} at offset {offset})", unsupported_type_text(*.type_id))]
    UnsupportedType {
        /// Offset of the type byte.
        offset: u64,
        /// The type byte.
        type_id: u8,
    },
    /// An opcode this codec knows but refuses (module auxiliary data, pre-GA functions).
    #[error("{} (opcode {opcode:#04x} at offset {offset})", unsupported_opcode_text(*.opcode))]
    UnsupportedOpcode {
        /// Offset of the opcode.
        offset: u64,
        /// The opcode byte.
        opcode: u8,
    },
    /// A type or opcode byte that is neither a known value type nor a known opcode.
    #[error("unknown RDB opcode or value type {opcode} at offset {offset}")]
    UnknownOpcode {
        /// Offset of the byte.
        offset: u64,
        /// The byte.
        opcode: u8,
    },
    /// The checksum stored in the file or payload does not match its contents.
    #[error("RDB checksum mismatch: stored {expected:#018x}, computed {computed:#018x}")]
    Checksum {
        /// The stored checksum.
        expected: u64,
        /// The checksum of the bytes read.
        computed: u64,
    },
}

fn unsupported_type_text(t: u8) -> &'static str {
    match t {
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => "stream type not supported yet",
        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => "module value types are not supported",
        _ => "value type not supported",
    }
}

fn unsupported_opcode_text(op: u8) -> &'static str {
    match op {
        OP_MODULE_AUX => "module auxiliary data (MODULE_AUX) is not supported",
        OP_FUNCTION_PRE_GA => "functions in the pre-GA format (Redis 7.0 release candidates) are not supported",
        _ => "opcode not supported",
    }
}

impl RdbError {
    pub(crate) fn corrupt(offset: u64, what: impl Into<Cow<'static, str>>) -> RdbError {
        RdbError::Corrupt { offset, what: what.into() }
    }
}

/// How values are written.
#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    /// `rdbcompression`: LZF-compress strings (and blobs) longer than 20 bytes when that
    /// saves at least 4 bytes, as Redis does.
    pub compress: bool,
}

impl Default for EncodeOptions {
    /// Redis's default: `rdbcompression yes`.
    fn default() -> Self {
        EncodeOptions { compress: true }
    }
}

/// The encoding thresholds a loaded value is converted under (the `*-max-*` directives), so
/// that it gets the encoding Redis 7.0 gives it (see the table in the reader's docs: like
/// Redis, a hash or sorted-set listpack in a file converts on its entry count only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueLimits {
    /// `list-max-listpack-size` (node fill of rebuilt lists).
    pub list_max_listpack_size: i64,
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value: usize,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value: usize,
}

impl Default for ValueLimits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        ValueLimits {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

impl ValueLimits {
    /// The thresholds currently configured.
    pub fn from_tunables(t: &crate::config::Tunables) -> ValueLimits {
        use crate::config::Tunable;
        let size = |tunable| usize::try_from(t.get(tunable)).unwrap_or(0);
        ValueLimits {
            list_max_listpack_size: t.get(Tunable::ListMaxListpackSize),
            hash_max_listpack_entries: size(Tunable::HashMaxListpackEntries),
            hash_max_listpack_value: size(Tunable::HashMaxListpackValue),
            set_max_intset_entries: size(Tunable::SetMaxIntsetEntries),
            zset_max_listpack_entries: size(Tunable::ZsetMaxListpackEntries),
            zset_max_listpack_value: size(Tunable::ZsetMaxListpackValue),
        }
    }

    pub(crate) fn hash(&self) -> crate::types::hash::HashLimits {
        crate::types::hash::HashLimits {
            max_entries: self.hash_max_listpack_entries,
            max_value: self.hash_max_listpack_value,
        }
    }

    pub(crate) fn zset(&self) -> crate::types::zset::ZSetLimits {
        crate::types::zset::ZSetLimits {
            max_listpack_entries: self.zset_max_listpack_entries,
            max_listpack_value: self.zset_max_listpack_value,
        }
    }
}

/// How input is read.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// Thresholds deciding the encodings of loaded values.
    pub limits: ValueLimits,
    /// Check the file's (or payload's) CRC-64 when it has one (a stored 0 means "saved
    /// without checksum" and is never checked).
    pub verify_checksum: bool,
    /// `sanitize-dump-payload yes`: also check the parts of packed blobs that decoding does
    /// not need (listpack back-lengths, ziplist previous-entry lengths and tail offsets).
    /// Everything decoding relies on is always checked, and duplicate members or fields are
    /// always rejected, since the blobs are converted rather than kept.
    pub deep_sanitize: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { limits: ValueLimits::default(), verify_checksum: true, deep_sanitize: false }
    }
}
