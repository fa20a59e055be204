use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Progress of a long stage, reported by libraries and drawn by the binary.
///
/// Every method has an empty default so a reporter implements only what it shows. Calls come
/// from worker threads: implementations must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    /// A new input starts; `total_bytes` is its size on disk when known.
    fn input_started(&self, _name: &str, _total_bytes: Option<u64>) {}
    /// `n` more bytes of the (compressed) input were consumed.
    fn bytes_read(&self, _n: u64) {}
    /// One more page was processed (indexed or skipped).
    fn page_done(&self) {}
    /// A warning the user should see (a skipped page, a truncated file).
    fn warning(&self, _message: &str) {}
    /// The current input is finished.
    fn input_finished(&self, _name: &str) {}
    /// A named stage without byte progress (committing, merging) begins.
    fn stage(&self, _name: &str) {}
    /// A named stage that processes `total` items (sentences to embed, vectors to link) begins.
    fn items_started(&self, _name: &str, _total: u64) {}
    /// `n` more items of the current item stage are done.
    fn items_done(&self, _n: u64) {}
}

/// A reporter that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// A shared flag a long stage polls to stop early (Ctrl-C). Once a build or update has begun
/// to publish ([`StopFlag::begin_publish`]) a stop no longer takes: the publish is one atomic
/// step, and whoever asked is told so instead of being told that nothing will be published.
#[derive(Debug, Default, Clone)]
pub struct StopFlag(Arc<AtomicU8>);

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
const PUBLISHING: u8 = 2;

/// Flags compare by state (running, stopped, publishing), so options that hold one can be
/// compared.
impl PartialEq for StopFlag {
    fn eq(&self, other: &StopFlag) -> bool {
        self.0.load(Ordering::Relaxed) == other.0.load(Ordering::Relaxed)
    }
}

impl StopFlag {
    pub fn new() -> StopFlag {
        StopFlag::default()
    }
    /// Asks to stop; false when publishing has already begun (it will finish).
    pub fn stop(&self) -> bool {
        self.leave_running(STOPPED)
    }
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed) == STOPPED
    }
    /// Marks the point of no return: false when a stop came first (publish nothing).
    pub fn begin_publish(&self) -> bool {
        self.leave_running(PUBLISHING)
    }
    /// Moves from running to `to`; true when the flag is (now or already) in `to`.
    fn leave_running(&self, to: u8) -> bool {
        match self
            .0
            .compare_exchange(RUNNING, to, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(state) => state == to,
        }
    }
    pub fn is_publishing(&self) -> bool {
        self.0.load(Ordering::SeqCst) == PUBLISHING
    }
}

#[cfg(test)]
mod tests {
    use super::StopFlag;

    /// A stop before publishing wins; once publishing has begun a stop does not take, and
    /// says so (Ctrl-C used to print "nothing will be published" and then publish).
    #[test]
    fn a_stop_takes_only_before_publishing() {
        let early = StopFlag::new();
        assert!(early.stop() && early.is_stopped());
        assert!(!early.begin_publish() && !early.is_publishing());

        let late = StopFlag::new();
        assert!(late.begin_publish() && late.is_publishing());
        assert!(!late.stop());
        assert!(!late.is_stopped() && late.is_publishing());
    }
}
