use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// A shared flag a long stage polls to stop early (Ctrl-C).
#[derive(Debug, Default, Clone)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn new() -> StopFlag {
        StopFlag::default()
    }
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
