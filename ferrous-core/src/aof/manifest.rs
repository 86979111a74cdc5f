//! The AOF manifest: which files make up the append-only file (Redis 7.0's multi-part AOF).
//!
//! The manifest lives in `appenddirname` as `<appendfilename>.manifest` and lists one file
//! per line, in Redis's syntax:
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.1.incr.aof seq 1 type h
//! file appendonly.aof.2.incr.aof seq 2 type i
//! ```
//!
//! - `b`: the base, a snapshot taken by the last rewrite (RDB, or commands when
//!   `aof-use-rdb-preamble` is off). At most one.
//! - `i`: incremental files of commands written since, replayed in order after the base.
//! - `h`: history: files a rewrite made obsolete, waiting to be deleted.
//!
//! [`Manifest::parse`] applies Redis's rules and gives its error texts (its `fgets` of at
//! most 1024 bytes per line, comments, `sdssplitargs` quoting, keys in any order and any
//! case, unknown keys ignored); [`Manifest::to_bytes`] writes exactly what Redis writes
//! (base, then history, then incr; names quoted with `sdscatrepr` only when they need it);
//! [`Manifest::write_atomically`] replaces the file as Redis's `persistAofManifest` does.
//!
//! [`AofError`], the error of the whole AOF module, is defined here.
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why reading, writing or loading the append-only file failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AofError {
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (Redis's wording where it has one).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The manifest breaks Redis's rules; `what` is Redis's message for it.
    #[error("{}{what}", if *.line > 0 { format!("Invalid AOF manifest (line {line}): ") } else { String::from("Invalid AOF manifest: ") })]
    InvalidManifest {
        /// 1-based line (counted as Redis counts them), 0 when no line is at fault.
        line: usize,
        /// Redis's error text (`Found duplicate base file information`, ...).
        what: String,
    },
    /// A file ends in the middle of a command (or inside MULTI) and `aof-load-truncated` is
    /// off.
    #[error("Unexpected end of file reading the append only file {file} (the last complete command ends at offset {offset}). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.")]
    Truncated {
        /// The file, as named in the manifest.
        file: String,
        /// Where the last complete command (outside MULTI) ends.
        offset: u64,
    },
    /// A file other than the last one ends in the middle of a command: Redis refuses to
    /// load that even with `aof-load-truncated`.
    #[error(
        "Fatal error: the truncated file is not the last file ({file}, last complete command ends at offset {offset})"
    )]
    TruncatedNotLast {
        /// The file, as named in the manifest.
        file: String,
        /// Where the last complete command ends.
        offset: u64,
    },
    /// The bytes are not AOF commands.
    #[error("Bad file format reading the append only file {file} at offset {offset} ({what}): make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>")]
    BadFormat {
        /// The file, as named in the manifest.
        file: String,
        /// Start of the faulty line.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// The RDB data of a base file is invalid.
    #[error("{0}")]
    Rdb(#[from] crate::rdb::RdbError),
    /// The RDB base file (or RDB preamble) could not be loaded.
    #[error("Error reading the RDB base file {file}, AOF loading aborted: {source}")]
    Base {
        /// The file, as named in the manifest.
        file: String,
        /// Why.
        source: crate::persistence::PersistError,
    },
    /// A command of the file cannot be replayed (Redis aborts on an unknown command).
    #[error("{error} reading the append only file {file} at offset {offset}")]
    Command {
        /// The file, as named in the manifest.
        file: String,
        /// Start of the command.
        offset: u64,
        /// What was wrong (`Unknown command 'FOO'`).
        error: String,
    },
}

/// The role of a file in the manifest (its `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AofFileKind {
    /// `b`: the base written by the last rewrite.
    Base,
    /// `h`: made obsolete by a rewrite, to be deleted.
    History,
    /// `i`: commands appended after the base, in order.
    Incr,
}

