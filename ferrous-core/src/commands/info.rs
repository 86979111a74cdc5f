//! INFO: the server report, in Redis 7.0's sections, field names and order.
//!
//! Sections: server, clients, memory, persistence, stats, replication, cpu, modules,
//! commandstats, errorstats, latencystats, cluster, keyspace; `default` (no argument) is
//! every section but commandstats and latencystats, `all` and `everything` are all of them.
//! Fields of subsystems Ferrous does not have (forks and copy-on-write, active defrag,
//! cluster, I/O threads) show the values an idle Redis master shows, which are the true
//! values for Ferrous; each is marked where it is written.
//!
//! Memory: `used_memory` comes from [`crate::memory`] (the counting allocator the server
//! installs, or an estimate in a program that did not). `used_memory_rss` is the process's
//! resident set (`/proc/self/statm`).
use super::{table, CommandSpec, Ctx, Handler};
use crate::access::Access;
use crate::db::Inner;
use crate::error::Result;
use crate::keyspace::SHARDS;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[("info", info)];

/// Sections `INFO` with no argument (or `default`) shows.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Every section, in output order.
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// `INFO [section [section ...]]`
fn info(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut wanted: Vec<String> = Vec::new();
    let mut all = false;
    if ctx.argc() == 1 {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for a in ctx.args.iter().skip(1) {
        let name = String::from_utf8_lossy(a).to_ascii_lowercase();
        match name.as_str() {
            "all" | "everything" => all = true,
            "default" => wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            _ => wanted.push(name),
        }
    }
    let text = render(ctx, |s| all || wanted.iter().any(|w| w == s));
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// Builds the report for the sections `want` selects.
fn render(ctx: &mut Ctx<'_>, want: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for section in ALL_SECTIONS.iter().copied().filter(|s| want(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let title = match section {
            "cpu" => "CPU".to_string(),
            other => {
                let mut t = other.to_string();
                t[..1].make_ascii_uppercase();
                t
            }
        };
        let _ = write!(out, "# {title}\r\n");
        let mut s = Section(&mut out);
        match section {
            "server" => server(ctx, &mut s),
            "clients" => clients(ctx, &mut s),
            "memory" => memory(ctx, &mut s),
            "persistence" => persistence(ctx, &mut s),
            "stats" => stats(ctx, &mut s),
            "replication" => replication(ctx, &mut s),
            "cpu" => cpu(&mut s),
            "commandstats" => commandstats(&mut s),
            "errorstats" => errorstats(ctx, &mut s),
            "latencystats" => latencystats(ctx, &mut s),
            // No cluster mode.
            "cluster" => s.field("cluster_enabled", 0),
            "keyspace" => keyspace(ctx, &mut s),
            _ => {}
        }
    }
    out
}

/// Appends `name:value\r\n` lines.
struct Section<'a>(&'a mut String);

impl Section<'_> {
    fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }
}

fn server(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    let inner = &ctx.db.inner;
    let (port, hz) = {
        let c = inner.config.read();
        (c.get_i64("port"), c.get_i64("hz"))
    };
    let now = inner.clock.now_ms();
    let uptime = (now - inner.started_ms).max(0) / 1000;
    s.field("redis_version", super::connection::REDIS_VERSION);
    s.field("redis_git_sha1", "00000000");
    s.field("redis_git_dirty", 0);
    s.field("redis_build_id", &inner.run_id[..16]);
    s.field("redis_mode", "standalone");
    s.field("os", os_name());
    s.field("arch_bits", usize::BITS);
    s.field("monotonic_clock", "POSIX clock_gettime");
    s.field("multiplexing_api", if cfg!(target_os = "linux") { "epoll" } else { "kqueue" });
    s.field("atomicvar_api", "c11-builtin");
    s.field("gcc_version", "0.0.0");
    s.field("process_id", std::process::id());
    s.field("process_supervised", "no");
    s.field("run_id", &inner.run_id);
    s.field("tcp_port", port);
    s.field("server_time_usec", now * 1000);
    s.field("uptime_in_seconds", uptime);
    s.field("uptime_in_days", uptime / 86400);
    s.field("hz", hz);
    s.field("configured_hz", hz);
    s.field("lru_clock", crate::keyspace::lru_clock(now));
    s.field("executable", std::env::current_exe().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default());
    let file = inner.config.read().file().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    s.field("config_file", file);
    // No Redis I/O threads: Ferrous's event loops each run whole commands.
    s.field("io_threads_active", 0);
    s.field("ferrous_version", env!("CARGO_PKG_VERSION"));
}

