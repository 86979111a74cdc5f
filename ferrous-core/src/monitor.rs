//! MONITOR: every command executed, as one line per command to each monitoring client, in
//! Redis 7.0's format: `+<unix seconds>.<microseconds> [<db> <client address>] "arg" ...`
//! (`lua` as the address for commands run by scripts), arguments quoted and escaped as
//! Redis's `sdscatrepr`. Commands flagged `admin` or `skip_monitor` are not shown; a command
//! is shown once it has run (the commands of EXEC and of a script before EXEC / EVAL
//! itself), as Redis 7.0 feeds monitors from `call()`.
//!
//! The lines go through each monitor's push sink (the channel pub/sub messages take to its
//! event loop). While nobody monitors, the cost is one atomic load per command.
use crate::pubsub::PushSink;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// The monitoring clients of a Database.
#[derive(Default)]
pub struct Monitors {
    active: AtomicBool,
    list: Mutex<Vec<(u64, Arc<PushSink>)>>,
}

impl Monitors {
    /// True while at least one client monitors.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// Adds a monitoring client.
    pub fn add(&self, client_id: u64, sink: Arc<PushSink>) {
        let mut l = self.list.lock();
        if !l.iter().any(|(id, _)| *id == client_id) {
            l.push((client_id, sink));
        }
        self.active.store(true, Relaxed);
    }

    /// Removes a client (it disconnected or was reset).
    pub fn remove(&self, client_id: u64) {
        if !self.active() {
            return;
        }
        let mut l = self.list.lock();
        l.retain(|(id, _)| *id != client_id);
        self.active.store(!l.is_empty(), Relaxed);
    }

    /// Number of monitoring clients.
    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    /// True when nobody monitors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends the line for one executed command to every monitor.
    pub fn feed(&self, db: usize, addr: &str, args: &ferrous_resp::Args<'_>) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut line = format!("+{}.{:06} [{} {}]", now.as_secs(), now.subsec_micros(), db, addr).into_bytes();
        for a in args.iter() {
            line.push(b' ');
            crate::util::cat_repr(&mut line, a);
        }
        line.extend_from_slice(b"\r\n");
        for (_, sink) in self.list.lock().iter() {
            sink.push(&line);
        }
    }
}
