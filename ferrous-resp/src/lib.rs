//! RESP2/RESP3 values and their wire codec.
//!
//! This crate knows nothing about commands; it only moves bytes:
//!
//! - [`Value`]: a RESP2/RESP3 value tree (what a client receives), with an encoder that
//!   downgrades RESP3-only types when talking RESP2, exactly as Redis does.
//! - [`RequestParser`]: the incremental parser for client requests: multibulk
//!   (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline (`GET k\r\n`, with redis-cli's quoting).
//!   It takes partial reads and many pipelined commands per read; arguments are returned as
//!   ranges into the caller's buffer, so they are never copied by the parser.
//! - [`Args`] / [`ArgsBuf`]: a borrowed / owned list of binary-safe arguments.
//! - [`parse_value`]: a parser for complete replies (used by in-process callers and tests).
//! - [`write`]: low-level encoders (`$3\r\nfoo\r\n`, `:12\r\n`, ...) used by reply builders.
//!
//! ```
//! use ferrous_resp::{RequestParser, Parsed};
//! let mut p = RequestParser::default();
//! let buf = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPI";
//! let Parsed::Command(n) = p.parse(buf).unwrap() else { panic!() };
//! assert_eq!(p.args(buf).get(1), Some(&b"key"[..]));
//! p.reset();
//! assert_eq!(p.parse(&buf[n..]).unwrap(), Parsed::Incomplete);
//! ```
#![warn(missing_docs)]

mod args;
mod parser;
mod value;
pub mod write;

pub use args::{Args, ArgsBuf};
pub use parser::{
    parse_i64, parse_value, split_line, Limits, Parsed, ProtocolError, RequestParser, PROTO_INLINE_MAX_SIZE,
};
pub use value::Value;