/// `uname -srm`, as Redis prints it.
fn os_name() -> String {
    // SAFETY: `uname` fills a zeroed, correctly sized struct; its fields are
    // NUL-terminated C strings on success.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return std::env::consts::OS.to_string();
        }
        let field = |f: &[libc::c_char]| std::ffi::CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
    }
}

fn clients(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    let inner = &ctx.db.inner;
    let all = inner.clients.all();
    s.field("connected_clients", all.len());
    // No cluster.
    s.field("cluster_connections", 0);
    s.field("maxclients", inner.config.read().get_i64("maxclients"));
    s.field("client_recent_max_input_buffer", all.iter().map(|c| c.qbuf.load(Relaxed)).max().unwrap_or(0));
    s.field("client_recent_max_output_buffer", all.iter().map(|c| c.obuf.load(Relaxed)).max().unwrap_or(0));
    s.field("blocked_clients", inner.blocking.blocked_clients());
    s.field("tracking_clients", all.iter().filter(|c| c.tracking.load(Relaxed)).count());
    // Redis's timeout table: clients blocked with a timeout (BLPOP 5, not BLPOP 0; WAIT).
    let timed = inner.blocking.clients_with_timeout() + crate::replication::timed_waits(inner);
    s.field("clients_in_timeout_table", timed);
}

/// Redis's `bytesToHuman`.
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: [(u64, char); 5] = [(1 << 10, 'K'), (1 << 20, 'M'), (1 << 30, 'G'), (1 << 40, 'T'), (1 << 50, 'P')];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, (div, unit)) in UNITS.iter().enumerate() {
        if i + 1 == UNITS.len() || n < UNITS[i + 1].0 {
            return format!("{:.2}{unit}", n as f64 / *div as f64);
        }
    }
    format!("{n}B")
}

/// The eviction state INFO reports from.
fn inner_evict<'a>(ctx: &'a Ctx<'_>) -> &'a crate::evict::Eviction {
    &ctx.db.inner.evict
}

/// Resident set size of the process, in bytes (0 where `/proc` is unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    if pages > 0 {
        pages as u64 * page_size()
    } else {
        0
    }
}

