//! Stream commands: XADD XRANGE XREVRANGE XLEN XDEL XTRIM XREAD XREADGROUP XGROUP XACK
//! XPENDING XCLAIM XAUTOCLAIM XINFO XSETID.
//!
//! Handlers parse arguments with Redis 7.0's rules and error texts (`t_stream.c`), run on the
//! [`Stream`] under the key's shard lock and write replies straight from the listpack nodes.
//! Propagation follows Redis 7.0: XADD with the ID it generated and `MAXLEN = <len>` /
//! `MINID = <id>` for approximate trims, XREADGROUP / XCLAIM / XAUTOCLAIM as one
//! `XCLAIM ... TIME t RETRYCOUNT n FORCE JUSTID LASTID id` per claimed entry (plus
//! `XGROUP SETID ... ENTRIESREAD n` for NOACK reads).
//!
//! Blocking XREAD / XREADGROUP register in the waiter registry (a stream waiter: any write to
//! its keys wakes it, so deletions and type changes are seen); when re-run to be served, a
//! read that finds nothing writes nothing and stays blocked, and XREADGROUP answers Redis's
//! `-UNBLOCKED` / `-NOGROUP` errors when its key or group went away.
use super::{Ctx, Handler, Reply};
use crate::access::Access;
use crate::client::ROLE_MASTER;
use crate::error::{Error, Result};
use crate::notify;
use crate::types::stream::{EntryRef, Group, IdSpec, NodeLimits, Stream, StreamId, Trim, ENTRIES_READ_INVALID};
use crate::util::parse_int;
use crate::value::Value;
use std::sync::Arc;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("xadd", xadd),
    ("xrange", xrange),
    ("xrevrange", xrevrange),
    ("xlen", xlen),
    ("xdel", xdel),
    ("xtrim", xtrim),
    ("xread", xread),
    ("xreadgroup", xreadgroup),
    ("xgroup|create", xgroup_create),
    ("xgroup|setid", xgroup_setid),
    ("xgroup|destroy", xgroup_destroy),
    ("xgroup|createconsumer", xgroup_createconsumer),
    ("xgroup|delconsumer", xgroup_delconsumer),
    ("xgroup|help", xgroup_help),
    ("xack", xack),
    ("xpending", xpending),
    ("xclaim", xclaim),
    ("xautoclaim", xautoclaim),
    ("xinfo|stream", xinfo_stream),
    ("xinfo|groups", xinfo_groups),
    ("xinfo|consumers", xinfo_consumers),
    ("xinfo|help", xinfo_help),
    ("xsetid", xsetid),
];

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// Runs `f` on the stream at `key` (or `None`) under the read lock; WRONGTYPE otherwise.
pub(crate) fn read<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&Stream>) -> R) -> Result<R> {
    acc.read(key, |n| match n {
        None => Ok(f(None)),
        Some(n) => match &n.value {
            Value::Stream(s) => Ok(f(Some(s))),
            _ => Err(Error::WrongType),
        },
    })
}

/// Runs `f` on the stream at `key` under the write lock, creating it when `create`
/// (otherwise `Ok((None, false))` for a missing key). Returns `f`'s result and whether the
/// key was created. Streams are not deleted when they become empty.
pub(crate) fn write<R>(
    acc: &Access<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Stream) -> Result<R>,
) -> Result<(Option<R>, bool)> {
    acc.write(key, |shard, h| {
        let now = acc.now;
        // One look-up when the stream exists (the common case: XADD to a live stream).
        match shard.get_mut(h, key, now).map(|n| &mut n.value) {
            Some(Value::Stream(s)) => return f(s).map(|r| (Some(r), false)),
            Some(_) => return Err(Error::WrongType),
            None if create => {
                shard.set(h, key, Value::Stream(Box::default()), None, now);
            }
            None => return Ok((None, false)),
        }
        match shard.get_mut(h, key, now).map(|n| &mut n.value) {
            Some(Value::Stream(s)) => f(s).map(|r| (Some(r), true)),
            _ => Ok((None, true)),
        }
    })
}

/// Formats an ID without allocating.
pub(crate) struct IdText {
    buf: [u8; 41],
    len: u8,
}

impl std::ops::Deref for IdText {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

fn push_u64(buf: &mut [u8; 41], at: usize, mut v: u64) -> usize {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    // Two digits per division (an ID's milliseconds have 13).
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    let n = tmp.len() - i;
    buf[at..at + n].copy_from_slice(&tmp[i..]);
    at + n
}

pub(crate) fn id_text(id: StreamId) -> IdText {
    let mut buf = [0u8; 41];
    let mut at = push_u64(&mut buf, 0, id.ms);
    buf[at] = b'-';
    at = push_u64(&mut buf, at + 1, id.seq);
    IdText { buf, len: at as u8 }
}

fn bulk_id(out: &mut Reply<'_>, id: StreamId) {
    out.bulk(&id_text(id));
}

/// `[id, [field, value, ...]]`.
fn write_entry(out: &mut Reply<'_>, e: &EntryRef<'_>) {
    out.array(2);
    bulk_id(out, e.id);
    out.array(e.nfields * 2);
    e.for_each(|f, v| {
        out.bulk(&f.bytes());
        out.bulk(&v.bytes());
    });
}

/// Writes the entries of `[start, end]` (at most `count`, 0 = all) as an array.
fn write_range(out: &mut Reply<'_>, s: &Stream, start: StreamId, end: StreamId, rev: bool, count: usize) {
    // The length is known only after the walk: collect the entries' positions first.
    let mut n = 0usize;
    s.range(start, end, rev, |_| {
        n += 1;
        count == 0 || n < count
    });
    out.array(n);
    let mut i = 0usize;
    s.range(start, end, rev, |e| {
        write_entry(out, &e);
        i += 1;
        i < n
    });
}

fn nogroup_key_group(key: &[u8], group: &[u8], suffix: &str) -> Error {
    let mut v = b"NOGROUP No such key '".to_vec();
    v.extend_from_slice(key);
    v.extend_from_slice(b"' or consumer group '");
    v.extend_from_slice(group);
    v.extend_from_slice(b"'");
    v.extend_from_slice(suffix.as_bytes());
    Error::Bytes(v)
}

fn nogroup_group_key(group: &[u8], key: &[u8]) -> Error {
    let mut v = b"NOGROUP No such consumer group '".to_vec();
    v.extend_from_slice(group);
    v.extend_from_slice(b"' for key name '");
    v.extend_from_slice(key);
    v.extend_from_slice(b"'");
    Error::Bytes(v)
}

/// An interval bound: `(id` is exclusive (strict ID after the parenthesis).
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((StreamId::parse(&arg[1..], missing_seq, true)?, true))
    } else {
        Ok((StreamId::parse(arg, missing_seq, false)?, false))
    }
}

fn parse_start(arg: &[u8]) -> Result<StreamId> {
    let (id, ex) = parse_interval(arg, 0)?;
    if ex {
        return id.next().ok_or_else(|| Error::msg("ERR invalid start ID for the interval"));
    }
    Ok(id)
}

