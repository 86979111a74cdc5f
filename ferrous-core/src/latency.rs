//! Latency observability: how long commands take, per command and per event.
//!
//! Three things, as in Redis 7.0:
//! - **Command timing** ([`command_started`] / [`command_finished`]): one duration per
//!   executed command, feeding INFO commandstats, the slow log ([`crate::slowlog`]), the
//!   latency monitor and the per-command histograms. See "Timing" below for its cost.
//! - **Per-command latency histograms** ([`CommandLatency`], `latency-tracking`): what
//!   `LATENCY HISTOGRAM` and `INFO latencystats` report. Redis keeps an HdrHistogram per
//!   command (values in ns from 1 to 1 s, two significant digits); [`Histogram`] is the same
//!   log-linear bucket layout written here, so percentiles and the cumulative distribution
//!   come out exactly as Redis prints them.
//! - **The latency monitor** ([`LatencyMonitor`], `latency-monitor-threshold`): per event
//!   (`command`, `fast-command`, `aof-fsync-always`, `rdb-unlink-temp-file`...), a ring of the
//!   last 160 per-second maxima in ms, and the all-time maximum: `LATENCY LATEST / HISTORY /
//!   RESET / GRAPH / DOCTOR`. The GRAPH sparkline and the DOCTOR report reproduce Redis's text.
//!
//! # Timing
//!
//! Reading the monotonic clock costs ~40 ns on the VMs we run on, as much as a pipelined GET
//! itself, and Redis reads it twice per command. Here a command costs one read: the event
//! loop marks the start of each batch of pipelined commands ([`batch_started`], called by
//! [`crate::clock::with_batch_time`]), and inside a batch a command's start is the previous
//! command's end, read once. The duration then also covers the parsing of the command's own
//! request (tens of ns); the first command of a batch, nested commands (EXEC, scripts) and
//! in-process calls read the clock at both ends.
use crate::commands::{flags, CommandSpec};
use parking_lot::Mutex;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------

/// The monotonic clock in nanoseconds. Read directly rather than through `Instant`, whose
/// `Timespec` arithmetic (and `Duration`'s 128-bit microseconds) cost more instructions than
/// the vDSO call itself.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

struct ThreadTiming {
    /// End (monotonic ns) of the previous top-level command of the current batch on this
    /// thread; 0 for none.
    chain: Cell<u64>,
    /// Commands running on this thread right now (nested: EXEC, scripts, serving).
    depth: Cell<u32>,
    /// Which histogram stripe this thread writes to, plus one (0: not chosen yet).
    stripe: Cell<usize>,
}

// Constant-initialized (no lazy-init check on each access): this is read three times per
// command.
thread_local! {
    static TIMING: ThreadTiming = const {
        ThreadTiming { chain: Cell::new(0), depth: Cell::new(0), stripe: Cell::new(0) }
    };
}

/// The histogram stripe of the calling thread: the first `STRIPES - 1` threads that record
/// own one each (they update it without atomic read-modify-writes); later threads share
/// the last one.
#[inline]
fn thread_stripe() -> usize {
    TIMING.with(|t| match t.stripe.get() {
        0 => {
            use std::sync::atomic::AtomicUsize;
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let s = NEXT.fetch_add(1, Relaxed).min(STRIPES - 1);
            t.stripe.set(s + 1);
            s
        }
        s => s - 1,
    })
}

/// A new batch of commands starts on this thread: the end of the last command is no longer
/// the start of the next one (the thread may have waited for input in between).
#[inline]
pub fn batch_started() {
    TIMING.with(|t| {
        t.chain.set(0);
        // Also heals the count after a command that unwound instead of returning.
        t.depth.set(0);
    });
}

/// The start of a command. `chained`: the command is top-level and runs inside a batch,
/// so the previous command's end may serve as its start.
#[inline]
pub fn command_started(chained: bool) -> u64 {
    TIMING.with(|t| {
        let depth = t.depth.get();
        t.depth.set(depth + 1);
        let start = t.chain.get();
        if chained && depth == 0 && start != 0 {
            return start;
        }
        monotonic_ns()
    })
}

