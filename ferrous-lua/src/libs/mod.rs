//! The C libraries Redis links into its Lua, reimplemented in Rust with the same behaviour:
//! [`cjson`], [`cmsgpack`], [`bit`] and [`structlib`] (`struct`).
pub(crate) mod bit;
pub(crate) mod cjson;
pub(crate) mod cmsgpack;
pub(crate) mod structlib;