fn parse_end(arg: &[u8]) -> Result<StreamId> {
    let (id, ex) = parse_interval(arg, u64::MAX)?;
    if ex {
        return id.prev().ok_or_else(|| Error::msg("ERR invalid end ID for the interval"));
    }
    Ok(id)
}

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

fn int_or(arg: &[u8], msg: &'static str) -> Result<i64> {
    ferrous_resp::parse_i64(arg).ok_or(Error::msg(msg))
}

/// True for clients whose commands must be applied as sent (the AOF loader, a master link).
fn must_obey(ctx: &Ctx<'_>) -> bool {
    ctx.client.id() == crate::aof::load::AOF_CLIENT_ID
        || ctx.client.info.role.load(std::sync::atomic::Ordering::Relaxed) == ROLE_MASTER
}

/// The time stamped on deliveries and consumers. The AOF loader replays at time 0 (so that
/// nothing expires while loading); streams need the wall clock there, as Redis uses its real
/// time while loading (an `XCLAIM ... TIME t` is clamped to it).
fn stream_now(ctx: &Ctx<'_>) -> i64 {
    if ctx.client.id() == crate::aof::load::AOF_CLIENT_ID {
        ctx.db.inner.clock.now_ms()
    } else {
        ctx.now()
    }
}

fn limits(acc: &Access<'_>) -> NodeLimits {
    use crate::config::Tunable;
    let t = &acc.inner.tunables;
    NodeLimits {
        max_bytes: usize::try_from(t.get(Tunable::StreamNodeMaxBytes)).unwrap_or(0),
        max_entries: t.get(Tunable::StreamNodeMaxEntries),
    }
}

/// `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`, as
/// Redis's `streamPropagateXCLAIM` writes it.
fn xclaim_record(
    key: &[u8],
    group: &[u8],
    g: &Group,
    consumer: &[u8],
    id: &[u8],
    time: i64,
    count: u64,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
        b"0".to_vec(),
        id.to_vec(),
        b"TIME".to_vec(),
        time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        id_text(g.last_id).to_vec(),
    ]
}

fn setid_record(key: &[u8], group: &[u8], g: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        id_text(g.last_id).to_vec(),
        b"ENTRIESREAD".to_vec(),
        g.entries_read.to_string().into_bytes(),
    ]
}

// ---------------------------------------------------------------------------------------
// XADD / XTRIM
// ---------------------------------------------------------------------------------------

/// Options shared by XADD and XTRIM (Redis's `streamParseAddOrTrimArgsOrReply`).
struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Index of the MAXLEN/MINID value argument.
    trim_arg: usize,
    nomkstream: bool,
    /// XADD: the ID spec and its argument index.
    id: IdSpec,
    id_arg: usize,
}