impl AofFileKind {
    /// The manifest's letter for this kind.
    pub fn letter(self) -> u8 {
        match self {
            AofFileKind::Base => b'b',
            AofFileKind::History => b'h',
            AofFileKind::Incr => b'i',
        }
    }
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFile {
    /// The file name inside the AOF directory (never a path).
    pub name: String,
    /// Its sequence number (bases and incrs are numbered separately).
    pub seq: u64,
    /// Its role.
    pub kind: AofFileKind,
}

/// The parsed manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base file, if any.
    pub base: Option<AofFile>,
    /// Incremental files, in replay order (increasing `seq`).
    pub incrs: Vec<AofFile>,
    /// Files to delete, in manifest order.
    pub history: Vec<AofFile>,
    /// Sequence number of the current base (the next base gets one more).
    pub cur_base_seq: u64,
    /// Sequence number of the last incr file (the next incr gets one more).
    pub cur_incr_seq: u64,
}

/// Redis reads the manifest with `fgets` into a buffer of this many bytes plus the NUL:
/// a longer line is an error.
const MANIFEST_MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses a manifest with Redis's rules (`aofLoadManifestFromFile`); errors carry its
    /// messages: `Found an empty AOF manifest`, `The AOF manifest file contains too long
    /// line`, `Invalid AOF manifest file format`, `File can't be a path, just a filename`,
    /// `Found duplicate base file information`, `Found a non-monotonic sequence number`,
    /// `Unknown AOF file type`.
    pub fn parse(text: &[u8]) -> Result<Manifest, AofError> {
        let mut m = Manifest::default();
        let mut max_incr_seq = 0u64;
        let mut rest = text;
        let mut linenum = 0usize;
        let err = |line: usize, what: &str| AofError::InvalidManifest { line, what: what.to_string() };
        loop {
            if rest.is_empty() {
                if linenum == 0 {
                    return Err(err(0, "Found an empty AOF manifest"));
                }
                break;
            }
            // One `fgets`: up to and including a newline, at most MANIFEST_MAX_LINE bytes.
            let take = match rest.iter().take(MANIFEST_MAX_LINE).position(|&c| c == b'\n') {
                Some(nl) => nl + 1,
                None => rest.len().min(MANIFEST_MAX_LINE),
            };
            let chunk = &rest[..take];
            rest = &rest[take..];
            linenum += 1;
            if chunk[0] == b'#' {
                continue;
            }
            // C string semantics: the line ends at a NUL, and must contain the newline.
            let chunk = match chunk.iter().position(|&c| c == 0) {
                Some(nul) => &chunk[..nul],
                None => chunk,
            };
            if !chunk.contains(&b'\n') {
                return Err(err(0, "The AOF manifest file contains too long line"));
            }
            let line = trim(chunk);
            if line.is_empty() {
                return Err(err(linenum, "Invalid AOF manifest file format"));
            }
            let argv = match split_args(line) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return Err(err(linenum, "Invalid AOF manifest file format")),
            };
            let (mut name, mut seq, mut kind) = (None::<Vec<u8>>, 0i64, 0u8);
            for pair in argv.chunks_exact(2) {
                let (key, value) = (&pair[0], &pair[1]);
                if key.eq_ignore_ascii_case(b"file") {
                    // `sdsnew(argv[i+1])`: the name stops at a NUL.
                    let v = c_str(value);
                    if v.contains(&b'/') || v.contains(&b'\\') {
                        return Err(err(linenum, "File can't be a path, just a filename"));
                    }
                    name = Some(v.to_vec());
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(value);
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind = value.first().copied().unwrap_or(0);
                }
                // Other keys are ignored: forward compatibility, as Redis does.
            }
            // Redis tests for a missing (or empty) name, a zero sequence and a missing type.
            let name = match name {
                Some(n) if !n.is_empty() && seq != 0 && kind != 0 => n,
                _ => return Err(err(linenum, "Invalid AOF manifest file format")),
            };
            // Ferrous's own limit: names are Rust strings.
            let Ok(name) = String::from_utf8(name) else {
                return Err(err(linenum, "Invalid AOF manifest file format (file name is not UTF-8)"));
            };
            // Ferrous's own limit: sequence numbers are unsigned (Redis would accept a
            // negative one for base and history files; for an incr file it is out of order).
            let seq = match u64::try_from(seq) {
                Ok(seq) => seq,
                Err(_) if kind == b'i' => return Err(err(linenum, "Found a non-monotonic sequence number")),
                Err(_) if kind == b'b' || kind == b'h' => {
                    return Err(err(linenum, "Invalid AOF manifest file format (negative sequence number)"))
                }
                Err(_) => return Err(err(linenum, "Unknown AOF file type")),
            };
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err(err(linenum, "Found duplicate base file information"));
                    }
                    m.base = Some(AofFile { name, seq, kind: AofFileKind::Base });
                    m.cur_base_seq = seq;
                }
                b'h' => m.history.push(AofFile { name, seq, kind: AofFileKind::History }),
                b'i' => {
                    if seq <= max_incr_seq {
                        return Err(err(linenum, "Found a non-monotonic sequence number"));
                    }
                    m.incrs.push(AofFile { name, seq, kind: AofFileKind::Incr });
                    m.cur_incr_seq = seq;
                    max_incr_seq = seq;
                }
                _ => return Err(err(linenum, "Unknown AOF file type")),
            }
        }
        Ok(m)
    }

    /// The manifest as Redis writes it (`getAofManifestAsString`): the base, then history
    /// files, then incr files, one `file <name> seq <n> type <t>` line each.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incrs) {
            out.extend_from_slice(b"file ");
            if needs_repr(f.name.as_bytes()) {
                crate::util::cat_repr(&mut out, f.name.as_bytes());
            } else {
                out.extend_from_slice(f.name.as_bytes());
            }
            out.extend_from_slice(format!(" seq {} type {}\n", f.seq, f.kind.letter() as char).as_bytes());
        }
        out
    }

    /// The base file's name for `seq`: `<prefix>.<seq>.base.rdb` (RDB preamble) or
    /// `<prefix>.<seq>.base.aof`.
    pub fn base_name(prefix: &str, seq: u64, rdb_preamble: bool) -> String {
        format!("{prefix}.{seq}.base.{}", if rdb_preamble { "rdb" } else { "aof" })
    }

    /// An incr file's name: `<prefix>.<seq>.incr.aof`.
    pub fn incr_name(prefix: &str, seq: u64) -> String {
        format!("{prefix}.{seq}.incr.aof")
    }

    /// The manifest's name: `<prefix>.manifest`.
    pub fn manifest_name(prefix: &str) -> String {
        format!("{prefix}.manifest")
    }

    /// The name the manifest is written under before it is renamed into place:
    /// `temp-<prefix>.manifest`.
    pub fn temp_manifest_name(prefix: &str) -> String {
        format!("temp-{prefix}.manifest")
    }

    /// Reads and parses `dir/<prefix>.manifest`. `Ok(None)` when the directory or the
    /// manifest does not exist (Redis then looks for an old-style AOF to upgrade, or
    /// starts without one).
    pub fn read(dir: &Path, prefix: &str) -> Result<Option<Manifest>, AofError> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let path = dir.join(Self::manifest_name(prefix));
        match std::fs::read(&path) {
            Ok(text) => Manifest::parse(&text).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => {
                Err(AofError::Io { op: "Fatal error: can't open the AOF manifest file for reading", path, source })
            }
        }
    }

    /// Replaces `dir/<prefix>.manifest` with this manifest as Redis's `persistAofManifest`
    /// does: write `temp-<prefix>.manifest`, fsync it, rename it over the manifest, fsync
    /// the directory (new AOF files were probably created in it too). On failure the old
    /// manifest is untouched and the temporary file is removed.
    pub fn write_atomically(&self, dir: &Path, prefix: &str) -> Result<(), AofError> {
        let tmp = dir.join(Self::temp_manifest_name(prefix));
        let target = dir.join(Self::manifest_name(prefix));
        let io = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| AofError::Io { op, path, source }
        };
        let result = (|| -> Result<(), AofError> {
            let mut f = std::fs::File::create(&tmp).map_err(io("Can't open the AOF manifest file", &tmp))?;
            f.write_all(&self.to_bytes()).map_err(io("Error trying to write the temporary AOF manifest file", &tmp))?;
            f.sync_all().map_err(io("Fail to fsync the temp AOF file", &tmp))?;
            drop(f);
            std::fs::rename(&tmp, &target)
                .map_err(io("Error trying to rename the temporary AOF manifest file", &target))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("Fail to fsync AOF directory", dir))
    }
}