fn memory(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    let inner = &ctx.db.inner;
    let b = super::memory::Breakdown::measure(inner);
    let used = b.used;
    let rss = rss_bytes();
    let system = total_system_memory();
    let maxmemory = inner.evict.maxmemory();
    let policy = inner.config.read().get("maxmemory-policy").unwrap_or("").to_string();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    s.field("used_memory", used);
    s.field("used_memory_human", bytes_to_human(used));
    s.field("used_memory_rss", rss);
    s.field("used_memory_rss_human", bytes_to_human(rss));
    s.field("used_memory_peak", b.peak);
    s.field("used_memory_peak_human", bytes_to_human(b.peak));
    s.field("used_memory_peak_perc", format!("{:.2}%", ratio(used, b.peak) * 100.0));
    s.field("used_memory_overhead", b.overhead);
    s.field("used_memory_startup", b.startup);
    s.field("used_memory_dataset", b.dataset());
    s.field("used_memory_dataset_perc", format!("{:.2}%", b.dataset_percentage()));
    s.field("allocator_allocated", used);
    s.field("allocator_active", used);
    s.field("allocator_resident", rss);
    s.field("total_system_memory", system);
    s.field("total_system_memory_human", bytes_to_human(system));
    // The scripting engine's two Lua states and its caches (zeros without an engine).
    let lua = b.scripts;
    let vm_total = lua.vm_eval + lua.vm_functions;
    let scripts = lua.scripts_eval + lua.functions_overhead;
    s.field("used_memory_lua", lua.vm_eval);
    s.field("used_memory_vm_eval", lua.vm_eval);
    s.field("used_memory_lua_human", bytes_to_human(lua.vm_eval));
    s.field("used_memory_scripts_eval", lua.scripts_eval);
    s.field("number_of_cached_scripts", lua.cached_scripts);
    s.field("number_of_functions", lua.functions);
    s.field("number_of_libraries", lua.libraries);
    s.field("used_memory_vm_functions", lua.vm_functions);
    s.field("used_memory_vm_total", vm_total);
    s.field("used_memory_vm_total_human", bytes_to_human(vm_total));
    s.field("used_memory_functions", lua.functions_overhead);
    s.field("used_memory_scripts", scripts);
    s.field("used_memory_scripts_human", bytes_to_human(scripts));
    s.field("maxmemory", maxmemory);
    s.field("maxmemory_human", bytes_to_human(maxmemory));
    s.field("maxmemory_policy", policy);
    // The system allocator reports no active/resident split: no allocator fragmentation
    // figures beyond RSS versus allocated.
    s.field("allocator_frag_ratio", "1.00");
    s.field("allocator_frag_bytes", 0);
    s.field("allocator_rss_ratio", format!("{:.2}", ratio(rss, used)));
    s.field("allocator_rss_bytes", rss as i64 - used as i64);
    s.field("rss_overhead_ratio", "1.00");
    s.field("rss_overhead_bytes", 0);
    s.field("mem_fragmentation_ratio", format!("{:.2}", ratio(rss, used)));
    s.field("mem_fragmentation_bytes", rss as i64 - used as i64);
    // Eviction leaves out the whole replication buffer (see `crate::evict`).
    let not_counted = if crate::memory::counting() { b.repl_buffers } else { 0 };
    s.field("mem_not_counted_for_evict", not_counted);
    s.field("mem_replication_backlog", b.backlog);
    s.field("mem_total_replication_buffers", b.repl_buffers);
    s.field("mem_clients_slaves", b.clients_slaves);
    s.field("mem_clients_normal", b.clients_normal);
    // No cluster bus.
    s.field("mem_cluster_links", 0);
    s.field("mem_aof_buffer", b.aof_buffer);
    s.field("mem_allocator", if crate::memory::counting() { "libc (counted)" } else { "libc" });
    // No active defragmentation.
    s.field("active_defrag_running", 0);
    s.field("lazyfree_pending_objects", crate::lazyfree::pending(inner));
    s.field("lazyfreed_objects", crate::lazyfree::freed(inner));
}

