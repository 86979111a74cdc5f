//! Redis-compatible Lua 5.1 scripting for Ferrous (placeholder; being written).
#![warn(missing_docs)]