/// The end of a command started at `start` (from [`command_started`]): its duration in
/// microseconds.
#[inline]
pub fn command_finished(start: u64, chained: bool) -> u64 {
    let now = monotonic_ns();
    TIMING.with(|t| {
        let depth = t.depth.get().saturating_sub(1);
        t.depth.set(depth);
        if chained && depth == 0 {
            t.chain.set(now);
        }
    });
    // As Redis: the difference of two microsecond clock readings, which (unlike the
    // nanosecond difference rounded down) averages to the true duration, so INFO
    // commandstats' sums of sub-microsecond commands are right.
    (now / 1000).saturating_sub(start / 1000)
}

/// What happens after each executed command that did not block: the latency monitor's
/// `command` / `fast-command` events, the command's histogram, the slow log. `blocked`
/// commands are accounted when they are served (they run again then).
#[inline]
pub(crate) fn after_command(
    db: &crate::Database,
    client: &crate::ClientState,
    spec: &'static CommandSpec,
    args: &ferrous_resp::Args<'_>,
    usec: u64,
) {
    use crate::config::Tunable;
    let tunables = &db.inner.tunables;
    let threshold_ms = tunables.get(Tunable::LatencyMonitorThreshold);
    if threshold_ms > 0 && (usec / 1000) as i64 >= threshold_ms {
        let event = if spec.has(flags::FAST) { "fast-command" } else { "command" };
        db.inner.latency.add_sample(event, usec / 1000);
    }
    if tunables.get(Tunable::LatencyTracking) != 0 {
        spec.stats.latency.record(usec);
    }
    let slower_than = tunables.get(Tunable::SlowlogLogSlowerThan);
    if slower_than >= 0 && usec as i64 >= slower_than && !spec.has(flags::SKIP_SLOWLOG) {
        db.inner.slowlog.push(client, spec, args, usec, tunables.get(Tunable::SlowlogMaxLen));
    }
}

// ---------------------------------------------------------------------------------------
// Histograms
// ---------------------------------------------------------------------------------------

/// Smallest value a histogram tells apart (ns): Redis's `LATENCY_HISTOGRAM_MIN_VALUE`.
pub const HIST_MIN: u64 = 1;
/// Largest value recorded (ns, 1 s); longer durations count as this: Redis's
/// `LATENCY_HISTOGRAM_MAX_VALUE`.
pub const HIST_MAX: u64 = 1_000_000_000;

// The layout of an HdrHistogram with lowest value 1, highest 1e9 and 2 significant digits:
// values below 256 have their own counter; above, each power-of-two range [2^k, 2^(k+1))
// is split into 128 equal sub-buckets, so a value is known to within 1/128 (better than
// the 1% two significant digits ask for). 23 ranges reach 2^30 > 1e9.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (2 * SUB_BUCKET_HALF as u64) - 1;
const BUCKETS: usize = 23;
/// Number of counters.
const COUNTS: usize = (BUCKETS + 1) * SUB_BUCKET_HALF;

#[inline]
fn bucket_index(value: u64) -> usize {
    let pow2ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros() as usize;
    pow2ceiling - (SUB_BUCKET_HALF_MAGNITUDE as usize + 1)
}