fn persistence(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    let inner = &ctx.db.inner;
    let rdb = &inner.rdb;
    let aof = inner.config.read().get_bool("appendonly");
    let loading = rdb.alerts.load(Relaxed) & crate::persistence::ALERT_LOADING != 0;
    s.field("loading", loading as u8);
    let async_loading = rdb.async_loading.load(Relaxed);
    s.field("async_loading", async_loading as u8);
    // No fork, no copy-on-write: a snapshot runs on a thread of this process.
    for (name, value) in [
        ("current_cow_peak", "0"),
        ("current_cow_size", "0"),
        ("current_cow_size_age", "0"),
        ("current_fork_perc", "0.00"),
    ] {
        s.field(name, value);
    }
    // The running snapshot's progress (BGSAVE, AOF rewrite or full sync), 0 when none runs.
    s.field("current_save_keys_processed", rdb.save_keys_processed.load(Relaxed));
    s.field("current_save_keys_total", rdb.save_keys_total.load(Relaxed));
    let now_ms = inner.clock.now_ms();
    let bgsave_start = rdb.bgsave_started_ms.load(Relaxed);
    s.field("rdb_changes_since_last_save", crate::persistence::changes_since_save(inner));
    s.field("rdb_bgsave_in_progress", (bgsave_start != 0) as u8);
    s.field("rdb_last_save_time", inner.last_save.load(Relaxed));
    s.field("rdb_last_bgsave_status", if rdb.last_bgsave_ok.load(Relaxed) { "ok" } else { "err" });
    s.field("rdb_last_bgsave_time_sec", rdb.last_bgsave_secs.load(Relaxed));
    s.field("rdb_current_bgsave_time_sec", if bgsave_start == 0 { -1 } else { (now_ms - bgsave_start) / 1000 });
    s.field("rdb_saves", rdb.saves.load(Relaxed));
    // No fork, no copy-on-write: the snapshot's extra memory is its own stream.
    s.field("rdb_last_cow_size", 0);
    s.field("rdb_last_load_keys_expired", rdb.last_load_keys_expired.load(Relaxed));
    s.field("rdb_last_load_keys_loaded", rdb.last_load_keys_loaded.load(Relaxed));
    let writer = crate::aof::writer::current(inner);
    s.field("aof_enabled", aof as u8);
    // A BGREWRITEAOF during a BGSAVE waits for it: scheduled, not yet in progress (Redis).
    let scheduled = writer.as_ref().is_some_and(|w| w.scheduled.load(Relaxed));
    let rewriting = writer.as_ref().is_some_and(|w| w.rewriting.load(Relaxed)) && !scheduled;
    s.field("aof_rewrite_in_progress", rewriting as u8);
    s.field("aof_rewrite_scheduled", scheduled as u8);
    s.field("aof_last_rewrite_time_sec", writer.as_ref().map_or(-1, |w| w.last_rewrite_secs.load(Relaxed)));
    let rewrite_start = writer.as_ref().map_or(0, |w| w.rewrite_started_ms.load(Relaxed));
    s.field("aof_current_rewrite_time_sec", if rewrite_start == 0 { -1 } else { (now_ms - rewrite_start) / 1000 });
    let rewrite_ok = writer.as_ref().map_or(true, |w| w.last_rewrite_ok.load(Relaxed));
    s.field("aof_last_bgrewrite_status", if rewrite_ok { "ok" } else { "err" });
    s.field("aof_rewrites", writer.as_ref().map_or(0, |w| w.rewrites.load(Relaxed)));
    s.field("aof_rewrites_consecutive_failures", (!rewrite_ok) as u8);
    let write_ok = writer.as_ref().map_or(true, |w| !w.write_failed.load(Relaxed));
    s.field("aof_last_write_status", if write_ok { "ok" } else { "err" });
    // No fork, no modules.
    for (name, value) in
        [("aof_last_cow_size", "0"), ("module_fork_in_progress", "0"), ("module_fork_last_cow_size", "0")]
    {
        s.field(name, value);
    }
    if let Some(w) = &writer {
        s.field("aof_current_size", w.current_size.load(Relaxed));
        s.field("aof_base_size", w.base_size.load(Relaxed));
        s.field("aof_pending_rewrite", scheduled as u8);
        s.field("aof_buffer_length", w.buffer_length());
        // Fsyncs run inline (commit or the background cron), never queued.
        s.field("aof_pending_bio_fsync", 0);
        s.field("aof_delayed_fsync", w.delayed_fsync.load(Relaxed));
    }
    if loading || async_loading {
        let started = rdb.loading_started_ms.load(Relaxed);
        let total = rdb.loading_total_bytes.load(Relaxed);
        let loaded = rdb.loading_loaded_bytes.load(Relaxed);
        let perc = if total > 0 { loaded as f64 * 100.0 / total as f64 } else { 0.0 };
        let elapsed = ((now_ms - started) / 1000).max(0);
        let eta = if loaded > 0 && total > loaded { (total - loaded) as i64 * elapsed / loaded as i64 } else { 1 };
        s.field("loading_start_time", started / 1000);
        s.field("loading_total_bytes", total);
        // The file's `used-mem` AUX field is not kept by the loader.
        s.field("loading_rdb_used_mem", 0);
        s.field("loading_loaded_bytes", loaded);
        s.field("loading_loaded_perc", format!("{perc:.2}"));
        s.field("loading_eta_seconds", eta);
    }
}

