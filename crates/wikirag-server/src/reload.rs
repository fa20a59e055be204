//! A new generation served without a restart. [`Reloadable`] holds the backend being served
//! and answers through it; [`watch_generations`] looks at the index (every `every`, and on
//! each wake-up: SIGHUP) and, when its fingerprint changed, opens the new generation beside
//! the old one and swaps it in. Requests in flight finish on the generation they started
//! with; a generation that fails to open is not taken (the old one keeps answering) and is
//! not tried again until the index changes again or a wake-up asks.

use crate::{Backend, Integrity};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use wikirag_core::{BoxError, Hit, Mode, SearchRequest};
use wikirag_rag::followup::Turn;
use wikirag_rag::{Answer, AskEvent, AskOptions, RagError};

/// The backend being served, replaceable while it serves.
pub struct Reloadable<B> {
    current: RwLock<Arc<B>>,
}

impl<B: Backend> Reloadable<B> {
    pub fn new(first: B) -> Reloadable<B> {
        Reloadable {
            current: RwLock::new(Arc::new(first)),
        }
    }

    /// The generation answering now.
    pub fn current(&self) -> Arc<B> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves `next` from now on (requests in flight keep the one they hold).
    pub fn replace(&self, next: B) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
    }
}

impl<B: Backend> Backend for Reloadable<B> {
    fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>, BoxError> {
        self.current().search(request)
    }
    fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        on_event: &mut dyn FnMut(AskEvent<'_>),
    ) -> Result<Answer, RagError> {
        self.current().ask(question, options, on_event)
    }
    fn backend(&self) -> String {
        self.current().backend()
    }
    fn integrity(&self) -> Integrity {
        self.current().integrity()
    }
    fn standalone(&self, turns: &[Turn<'_>]) -> Option<String> {
        self.current().standalone(turns)
    }
    fn modes(&self) -> Vec<Mode> {
        self.current().modes()
    }
    fn search_as(&self, request: &SearchRequest, mode: Option<Mode>) -> Result<Vec<Hit>, BoxError> {
        self.current().search_as(request, mode)
    }
    fn page_sentences(
        &self,
        page_id: u64,
        last: u32,
    ) -> Result<Option<Vec<(u32, String)>>, BoxError> {
        self.current().page_sentences(page_id, last)
    }
    fn sentences_at(
        &self,
        positions: &[(u64, u32)],
        context: usize,
    ) -> Result<Option<Vec<Hit>>, BoxError> {
        self.current().sentences_at(positions, context)
    }
}

/// What [`watch_generations`] did, for the caller to tell.
#[derive(Debug)]
pub enum Reload {
    /// The new generation (its number) answers from now on.
    Swapped { generation: u64 },
    /// The new generation could not be opened; the previous one keeps answering.
    Refused { error: String },
}

/// Watches what `fingerprint` reads (the index's manifest) and swaps in what `open` makes of
/// a changed index (the backend and its generation number), telling `report` each time.
/// Returns when nothing can wake it any more (`every` is `None` and `wake` is closed).
pub fn watch_generations<B: Backend>(
    target: &Reloadable<B>,
    fingerprint: impl Fn() -> Option<Vec<u8>>,
    open: impl Fn() -> Result<(B, u64), String>,
    every: Option<Duration>,
    wake: &Receiver<()>,
    report: impl Fn(Reload),
) {
    let mut seen = fingerprint();
    loop {
        let Some(woken) = next_wake(wake, every, RELOAD_SETTLE) else {
            return;
        };
        let now = fingerprint();
        if now.is_none() || (now == seen && !woken) {
            continue;
        }
        match open() {
            Ok((backend, generation)) => {
                target.replace(backend);
                tracing::info!(generation, "serving a new generation");
                report(Reload::Swapped { generation });
            }
            Err(error) => {
                tracing::warn!(%error, "a new generation could not be opened");
                report(Reload::Refused { error });
            }
        }
        // Not retried until the index changes again (or a wake-up asks).
        seen = now;
    }
}

/// How long a wake-up waits for more before the reload: a burst of SIGHUPs is one reload.
pub const RELOAD_SETTLE: Duration = Duration::from_millis(200);

/// Waits for the next reason to look at the index: `Some(true)` for a wake-up (every wake-up
/// that came before the reload, and within `settle` after the first, is the same one),
/// `Some(false)` when `every` passed, `None` when nothing can wake it any more.
fn next_wake(wake: &Receiver<()>, every: Option<Duration>, settle: Duration) -> Option<bool> {
    let first = match every {
        Some(every) => match wake.recv_timeout(every) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => return None,
        },
        None => wake.recv().is_ok().then_some(true)?,
    };
    if first {
        let until = Instant::now() + settle;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match wake.recv_timeout(left) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_wake_ups_is_one_reload() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = std::thread::spawn(move || {
            for _ in 0..300 {
                tx.send(()).unwrap();
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        let settle = Duration::from_millis(300);
        let mut reloads = 0;
        while let Some(woken) = next_wake(&rx, Some(Duration::from_millis(50)), settle) {
            reloads += usize::from(woken);
            if sender.is_finished() && rx.try_recv().is_err() && !woken {
                break;
            }
        }
        sender.join().unwrap();
        assert!(reloads <= 2, "{reloads} reloads for one burst");
        assert!(reloads >= 1);
    }
}