/// The counter a value falls in.
#[inline]
fn counts_index(value: u64) -> usize {
    let bucket = bucket_index(value);
    let sub = (value >> bucket) as usize;
    ((bucket + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub - SUB_BUCKET_HALF
}

/// The lowest value counted by counter `index`.
fn value_at_index(index: usize) -> u64 {
    let mut bucket = (index >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
    let mut sub = (index & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
    if bucket < 0 {
        sub -= SUB_BUCKET_HALF;
        bucket = 0;
    }
    (sub as u64) << bucket
}

/// The lowest value counted together with `value`.
fn lowest_equivalent(value: u64) -> u64 {
    let bucket = bucket_index(value);
    (value >> bucket) << bucket
}

/// The highest value counted together with `value`.
fn highest_equivalent(value: u64) -> u64 {
    let bucket = bucket_index(value);
    let sub = value >> bucket;
    let adjusted = if sub >= 2 * SUB_BUCKET_HALF as u64 { bucket + 1 } else { bucket };
    lowest_equivalent(value) + (1u64 << adjusted) - 1
}

/// One histogram's counters (ns values). Updated with relaxed atomic adds: a stripe is
/// normally written by one thread only, so the adds do not contend.
struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram { counts: (0..COUNTS).map(|_| AtomicU64::new(0)).collect() }
    }
}

/// Histogram stripes per command: each of the first event-loop threads owns one, so
/// recording is a plain load and store on a cache line no other thread writes (an atomic
/// add costs as much as the rest of the bookkeeping); threads beyond share the last stripe
/// with atomic adds.
const STRIPES: usize = 8;

/// The latency histogram of one command (INFO latencystats, LATENCY HISTOGRAM). Allocated
/// on the command's first call, as Redis does: ~24 KB per stripe in use.
#[derive(Default)]
pub struct CommandLatency {
    stripes: [OnceLock<Histogram>; STRIPES],
}

impl std::fmt::Debug for CommandLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommandLatency({} calls)", self.snapshot().map_or(0, |s| s.total))
    }
}

impl CommandLatency {
    /// Records one call that took `usec` microseconds (Redis records `usec * 1000` ns,
    /// clamped to [`HIST_MIN`]..=[`HIST_MAX`]).
    #[inline]
    pub fn record(&self, usec: u64) {
        self.record_ns(usec.saturating_mul(1000));
    }

    /// Records one value in nanoseconds (clamped like [`CommandLatency::record`]).
    #[inline]
    pub fn record_ns(&self, ns: u64) {
        let ns = ns.clamp(HIST_MIN, HIST_MAX);
        let stripe = thread_stripe();
        let hist = self.stripes[stripe].get_or_init(Histogram::new);
        let counter = &hist.counts[counts_index(ns)];
        if stripe < STRIPES - 1 {
            // Only this thread writes this stripe (a concurrent CONFIG RESETSTAT may lose
            // the reset of this one counter: harmless).
            counter.store(counter.load(Relaxed) + 1, Relaxed);
        } else {
            counter.fetch_add(1, Relaxed);
        }
    }

    /// The counters summed over the stripes; `None` if nothing was recorded (Redis only
    /// lists commands that have a histogram).
    pub fn snapshot(&self) -> Option<LatencySnapshot> {
        let mut counts = vec![0u64; COUNTS];
        let mut any = false;
        for hist in self.stripes.iter().filter_map(OnceLock::get) {
            any = true;
            for (sum, c) in counts.iter_mut().zip(hist.counts.iter()) {
                *sum += c.load(Relaxed);
            }
        }
        let total: u64 = counts.iter().sum();
        (any && total > 0).then_some(LatencySnapshot { counts, total })
    }

    /// Forgets every recorded value (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for hist in self.stripes.iter().filter_map(OnceLock::get) {
            for c in hist.counts.iter() {
                c.store(0, Relaxed);
            }
        }
    }
}

/// A summed copy of a command's histogram.
#[derive(Debug, Clone)]
pub struct LatencySnapshot {
    counts: Vec<u64>,
    /// Number of recorded calls.
    pub total: u64,
}

impl LatencySnapshot {
    /// The value (ns) at `percentile` (0..=100), as HdrHistogram's
    /// `hdr_value_at_percentile`: the highest value equivalent to the one reaching that
    /// share of the calls (the lowest for percentile 0).
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let requested = percentile.min(100.0);
        let wanted = (((requested / 100.0) * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        let mut value = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                value = value_at_index(i);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent(value)
        } else {
            highest_equivalent(value)
        }
    }

