//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms], as Redis 7.0: a master hands over to
//! one of its replicas without losing a write.
//!
//! 1. `waiting-for-sync`: writes are paused (CLIENT PAUSE WRITE), replicas are asked for ACKs;
//!    once the target (or, without TO, any replica) acknowledged the whole stream, or the
//!    timeout passed with FORCE, the hand-over starts; a timeout without FORCE aborts.
//! 2. `failover-in-progress`: this server becomes a replica of the target and asks it, with
//!    `PSYNC <id> <offset> FAILOVER`, to promote itself; the target continues the same
//!    history (partial resync), so nothing is copied. Writes resume once the link is up; if
//!    the target refuses, this server goes back to being the master.
use crate::db::Database;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// No failover runs.
pub const NO_FAILOVER: u8 = 0;
/// Waiting for a replica to catch up.
pub const WAITING_FOR_SYNC: u8 = 1;
/// Handing over to the chosen replica.
pub const IN_PROGRESS: u8 = 2;

/// INFO's name of a failover state.
pub fn state_name(state: u8) -> &'static str {
    match state {
        WAITING_FOR_SYNC => "waiting-for-sync",
        IN_PROGRESS => "failover-in-progress",
        _ => "no-failover",
    }
}

/// What FAILOVER asked for.
pub struct Request {
    /// `TO host port`.
    pub target: Option<(String, u16)>,
    /// `TIMEOUT ms`.
    pub timeout_ms: Option<i64>,
    /// `FORCE`.
    pub force: bool,
}

/// Starts a failover (the command checked the request); runs on a thread of its own.
pub fn start(db: &Database, req: Request) {
    let inner = &db.inner;
    inner.repl.failover_state.store(WAITING_FOR_SYNC, Relaxed);
    inner.repl.failover_abort.store(false, Relaxed);
    inner.pause.pause(i64::MAX, crate::pause::PAUSE_WRITE);
    crate::persistence::log_notice(inner, "FAILOVER requested.");
    let weak = db.downgrade();
    let _ = std::thread::Builder::new().name("ferrous-failover".into()).spawn(move || {
        let Some(db) = weak.upgrade() else { return };
        let outcome = run(&db, req);
        let inner = &db.inner;
        if let Err(why) = outcome {
            crate::persistence::log_notice(inner, &format!("FAILOVER aborted: {why}"));
        }
        inner.repl.failover_state.store(NO_FAILOVER, Relaxed);
        inner.pause.unpause();
    });
}

fn run(db: &Database, req: Request) -> Result<(), String> {
    let inner = &db.inner;
    let started = Instant::now();
    let deadline = req.timeout_ms.map(|ms| started + Duration::from_millis(ms as u64));
    let mut last_getack = Instant::now() - Duration::from_secs(1);
    let target = loop {
        if inner.repl.failover_abort.load(Relaxed) {
            return Err("Failover manually aborted".into());
        }
        if last_getack.elapsed() >= Duration::from_millis(100) {
            super::request_acks(inner);
            last_getack = Instant::now();
        }
        // Everything written before the pause, plus the GETACKs themselves, must be acked:
        // the offset is read after the last GETACK went into the stream.
        let offset = inner.repl.offset();
        let caught_up = {
            let b = inner.repl.backlog.lock();
            b.peers
                .iter()
                .filter(|p| !p.dropped.load(Relaxed) && *p.state.lock() == "online")
                .filter(|p| req.target.as_ref().map_or(true, |(h, port)| &p.ip == h && p.port == *port))
                .find(|p| p.ack.load(Relaxed) >= offset)
                .map(|p| (p.ip.clone(), p.port))
        };
        if let Some(t) = caught_up {
            break t;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            match (&req.target, req.force) {
                (Some(t), true) => break t.clone(),
                _ => return Err("Replica never caught up before timeout".into()),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    inner.repl.failover_state.store(IN_PROGRESS, Relaxed);
    crate::persistence::log_notice(
        inner,
        &format!("Failover target {}:{} is synced, failing over.", target.0, target.1),
    );
    let link = super::replica::start_with(db, target.0.clone(), target.1, true);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if link.state.load(Relaxed) == super::replica::LINK_CONNECTED {
            link.failover.store(false, Relaxed);
            crate::persistence::log_notice(inner, "Failover target is now our master: FAILOVER succeeded.");
            return Ok(());
        }
        if link.failures.load(Relaxed) > 0 || Instant::now() >= until || inner.repl.failover_abort.load(Relaxed) {
            // The target did not take over: stay the master.
            super::replica::promote(&db.inner);
            return Err("Failover target rejected the hand-over".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
