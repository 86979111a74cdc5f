//! The error type of every typed operation and command, and its mapping to Redis's text.
//!
//! Each variant's `Display` is the exact line Redis 7.0 sends (without the leading `-`), so
//! the reply path, Lua's `redis.pcall` and the Rust API all show the same text.
use std::borrow::Cow;

/// What can go wrong in a database operation or command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key holds a value of another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// A value or argument is not an integer, or is out of range.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// A value or argument is not a valid float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// An increment or decrement would overflow `i64`.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// INCRBYFLOAT would produce NaN or infinity.
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    /// Generic syntax error.
    #[error("ERR syntax error")]
    Syntax,
    /// The key does not exist (RENAME, LSET, ...).
    #[error("ERR no such key")]
    NoSuchKey,
    /// A string would grow past `proto-max-bulk-len`.
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// An offset argument is out of range (SETRANGE, GETRANGE...).
    #[error("ERR offset is out of range")]
    OffsetOutOfRange,
    /// Bit offset not an integer or out of range.
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    /// Bit value not 0 or 1.
    #[error("ERR bit is not an integer or out of range")]
    BitValue,
    /// Invalid expire time for the named command (`set`, `expire`, `getex`...).
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    /// Wrong number of arguments for the named command (lower-case name).
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// A command name no one knows.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand {
        /// The name as sent (truncated).
        name: String,
        /// The first arguments, each quoted, as Redis prints them.
        args: String,
    },
    /// A subcommand no one knows.
    #[error("ERR unknown subcommand '{sub}'. Try {cmd} HELP.")]
    UnknownSubcommand {
        /// Upper-case container command.
        cmd: String,
        /// The subcommand as sent.
        sub: String,
    },
    /// DB index out of range.
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    /// Source and destination are the same object (MOVE, COPY...).
    #[error("ERR source and destination objects are the same")]
    SameObject,
    /// Authentication required.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// Wrong password.
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    /// AUTH without a configured password.
    #[error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")]
    AuthNotConfigured,
    /// Out of memory under `maxmemory`.
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    /// A timeout argument is invalid.
    #[error("ERR timeout is not a float or out of range")]
    InvalidTimeout,
    /// A timeout argument is negative.
    #[error("ERR timeout is negative")]
    NegativeTimeout,
    /// Any other error with an exact Redis text (the full line, with its code).
    #[error("{0}")]
    Other(Cow<'static, str>),
    /// An error line that quotes client bytes verbatim (not necessarily UTF-8), as Redis's
    /// "unknown command" errors do. Written to the wire as these exact bytes.
    #[error("{}", String::from_utf8_lossy(.0))]
    Bytes(Vec<u8>),
}

impl Error {
    /// An error with a fixed, exact Redis text (including the `ERR `-style code).
    pub fn msg(text: impl Into<Cow<'static, str>>) -> Error {
        Error::Other(text.into())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