    /// The cumulative distribution LATENCY HISTOGRAM replies: at each power of two from
    /// 1024 ns, `(highest equivalent value in µs, calls up to it)`, leaving out the points
    /// where the count does not grow (HdrHistogram's logarithmic iterator as Redis walks it).
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        // A replay of `hdr_iter_log_init(&iter, h, 1024, 2)` / `hdr_iter_next` as Redis's
        // `fillCommandCDF` consumes it: the walk visits every counter in order; each time the
        // value reached is at or past the next power-of-two level, it reports the highest
        // value equivalent to the counter reached and the calls counted so far.
        let mut out = Vec::new();
        let (mut index, mut cumulative, mut value, mut highest) = (-1isize, 0u64, 0u64, 0u64);
        let mut level: u64 = 1024;
        let mut level_lowest = lowest_equivalent(level);
        let mut previous = 0;
        loop {
            let more = cumulative < self.total
                || (index < COUNTS as isize && value_at_index((index + 1) as usize) > level_lowest);
            if !more {
                break;
            }
            loop {
                if value >= level_lowest {
                    level *= 2;
                    level_lowest = lowest_equivalent(level);
                    break;
                }
                index += 1;
                if index as usize >= COUNTS {
                    // Past the last counter: reported with the last counter's values.
                    break;
                }
                cumulative += self.counts[index as usize];
                value = value_at_index(index as usize);
                highest = highest_equivalent(value);
            }
            if cumulative > previous {
                out.push((highest / 1000, cumulative));
            }
            previous = cumulative;
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The latency monitor
// ---------------------------------------------------------------------------------------

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const SAMPLES_PER_EVENT: usize = 160;

/// One second's worst latency of an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySample {
    /// Unix time (s); 0 for an unused slot.
    pub time: i64,
    /// The worst latency in that second (ms).
    pub latency: u64,
}

/// The recent history of one event.
#[derive(Debug, Clone)]
pub struct EventSeries {
    /// Event name.
    pub name: String,
    samples: [LatencySample; SAMPLES_PER_EVENT],
    /// Next slot to write.
    idx: usize,
    /// All-time maximum (ms).
    pub max: u64,
}

impl EventSeries {
    fn new(name: &str) -> EventSeries {
        EventSeries { name: name.to_string(), samples: [LatencySample::default(); SAMPLES_PER_EVENT], idx: 0, max: 0 }
    }

    /// The samples from oldest to newest (unused slots left out).
    pub fn samples(&self) -> impl Iterator<Item = LatencySample> + '_ {
        (0..SAMPLES_PER_EVENT).map(|j| self.samples[(self.idx + j) % SAMPLES_PER_EVENT]).filter(|s| s.time != 0)
    }

    /// The newest sample (LATENCY LATEST; zeros if the series is empty).
    pub fn latest(&self) -> LatencySample {
        self.samples[(self.idx + SAMPLES_PER_EVENT - 1) % SAMPLES_PER_EVENT]
    }
}

/// Per-database latency monitor: the events seen over `latency-monitor-threshold`.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// In creation order (LATENCY LATEST lists them so).
    events: Mutex<Vec<EventSeries>>,
}

impl LatencyMonitor {
    /// Records that `event` took `ms` milliseconds now (Redis's `latencyAddSample`): the
    /// worst value of each second is kept.
    pub fn add_sample(&self, event: &str, ms: u64) {
        self.add_sample_at(event, ms, unix_now());
    }

    /// [`LatencyMonitor::add_sample`] at Unix time `now` (seconds).
    pub fn add_sample_at(&self, event: &str, ms: u64, now: i64) {
        let mut events = self.events.lock();
        let pos = match events.iter().position(|e| e.name == event) {
            Some(p) => p,
            None => {
                events.push(EventSeries::new(event));
                events.len() - 1
            }
        };
        let ts = &mut events[pos];
        ts.max = ts.max.max(ms);
        let prev = (ts.idx + SAMPLES_PER_EVENT - 1) % SAMPLES_PER_EVENT;
        if ts.samples[prev].time == now {
            ts.samples[prev].latency = ts.samples[prev].latency.max(ms);
            return;
        }
        ts.samples[ts.idx] = LatencySample { time: now, latency: ms };
        ts.idx = (ts.idx + 1) % SAMPLES_PER_EVENT;
    }

