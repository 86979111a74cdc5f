//! Loading the append-only file at start-up, as Redis 7.0's `loadAppendOnlyFiles` does.
//!
//! - [`load`] reads the manifest ([`Manifest::read`]) and loads its base file, then replays
//!   its incr files in order. A base that starts with `REDIS` is an RDB file (the RDB
//!   preamble): it goes through [`crate::persistence::load`], which replaces the dataset,
//!   keeping keys whose deadline has passed as Redis does for an AOF preamble; commands
//!   that follow the RDB part (an old-style preamble file) are replayed after it. Any
//!   other base, and every incr file, is RESP commands.
//! - [`CommandReader`] frames commands exactly as Redis's loader does (`fgets` lines of at
//!   most 1023 bytes, `#` annotation lines skipped, lenient `atoi`/`strtol` counts, the two
//!   bytes after a bulk not checked), parsing in place from its own buffer: no allocation
//!   per command or argument.
//! - Each command runs through the command table ([`Database::dispatch`]) for a client of
//!   the loader's own, new for every file as Redis creates a fake client per file, so
//!   SELECT and MULTI/EXEC work through the client's state. Error replies are ignored, as
//!   Redis's fake client ignores them; an unknown command aborts the load, as in Redis.
//! - A file that ends inside a command, or inside MULTI without EXEC, is truncated:
//!   with `aof-load-truncated` the last file is cut back (on disk) to its last complete
//!   command outside a transaction and loading succeeds; otherwise, or for any file but
//!   the last, loading fails naming the file and offset.
//! - [`upgrade_old_aof`] moves a single pre-7.0 `appendonly.aof` into the AOF directory
//!   as its base and writes a manifest for it, as Redis 7.0 does on its first start.
//!
//! While commands are replayed, keys are not expired (Redis does not expire keys while
//! loading): commands run at time 0 and the active expiry cycle is paused; afterwards every
//! key's LRU clock is set to the load time, as if it had just been written.
use super::manifest::{atoll, AofError, AofFile, AofFileKind, Manifest};
use crate::client::ClientState;
use crate::db::Database;
use crate::persistence::{self, LoadOptions};
use ferrous_resp::Args;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

/// How to load (the directives that matter).
#[derive(Clone, Copy, Debug)]
pub struct AofLoadOptions {
    /// `aof-load-truncated`: a last file that ends in the middle of a command is cut back
    /// to its last complete command instead of failing the load.
    pub load_truncated: bool,
}

impl Default for AofLoadOptions {
    /// Redis's default: `aof-load-truncated yes`.
    fn default() -> Self {
        AofLoadOptions { load_truncated: true }
    }
}

/// What a load did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AofLoadStats {
    /// Commands replayed (MULTI, EXEC and SELECT included).
    pub commands: u64,
    /// Keys the base file created (the RDB's keys, or the keys after replaying a base
    /// made of commands).
    pub base_keys: u64,
    /// When the last file was truncated (`aof-load-truncated`): its new length.
    pub truncated_at: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Framing

/// Redis reads AOF lines with `fgets` into a 1024-byte buffer: at most 1023 bytes per
/// read. A longer line is read in pieces (and the rest is then not a valid line).
const LINE_MAX: usize = 1023;
/// Initial size of the reader's buffer; it grows to hold the largest command.
const INITIAL_BUFFER: usize = 256 * 1024;

/// What [`CommandReader::next_frame`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete command: read it with [`CommandReader::args`].
    Command,
    /// The input ended cleanly (after a complete command or an annotation, or empty).
    Eof,
    /// The input ended in the middle of a command.
    Truncated,
    /// The bytes at `offset` are not a command (Redis's "Bad file format").
    Corrupt {
        /// Start of the faulty line.
        offset: u64,
        /// What was wrong.
        what: &'static str,
    },
}

