//! A base file made of commands (`aof-use-rdb-preamble no`): each entry of a snapshot as
//! the commands that rebuild it, as Redis's `rewriteAppendOnlyFileRio` writes them —
//! `SET`, `RPUSH`/`SADD`/`HMSET`/`ZADD` in batches of [`ITEMS_PER_COMMAND`] elements, then
//! `PEXPIREAT` for a key with a deadline.
use super::writer::encode_command;
use crate::rdb::EncodeOptions;
use crate::value::Value;

/// Elements per command for collections (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_COMMAND: usize = 64;

/// Appends the commands rebuilding `key` (the snapshot's entry encoder for command bases).
pub fn write_entry(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_ms: Option<i64>, _opts: &EncodeOptions) {
    match value {
        Value::Str(_) | Value::Int(_) => {
            let v = value.as_str().map(|s| s.to_vec()).unwrap_or_default();
            encode_command(out, &[b"SET".to_vec(), key.to_vec(), v]);
        }
        Value::List(l) => batched(out, b"RPUSH", key, l.iter().map(|e| vec![e.to_vec()])),
        Value::Set(s) => batched(out, b"SADD", key, s.iter().map(|m| vec![m.to_vec()])),
        Value::Hash(h) => batched(out, b"HMSET", key, h.iter().map(|(f, v)| vec![f.to_vec(), v.to_vec()])),
        Value::ZSet(z) => {
            batched(out, b"ZADD", key, z.iter().map(|(m, s)| vec![crate::util::fmt_double(s).into_bytes(), m.to_vec()]))
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
    if let Some(when) = expire_ms {
        encode_command(out, &[b"PEXPIREAT".to_vec(), key.to_vec(), when.to_string().into_bytes()]);
    }
}

/// `name key items...` commands of at most [`ITEMS_PER_COMMAND`] items each.
fn batched(out: &mut Vec<u8>, name: &[u8], key: &[u8], items: impl Iterator<Item = Vec<Vec<u8>>>) {
    let mut args: Vec<Vec<u8>> = vec![name.to_vec(), key.to_vec()];
    let mut n = 0;
    for item in items {
        args.extend(item);
        n += 1;
        if n == ITEMS_PER_COMMAND {
            encode_command(out, &args);
            args.truncate(2);
            n = 0;
        }
    }
    if n > 0 {
        encode_command(out, &args);
    }
}