    /// Adds a sample if monitoring is on and `ms` reaches the threshold (Redis's
    /// `latencyAddSampleIfNeeded`), for the persistence events.
    pub fn add_sample_if_needed(&self, inner: &crate::db::Inner, event: &str, ms: u64) {
        let threshold = inner.tunables.get(crate::config::Tunable::LatencyMonitorThreshold);
        if threshold > 0 && ms as i64 >= threshold {
            self.add_sample(event, ms);
        }
    }

    /// A copy of every series, in creation order.
    pub fn events(&self) -> Vec<EventSeries> {
        self.events.lock().clone()
    }

    /// One event's series (names compare exactly, as Redis's dictionary does).
    pub fn event(&self, name: &[u8]) -> Option<EventSeries> {
        self.events.lock().iter().find(|e| e.name.as_bytes() == name).cloned()
    }

    /// Forgets `event` (case-insensitively, as Redis's RESET), or every event for `None`;
    /// returns how many were dropped.
    pub fn reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        events.retain(|e| event.is_some_and(|name| !e.name.as_bytes().eq_ignore_ascii_case(name)));
        before - events.len()
    }

    /// True when no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.lock().is_empty()
    }
}

/// Unix time in seconds, as Redis's `time(NULL)`.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// LATENCY GRAPH: Redis's sparkline
// ---------------------------------------------------------------------------------------

/// Width of LATENCY GRAPH (Redis's `LATENCY_GRAPH_COLS`).
const GRAPH_COLS: usize = 80;
/// Height of the graph part.
const GRAPH_ROWS: usize = 4;

/// The LATENCY GRAPH text of a series at Unix time `now`.
pub fn graph(series: &EventSeries, now: i64) -> String {
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for s in series.samples() {
        values.push(s.latency as f64);
        let elapsed = now - s.time;
        labels.push(if elapsed < 60 {
            format!("{elapsed}s")
        } else if elapsed < 3600 {
            format!("{}m", elapsed / 60)
        } else if elapsed < 3600 * 24 {
            format!("{}h", elapsed / 3600)
        } else {
            format!("{}d", elapsed / (3600 * 24))
        });
    }
    let min = series.samples().map(|s| s.latency).min().unwrap_or(0);
    let max = series.samples().map(|s| s.latency).max().unwrap_or(0);
    let mut out = format!(
        "{} - high {} ms, low {} ms (all time high {} ms)\n{}\n",
        series.name,
        max,
        min,
        series.max,
        "-".repeat(GRAPH_COLS)
    );
    sparkline(&mut out, &values, &labels, GRAPH_COLS, GRAPH_ROWS);
    out
}

/// Redis's `sparklineRender` with `SPARKLINE_FILL`: the values as columns of `_o#|`
/// characters `rows` high, each labelled vertically below, `columns` values per block.
fn sparkline(out: &mut String, values: &[f64], labels: &[String], columns: usize, rows: usize) {
    const FILL: &[u8] = b"_o#";
    let (min, max) = values.iter().fold((None::<f64>, None::<f64>), |(lo, hi), &v| {
        (Some(lo.map_or(v, |l: f64| l.min(v))), Some(hi.map_or(v, |h: f64| h.max(v))))
    });
    let (min, max) = (min.unwrap_or(0.0), max.unwrap_or(0.0));
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * rows) as i64;
    let any_label = labels.iter().any(|l| !l.is_empty());
    let mut offset = 0;
    while offset < values.len() {
        let len = (values.len() - offset).min(columns);
        if offset != 0 {
            out.push('\n');
        }
        let mut row = 0;
        loop {
            let mut emitted = false;
            let mut chars = vec![b' '; len];
            for j in 0..len {
                let value = values[j + offset];
                // C: `(int)(relval*steps)/relmax`, truncated to int again.
                let step = (((value - min) * steps as f64).trunc() / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                if row < rows {
                    let charidx = step - ((rows - row - 1) * FILL.len()) as i64;
                    emitted = true;
                    if charidx >= 0 && (charidx as usize) < FILL.len() {
                        chars[j] = FILL[charidx as usize];
                    } else if charidx >= FILL.len() as i64 {
                        chars[j] = b'|';
                    }
                } else {
                    // One blank row between the graph and the labels.
                    if any_label && row - rows < 1 {
                        emitted = true;
                        break;
                    }
                    let label = labels[j + offset].as_bytes();
                    let at = row - rows - 1;
                    if label.len() > at {
                        emitted = true;
                        chars[j] = label[at];
                    }
                }
            }
            if !emitted {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&chars));
            out.push('\n');
        }
        offset += columns;
    }
}