/// The last sample behind INFO's `instantaneous_*` rates, and the rates it produced.
///
/// Redis samples every 100 ms in its cron; Ferrous samples when INFO runs: the rate is the
/// average since the previous INFO (at least 100 ms earlier), which is what a monitor
/// polling INFO sees.
#[derive(Default)]
pub struct RateSamples {
    last: Option<(Instant, [u64; 5])>,
    rates: [f64; 5],
}

/// `[ops/s, input KB/s, output KB/s, replication input KB/s, replication output KB/s]`.
fn instantaneous(inner: &Inner) -> [f64; 5] {
    let st = &inner.stats;
    let now = Instant::now();
    let current = [
        st.commands_processed.load(Relaxed),
        st.net_input_bytes.load(Relaxed),
        st.net_output_bytes.load(Relaxed),
        st.net_repl_input_bytes.load(Relaxed),
        st.net_repl_output_bytes.load(Relaxed),
    ];
    let mut samples = st.instantaneous.lock();
    match samples.last {
        None => samples.last = Some((now, current)),
        Some((at, prev)) => {
            let secs = now.duration_since(at).as_secs_f64();
            if secs >= 0.1 {
                samples.rates = rates(&prev, &current, secs);
                samples.last = Some((now, current));
            }
        }
    }
    samples.rates
}

/// Per-second rates between two samples `secs` apart: the first counter (commands) as is,
/// the byte counters in KB.
fn rates(prev: &[u64; 5], current: &[u64; 5], secs: f64) -> [f64; 5] {
    std::array::from_fn(|i| {
        let per_sec = current[i].saturating_sub(prev[i]) as f64 / secs;
        if i == 0 {
            per_sec
        } else {
            per_sec / 1024.0
        }
    })
}

/// Keys deleted by expiry since start (running total over every shard).
pub fn expired_keys_total(acc: &Access<'_>) -> u64 {
    let mut total = 0;
    for db in 0..acc.inner.db_count() {
        let a = acc.with_db(db);
        for i in 0..SHARDS {
            total += a.read_shard(i, |s| s.expired_keys);
        }
    }
    total
}

