//! Panics caught at a boundary. tantivy panics on some damaged files (a slice out of bounds in a
//! segment); the index catches those and answers an error naming the index. While such a guard
//! runs, the binary's panic hook stays quiet (the error says it all); any other panic is a bug
//! and is printed as one.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;

thread_local! {
    static GUARDS: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`; a panic inside it becomes `Err(its message)`.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    GUARDS.with(|g| g.set(g.get() + 1));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    GUARDS.with(|g| g.set(g.get() - 1));
    result.map_err(|payload| panic_message(payload.as_ref()))
}

/// Whether this thread is inside [`catch_panic`] (for a panic hook).
pub fn panic_is_caught() -> bool {
    GUARDS.with(|g| g.get() > 0)
}

/// A panic payload's message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_the_guard_is_released() {
        assert!(!panic_is_caught());
        let r: Result<(), String> = catch_panic(|| {
            assert!(panic_is_caught());
            panic!("slice index {} out of range", 7)
        });
        assert_eq!(r.unwrap_err(), "slice index 7 out of range");
        assert!(!panic_is_caught());
        assert_eq!(catch_panic(|| 3), Ok(3));
    }
}