// ---------------------------------------------------------------------------------------
// LATENCY DOCTOR
// ---------------------------------------------------------------------------------------

/// What LATENCY DOCTOR needs besides the events.
#[derive(Debug, Clone, Copy)]
pub struct DoctorContext {
    /// `latency-monitor-threshold` (ms).
    pub threshold_ms: i64,
    /// `slowlog-log-slower-than` (µs).
    pub slowlog_slower_than: i64,
    /// `appendfsync always`.
    pub fsync_always: bool,
    /// `hz`.
    pub hz: i64,
    /// Unix time (s).
    pub now: i64,
}

/// Redis's `createLatencyReport`: a human-readable analysis of the events.
pub fn doctor(events: &[EventSeries], cx: DoctorContext) -> String {
    if events.is_empty() && cx.threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \
                \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep \
                space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
            .to_string();
    }
    #[derive(Default)]
    struct Advice {
        slowlog_enabled: bool,
        slowlog_tuning: bool,
        slowlog_inspect: bool,
        disk_contention: bool,
        scheduler: bool,
        data_writeback: bool,
        no_appendfsync: bool,
        local_disk: bool,
        ssd: bool,
        write_load_info: bool,
        hz: bool,
        large_objects: bool,
        mass_eviction: bool,
        relax_fsync_policy: bool,
    }
    let mut a = Advice::default();
    let mut advices = 0;
    let mut report = String::new();
    for (i, ts) in events.iter().enumerate() {
        if i == 0 {
            report.push_str(
                "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you \
                 Dave?\n\n",
            );
        }
        let samples: Vec<LatencySample> = ts.samples().collect();
        let n = samples.len() as u64;
        let (mut avg, mut mad, mut period) = (0u64, 0u64, 0i64);
        if let Some(mean) = samples.iter().map(|s| s.latency).sum::<u64>().checked_div(n) {
            avg = mean;
            let oldest = samples.iter().map(|s| s.time).min().unwrap_or(cx.now);
            period = cx.now - oldest;
            if period == 0 {
                period = 1;
            }
            mad = samples.iter().map(|s| (avg as i64 - s.latency as i64).unsigned_abs()).sum::<u64>() / n;
        }
        let per_sample = if n == 0 { f64::NAN } else { period as f64 / n as f64 };
        report.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {} sec). Worst all time event {}ms.",
            i + 1,
            ts.name,
            n,
            avg,
            mad,
            c_fixed2(per_sample),
            ts.max
        ));
        let name = ts.name.to_ascii_lowercase();
        match name.as_str() {
            "command" => {
                if cx.slowlog_slower_than < 0 {
                    a.slowlog_enabled = true;
                    advices += 1;
                } else if cx.slowlog_slower_than / 1000 > cx.threshold_ms {
                    a.slowlog_tuning = true;
                    advices += 1;
                }
                a.slowlog_inspect = true;
                a.large_objects = true;
                advices += 2;
            }
            "fast-command" => {
                a.scheduler = true;
                advices += 1;
            }
            "aof-write-pending-fsync" => {
                a.local_disk = true;
                a.disk_contention = true;
                a.ssd = true;
                a.data_writeback = true;
                advices += 4;
            }
            "aof-write-active-child" => {
                a.no_appendfsync = true;
                a.data_writeback = true;
                a.ssd = true;
                advices += 3;
            }
            "aof-write-alone" => {
                a.local_disk = true;
                a.data_writeback = true;
                a.ssd = true;
                advices += 3;
            }
            "aof-fsync-always" => {
                a.relax_fsync_policy = true;
                advices += 1;
            }
            "aof-fstat" | "rdb-unlink-temp-file" => {
                a.disk_contention = true;
                a.local_disk = true;
                advices += 2;
            }
            "aof-rewrite-diff-write" | "aof-rename" => {
                a.write_load_info = true;
                a.data_writeback = true;
                a.ssd = true;
                a.local_disk = true;
                advices += 4;
            }
            "expire-cycle" => {
                a.hz = true;
                a.large_objects = true;
                advices += 2;
            }
            "eviction-del" => {
                a.large_objects = true;
                advices += 1;
            }
            "eviction-cycle" => {
                a.mass_eviction = true;
                advices += 1;
            }
            _ => {}
        }
        report.push('\n');
    }
    if events.is_empty() && advices == 0 {
        report.push_str(
            "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. \
             I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n",
        );
        return report;
    }
    if advices == 0 {
        report.push_str(
            "\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis \
             community to get some help, providing this report in your help request.\n",
        );
        return report;
    }
    report.push_str("\nI have a few advices for you:\n\n");
    if a.slowlog_enabled {
        report.push_str(&format!(
            "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis \
             feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is \
             not able to log slow commands execution for you.\n",
            cx.threshold_ms * 1000
        ));
    }
    if a.slowlog_tuning {
        report.push_str(&format!(
            "- Your current Slow Log configuration only logs events that are slower than your configured latency \
             monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n",
            cx.threshold_ms * 1000
        ));
    }
    if a.slowlog_inspect {
        report.push_str(
            "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. \
             Please check https://redis.io/commands/slowlog for more information.\n",
        );
    }
    if a.scheduler {
        report.push_str(
            "- The system is slow to execute Redis code paths not containing system calls. This usually means the \
             system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the \
             system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same \
             system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli \
             --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is \
             allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may \
             create fragmentation problems.\n",
        );
    }
    if a.local_disk {
        report.push_str(
            "- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote \
             disks provided by platform-as-a-service providers are known to be slow.\n",
        );
    }
    if a.ssd {
        report.push_str(
            "- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log \
             rewriting (resulting in smaller memory usage and smaller final AOF rewrite buffer flushes). With \
             extremely high write load SSD disks can be a good option. However Redis should perform reasonably with \
             high load using normal disks. Use this advice as a last resort.\n",
        );
    }
    if a.data_writeback {
        report.push_str(
            "- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to \
             data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that \
             after a hard crash the AOF file will have a half-written command at the end and will require to be \
             repaired before Redis restarts.\n",
        );
    }
    if a.disk_contention {
        report.push_str(
            "- Try to lower the disk contention. This is often caused by other disk intensive processes running in the \
             same computer (including other Redis instances).\n",
        );
    }
    if a.no_appendfsync {
        report.push_str(
            "- Assuming from the point of view of data safety this is viable in your environment, you could try to \
             enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child \
             rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n",
        );
    }
    if a.relax_fsync_policy && cx.fsync_always {
        report.push_str(
            "- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if \
             possible try to relax the fsync policy to 'onesec'.\n",
        );
    }
    if a.write_load_info {
        report.push_str(
            "- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file \
             at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get \
             very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to \
             group multiple operations into a single EVALSHA call.\n",
        );
    }
    if a.hz && cx.hz < 100 {
        report.push_str(
            "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration \
             parameter to 100 using 'CONFIG SET hz 100'.\n",
        );
    }
    if a.large_objects {
        report.push_str(
            "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If \
             you have very large objects that are often deleted, expired, or evicted, try to fragment those objects \
             into multiple smaller objects.\n",
        );
    }
    if a.mass_eviction {
        report.push_str(
            "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or \
             sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), \
             may create sudden memory pressure forcing the server to block trying to evict keys. \n",
        );
    }
    report
}

