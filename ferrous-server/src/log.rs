//! Redis-style log lines: `pid:M 26 Nov 2026 02:30:00.123 * message`.
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;

/// Log levels, as redis.conf's `loglevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very verbose.
    Debug = 0,
    /// Verbose.
    Verbose = 1,
    /// Normal.
    Notice = 2,
    /// Only warnings.
    Warning = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static FILE: OnceLock<Option<std::sync::Mutex<std::fs::File>>> = OnceLock::new();

/// Sets the minimum level and the log file (empty: standard output).
pub fn init(level: &str, file: &str) {
    let l = match level {
        "debug" => Level::Debug,
        "verbose" => Level::Verbose,
        "warning" | "nothing" => Level::Warning,
        _ => Level::Notice,
    };
    LEVEL.store(l as u8, Relaxed);
    let _ = FILE.set(if file.is_empty() {
        None
    } else {
        std::fs::OpenOptions::new().create(true).append(true).open(file).ok().map(std::sync::Mutex::new)
    });
}

/// Writes one log line if `level` is enabled.
pub fn log(level: Level, msg: &str) {
    if (level as u8) < LEVEL.load(Relaxed) {
        return;
    }
    let mark = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let line = format!("{}:M {} {} {}\n", std::process::id(), timestamp(), mark, msg);
    match FILE.get().and_then(|f| f.as_ref()) {
        Some(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let ms = now.subsec_millis();
    let (y, mo, d) = civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(mo - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Logs at notice level.
#[macro_export]
macro_rules! notice { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Notice, &format!($($t)*)) } }
/// Logs at warning level.
#[macro_export]
macro_rules! warning { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warning, &format!($($t)*)) } }
/// Logs at verbose level.
#[macro_export]
macro_rules! verbose { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Verbose, &format!($($t)*)) } }

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_418), (2025, 11, 26));
    }
}