/// `sdstrim(line, " \t\r\n")`.
fn trim(mut s: &[u8]) -> &[u8] {
    let strip = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(strip) {
        s = &s[1..];
    }
    while s.last().is_some_and(strip) {
        s = &s[..s.len() - 1];
    }
    s
}

/// The bytes of a C string: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&c| c == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// C's `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `atoll`: leading white space, an optional sign, digits; stops at anything else;
/// saturates on overflow as glibc's `strtoll` does.
pub(crate) fn atoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    // Accumulate negatively so that i64::MIN is reachable.
    let mut v: i64 = 0;
    let mut overflow = false;
    while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        match v.checked_mul(10).and_then(|v| v.checked_sub((c - b'0') as i64)) {
            Some(n) => v = n,
            None => overflow = true,
        }
        i += 1;
    }
    match (overflow, neg) {
        (true, true) => i64::MIN,
        (true, false) => i64::MAX,
        (false, true) => v,
        (false, false) => v.checked_neg().unwrap_or(i64::MAX),
    }
}

/// Redis's `sdssplitargs`: arguments separated by white space, `"..."` with C escapes
/// (`\n`, `\x41`...), `'...'` with only `\'`; a closing quote must be followed by white
/// space or the end. `None` for unbalanced quotes (Redis returns NULL).
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut p = 0;
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let (mut in_dq, mut in_sq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            if in_dq {
                if c == b'\\' && at(p + 1) == b'x' && at(p + 2).is_ascii_hexdigit() && at(p + 3).is_ascii_hexdigit() {
                    let hex = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(hex(at(p + 2)) * 16 + hex(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && p + 1 < line.len() {
                    p += 1;
                    cur.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if p + 1 < line.len() && !is_space(line[p + 1]) {
                        return None;
                    }
                    done = true;
                } else if p >= line.len() {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if p + 1 < line.len() && !is_space(line[p + 1]) {
                        return None;
                    }
                    done = true;
                } else if p >= line.len() {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if p >= line.len() {
                done = true;
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' => done = true,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => cur.push(c),
                }
            }
            if p < line.len() {
                p += 1;
            }
        }
        args.push(cur);
    }
}

/// C's `isprint` in the C locale.
fn is_print(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// Redis's `sdsneedsrepr`: whether a name must be quoted in the manifest.
fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| matches!(c, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 0x07 | 0x08) || !is_print(c) || is_space(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_follows_sdssplitargs() {
        let s = |l: &str| {
            split_args(l.as_bytes()).map(|v| v.into_iter().map(|a| String::from_utf8(a).unwrap()).collect::<Vec<_>>())
        };
        assert_eq!(s("a b  c"), Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(s(r#""a b" 'c d'"#), Some(vec!["a b".into(), "c d".into()]));
        assert_eq!(s(r#""\x41\n""#), Some(vec!["A\n".into()]));
        assert_eq!(s(r#"'it\'s'"#), Some(vec!["it's".into()]));
        assert_eq!(s(r#"ab"c d"e"#), None);
        assert_eq!(s(r#"ab"c d""#), Some(vec!["abc d".into()]));
        assert_eq!(s(r#""unterminated"#), None);
        assert_eq!(s("'x"), None);
        assert_eq!(s(""), Some(vec![]));
    }

    #[test]
    fn atoll_is_lenient_like_c() {
        assert_eq!(atoll(b"12"), 12);
        assert_eq!(atoll(b"  -7x"), -7);
        assert_eq!(atoll(b"+3"), 3);
        assert_eq!(atoll(b"x"), 0);
        assert_eq!(atoll(b"99999999999999999999"), i64::MAX);
        assert_eq!(atoll(b"-99999999999999999999"), i64::MIN);
        assert_eq!(atoll(b"-9223372036854775808"), i64::MIN);
    }

    #[test]
    fn repr_round_trips_through_split_args() {
        for name in ["a b", "q\"uote", "back\\slash", "tab\there", "nl\n", "\u{7f}del", "é"] {
            let mut out = Vec::new();
            assert!(needs_repr(name.as_bytes()));
            crate::util::cat_repr(&mut out, name.as_bytes());
            assert_eq!(split_args(&out), Some(vec![name.as_bytes().to_vec()]), "{name:?}");
        }
        assert!(!needs_repr(b"appendonly.aof.1.base.rdb"));
    }
}