/// C's `%.2f` for the report's period (`nan` as glibc prints it).
fn c_fixed2(v: f64) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else {
        format!("{v:.2}")
    }
}

/// C's `%f` of a percentile with the trailing zeros (and a trailing dot) removed, as
/// Redis labels INFO latencystats (`p50`, `p99.9`).
pub fn percentile_label(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_layout_matches_hdr() {
        // Exact below 256, then 128 sub-buckets per power of two.
        assert_eq!(counts_index(1), 1);
        assert_eq!(counts_index(255), 255);
        assert_eq!(counts_index(256), 256);
        assert_eq!(counts_index(257), 256);
        assert_eq!(counts_index(HIST_MAX), counts_index(HIST_MAX - 1));
        assert!(counts_index(HIST_MAX) < COUNTS);
        assert_eq!(highest_equivalent(1024), 1031);
        assert_eq!(highest_equivalent(2048), 2063);
        assert_eq!(highest_equivalent(1_000_000_000), 1_002_438_655);
        assert_eq!(lowest_equivalent(1_000_000_000), 998_244_352);
        for v in [1u64, 7, 255, 256, 300, 1023, 1024, 5000, 123_456, 999_999_999] {
            let i = counts_index(v);
            assert!(value_at_index(i) <= v && v <= highest_equivalent(value_at_index(i)), "{v}");
        }
    }

    #[test]
    fn percentiles_and_cdf() {
        let h = CommandLatency::default();
        assert!(h.snapshot().is_none());
        for us in [1u64, 1, 2, 3, 10] {
            h.record(us);
        }
        let s = h.snapshot().unwrap();
        assert_eq!(s.total, 5);
        // 1000 ns lies in [1000, 1003]; 10 µs in [9984, 10047].
        assert_eq!(s.value_at_percentile(50.0), 2007);
        assert_eq!(s.value_at_percentile(99.0), 10047);
        assert_eq!(s.value_at_percentile(0.0), 1000);
        // Levels 1024 (1 µs: 2 calls), 2048 (2: 3), 4096 (4: 4), 8192 (8: none new), 16384 (16: 5).
        assert_eq!(s.cumulative_usec(), vec![(1, 2), (2, 3), (4, 4), (16, 5)]);
        h.reset();
        assert!(h.snapshot().is_none());
        // Zero-length commands count as 1 ns; longer than a second as a second.
        h.record(0);
        h.record(5_000_000);
        assert_eq!(h.snapshot().unwrap().cumulative_usec(), vec![(1, 1), (1073741, 2)]);
    }

    #[test]
    fn monitor_keeps_the_worst_per_second() {
        let m = LatencyMonitor::default();
        m.add_sample_at("command", 50, 100);
        m.add_sample_at("command", 20, 100);
        m.add_sample_at("command", 70, 101);
        m.add_sample_at("fast-command", 5, 101);
        let e = m.event(b"command").unwrap();
        assert_eq!(
            e.samples().collect::<Vec<_>>(),
            vec![LatencySample { time: 100, latency: 50 }, LatencySample { time: 101, latency: 70 }]
        );
        assert_eq!(e.max, 70);
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert_eq!(m.reset(None), 1);
        assert!(m.is_empty());
        for t in 0..200 {
            m.add_sample_at("x", t as u64, 1000 + t);
        }
        let e = m.event(b"x").unwrap();
        assert_eq!(e.samples().count(), SAMPLES_PER_EVENT);
        assert_eq!(e.samples().next().unwrap().time, 1040);
        assert_eq!(e.latest().time, 1199);
    }

    #[test]
    fn graph_of_one_sample() {
        let m = LatencyMonitor::default();
        m.add_sample_at("command", 50, 100);
        let g = graph(&m.event(b"command").unwrap(), 100);
        let dashes = "-".repeat(80);
        assert_eq!(
            g,
            format!("command - high 50 ms, low 50 ms (all time high 50 ms)\n{dashes}\n \n \n \n_\n \n0\ns\n")
        );
    }

    #[test]
    fn labels() {
        assert_eq!(percentile_label(50.0), "50");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(percentile_label(0.0), "0");
    }
}