fn parse_add_trim(ctx: &Ctx<'_>, xadd: bool) -> Result<AddTrim> {
    let argc = ctx.argc();
    let mut a =
        AddTrim { trim: None, approx: false, limit: 0, trim_arg: 0, nomkstream: false, id: IdSpec::Auto, id_arg: argc };
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = ctx.arg(i);
        if xadd && opt == b"*" {
            a.id_arg = i;
            break;
        } else if (eq(opt, "maxlen") || eq(opt, "minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(Error::msg(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            a.approx = false;
            let next = ctx.arg(i + 1);
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if eq(opt, "maxlen") {
                let v = parse_int(ctx.arg(i + 1))?;
                if v < 0 {
                    return Err(Error::msg("ERR The MAXLEN argument must be >= 0."));
                }
                a.trim = Some(Trim::MaxLen(v as u64));
            } else {
                a.trim = Some(Trim::MinId(StreamId::parse(ctx.arg(i + 1), 0, true)?));
            }
            i += 1;
            a.trim_arg = i;
        } else if eq(opt, "limit") && more > 0 {
            limit = parse_int(ctx.arg(i + 1))?;
            if limit < 0 {
                return Err(Error::msg("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && eq(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            let (id, seq_given) = StreamId::parse_arg(opt, 0, true, true)?;
            a.id = if seq_given { IdSpec::Explicit(id) } else { IdSpec::Ms(id.ms) };
            a.id_arg = i;
            break;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if limit != 0 && a.trim.is_none() {
        return Err(Error::msg("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && a.trim.is_none() {
        return Err(Error::msg("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if must_obey(ctx) {
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(Error::msg("ERR syntax error, LIMIT cannot be used without the special ~ option"));
        }
        a.limit = limit as u64;
    } else if a.approx {
        let l = 100 * limits(&ctx.access).max_entries;
        a.limit = if l <= 0 || l > 10000 { 10000 } else { l as u64 };
    }
    if xadd && a.id_arg >= argc {
        a.id_arg = argc; // no ID: arity error below
    }
    Ok(a)
}

/// The trimming argument as it must be propagated after an approximate trim.
fn trim_rewrite(s: &Stream, trim: Trim) -> Vec<u8> {
    match trim {
        Trim::MaxLen(_) => s.len().to_string().into_bytes(),
        Trim::MinId(_) => id_text(s.edge_id(true).unwrap_or(StreamId::MIN)).to_vec(),
    }
}

/// `XADD key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]`
fn xadd(ctx: &mut Ctx<'_>) -> Result<()> {
    let a = parse_add_trim(ctx, true)?;
    let field_pos = a.id_arg + 1;
    let argc = ctx.argc();
    if field_pos > argc || argc - field_pos < 2 || (argc - field_pos) % 2 == 1 {
        return Err(Error::WrongArity("xadd".into()));
    }
    if let IdSpec::Explicit(id) = a.id {
        if id.is_zero() {
            return Err(Error::msg("ERR The ID specified in XADD must be greater than 0-0"));
        }
    }
    let key = ctx.arg(1);
    // The pairs on the stack for up to 8 fields (no allocation per XADD), else on the heap.
    let mut inline: [(&[u8], &[u8]); 8] = [(&[], &[]); 8];
    let heap: Vec<(&[u8], &[u8])>;
    let npairs = (argc - field_pos) / 2;
    let pairs: &[(&[u8], &[u8])] = if npairs <= inline.len() {
        for (slot, i) in inline.iter_mut().zip((field_pos..argc).step_by(2)) {
            *slot = (ctx.arg(i), ctx.arg(i + 1));
        }
        &inline[..npairs]
    } else {
        heap = (field_pos..argc).step_by(2).map(|i| (ctx.arg(i), ctx.arg(i + 1))).collect();
        &heap
    };
    let acc = ctx.access;
    let lim = limits(&acc);
    let (r, created) = write(&acc, key, !a.nomkstream, |s| {
        let id = s.add(a.id, pairs, lim, acc.now).map_err(|e| e.to_error())?;
        acc.add_dirty(1);
        acc.signal_ready(key);
        let mut trimmed = 0;
        let mut rewrite = None;
        if let Some(t) = a.trim {
            trimmed = s.trim(t, a.approx, a.limit);
            if a.approx {
                rewrite = Some(trim_rewrite(s, t));
            }
        }
        Ok((id, trimmed, rewrite))
    })?;
    let Some((id, trimmed, rewrite)) = r else {
        ctx.out.null();
        return Ok(());
    };
    bulk_id(&mut ctx.out, id);
    if created {
        acc.notify(notify::NEW, "new", key);
    }
    acc.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        acc.notify(notify::STREAM, "xtrim", key);
    }
    let id_rewrite = !matches!(a.id, IdSpec::Explicit(_));
    if (rewrite.is_some() || id_rewrite) && crate::propagate::collecting() {
        // The arguments as slices, rewritten ones substituted: propagation copies each once.
        let id_txt = id_text(id);
        let parts = ctx.args.iter().enumerate().map(|(i, arg)| -> &[u8] {
            match &rewrite {
                Some(_) if i == a.trim_arg - 1 => b"=",
                Some(v) if i == a.trim_arg => v,
                _ if id_rewrite && i == a.id_arg => &id_txt,
                _ => arg,
            }
        });
        ctx.propagate_as(parts);
    }
    Ok(())
}

/// `XTRIM key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]`
fn xtrim(ctx: &mut Ctx<'_>) -> Result<()> {
    let key = ctx.arg(1);
    let acc = ctx.access;
    let exists = read(&acc, key, |s| s.is_some())?;
    let a = parse_add_trim(ctx, false)?;
    if !exists {
        ctx.out.int(0);
        return Ok(());
    }
    let Some(t) = a.trim else { return Err(Error::Syntax) };
    let (r, _) = write(&acc, key, false, |s| {
        let n = s.trim(t, a.approx, a.limit);
        acc.add_dirty(n);
        Ok((n, (n > 0 && a.approx).then(|| trim_rewrite(s, t))))
    })?;
    let (n, rewrite) = r.unwrap_or((0, None));
    if n > 0 {
        acc.notify(notify::STREAM, "xtrim", key);
        if let Some(v) = rewrite {
            let mut args: Vec<Vec<u8>> = ctx.args.iter().map(<[u8]>::to_vec).collect();
            args[a.trim_arg - 1] = b"=".to_vec();
            args[a.trim_arg] = v;
            ctx.propagate_as(args);
        }
    }
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XRANGE / XREVRANGE / XLEN / XDEL
// ---------------------------------------------------------------------------------------

fn range_cmd(ctx: &mut Ctx<'_>, rev: bool) -> Result<()> {
    let (start_arg, end_arg) = if rev { (ctx.arg(3), ctx.arg(2)) } else { (ctx.arg(2), ctx.arg(3)) };
    let start = parse_start(start_arg)?;
    let end = parse_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < ctx.argc() {
        if eq(ctx.arg(j), "count") && j + 1 < ctx.argc() {
            count = parse_int(ctx.arg(j + 1))?.max(0);
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let key = ctx.arg(1);
    let out = &mut ctx.out;
    read(&ctx.access, key, |s| match s {
        None => out.array(0),
        Some(_) if count == 0 => out.null_array(),
        Some(s) => write_range(out, s, start, end, rev, count.max(0) as usize),
    })
}

/// `XRANGE key start end [COUNT count]`
fn xrange(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, false)
}

/// `XREVRANGE key end start [COUNT count]`
fn xrevrange(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, true)
}

/// `XLEN key`
fn xlen(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = read(&ctx.access, ctx.arg(1), |s| s.map_or(0, Stream::len))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `XDEL key id [id ...]`
fn xdel(ctx: &mut Ctx<'_>) -> Result<()> {
    let key = ctx.arg(1);
    let acc = ctx.access;
    if !read(&acc, key, |s| s.is_some())? {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = (2..ctx.argc()).map(|i| StreamId::parse(ctx.arg(i), 0, true)).collect::<Result<Vec<_>>>()?;
    let (n, _) = write(&acc, key, false, |s| {
        let mut deleted = 0u64;
        let mut first = false;
        for &id in &ids {
            if s.delete(id) {
                if id == s.first_id {
                    first = true;
                }
                if id > s.max_deleted_id {
                    s.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if s.is_empty() {
                s.first_id = StreamId::MIN;
            } else if first {
                s.first_id = s.edge_id(true).unwrap_or(StreamId::MIN);
            }
        }
        acc.add_dirty(deleted);
        Ok(deleted)
    })?;
    let n = n.unwrap_or(0);
    if n > 0 {
        acc.notify(notify::STREAM, "xdel", key);
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
fn xsetid(ctx: &mut Ctx<'_>) -> Result<()> {
    let id = StreamId::parse(ctx.arg(2), 0, true)?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < ctx.argc() {
        let more = ctx.argc() - 1 - i;
        if eq(ctx.arg(i), "entriesadded") && more > 0 {
            entries_added = parse_int(ctx.arg(i + 1))?;
            if entries_added < 0 {
                return Err(Error::msg("ERR entries_added must be positive"));
            }
            i += 2;
        } else if eq(ctx.arg(i), "maxdeletedid") && more > 0 {
            max_xdel = StreamId::parse(ctx.arg(i + 1), 0, true)?;
            if id < max_xdel {
                return Err(Error::msg(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let key = ctx.arg(1);
    let acc = ctx.access;
    let (r, _) = write(&acc, key, false, |s| {
        if !s.is_empty() {
            let max = s.edge_id(false).unwrap_or(StreamId::MIN);
            if id < max {
                return Err(Error::msg("ERR The ID specified in XSETID is smaller than the target stream top item"));
            }
            if entries_added != -1 && s.len() > entries_added as u64 {
                return Err(Error::msg(
                    "ERR The entries_added specified in XSETID is smaller than the target stream length",
                ));
            }
        }
        s.last_id = id;
        if entries_added != -1 {
            s.entries_added = entries_added as u64;
        }
        if !max_xdel.is_zero() {
            s.max_deleted_id = max_xdel;
        }
        acc.add_dirty(1);
        Ok(())
    })?;
    if r.is_none() {
        return Err(Error::NoSuchKey);
    }
    acc.notify(notify::STREAM, "xsetid", key);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XREAD / XREADGROUP
// ---------------------------------------------------------------------------------------

struct ReadArgs {
    block: Option<Option<i64>>,
    count: usize,
    streams_arg: usize,
    nstreams: usize,
    group: Option<(usize, usize)>,
    noack: bool,
}

fn parse_read(ctx: &Ctx<'_>, group_cmd: bool) -> Result<ReadArgs> {
    let argc = ctx.argc();
    let mut r = ReadArgs { block: None, count: 0, streams_arg: 0, nstreams: 0, group: None, noack: false };
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let o = ctx.arg(i);
        if eq(o, "block") && more > 0 {
            // A script's client can never block (no waker) and has blocking disabled; Redis
            // refuses BLOCK there outright.
            if ctx.client.blocking.disabled && ctx.client.blocking.waker.is_none() {
                let mut v = b"ERR ".to_vec();
                v.extend_from_slice(ctx.arg(0));
                v.extend_from_slice(b" command is not allowed with BLOCK option from scripts");
                return Err(Error::Bytes(v));
            }
            i += 1;
            let t = ferrous_resp::parse_i64(ctx.arg(i))
                .ok_or_else(|| Error::msg("ERR timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(Error::NegativeTimeout);
            }
            r.block = Some(if t > 0 {
                if t > i64::MAX - ctx.now() {
                    return Err(Error::msg("ERR timeout is out of range"));
                }
                Some(ctx.now() + t)
            } else {
                None
            });
        } else if eq(o, "count") && more > 0 {
            i += 1;
            r.count = parse_int(ctx.arg(i))?.max(0) as usize;
        } else if eq(o, "streams") && more > 0 {
            r.streams_arg = i + 1;
            let n = argc - r.streams_arg;
            if n % 2 != 0 {
                let (name, sym) = if group_cmd { ("XREADGROUP", '>') } else { ("XREAD", '$') };
                return Err(Error::msg(format!(
                    "ERR Unbalanced {name} list of streams: for each stream key an ID or '{sym}' must be specified."
                )));
            }
            r.nstreams = n / 2;
            break;
        } else if eq(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(Error::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((i + 1, i + 2));
            i += 2;
        } else if eq(o, "noack") {
            if !group_cmd {
                return Err(Error::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if r.streams_arg == 0 {
        return Err(Error::Syntax);
    }
    if group_cmd && r.group.is_none() {
        return Err(Error::msg("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// What a stream argument asks for.
#[derive(Clone, Copy)]
enum ReadFrom {
    /// Entries after this ID.
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`
fn xread(ctx: &mut Ctx<'_>) -> Result<()> {
    let r = parse_read(ctx, false)?;
    let serving = ctx.client.blocking.serving;
    let keys: Vec<&[u8]> = (0..r.nstreams).map(|i| ctx.arg(r.streams_arg + i)).collect();
    let id_args: Vec<&[u8]> = (0..r.nstreams).map(|i| ctx.arg(r.streams_arg + r.nstreams + i)).collect();
    let acc = ctx.access;
    let registry = &ctx.db.inner.blocking;
    let (out, client, args) = (&mut ctx.out, &mut *ctx.client, ctx.args);
    let resp3 = out.resp3();
    acc.write_many(&keys, |m| -> Result<()> {
        // Resolve the IDs ($ is the stream's last ID now).
        let mut ids = Vec::with_capacity(keys.len());
        for (k, a) in keys.iter().zip(&id_args) {
            let h = acc.hash(k);
            let s = match m.shard(h).get_mut(h, k, acc.now).map(|n| &n.value) {
                Some(Value::Stream(s)) => Some(&**s),
                Some(_) if serving => None,
                Some(_) => return Err(Error::WrongType),
                None => None,
            };
            if *a == b"$" {
                ids.push(s.map_or(StreamId::MIN, |s| s.last_id));
            } else if *a == b">" {
                return Err(Error::msg(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            } else {
                ids.push(StreamId::parse(a, 0, true)?);
            }
        }
        // Streams with entries after their ID are served now (Redis's `streamLastValidID`
        // test: tombstones after the ID do not count).
        let mut serve = vec![false; keys.len()];
        for (i, k) in keys.iter().enumerate() {
            let h = acc.hash(k);
            if let Some(Value::Stream(s)) = m.shard(h).get_mut(h, k, acc.now).map(|n| &n.value) {
                serve[i] = s.edge_id(false).is_some_and(|max| max > ids[i]);
            }
        }
        let served = serve.iter().filter(|&&b| b).count();
        if served > 0 {
            if resp3 {
                out.map(served);
            } else {
                out.array(served);
            }
            for (i, k) in keys.iter().enumerate() {
                let h = acc.hash(k);
                if !serve[i] {
                    continue;
                }
                let Some(Value::Stream(s)) = m.shard(h).get_mut(h, k, acc.now).map(|n| &n.value) else { continue };
                let gt = ids[i];
                if !resp3 {
                    out.array(2);
                }
                out.bulk(k);
                let start = gt.next().unwrap_or(StreamId::MIN);
                write_range(out, s, start, StreamId::MAX, false, r.count);
            }
            return Ok(());
        }
        if serving {
            return Ok(());
        }
        match r.block {
            Some(deadline) => {
                // Re-run with `$` resolved, so that only entries added later are served.
                let mut rerun: Vec<Vec<u8>> = args.iter().map(<[u8]>::to_vec).collect();
                for (i, a) in id_args.iter().enumerate() {
                    if *a == b"$" {
                        rerun[r.streams_arg + r.nstreams + i] = id_text(ids[i]).to_vec();
                    }
                }
                let owned = keys.iter().map(|k| k.to_vec()).collect();
                let argsbuf = rerun.iter().map(|v| &v[..]).collect();
                if !registry.block_stream(client, owned, argsbuf, deadline) {
                    out.null_array();
                }
            }
            None => out.null_array(),
        }
        Ok(())
    })
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]`
fn xreadgroup(ctx: &mut Ctx<'_>) -> Result<()> {
    let r = parse_read(ctx, true)?;
    let Some((gi, ci)) = r.group else { return Err(Error::Syntax) };
    let (group, consumer) = (ctx.arg(gi), ctx.arg(ci));
    let serving = ctx.client.blocking.serving;
    let keys: Vec<&[u8]> = (0..r.nstreams).map(|i| ctx.arg(r.streams_arg + i)).collect();
    let id_args: Vec<&[u8]> = (0..r.nstreams).map(|i| ctx.arg(r.streams_arg + r.nstreams + i)).collect();
    let acc = ctx.access;
    let now = acc.now;
    let registry = &ctx.db.inner.blocking;
    let (out, client, args) = (&mut ctx.out, &mut *ctx.client, ctx.args);
    let resp3 = out.resp3();
    let collecting = crate::propagate::collecting();
    let mut records: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut created_consumers: Vec<&[u8]> = Vec::new();
    let res = acc.write_many(&keys, |m| -> Result<()> {
        let mut from = Vec::with_capacity(keys.len());
        for (k, a) in keys.iter().zip(&id_args) {
            let h = acc.hash(k);
            let found = match m.shard(h).get_mut(h, k, now).map(|n| &n.value) {
                Some(Value::Stream(s)) => Some(s.group(group).is_some()),
                Some(_) if serving => None,
                Some(_) => return Err(Error::WrongType),
                None => None,
            };
            match found {
                Some(true) => {}
                None if serving => return Err(Error::msg("UNBLOCKED the stream key no longer exists")),
                Some(false) if serving => {
                    return Err(Error::msg("NOGROUP the consumer group this client was blocked on no longer exists"))
                }
                _ => return Err(nogroup_key_group(k, group, " in XREADGROUP with GROUP option")),
            }
            if *a == b"$" {
                return Err(Error::msg("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            } else if *a == b">" {
                from.push(ReadFrom::New);
            } else {
                from.push(ReadFrom::After(StreamId::parse(a, 0, true)?));
            }
        }
        // Which streams are served now.
        let mut serve = vec![false; keys.len()];
        let mut served = 0;
        for (i, k) in keys.iter().enumerate() {
            let h = acc.hash(k);
            let Some(Value::Stream(s)) = m.shard(h).get_mut(h, k, now).map(|n| &mut n.value) else { continue };
            let max = s.edge_id(false);
            let Some(g) = s.group_mut(group) else { continue };
            serve[i] = match from[i] {
                ReadFrom::After(_) => true,
                ReadFrom::New => max.is_some_and(|max| max > g.last_id),
            };
            // Redis 7.0 creates (and refreshes) the consumer only for a stream it serves.
            if !serve[i] {
                continue;
            }
            let (_, created) = g.consumer_or_create(consumer, now);
            if let Some(c) = g.consumers.get_mut(consumer) {
                c.seen_time = now;
            }
            if created {
                acc.add_dirty(1);
                acc.notify(notify::STREAM, "xgroup-createconsumer", k);
                if r.noack {
                    created_consumers.push(k);
                }
            }
            served += serve[i] as usize;
        }
        if served > 0 {
            if resp3 {
                out.map(served);
            } else {
                out.array(served);
            }
        }
        for (i, k) in keys.iter().enumerate() {
            if !serve[i] {
                continue;
            }
            let h = acc.hash(k);
            let Some(Value::Stream(s)) = m.shard(h).get_mut(h, k, now).map(|n| &mut n.value) else { continue };
            if !resp3 {
                out.array(2);
            }
            out.bulk(k);
            acc.add_dirty(1);
            let Some((view, g)) = s.split_group(group) else { continue };
            let cname: Arc<[u8]> = g.consumer_or_create(consumer, now).0;
            match from[i] {
                ReadFrom::After(after) => {
                    // History: the consumer's own pending entries after `after`.
                    let Some(start) = after.next() else {
                        out.array(0);
                        continue;
                    };
                    let ids: Vec<StreamId> = g
                        .consumers
                        .get(consumer)
                        .map(|c| {
                            let it = c.pel.range(start..);
                            if r.count > 0 {
                                it.take(r.count).copied().collect()
                            } else {
                                it.copied().collect()
                            }
                        })
                        .unwrap_or_default();
                    out.array(ids.len());
                    for id in ids {
                        let mut found = false;
                        view.range(id, id, |e| {
                            write_entry(out, &e);
                            found = true;
                            false
                        });
                        if !found {
                            out.array(2);
                            bulk_id(out, id);
                            out.null_array();
                        }
                        if let Some(n) = g.pel.get_mut(&id) {
                            n.delivery_time = now;
                            n.delivery_count += 1;
                        }
                    }
                }
                ReadFrom::New => {
                    let start = g.last_id.next().unwrap_or(StreamId::MAX);
                    let mut n = 0usize;
                    view.range(start, StreamId::MAX, |_| {
                        n += 1;
                        r.count == 0 || n < r.count
                    });
                    out.array(n);
                    let mut delivered = Vec::with_capacity(n);
                    let mut i = 0;
                    view.range(start, StreamId::MAX, |e| {
                        write_entry(out, &e);
                        delivered.push(e.id);
                        i += 1;
                        i < n
                    });
                    let mut propagate_last = false;
                    for id in delivered {
                        if id > g.last_id {
                            view.group_delivered(g, id);
                            if r.noack {
                                propagate_last = true;
                            }
                        }
                        if !r.noack {
                            g.assign(id, &cname, now, 1);
                            if collecting {
                                let nack_consumer = cname.clone();
                                records.push(xclaim_record(k, group, g, &nack_consumer, &id_text(id), now, 1));
                            }
                        }
                    }
                    if propagate_last && collecting {
                        records.push(setid_record(k, group, g));
                    }
                }
            }
        }
        if served > 0 || serving {
            return Ok(());
        }
        match r.block {
            Some(deadline) => {
                let owned = keys.iter().map(|k| k.to_vec()).collect();
                if !registry.block_stream(client, owned, args.iter().collect(), deadline) {
                    out.null_array();
                }
            }
            None => out.null_array(),
        }
        Ok(())
    });
    // Errors are raised only before anything is written.
    res?;
    if collecting {
        let mut all: Vec<Vec<Vec<u8>>> = created_consumers
            .iter()
            .map(|k| {
                vec![b"XGROUP".to_vec(), b"CREATECONSUMER".to_vec(), k.to_vec(), group.to_vec(), consumer.to_vec()]
            })
            .collect();
        all.extend(records);
        ctx.propagate_many(all);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------

fn parse_entries_read(ctx: &Ctx<'_>, from: usize, allow_mkstream: bool) -> Result<(bool, i64)> {
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_INVALID;
    let mut i = from;
    while i < ctx.argc() {
        if allow_mkstream && eq(ctx.arg(i), "mkstream") {
            mkstream = true;
            i += 1;
        } else if eq(ctx.arg(i), "entriesread") && i + 1 < ctx.argc() {
            entries_read = parse_int(ctx.arg(i + 1))?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(Error::msg("ERR value for ENTRIESREAD must be positive or -1"));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax(ctx));
        }
    }
    Ok((mkstream, entries_read))
}

fn subcommand_syntax(ctx: &Ctx<'_>) -> Error {
    let container = ctx.spec.name.split('|').next().unwrap_or("").to_ascii_uppercase();
    let mut v = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    let sub = ctx.arg(1);
    v.extend_from_slice(&sub[..sub.len().min(128)]);
    v.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
    Error::Bytes(v)
}

const ERR_XGROUP_NOKEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

/// Looks the key up for XGROUP subcommands other than CREATE: WRONGTYPE, the missing-key
/// error, NOGROUP (when `need_group`).
fn xgroup_check(ctx: &Ctx<'_>, need_group: bool) -> Result<()> {
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    match read(&ctx.access, key, |s| s.map(|s| s.group(group).is_some()))? {
        None => Err(Error::msg(ERR_XGROUP_NOKEY)),
        Some(false) if need_group => Err(nogroup_group_key(group, key)),
        _ => Ok(()),
    }
}

/// `XGROUP CREATE key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]`
fn xgroup_create(ctx: &mut Ctx<'_>) -> Result<()> {
    let (mkstream, entries_read) = parse_entries_read(ctx, 5, true)?;
    if ctx.argc() > 8 {
        return Err(subcommand_syntax(ctx));
    }
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    let acc = ctx.access;
    let exists = read(&acc, key, |s| s.is_some())?;
    if !exists && !mkstream {
        return Err(Error::msg(ERR_XGROUP_NOKEY));
    }
    let id_arg = ctx.arg(4);
    let explicit = if id_arg == b"$" { None } else { Some(StreamId::parse(id_arg, 0, true)?) };
    let (r, created) = write(&acc, key, mkstream, |s| {
        let id = explicit.unwrap_or(s.last_id);
        if !s.create_group(group, id, entries_read) {
            return Ok(false);
        }
        acc.add_dirty(1);
        Ok(true)
    })?;
    if created {
        acc.add_dirty(1);
        acc.notify(notify::NEW, "new", key);
    }
    if r == Some(true) {
        acc.notify(notify::STREAM, "xgroup-create", key);
        ctx.out.ok();
        Ok(())
    } else {
        Err(Error::msg("BUSYGROUP Consumer Group name already exists"))
    }
}

/// `XGROUP SETID key group <id | $> [ENTRIESREAD entries-read]`
fn xgroup_setid(ctx: &mut Ctx<'_>) -> Result<()> {
    let (_, entries_read) = parse_entries_read(ctx, 5, false)?;
    if ctx.argc() != 5 && ctx.argc() != 7 {
        xgroup_check(ctx, true)?;
        return Err(subcommand_syntax(ctx));
    }
    xgroup_check(ctx, true)?;
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    let id_arg = ctx.arg(4);
    let explicit = if id_arg == b"$" { None } else { Some(StreamId::parse(id_arg, 0, false)?) };
    let acc = ctx.access;
    write(&acc, key, false, |s| {
        let id = explicit.unwrap_or(s.last_id);
        if let Some(g) = s.group_mut(group) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        acc.add_dirty(1);
        Ok(())
    })?;
    acc.notify(notify::STREAM, "xgroup-setid", key);
    ctx.out.ok();
    Ok(())
}

/// `XGROUP DESTROY key group`
fn xgroup_destroy(ctx: &mut Ctx<'_>) -> Result<()> {
    xgroup_check(ctx, false)?;
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    let acc = ctx.access;
    let (r, _) = write(&acc, key, false, |s| {
        let d = s.destroy_group(group);
        if d {
            acc.add_dirty(1);
            // Wakes blocked XREADGROUP clients of the group (they get -NOGROUP).
            acc.signal_ready(key);
        }
        Ok(d)
    })?;
    let d = r.unwrap_or(false);
    if d {
        acc.notify(notify::STREAM, "xgroup-destroy", key);
    }
    ctx.out.int(d as i64);
    Ok(())
}

/// `XGROUP CREATECONSUMER key group consumer`
fn xgroup_createconsumer(ctx: &mut Ctx<'_>) -> Result<()> {
    xgroup_check(ctx, true)?;
    let (key, group, consumer) = (ctx.arg(2), ctx.arg(3), ctx.arg(4));
    let acc = ctx.access;
    let now = stream_now(ctx);
    let (r, _) = write(&acc, key, false, |s| {
        let Some(g) = s.group_mut(group) else { return Ok(false) };
        let (_, created) = g.consumer_or_create(consumer, now);
        if created {
            acc.add_dirty(1);
        }
        Ok(created)
    })?;
    let created = r.unwrap_or(false);
    if created {
        acc.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.out.int(created as i64);
    Ok(())
}

/// `XGROUP DELCONSUMER key group consumer`
fn xgroup_delconsumer(ctx: &mut Ctx<'_>) -> Result<()> {
    xgroup_check(ctx, true)?;
    let (key, group, consumer) = (ctx.arg(2), ctx.arg(3), ctx.arg(4));
    let acc = ctx.access;
    let (r, _) = write(&acc, key, false, |s| {
        let Some(g) = s.group_mut(group) else { return Ok(None) };
        let n = g.delete_consumer(consumer);
        if n.is_some() {
            acc.add_dirty(1);
        }
        Ok(n)
    })?;
    let n = r.flatten();
    if n.is_some() {
        acc.notify(notify::STREAM, "xgroup-delconsumer", key);
    }
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

/// `XGROUP HELP`
fn xgroup_help(ctx: &mut Ctx<'_>) -> Result<()> {
    super::client_cmd::help_lines(
        ctx,
        &[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM
// ---------------------------------------------------------------------------------------

/// `XACK key group id [id ...]`
fn xack(ctx: &mut Ctx<'_>) -> Result<()> {
    let (key, group) = (ctx.arg(1), ctx.arg(2));
    let acc = ctx.access;
    let has_group = read(&acc, key, |s| s.is_some_and(|s| s.group(group).is_some()))?;
    if !has_group {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = (3..ctx.argc()).map(|i| StreamId::parse(ctx.arg(i), 0, true)).collect::<Result<Vec<_>>>()?;
    let (n, _) = write(&acc, key, false, |s| {
        let Some(g) = s.group_mut(group) else { return Ok(0) };
        let n = ids.iter().filter(|&&id| g.ack(id)).count();
        acc.add_dirty(n as u64);
        Ok(n)
    })?;
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
fn xpending(ctx: &mut Ctx<'_>) -> Result<()> {
    let argc = ctx.argc();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(Error::Syntax);
    }
    let mut minidle = 0i64;
    let mut range = None;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut si = 3;
        if eq(ctx.arg(3), "idle") {
            minidle = parse_int(ctx.arg(4))?;
            if argc < 8 {
                return Err(Error::Syntax);
            }
            si += 2;
        }
        let count = parse_int(ctx.arg(si + 2))?.max(0);
        let start = parse_start(ctx.arg(si))?;
        let end = parse_end(ctx.arg(si + 1))?;
        if si + 3 < argc {
            consumer = Some(ctx.arg(si + 3));
        }
        range = Some((start, end, count));
    }
    let (key, group) = (ctx.arg(1), ctx.arg(2));
    let now = ctx.now();
    let out = &mut ctx.out;
    read(&ctx.access, key, |s| -> Result<()> {
        let Some(g) = s.and_then(|s| s.group(group)) else { return Err(nogroup_key_group(key, group, "")) };
        match range {
            None => {
                out.array(4);
                out.int(g.pel.len() as i64);
                match (g.pel.keys().next(), g.pel.keys().next_back()) {
                    (Some(&first), Some(&last)) => {
                        bulk_id(out, first);
                        bulk_id(out, last);
                        let with: Vec<_> = g.consumers.iter().filter(|(_, c)| !c.pel.is_empty()).collect();
                        out.array(with.len());
                        for (name, c) in with {
                            out.array(2);
                            out.bulk(name);
                            out.bulk(c.pel.len().to_string().as_bytes());
                        }
                    }
                    _ => {
                        out.null();
                        out.null();
                        out.null_array();
                    }
                }
            }
            Some((start, end, mut count)) => {
                let ids: Vec<StreamId> = match consumer {
                    Some(name) => match g.consumers.get(name) {
                        Some(c) if start <= end => c.pel.range(start..=end).copied().collect(),
                        Some(_) => Vec::new(),
                        None => {
                            out.array(0);
                            return Ok(());
                        }
                    },
                    None if start <= end => g.pel.range(start..=end).map(|(k, _)| *k).collect(),
                    None => Vec::new(),
                };
                let mut rows = Vec::new();
                for id in ids {
                    if count == 0 {
                        break;
                    }
                    let Some(n) = g.pel.get(&id) else { continue };
                    if minidle != 0 && now - n.delivery_time < minidle {
                        continue;
                    }
                    count -= 1;
                    rows.push((id, n));
                }
                out.array(rows.len());
                for (id, n) in rows {
                    out.array(4);
                    bulk_id(out, id);
                    out.bulk(&n.consumer);
                    out.int((now - n.delivery_time).max(0));
                    out.int(n.delivery_count as i64);
                }
            }
        }
        Ok(())
    })?
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]`
fn xclaim(ctx: &mut Ctx<'_>) -> Result<()> {
    let (key, group, consumer) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let acc = ctx.access;
    let now = stream_now(ctx);
    let has_group = read(&acc, key, |s| s.map(|s| s.group(group).is_some()))?;
    if has_group != Some(true) {
        return Err(nogroup_key_group(key, group, ""));
    }
    let minidle = int_or(ctx.arg(4), "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
    let argc = ctx.argc();
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argc {
        match StreamId::parse(ctx.arg(j), 0, true) {
            Ok(id) => ids.push((id, j)),
            Err(_) => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut lastid: Option<StreamId> = None;
    while j < argc {
        let more = argc - 1 - j;
        let opt = ctx.arg(j);
        if eq(opt, "force") {
            force = true;
        } else if eq(opt, "justid") {
            justid = true;
        } else if eq(opt, "idle") && more > 0 {
            j += 1;
            deliverytime = now - int_or(ctx.arg(j), "ERR Invalid IDLE option argument for XCLAIM")?;
        } else if eq(opt, "time") && more > 0 {
            j += 1;
            deliverytime = int_or(ctx.arg(j), "ERR Invalid TIME option argument for XCLAIM")?;
        } else if eq(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount = int_or(ctx.arg(j), "ERR Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if eq(opt, "lastid") && more > 0 {
            j += 1;
            lastid = Some(StreamId::parse(ctx.arg(j), 0, true)?);
        } else {
            let mut v = b"ERR Unrecognized XCLAIM option '".to_vec();
            v.extend_from_slice(opt);
            v.push(b'\'');
            return Err(Error::Bytes(v));
        }
        j += 1;
    }
    if deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let collecting = crate::propagate::collecting();
    let args = ctx.args;
    let out = &mut ctx.out;
    let mut records = Vec::new();
    write(&acc, key, false, |s| {
        let Some((view, g)) = s.split_group(group) else { return Ok(()) };
        let mut propagate_last = false;
        if let Some(l) = lastid {
            if l > g.last_id {
                g.last_id = l;
                propagate_last = true;
            }
        }
        let mut replies: Vec<StreamId> = Vec::new();
        let mut cname: Option<Arc<[u8]>> = None;
        for &(id, argi) in &ids {
            let exists = view.contains(id);
            if !exists {
                if let Some(n) = g.pel.get(&id).cloned() {
                    if collecting {
                        records.push(xclaim_record(
                            key,
                            group,
                            g,
                            &n.consumer,
                            args.at(argi),
                            n.delivery_time,
                            n.delivery_count,
                        ));
                    }
                    propagate_last = false;
                    acc.add_dirty(1);
                    g.ack(id);
                }
                continue;
            }
            let nack = g.pel.get(&id).cloned();
            let nack = match nack {
                Some(n) => Some(n),
                None if force => None,
                None => continue,
            };
            if let Some(n) = &nack {
                if minidle != 0 && now - n.delivery_time < minidle {
                    continue;
                }
            }
            let c = match &cname {
                Some(c) => c.clone(),
                None => {
                    let (c, created) = g.consumer_or_create(consumer, now);
                    if created {
                        acc.notify(notify::STREAM, "xgroup-createconsumer", key);
                    }
                    if let Some(cc) = g.consumers.get_mut(consumer) {
                        cc.seen_time = now;
                    }
                    cname = Some(c.clone());
                    c
                }
            };
            let old_count = nack.as_ref().map_or(0, |n| n.delivery_count);
            let count = if retrycount >= 0 {
                retrycount as u64
            } else if !justid {
                old_count + 1
            } else {
                old_count
            };
            g.assign(id, &c, deliverytime, count);
            replies.push(id);
            if collecting {
                records.push(xclaim_record(key, group, g, &c, args.at(argi), deliverytime, count));
            }
            propagate_last = false;
            acc.add_dirty(1);
        }
        if propagate_last {
            if collecting {
                records.push(setid_record(key, group, g));
            }
            acc.add_dirty(1);
        }
        out.array(replies.len());
        for id in replies {
            if justid {
                bulk_id(out, id);
            } else {
                let mut found = false;
                view.range(id, id, |e| {
                    write_entry(out, &e);
                    found = true;
                    false
                });
                if !found {
                    out.null();
                }
            }
        }
        Ok(())
    })?;
    ctx.propagate_many(records);
    Ok(())
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
fn xautoclaim(ctx: &mut Ctx<'_>) -> Result<()> {
    let (key, group, consumer) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let minidle = int_or(ctx.arg(4), "ERR Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = parse_start(ctx.arg(5))?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < ctx.argc() {
        let more = ctx.argc() - 1 - j;
        if eq(ctx.arg(j), "count") && more > 0 {
            count = match ferrous_resp::parse_i64(ctx.arg(j + 1)) {
                Some(c) if (1..=i64::MAX / 4).contains(&c) => c,
                _ => return Err(Error::msg("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if eq(ctx.arg(j), "justid") {
            justid = true;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let acc = ctx.access;
    let now = stream_now(ctx);
    let has_group = read(&acc, key, |s| s.map(|s| s.group(group).is_some()))?;
    if has_group != Some(true) {
        return Err(nogroup_key_group(key, group, ""));
    }
    let collecting = crate::propagate::collecting();
    let out = &mut ctx.out;
    let mut records = Vec::new();
    write(&acc, key, false, |s| {
        let Some((view, g)) = s.split_group(group) else { return Ok(()) };
        let mut attempts = count.saturating_mul(10);
        let mut claimed: Vec<StreamId> = Vec::new();
        let mut deleted: Vec<StreamId> = Vec::new();
        let mut cname: Option<Arc<[u8]>> = None;
        let mut cursor = start;
        let mut next: Option<StreamId> = g.pel.range(cursor..).next().map(|(k, _)| *k);
        while attempts > 0 && count > 0 {
            let Some(id) = next else { break };
            attempts -= 1;
            cursor = id;
            let after = |g: &Group| cursor.next().and_then(|c| g.pel.range(c..).next().map(|(k, _)| *k));
            if !view.contains(id) {
                if let Some(n) = g.pel.get(&id).cloned() {
                    if collecting {
                        records.push(xclaim_record(
                            key,
                            group,
                            g,
                            &n.consumer,
                            &id_text(id),
                            n.delivery_time,
                            n.delivery_count,
                        ));
                    }
                }
                acc.add_dirty(1);
                g.ack(id);
                deleted.push(id);
                count -= 1;
                next = after(g);
                continue;
            }
            let Some(n) = g.pel.get(&id).cloned() else { break };
            if minidle != 0 && now - n.delivery_time < minidle {
                next = after(g);
                continue;
            }
            let c = match &cname {
                Some(c) => c.clone(),
                None => {
                    let (c, created) = g.consumer_or_create(consumer, now);
                    if created {
                        acc.notify(notify::STREAM, "xgroup-createconsumer", key);
                    }
                    if let Some(cc) = g.consumers.get_mut(consumer) {
                        cc.seen_time = now;
                    }
                    cname = Some(c.clone());
                    c
                }
            };
            let dc = if justid { n.delivery_count } else { n.delivery_count + 1 };
            g.assign(id, &c, now, dc);
            claimed.push(id);
            count -= 1;
            if collecting {
                records.push(xclaim_record(key, group, g, &c, &id_text(id), now, dc));
            }
            acc.add_dirty(1);
            next = after(g);
        }
        let cursor_out = next.unwrap_or(StreamId::MIN);
        out.array(3);
        bulk_id(out, cursor_out);
        out.array(claimed.len());
        for id in claimed {
            if justid {
                bulk_id(out, id);
            } else {
                let mut found = false;
                view.range(id, id, |e| {
                    write_entry(out, &e);
                    found = true;
                    false
                });
                if !found {
                    out.null();
                }
            }
        }
        out.array(deleted.len());
        for id in deleted {
            bulk_id(out, id);
        }
        Ok(())
    })?;
    ctx.propagate_many(records);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------------------

fn opt_int(out: &mut Reply<'_>, v: Option<i64>) {
    match v {
        Some(i) => out.int(i),
        None => out.null(),
    }
}

/// `XINFO STREAM key [FULL [COUNT count]]`
fn xinfo_stream(ctx: &mut Ctx<'_>) -> Result<()> {
    let optc = ctx.argc() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if optc > 0 {
        if (optc != 1 && optc != 3) || !eq(ctx.arg(3), "full") || (optc == 3 && !eq(ctx.arg(4), "count")) {
            // Redis looks the key up first.
            read(&ctx.access, ctx.arg(2), |s| s.is_some())?.then_some(()).ok_or(Error::NoSuchKey)?;
            return Err(subcommand_syntax(ctx));
        }
        full = true;
        if optc == 3 {
            read(&ctx.access, ctx.arg(2), |s| s.is_some())?.then_some(()).ok_or(Error::NoSuchKey)?;
            count = parse_int(ctx.arg(5))?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let key = ctx.arg(2);
    let out = &mut ctx.out;
    read(&ctx.access, key, |s| -> Result<()> {
        let Some(s) = s else { return Err(Error::NoSuchKey) };
        out.map(if full { 9 } else { 10 });
        out.bulk(b"length");
        out.int(s.len() as i64);
        out.bulk(b"radix-tree-keys");
        out.int(s.node_count() as i64);
        out.bulk(b"radix-tree-nodes");
        out.int(s.rax_nodes() as i64);
        out.bulk(b"last-generated-id");
        bulk_id(out, s.last_id);
        out.bulk(b"max-deleted-entry-id");
        bulk_id(out, s.max_deleted_id);
        out.bulk(b"entries-added");
        out.int(s.entries_added as i64);
        out.bulk(b"recorded-first-entry-id");
        bulk_id(out, s.first_id);
        if !full {
            out.bulk(b"groups");
            out.int(s.group_count() as i64);
            for (name, rev) in [(&b"first-entry"[..], false), (&b"last-entry"[..], true)] {
                out.bulk(name);
                let mut found = false;
                s.range(StreamId::MIN, StreamId::MAX, rev, |e| {
                    write_entry(out, &e);
                    found = true;
                    false
                });
                if !found {
                    out.null();
                }
            }
            return Ok(());
        }
        let count = count.max(0) as usize;
        out.bulk(b"entries");
        write_range(out, s, StreamId::MIN, StreamId::MAX, false, count);
        out.bulk(b"groups");
        out.array(s.group_count());
        let limit = |n: usize| if count == 0 { n } else { n.min(count) };
        for (name, g) in s.groups() {
            out.map(7);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"last-delivered-id");
            bulk_id(out, g.last_id);
            out.bulk(b"entries-read");
            opt_int(out, (g.entries_read != ENTRIES_READ_INVALID).then_some(g.entries_read));
            out.bulk(b"lag");
            opt_int(out, s.group_lag(g));
            out.bulk(b"pel-count");
            out.int(g.pel.len() as i64);
            out.bulk(b"pending");
            out.array(limit(g.pel.len()));
            for (id, n) in g.pel.iter().take(limit(g.pel.len())) {
                out.array(4);
                bulk_id(out, *id);
                out.bulk(&n.consumer);
                out.int(n.delivery_time);
                out.int(n.delivery_count as i64);
            }
            out.bulk(b"consumers");
            out.array(g.consumers.len());
            for (cname, c) in &g.consumers {
                out.map(4);
                out.bulk(b"name");
                out.bulk(cname);
                out.bulk(b"seen-time");
                out.int(c.seen_time);
                out.bulk(b"pel-count");
                out.int(c.pel.len() as i64);
                out.bulk(b"pending");
                out.array(limit(c.pel.len()));
                for id in c.pel.iter().take(limit(c.pel.len())) {
                    let n = g.pel.get(id);
                    out.array(3);
                    bulk_id(out, *id);
                    out.int(n.map_or(0, |n| n.delivery_time));
                    out.int(n.map_or(0, |n| n.delivery_count as i64));
                }
            }
        }
        Ok(())
    })?
}

/// `XINFO GROUPS key`
fn xinfo_groups(ctx: &mut Ctx<'_>) -> Result<()> {
    let key = ctx.arg(2);
    let out = &mut ctx.out;
    read(&ctx.access, key, |s| -> Result<()> {
        let Some(s) = s else { return Err(Error::NoSuchKey) };
        out.array(s.group_count());
        for (name, g) in s.groups() {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            bulk_id(out, g.last_id);
            out.bulk(b"entries-read");
            opt_int(out, (g.entries_read != ENTRIES_READ_INVALID).then_some(g.entries_read));
            out.bulk(b"lag");
            opt_int(out, s.group_lag(g));
        }
        Ok(())
    })?
}

/// `XINFO CONSUMERS key group`
fn xinfo_consumers(ctx: &mut Ctx<'_>) -> Result<()> {
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    let now = ctx.now();
    let out = &mut ctx.out;
    read(&ctx.access, key, |s| -> Result<()> {
        let Some(s) = s else { return Err(Error::NoSuchKey) };
        let Some(g) = s.group(group) else { return Err(nogroup_group_key(group, key)) };
        out.array(g.consumers.len());
        for (name, c) in &g.consumers {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int(now - c.seen_time);
        }
        Ok(())
    })?
}

/// `XINFO HELP`
fn xinfo_help(ctx: &mut Ctx<'_>) -> Result<()> {
    super::client_cmd::help_lines(
        ctx,
        &[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XADD propagates with `*`/`ms-*` replaced by the ID and `~ n` by `= length`.
    #[test]
    fn xadd_propagates_rewritten_arguments() {
        let db = crate::Database::new();
        let feed = db.changes();
        let args = |b: std::sync::Arc<crate::propagate::Block>| {
            b.changes[0].args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ")
        };
        db.execute(["XADD", "s", "5-*", "f", "v"]);
        assert_eq!(args(feed.try_recv().unwrap()), "XADD s 5-0 f v");
        db.execute(["XADD", "s", "MAXLEN", "~", "1", "6-*", "f", "v"]);
        assert_eq!(args(feed.try_recv().unwrap()), "XADD s MAXLEN = 2 6-0 f v");
        db.execute(["XADD", "s", "MINID", "~", "6", "7-1", "f", "v"]);
        assert_eq!(args(feed.try_recv().unwrap()), "XADD s MINID = 5-0 7-1 f v");
        db.execute(["XADD", "s", "8-1", "f", "v"]);
        assert_eq!(args(feed.try_recv().unwrap()), "XADD s 8-1 f v");
    }

    #[test]
    fn id_text_formats_like_display() {
        for &(ms, seq) in &[(0, 0), (9, 10), (99, 100), (1700000000000, 123), (u64::MAX, u64::MAX), (101, 7)] {
            let id = StreamId::new(ms, seq);
            assert_eq!(&*id_text(id), id.to_string().as_bytes());
        }
    }
}