/// Outcome of parsing at the start of the unread bytes.
enum Parse {
    /// A command of this many bytes (its arguments are in the ranges).
    Command(usize),
    /// An annotation line of this many bytes.
    Skip(usize),
    /// At least this many bytes (from the start) are needed to decide.
    Need(usize),
    Eof,
    Truncated,
    Corrupt(usize, &'static str),
}

/// Finds the line starting at `at` as `fgets` would return it: through the newline, at most
/// [`LINE_MAX`] bytes, or what is left at the end of the input. `Ok(None)`: nothing is left.
/// `Err(())`: more input is needed to decide.
#[inline]
fn line_end(data: &[u8], at: usize, eof: bool) -> Result<Option<usize>, ()> {
    let rest = &data[at..];
    let window = &rest[..rest.len().min(LINE_MAX)];
    if let Some(i) = window.iter().position(|&c| c == b'\n') {
        return Ok(Some(at + i + 1));
    }
    if rest.len() >= LINE_MAX {
        Ok(Some(at + LINE_MAX))
    } else if !eof {
        Err(())
    } else if rest.is_empty() {
        Ok(None)
    } else {
        Ok(Some(data.len()))
    }
}

/// The text of a line for C's number parsers: up to the first NUL.
#[inline]
fn c_text(s: &[u8]) -> &[u8] {
    match s.iter().position(|&c| c == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Parses one command (or annotation) at the start of `data`, as Redis's
/// `loadSingleAppendOnlyFile` reads it. `eof`: `data` holds everything that is left.
fn parse(data: &[u8], eof: bool, ranges: &mut Vec<Range<usize>>) -> Parse {
    ranges.clear();
    let need = || Parse::Need(data.len() + 1);
    let end = match line_end(data, 0, eof) {
        Ok(Some(e)) => e,
        Ok(None) => return Parse::Eof,
        Err(()) => return need(),
    };
    let line = &data[..end];
    match line[0] {
        b'#' => return Parse::Skip(end),
        b'*' => {}
        _ => return Parse::Corrupt(0, "expected '*' or '#'"),
    }
    if line.len() == 1 || line[1] == 0 {
        // Redis's "read error": a short read when the file ends there, else an I/O-level
        // failure (a NUL right after '*').
        let hit_end = eof && end == data.len() && line[end - 1] != b'\n';
        return if hit_end { Parse::Truncated } else { Parse::Corrupt(0, "empty multibulk count") };
    }
    // `atoi`: C's int, so a count beyond i32 wraps (and is then usually < 1).
    let argc = atoll(c_text(&line[1..])) as i32;
    if argc < 1 {
        return Parse::Corrupt(0, "invalid multibulk count");
    }
    let mut at = end;
    for _ in 0..argc {
        let end = match line_end(data, at, eof) {
            Ok(Some(e)) => e,
            Ok(None) => return Parse::Truncated,
            Err(()) => return need(),
        };
        if data[at] != b'$' {
            return Parse::Corrupt(at, "expected '$'");
        }
        // `strtol` into an unsigned long: a negative length is a huge one, which Redis
        // fails to allocate.
        let len = atoll(c_text(&data[at + 1..end]));
        let Ok(len) = usize::try_from(len) else { return Parse::Corrupt(at, "invalid bulk length") };
        let start = end;
        let Some(stop) = start.checked_add(len).and_then(|s| s.checked_add(2)) else {
            return if eof { Parse::Truncated } else { Parse::Need(usize::MAX) };
        };
        if data.len() < stop {
            return if eof { Parse::Truncated } else { Parse::Need(stop) };
        }
        ranges.push(start..start + len);
        // The two bytes after the payload (normally CRLF) are skipped unchecked, as Redis
        // skips them.
        at = stop;
    }
    Parse::Command(at)
}

/// Reads AOF commands from a byte stream in place, with Redis's framing rules.
///
/// ```
/// use ferrous_core::aof::load::{CommandReader, Frame};
/// let mut r = CommandReader::new(&b"#TS:1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI"[..], 0);
/// assert_eq!(r.next_frame().unwrap(), Frame::Command);
/// assert_eq!(r.args().to_vec(), vec![b"GET".to_vec(), b"k".to_vec()]);
/// assert_eq!(r.offset(), 27);
/// assert_eq!(r.next_frame().unwrap(), Frame::Truncated);
/// ```
pub struct CommandReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// The last command: where it starts in `buf`, its arguments relative to that.
    cmd_start: usize,
    ranges: Vec<Range<usize>>,
}

impl<R: Read> CommandReader<R> {
    /// A reader of `src`, whose first byte is at `offset` of its file (for offsets in
    /// frames and errors).
    pub fn new(src: R, offset: u64) -> Self {
        CommandReader {
            src,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            base: offset,
            eof: false,
            cmd_start: 0,
            ranges: Vec::with_capacity(16),
        }
    }

    /// The next command, annotation lines skipped.
    pub fn next_frame(&mut self) -> io::Result<Frame> {
        loop {
            let data = &self.buf[self.pos..self.end];
            match parse(data, self.eof, &mut self.ranges) {
                Parse::Command(n) => {
                    self.cmd_start = self.pos;
                    self.pos += n;
                    return Ok(Frame::Command);
                }
                Parse::Skip(n) => self.pos += n,
                Parse::Need(n) => self.fill(n)?,
                Parse::Eof => return Ok(Frame::Eof),
                Parse::Truncated => return Ok(Frame::Truncated),
                Parse::Corrupt(at, what) => {
                    return Ok(Frame::Corrupt { offset: self.base + (self.pos + at) as u64, what })
                }
            }
        }
    }

    /// The arguments of the command [`CommandReader::next_frame`] just returned.
    pub fn args(&self) -> Args<'_> {
        Args::new(&self.buf[self.cmd_start..self.end], &self.ranges)
    }

    /// Stream offset just after the last command or annotation read.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Stream offset where the last command started.
    pub fn command_offset(&self) -> u64 {
        self.base + self.cmd_start as u64
    }

    /// Makes at least `need` unread bytes available (or all that is left): moves the
    /// unread bytes to the front, grows the buffer (geometrically, so a corrupt length
    /// cannot make it allocate more than about twice what the input really holds) and
    /// reads until it is full or the input ends.
    #[cold]
    fn fill(&mut self, need: usize) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
            self.cmd_start = 0;
        }
        if need > self.buf.len() {
            // Doubling, not `need`: a corrupt length must not allocate what the input does
            // not hold, and a command arriving in pieces is re-parsed only log(n) times.
            self.buf.resize(self.buf.len().saturating_mul(2).max(INITIAL_BUFFER), 0);
        }
        while self.end < self.buf.len() {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Replay

/// How one file's replay ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Commands run.
    pub commands: u64,
    /// Commands whose reply was an error (ignored, as Redis ignores them).
    pub errors: u64,
    /// End of the last complete command outside MULTI: where a truncated file is cut.
    pub valid_up_to: u64,
    /// The file ended inside a command or inside MULTI (whose queued commands did not run).
    pub truncated: bool,
}

/// Replays the commands of `src` (a file named `file` in errors, positioned at `offset`)
/// into `db` through the command table, with a client of its own that starts in database
/// 0, as Redis's fake AOF client does. Keys are not protected from expiry here; [`load`]
/// takes care of that.
pub fn replay(db: &Database, src: impl Read, offset: u64, file: &str) -> Result<ReplayOutcome, AofError> {
    let mut reader = CommandReader::new(src, offset);
    let mut client = loader_client(db);
    let result = replay_with(db, &mut client, &mut reader, file, &mut |_| {});
    db.disconnect(&client);
    result
}

/// Whether an error reply is the dispatcher refusing to run the command at all (a file is
/// loading, persistence is failing, a script is busy) rather than the command's own error.
fn is_refusal(reply: &[u8]) -> bool {
    [&b"-LOADING "[..], b"-MISCONF ", b"-BUSY "].iter().any(|p| reply.starts_with(p))
}

/// The id of the loader's client (Redis's `CLIENT_ID_AOF`), so that the command gate can
/// let it through while other clients get `-LOADING`.
pub const AOF_CLIENT_ID: u64 = u64::MAX;

/// A client of the loader's own: not in the client list (as Redis's fake AOF client), never
/// blocking (it has no waker), authenticated.
fn loader_client(db: &Database) -> ClientState {
    let inner = db.inner();
    let mut client = inner.clients.transient(inner.clock.now_ms());
    if let Some(info) = std::sync::Arc::get_mut(&mut client.info) {
        info.id = AOF_CLIENT_ID;
    }
    client.authenticated = true;
    client
}

fn replay_with<R: Read>(
    db: &Database,
    client: &mut ClientState,
    reader: &mut CommandReader<R>,
    file: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<ReplayOutcome, AofError> {
    let table = crate::commands::table();
    let mut out = Vec::with_capacity(256);
    let mut outcome = ReplayOutcome { commands: 0, errors: 0, valid_up_to: reader.offset(), truncated: false };
    let mut before_multi = outcome.valid_up_to;
    let io_err =
        |source| AofError::Io { op: "Unrecoverable error reading the append only file", path: file.into(), source };
    loop {
        match reader.next_frame().map_err(io_err)? {
            Frame::Command => {}
            Frame::Eof if !client.tx.in_multi() => return Ok(outcome),
            // A MULTI without EXEC at the end is handled as a short read, even though the
            // protocol is complete: the transaction's commands never ran.
            Frame::Eof | Frame::Truncated => {
                if client.tx.in_multi() {
                    let text = format!("Revert incomplete MULTI/EXEC transaction in AOF file {file}");
                    persistence::log_error(db.inner(), &text);
                    // Cut before MULTI as redis-check-aof --fix does (Redis's loader would
                    // cut after the last queued command when a command is cut short, and
                    // cut again before MULTI at the next start).
                    outcome.valid_up_to = before_multi;
                    client.tx.queue = None;
                    client.tx.aborted = false;
                }
                outcome.truncated = true;
                return Ok(outcome);
            }
            Frame::Corrupt { offset, what } => {
                return Err(AofError::BadFormat { file: file.to_string(), offset, what: what.to_string() })
            }
        }
        let args = reader.args();
        let name = args.at(0);
        let spec = table.get(name).filter(|spec| {
            // A container's unknown subcommand is an unknown command to Redis's lookup.
            spec.subcommands.is_empty()
                || args.len() < 2
                || spec.subcommands.contains_key(&args.at(1).to_ascii_lowercase())
        });
        let Some(spec) = spec else {
            return Err(AofError::Command {
                file: file.to_string(),
                offset: reader.command_offset(),
                error: format!("Unknown command '{}'", String::from_utf8_lossy(c_text(name))),
            });
        };
        // A nested MULTI (an error) does not move the point to revert to.
        if spec.name == "multi" && !client.tx.in_multi() {
            before_multi = outcome.valid_up_to;
        }
        db.dispatch(client, args, &mut out);
        if out.first() == Some(&b'-') {
            if is_refusal(&out) {
                // Redis's loader runs commands past every gate; ignoring a refusal like a
                // command's own error would silently drop the write.
                let line = out.split(|&c| c == b'\r').next().unwrap_or_default();
                return Err(AofError::Command {
                    file: file.to_string(),
                    offset: reader.command_offset(),
                    error: format!("The command was refused ({})", String::from_utf8_lossy(&line[1..])),
                });
            }
            outcome.errors += 1;
        }
        out.clear();
        outcome.commands += 1;
        outcome.valid_up_to = reader.offset();
        if outcome.commands % 1024 == 0 {
            progress(outcome.valid_up_to);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Loading the manifest's files

/// Loads the AOF of directory `dir` (`dir/appenddirname`) whose files are named after
/// `prefix` (`appendfilename`), replacing the dataset (every database and the function
/// libraries), as Redis 7.0 does at start-up with `appendonly yes`.
///
/// `Ok(None)`: there is no AOF (no directory, no manifest, or a manifest listing no base
/// and no incr file); nothing was changed. On error the dataset may hold part of the files
/// (Redis exits then).
pub fn load(db: &Database, dir: &Path, prefix: &str, opts: AofLoadOptions) -> Result<Option<AofLoadStats>, AofError> {
    let Some(manifest) = Manifest::read(dir, prefix)? else { return Ok(None) };
    let files: Vec<&AofFile> = manifest.base.iter().chain(&manifest.incrs).collect();
    if files.is_empty() {
        return Ok(None);
    }
    let inner = db.inner();
    // A file listed in the manifest but missing is fatal, before anything is loaded.
    let mut sizes = Vec::with_capacity(files.len());
    for f in &files {
        let path = dir.join(&f.name);
        let meta = std::fs::metadata(&path).map_err(|source| AofError::Io {
            op: "Unable to obtain the AOF file length",
            path,
            source,
        })?;
        sizes.push(meta.len());
    }
    let total: u64 = sizes.iter().sum();
    let mut stats = AofLoadStats::default();
    if total == 0 {
        // Redis's AOF_EMPTY: nothing to load, but the AOF is what the dataset is.
        clear_dataset(inner)?;
        return Ok(Some(stats));
    }
    let _paused = PauseExpiry::new(inner);
    let state = &inner.rdb;
    state.loading_started_ms.store(inner.clock.now_ms(), Relaxed);
    let mut loaded_before = 0u64;
    let last = files.len() - 1;
    for (i, (f, &size)) in files.iter().zip(&sizes).enumerate() {
        let path = dir.join(&f.name);
        let file_started = std::time::Instant::now();
        let report = |loaded: u64| {
            state.loading_total_bytes.store(total, Relaxed);
            state.loading_loaded_bytes.store(loaded_before + loaded, Relaxed);
        };
        report(0);
        let outcome = if f.kind == AofFileKind::Base {
            load_base(db, &path, &f.name, f.name == prefix, size, &mut stats, &report)?
        } else if size == 0 {
            None
        } else {
            let file = open(&path)?;
            Some(replay_file(db, file, 0, &f.name, &report)?)
        };
        if let Some(outcome) = outcome {
            stats.commands += outcome.commands;
            if outcome.truncated {
                stats.truncated_at = Some(truncated(inner, &path, &f.name, outcome.valid_up_to, i == last, opts)?);
            }
        }
        let what = if f.kind == AofFileKind::Base { "base" } else { "incr" };
        persistence::log_notice(
            inner,
            &format!("DB loaded from {what} file {}: {:.3} seconds", f.name, file_started.elapsed().as_secs_f64()),
        );
        loaded_before += size;
    }
    state.loading_loaded_bytes.store(total, Relaxed);
    restamp_lru(inner);
    Ok(Some(stats))
}

fn open(path: &Path) -> Result<File, AofError> {
    File::open(path).map_err(|source| AofError::Io {
        op: "Fatal error: can't open the append log file for reading",
        path: path.to_path_buf(),
        source,
    })
}

/// Replays one file from `offset` with a fresh client (Redis creates one per file).
fn replay_file<R: Read>(
    db: &Database,
    src: R,
    offset: u64,
    name: &str,
    report: &dyn Fn(u64),
) -> Result<ReplayOutcome, AofError> {
    let inner = db.inner();
    let mut client = loader_client(db);
    let mut reader = CommandReader::new(src, offset);
    // Commands run at time 0: no deadline has passed (Redis does not expire keys while
    // loading, and its commands do not delete keys whose deadline is in the past then).
    let result =
        crate::clock::with_batch_time(0, || replay_with(db, &mut client, &mut reader, name, &mut |o| report(o)));
    db.disconnect(&client);
    let outcome = result?;
    if outcome.errors > 0 {
        persistence::log_notice(
            inner,
            &format!("{} commands of the append only file {name} replied with an error (ignored)", outcome.errors),
        );
    }
    Ok(outcome)
}

/// Handles a file that ended inside a command (or MULTI): cut it back when it is the last
/// file and `aof-load-truncated` is on; otherwise the load fails.
fn truncated(
    inner: &crate::db::Inner,
    path: &Path,
    name: &str,
    valid_up_to: u64,
    last: bool,
    opts: AofLoadOptions,
) -> Result<u64, AofError> {
    if !last {
        // Redis truncates the file before noticing it is not the last one; refusing
        // first leaves the files as they were for redis-check-aof.
        return Err(AofError::TruncatedNotLast { file: name.to_string(), offset: valid_up_to });
    }
    if !opts.load_truncated {
        return Err(AofError::Truncated { file: name.to_string(), offset: valid_up_to });
    }
    persistence::log_error(inner, &format!("!!! Warning: short read while loading the AOF file {name}!!!"));
    persistence::log_error(inner, &format!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(valid_up_to).and_then(|_| f.sync_all()))
        .map_err(|source| AofError::Io { op: "Error truncating the AOF file", path: path.to_path_buf(), source })?;
    persistence::log_error(inner, &format!("AOF {name} loaded anyway because aof-load-truncated is enabled"));
    Ok(valid_up_to)
}

/// Loads the base file: an RDB (then any commands after it) or commands. `None` when it is
/// empty. `old_style`: the file is a pre-7.0 `appendonly.aof` moved in by the upgrade (only
/// the log lines differ).
fn load_base(
    db: &Database,
    path: &Path,
    name: &str,
    old_style: bool,
    size: u64,
    stats: &mut AofLoadStats,
    report: &dyn Fn(u64),
) -> Result<Option<ReplayOutcome>, AofError> {
    let inner = db.inner();
    let mut file = open(path)?;
    let mut sig = [0u8; 5];
    let is_rdb = read_full(&mut file, &mut sig).map_err(|source| AofError::Io {
        op: "Unrecoverable error reading the append only file",
        path: path.to_path_buf(),
        source,
    })? == 5
        && &sig == b"REDIS";
    let seek_err = |source| AofError::Io { op: "Can't seek the append only file", path: path.to_path_buf(), source };
    file.seek(SeekFrom::Start(0)).map_err(seek_err)?;
    if !is_rdb {
        clear_dataset(inner)?;
        if size == 0 {
            return Ok(None);
        }
        let outcome = replay_file(db, file, 0, name, report)?;
        stats.base_keys = (0..inner.db_count()).map(|i| inner.keyspace(i).len() as u64).sum();
        return Ok(Some(outcome));
    }
    let reading =
        if old_style { "Reading RDB preamble from AOF file..." } else { "Reading RDB base file on AOF loading..." };
    persistence::log_notice(inner, reading);
    // The CRC of everything but the last 8 bytes, computed as the RDB loader reads: if
    // the file ends with the RDB's own checksum, there is no command tail after it (the
    // common case), and no second pass is needed to find where the RDB ends.
    let mut tee =
        CrcTee { inner: &mut file, read: 0, crc_until: size.saturating_sub(8), crc: crate::rdb::Crc64::new() };
    let loaded = persistence::load(
        inner,
        &mut tee,
        size,
        // Keys whose deadline has passed are kept: Redis loads an AOF preamble in full.
        LoadOptions { skip_expired: false, replace_functions: true },
    )
    .map_err(|source| AofError::Base { file: name.to_string(), source })?;
    stats.base_keys = loaded.keys_loaded;
    let (read, crc) = (tee.read, tee.crc.value());
    let rdb_end = if read == size && ends_with_rdb_footer(&mut file, size, crc).map_err(seek_err)? {
        size
    } else {
        rdb_length(&mut file).map_err(seek_err)??
    };
    if rdb_end >= size {
        return Ok(None);
    }
    persistence::log_notice(inner, "Reading the remaining AOF tail...");
    file.seek(SeekFrom::Start(rdb_end)).map_err(seek_err)?;
    replay_file(db, file, rdb_end, name, report).map(Some)
}

/// Whether the file ends with an RDB EOF opcode and a checksum matching `crc` (or a zero
/// checksum, written when `rdbchecksum` is off).
fn ends_with_rdb_footer(file: &mut File, size: u64, crc: u64) -> io::Result<bool> {
    if size < 9 {
        return Ok(false);
    }
    let mut tail = [0u8; 9];
    file.seek(SeekFrom::Start(size - 9))?;
    if read_full(file, &mut tail)? != 9 || tail[0] != 0xFF {
        return Ok(false);
    }
    let stored = u64::from_le_bytes(tail[1..].try_into().unwrap_or_default());
    Ok(stored == 0 || stored == crc)
}

/// Where the RDB part of the file ends, by reading it again (only for a base with commands
/// after its RDB part: an old-style preamble file).
fn rdb_length(file: &mut File) -> io::Result<Result<u64, AofError>> {
    file.seek(SeekFrom::Start(0))?;
    let opts = crate::rdb::DecodeOptions { verify_checksum: false, ..Default::default() };
    let mut reader = match crate::rdb::Reader::new(&mut *file, opts) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e.into())),
    };
    loop {
        match reader.next_item() {
            Ok(crate::rdb::Item::Eof) => return Ok(Ok(reader.offset())),
            Ok(_) => {}
            Err(e) => return Ok(Err(e.into())),
        }
    }
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Passes bytes through, counting them and feeding the CRC with those before `crc_until`.
struct CrcTee<'a> {
    inner: &'a mut File,
    read: u64,
    crc_until: u64,
    crc: crate::rdb::Crc64,
}

impl Read for CrcTee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.read < self.crc_until {
            let k = ((self.crc_until - self.read) as usize).min(n);
            self.crc.update(&buf[..k]);
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// Empties every database and the function libraries (the AOF replaces the dataset), by
/// loading an empty RDB: the same swap a base RDB file does.
fn clear_dataset(inner: &crate::db::Inner) -> Result<(), AofError> {
    let mut empty = Vec::new();
    crate::rdb::write_header(&mut empty);
    crate::rdb::write_eof(&mut empty, 0);
    persistence::load(inner, &empty[..], 0, LoadOptions { skip_expired: false, replace_functions: true })
        .map(|_| ())
        .map_err(|source| AofError::Base { file: String::new(), source })
}

/// Pauses the active expiry cycle while the files load (Redis's cron does not run during
/// loading), restoring the previous setting when dropped.
struct PauseExpiry<'a> {
    inner: &'a crate::db::Inner,
    was: bool,
}

impl<'a> PauseExpiry<'a> {
    fn new(inner: &'a crate::db::Inner) -> Self {
        PauseExpiry { inner, was: inner.active_expire.swap(false, Relaxed) }
    }
}

impl Drop for PauseExpiry<'_> {
    fn drop(&mut self) {
        self.inner.active_expire.store(self.was, Relaxed);
    }
}

/// Sets every key's LRU clock to now: the replay ran at time 0, and Redis's keys loaded
/// from an AOF look just written.
fn restamp_lru(inner: &crate::db::Inner) {
    use crate::keyspace::{lru_clock, META_CLOCK_MASK, SHARDS};
    let lru = lru_clock(inner.clock.now_ms());
    for i in 0..inner.db_count() {
        let ks = inner.keyspace(i);
        for s in 0..SHARDS {
            let shard = ks.shard_at(s).read();
            for node in shard.dict.iter() {
                let m = node.meta.load(Relaxed);
                node.meta.store((m & !META_CLOCK_MASK) | lru, Relaxed);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Upgrading an old-style AOF

/// Redis 7.0's upgrade from a single `appendfilename` in the server's directory
/// (`dir_of_server`) to the AOF directory (`appenddirname`): when the old file exists and
/// the directory does not, or its manifest lists nothing, or lists only that file as the
/// base and the file is not in the directory yet, the manifest is written with the old
/// file as base (`seq 1`) and the file is moved into the directory. `Ok(true)` when it
/// upgraded. Safe to retry after a crash at any point, as Redis's `aofUpgradePrepare`.
pub fn upgrade_old_aof(dir_of_server: &Path, appendfilename: &str, appenddirname: &str) -> Result<bool, AofError> {
    let old = dir_of_server.join(appendfilename);
    if !old.is_file() {
        return Ok(false);
    }
    let aof_dir = dir_of_server.join(appenddirname);
    let dir_exists = aof_dir.is_dir();
    let mut manifest =
        if dir_exists { Manifest::read(&aof_dir, appendfilename)?.unwrap_or_default() } else { Manifest::default() };
    let in_dir = aof_dir.join(appendfilename);
    let upgrade = !dir_exists
        || (manifest.base.is_none() && manifest.incrs.is_empty())
        || (manifest.incrs.is_empty()
            && manifest.base.as_ref().is_some_and(|b| b.name == appendfilename)
            && !in_dir.exists());
    if !upgrade {
        return Ok(false);
    }
    if in_dir.exists() {
        // Redis asserts this cannot happen; moving the old file would replace it.
        return Err(AofError::Io {
            op: "Can't upgrade the old AOF: the AOF directory already holds",
            path: in_dir,
            source: io::ErrorKind::AlreadyExists.into(),
        });
    }
    std::fs::create_dir_all(&aof_dir).map_err(|source| AofError::Io {
        op: "Can't open or create append-only dir",
        path: aof_dir.clone(),
        source,
    })?;
    manifest.base = Some(AofFile { name: appendfilename.to_string(), seq: 1, kind: AofFileKind::Base });
    manifest.cur_base_seq = 1;
    manifest.write_atomically(&aof_dir, appendfilename)?;
    std::fs::rename(&old, &in_dir).map_err(|source| AofError::Io {
        op: "Error trying to move the old AOF file into the AOF directory",
        path: old.clone(),
        source,
    })?;
    // Make the move durable in both directories (Redis leaves this to the OS).
    for d in [&aof_dir, &dir_of_server.to_path_buf()] {
        let _ = File::open(d).and_then(|f| f.sync_all());
    }
    Ok(true)
}
