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
        Value::Stream(st) => write_stream(out, key, st),
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

/// A stream as Redis's `rewriteStreamObject` writes it: its entries as `XADD key id f v...`
/// (or, for an empty stream, `XADD key MAXLEN 0 0-1 x y` creating then emptying it),
/// `XSETID key last-id ENTRIESADDED n MAXDELETEDID id`, then per group `XGROUP CREATE key g
/// id ENTRIESREAD n`, and one `XCLAIM key g consumer 0 id TIME t RETRYCOUNT n JUSTID FORCE`
/// per pending entry, and `XGROUP CREATECONSUMER` for consumers without pending entries.
fn write_stream(out: &mut Vec<u8>, key: &[u8], s: &crate::types::stream::Stream) {
    use crate::types::stream::StreamId;
    let id = |i: StreamId| i.to_string().into_bytes();
    if s.is_empty() {
        encode_command(
            out,
            &[
                b"XADD".to_vec(),
                key.to_vec(),
                b"MAXLEN".to_vec(),
                b"0".to_vec(),
                b"0-1".to_vec(),
                b"x".to_vec(),
                b"y".to_vec(),
            ],
        );
    } else {
        s.range(StreamId::MIN, StreamId::MAX, false, |e| {
            let mut args = vec![b"XADD".to_vec(), key.to_vec(), id(e.id)];
            e.for_each(|f, v| {
                args.push(f.bytes().to_vec());
                args.push(v.bytes().to_vec());
            });
            encode_command(out, &args);
            true
        });
    }
    encode_command(
        out,
        &[
            b"XSETID".to_vec(),
            key.to_vec(),
            id(s.last_id),
            b"ENTRIESADDED".to_vec(),
            s.entries_added.to_string().into_bytes(),
            b"MAXDELETEDID".to_vec(),
            id(s.max_deleted_id),
        ],
    );
    for (name, g) in s.groups() {
        encode_command(
            out,
            &[
                b"XGROUP".to_vec(),
                b"CREATE".to_vec(),
                key.to_vec(),
                name.to_vec(),
                id(g.last_id),
                b"ENTRIESREAD".to_vec(),
                g.entries_read.to_string().into_bytes(),
            ],
        );
        for (pid, n) in &g.pel {
            encode_command(
                out,
                &[
                    b"XCLAIM".to_vec(),
                    key.to_vec(),
                    name.to_vec(),
                    n.consumer.to_vec(),
                    b"0".to_vec(),
                    id(*pid),
                    b"TIME".to_vec(),
                    n.delivery_time.to_string().into_bytes(),
                    b"RETRYCOUNT".to_vec(),
                    n.delivery_count.to_string().into_bytes(),
                    b"JUSTID".to_vec(),
                    b"FORCE".to_vec(),
                ],
            );
        }
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                encode_command(
                    out,
                    &[b"XGROUP".to_vec(), b"CREATECONSUMER".to_vec(), key.to_vec(), name.to_vec(), cname.to_vec()],
                );
            }
        }
    }
}