fn stats(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    let inner = &ctx.db.inner;
    let st = &inner.stats;
    let [ops, kin, kout, krepl_in, krepl_out] = instantaneous(inner);
    let expired = expired_keys_total(&ctx.access).saturating_sub(st.expired_keys_at_reset.load(Relaxed));
    s.field("total_connections_received", st.connections_received.load(Relaxed));
    s.field("total_commands_processed", st.commands_processed.load(Relaxed));
    s.field("instantaneous_ops_per_sec", ops as u64);
    s.field("total_net_input_bytes", st.net_input_bytes.load(Relaxed));
    s.field("total_net_output_bytes", st.net_output_bytes.load(Relaxed));
    s.field("total_net_repl_input_bytes", st.net_repl_input_bytes.load(Relaxed));
    s.field("total_net_repl_output_bytes", st.net_repl_output_bytes.load(Relaxed));
    s.field("instantaneous_input_kbps", format!("{kin:.2}"));
    s.field("instantaneous_output_kbps", format!("{kout:.2}"));
    s.field("instantaneous_input_repl_kbps", format!("{krepl_in:.2}"));
    s.field("instantaneous_output_repl_kbps", format!("{krepl_out:.2}"));
    s.field("rejected_connections", st.rejected_connections.load(Relaxed));
    s.field("sync_full", st.sync_full.load(Relaxed));
    s.field("sync_partial_ok", st.sync_partial_ok.load(Relaxed));
    s.field("sync_partial_err", st.sync_partial_err.load(Relaxed));
    s.field("expired_keys", expired);
    let stale = f64::from_bits(st.expired_stale_perc.load(Relaxed));
    s.field("expired_stale_perc", format!("{:.2}", stale * 100.0));
    s.field("expired_time_cap_reached_count", st.expire_cycle_time_cap_reached.load(Relaxed));
    s.field("expire_cycle_cpu_milliseconds", st.expire_cycle_us.load(Relaxed) / 1000);
    s.field("evicted_keys", inner_evict(ctx).evicted_keys.load(Relaxed));
    s.field("evicted_clients", inner_evict(ctx).evicted_clients.load(Relaxed));
    let over_since = inner_evict(ctx).over_since.load(Relaxed);
    let current = if over_since == 0 { 0 } else { (ctx.now().max(0) as u64).saturating_sub(over_since) };
    s.field("total_eviction_exceeded_time", inner_evict(ctx).exceeded_ms.load(Relaxed) + current);
    s.field("current_eviction_exceeded_time", current);
    s.field("keyspace_hits", st.keyspace_hits.load(Relaxed));
    s.field("keyspace_misses", st.keyspace_misses.load(Relaxed));
    s.field("pubsub_channels", inner.pubsub.channel_names(false, None).len());
    s.field("pubsub_patterns", inner.pubsub.num_patterns());
    s.field("pubsubshard_channels", inner.pubsub.channel_names(true, None).len());
    // No fork; MIGRATE keeps no cached sockets; a writable replica's own expiring keys are
    // not tracked separately; no active defragmentation.
    for name in [
        "latest_fork_usec",
        "total_forks",
        "migrate_cached_sockets",
        "slave_expires_tracked_keys",
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        s.field(name, 0);
    }
    let (tracked_keys, tracked_items, tracked_prefixes) = inner.tracking.totals();
    s.field("tracking_total_keys", tracked_keys);
    s.field("tracking_total_items", tracked_items);
    s.field("tracking_total_prefixes", tracked_prefixes);
    // Redis counts errors of the AOF loader and the master link here; Ferrous's count none.
    s.field("unexpected_error_replies", 0);
    s.field("total_error_replies", st.total_errors.load(Relaxed));
    // No deep sanitization of DUMP payloads counted.
    s.field("dump_payload_sanitizations", 0);
    s.field("total_reads_processed", st.reads_processed.load(Relaxed));
    s.field("total_writes_processed", st.writes_processed.load(Relaxed));
    // No I/O threads in Redis's sense (every event loop reads, runs and writes its own
    // clients); reply buffers are not resized by a cron.
    for name in
        ["io_threaded_reads_processed", "io_threaded_writes_processed", "reply_buffer_shrinks", "reply_buffer_expands"]
    {
        s.field(name, 0);
    }
}

fn replication(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    for (name, value) in crate::replication::info_fields(&ctx.db.inner) {
        s.field(&name, value);
    }
}

/// `getrusage` user and system times as Redis prints them (`%ld.%06ld`).
fn rusage(who: libc::c_int) -> (String, String) {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut ru) != 0 {
            return ("0.000000".into(), "0.000000".into());
        }
        ru
    };
    let t = |tv: libc::timeval| format!("{}.{:06}", tv.tv_sec, tv.tv_usec);
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn cpu(s: &mut Section<'_>) {
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
    #[cfg(target_os = "linux")]
    let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
    #[cfg(not(target_os = "linux"))]
    let (tsys, tuser) = (sys.clone(), user.clone());
    s.field("used_cpu_sys", sys);
    s.field("used_cpu_user", user);
    s.field("used_cpu_sys_children", csys);
    s.field("used_cpu_user_children", cuser);
    s.field("used_cpu_sys_main_thread", tsys);
    s.field("used_cpu_user_main_thread", tuser);
}

