//! MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP, as Redis 7.0 replies them,
//! from Ferrous's accounting ([`crate::memory`]).
use super::{client_cmd::help_lines, Ctx, Handler};
use crate::db::Inner;
use crate::error::{Error, Result};
use crate::keyspace::SHARDS;
use std::sync::atomic::Ordering::Relaxed;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("memory|usage", memory_usage),
    ("memory|stats", memory_stats),
    ("memory|doctor", memory_doctor),
    ("memory|malloc-stats", memory_malloc_stats),
    ("memory|purge", memory_purge),
    ("memory|help", memory_help),
];

/// `MEMORY USAGE key [SAMPLES count]`: bytes of the key's entry, key and value; nil for a
/// missing key. Ferrous measures values exactly, so SAMPLES is checked but not needed.
fn memory_usage(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut i = 3;
    while i < ctx.argc() {
        if ctx.arg(i).eq_ignore_ascii_case(b"samples") && i + 1 < ctx.argc() {
            if crate::util::parse_int(ctx.arg(i + 1))? < 0 {
                return Err(Error::Syntax);
            }
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    match usage(&ctx.access, ctx.arg(2)) {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// MEMORY USAGE at the access level: the entry (node and its bucket slot), the key's and
/// the value's heap, and the deadline entry if any. Not an access.
pub fn usage(acc: &crate::access::Access<'_>, key: &[u8]) -> Option<u64> {
    acc.peek(key, |n| {
        n.map(|(node, deadline)| {
            let entry = std::mem::size_of_val(node) + std::mem::size_of::<usize>();
            let ttl = if deadline.is_some() { std::mem::size_of::<crate::dict::Node<i64>>() } else { 0 };
            (entry + ttl + node.key.heap_size() + node.value.heap_size()) as u64
        })
    })
}

/// The figures MEMORY STATS and INFO memory share.
pub struct Breakdown {
    /// `used_memory`.
    pub used: u64,
    /// Highest `used_memory` seen.
    pub peak: u64,
    /// `used_memory` when the Database was built.
    pub startup: u64,
    /// Replication backlog bytes: the replication buffer up to `repl-backlog-size`.
    pub backlog: u64,
    /// The replication buffer kept beyond `repl-backlog-size` because connected replicas
    /// have not been sent it yet (Redis 7.0's replicas share the backlog's buffer).
    pub clients_slaves: u64,
    /// The whole replication buffer (`mem_total_replication_buffers`).
    pub repl_buffers: u64,
    /// Query and output buffers and transaction state of clients other than replicas.
    pub clients_normal: u64,
    /// The AOF writer's buffer (`mem_aof_buffer`).
    pub aof_buffer: u64,
    /// The scripting engine's memory and caches.
    pub scripts: crate::scripting::ScriptMemory,
    /// Per database with keys: (index, keys, main table overhead, expires table overhead).
    pub dbs: Vec<(usize, u64, u64, u64)>,
    /// Everything that is not the dataset.
    pub overhead: u64,
    /// Keys in every database.
    pub keys: u64,
}

impl Breakdown {
    /// Measures now.
    pub fn measure(inner: &Inner) -> Breakdown {
        crate::memory::refresh_estimate(inner);
        let used = crate::memory::used_memory(inner);
        let peak = inner.memory.peak.load(Relaxed).max(used);
        let startup = inner.memory.startup.load(Relaxed).min(used);
        let (backlog, clients_slaves, repl_buffers) = {
            let b = inner.repl.backlog.lock();
            let total = b.histlen();
            let beyond = if b.peers.is_empty() { 0 } else { total.saturating_sub(b.size as u64) };
            (total - beyond, beyond, total)
        };
        let clients_normal = inner
            .clients
            .all()
            .iter()
            .filter(|c| c.role.load(Relaxed) != crate::client::ROLE_REPLICA)
            .map(|c| (c.qbuf.load(Relaxed) + c.obuf.load(Relaxed) + c.multi_state_mem()) as u64)
            .sum::<u64>();
        let aof_buffer = crate::aof::writer::current(inner).map_or(0, |w| w.buffer_memory() as u64);
        let scripts = inner.script_engine.read().as_ref().map(|e| e.memory()).unwrap_or_default();
        let mut dbs = Vec::new();
        let mut keys = 0;
        for db in 0..inner.db_count() {
            let (mut n, mut main, mut expires) = (0u64, 0u64, 0u64);
            for i in 0..SHARDS {
                let shard = inner.keyspace(db).shard_at(i).read();
                n += shard.dict.len() as u64;
                main += (shard.dict.buckets() * std::mem::size_of::<usize>()) as u64;
                expires += shard.volatile_bytes() as u64;
            }
            if n > 0 {
                keys += n;
                dbs.push((db, n, main, expires));
            }
        }
        let tables: u64 = dbs.iter().map(|d| d.2 + d.3).sum();
        let caches = aof_buffer + scripts.scripts_eval + scripts.functions_overhead;
        let overhead = (startup + repl_buffers + clients_normal + caches + tables).min(used);
        Breakdown {
            used,
            peak,
            startup,
            backlog,
            clients_slaves,
            repl_buffers,
            clients_normal,
            aof_buffer,
            scripts,
            dbs,
            overhead,
            keys,
        }
    }
    /// `used_memory_dataset`.
    pub fn dataset(&self) -> u64 {
        self.used - self.overhead
    }
    /// The dataset's share of what was allocated after start-up, in percent.
    pub fn dataset_percentage(&self) -> f64 {
        percent(self.dataset(), self.used.saturating_sub(self.startup))
    }
}

fn percent(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

/// `MEMORY STATS`: Redis 7.0's fields in its order.
fn memory_stats(ctx: &mut Ctx<'_>) -> Result<()> {
    let b = Breakdown::measure(&ctx.db.inner);
    let rss = super::info::rss_bytes();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let out = &mut ctx.out;
    out.map(27 + b.dbs.len());
    let int = |out: &mut super::reply::Reply<'_>, name: &str, v: u64| {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    };
    int(out, "peak.allocated", b.peak);
    int(out, "total.allocated", b.used);
    int(out, "startup.allocated", b.startup);
    int(out, "replication.backlog", b.backlog);
    int(out, "clients.slaves", b.clients_slaves);
    int(out, "clients.normal", b.clients_normal);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", b.aof_buffer);
    int(out, "lua.caches", b.scripts.scripts_eval);
    int(out, "functions.caches", b.scripts.functions_overhead);
    for &(db, _, main, expires) in &b.dbs {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", main);
        int(out, "overhead.hashtable.expires", expires);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", b.overhead);
    int(out, "keys.count", b.keys);
    int(out, "keys.bytes-per-key", b.used.saturating_sub(b.startup).checked_div(b.keys).unwrap_or(0));
    int(out, "dataset.bytes", b.dataset());
    let double = |out: &mut super::reply::Reply<'_>, name: &str, v: f64| {
        out.bulk(name.as_bytes());
        out.double(v);
    };
    double(out, "dataset.percentage", b.dataset_percentage());
    double(out, "peak.percentage", percent(b.used, b.peak));
    int(out, "allocator.allocated", b.used);
    int(out, "allocator.active", b.used);
    int(out, "allocator.resident", rss);
    double(out, "allocator-fragmentation.ratio", 1.0);
    int(out, "allocator-fragmentation.bytes", 0);
    double(out, "allocator-rss.ratio", ratio(rss, b.used));
    int(out, "allocator-rss.bytes", rss.saturating_sub(b.used));
    double(out, "rss-overhead.ratio", 1.0);
    int(out, "rss-overhead.bytes", 0);
    double(out, "fragmentation", ratio(rss, b.used));
    int(out, "fragmentation.bytes", rss.saturating_sub(b.used));
    Ok(())
}

/// `MEMORY DOCTOR`: Redis's report, for the conditions Ferrous can judge (little memory,
/// peak far above current use, big client buffers), else its "no issues" text.
fn memory_doctor(ctx: &mut Ctx<'_>) -> Result<()> {
    let b = Breakdown::measure(&ctx.db.inner);
    let text = doctor_text(&b);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn doctor_text(b: &Breakdown) -> String {
    const EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be \
                         used in these conditions. Please, leave for your mission on Earth and fill it with some data. \
                         The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
    if b.used < 5 * 1024 * 1024 {
        return EMPTY.to_string();
    }
    let mut issues = Vec::new();
    if b.peak / 2 > b.used {
        issues.push(
            " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The \
             allocator is normally not able to release memory after a peak, so you can expect to see a big \
             fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the \
             Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as \
             soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want \
             to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to \
             shutdown and restart the instance.\n\n",
        );
    }
    if b.clients_normal > 200 * 1024 * 1024 {
        issues.push(
            " * Big client buffers: The clients output buffers are in general very big, it is possible that your \
             clients are not reading fast enough, so most of the memory is used by the clients. Use the CLIENT LIST \
             command to check the client buffers.\n\n",
        );
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this \
                base.\n"
            .to_string();
    }
    let mut s = "Sam, I detected a few issues in this Redis instance memory implants:\n\n".to_string();
    for i in issues {
        s.push_str(i);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// `MEMORY MALLOC-STATS`: what Redis answers when not built with jemalloc.
fn memory_malloc_stats(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.verbatim("txt", b"Stats not supported for the current allocator");
    Ok(())
}

/// `MEMORY PURGE`: nothing to purge with the system allocator; `+OK` as Redis.
fn memory_purge(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx<'_>) -> Result<()> {
    help_lines(
        ctx,
        &[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}

impl crate::Database {
    /// `used_memory`: bytes this Database uses (exact with [`crate::memory::CountingAlloc`]
    /// installed, otherwise an estimate, refreshed by this call).
    pub fn used_memory(&self) -> u64 {
        crate::memory::refresh_estimate(&self.inner);
        crate::memory::used_memory(&self.inner)
    }

    /// MEMORY USAGE: bytes of `key` with its value, `None` for a missing key.
    pub fn memory_usage(&self, key: impl AsRef<[u8]>) -> Option<u64> {
        usage(&self.access(), key.as_ref())
    }

    /// Keys evicted for `maxmemory` so far (INFO `evicted_keys`).
    pub fn evicted_keys(&self) -> u64 {
        self.inner.evict.evicted_keys.load(Relaxed)
    }

    /// Evicts keys now until memory is under `maxmemory` (as before every write command);
    /// false when over the limit with nothing left to evict.
    pub fn evict_now(&self) -> bool {
        loop {
            match crate::evict::perform(&self.inner) {
                crate::evict::Outcome::Ok => return true,
                crate::evict::Outcome::Fail => return false,
                crate::evict::Outcome::Running => {}
            }
        }
    }
}