/// Every command and subcommand that was called, failed or was rejected, by name.
fn commands_with_stats() -> Vec<&'static CommandSpec> {
    fn walk(spec: &'static CommandSpec, out: &mut Vec<&'static CommandSpec>) {
        let st = &spec.stats;
        if st.calls() + st.failed() + st.rejected() > 0 {
            out.push(spec);
        }
        for sub in spec.subcommands.values() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    for spec in table().iter() {
        walk(spec, &mut out);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn commandstats(s: &mut Section<'_>) {
    for spec in commands_with_stats() {
        let st = &spec.stats;
        let calls = st.calls();
        let usec = st.usec();
        let per_call = if calls == 0 { 0.0 } else { usec as f64 / calls as f64 };
        s.field(
            &format!("cmdstat_{}", spec.name),
            format!(
                "calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                st.rejected(),
                st.failed()
            ),
        );
    }
}

/// `latency_percentiles_usec_<command>:p50=...,p99=...` for every command with recorded
/// calls, at the `latency-tracking-info-percentiles` (nothing while `latency-tracking` is
/// off, as Redis).
fn latencystats(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    let inner = &ctx.db.inner;
    if inner.tunables.get(crate::config::Tunable::LatencyTracking) == 0 {
        return;
    }
    let percentiles: Vec<f64> = inner
        .config
        .read()
        .get("latency-tracking-info-percentiles")
        .unwrap_or("")
        .split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    fn walk(spec: &'static CommandSpec, out: &mut Vec<&'static CommandSpec>) {
        out.push(spec);
        for sub in spec.subcommands.values() {
            walk(sub, out);
        }
    }
    let mut specs = Vec::new();
    for spec in table().iter() {
        walk(spec, &mut specs);
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    for spec in specs {
        let Some(snap) = spec.stats.latency.snapshot() else { continue };
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let usec = snap.value_at_percentile(p) as f64 / 1000.0;
                format!("p{}={usec:.3}", crate::latency::percentile_label(p))
            })
            .collect();
        s.field(&format!("latency_percentiles_usec_{}", spec.name), values.join(","));
    }
}

fn errorstats(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    let mut errors: Vec<(String, u64)> =
        ctx.db.inner.stats.errors.lock().iter().map(|(k, v)| (k.clone(), *v)).collect();
    errors.sort();
    for (code, count) in errors {
        s.field(&format!("errorstat_{code}"), format!("count={count}"));
    }
}

/// Sampled average remaining TTL (ms) of the keys with a deadline in one database.
fn avg_ttl(acc: &Access<'_>) -> i64 {
    const PER_SHARD: usize = 16;
    let (mut sum, mut n) = (0i64, 0i64);
    for i in 0..SHARDS {
        acc.read_shard(i, |shard| {
            for node in shard.volatile_iter().take(PER_SHARD) {
                let ttl = node.deadline - acc.now;
                if ttl > 0 {
                    sum = sum.saturating_add(ttl);
                    n += 1;
                }
            }
        });
    }
    if n == 0 {
        0
    } else {
        sum / n
    }
}

fn keyspace(ctx: &Ctx<'_>, s: &mut Section<'_>) {
    for db in 0..ctx.db.inner.db_count() {
        let acc = ctx.access.with_db(db);
        let (mut keys, mut expires) = (0, 0);
        for i in 0..SHARDS {
            let (k, e) = acc.read_shard(i, |shard| (shard.dict.len(), shard.volatile_len()));
            keys += k;
            expires += e;
        }
        if keys > 0 {
            s.field(&format!("db{db}"), format!("keys={keys},expires={expires},avg_ttl={}", avg_ttl(&acc)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1317032), "1.26M");
        assert_eq!(bytes_to_human(25276502016), "23.54G");
    }

    #[test]
    fn rates_are_per_second_and_bytes_in_kb() {
        let prev = [100, 0, 1024, 0, 2048];
        let current = [300, 4096, 1024, 1024, 1024];
        // Two seconds apart: commands per second; bytes in KB per second; a counter that
        // went backwards (CONFIG RESETSTAT) gives 0, not a negative rate.
        assert_eq!(rates(&prev, &current, 2.0), [100.0, 2.0, 0.0, 0.5, 0.0]);
    }
}
