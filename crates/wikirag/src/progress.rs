//! Progress bars: bytes of compressed input read (with ETA), pages and pages/s.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use wikirag_core::Progress;

/// Warnings printed in full before the rest are only counted.
const SHOWN_WARNINGS: u64 = 20;

/// The warnings printed so far, so the final error does not print one of them again.
static PRINTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `message` with any warning already printed in full replaced by a pointer to it (a file
/// that could not be read was warned about, then named again by "no article could be read").
pub fn without_printed_warnings(message: &str) -> String {
    let printed = PRINTED.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = message.to_string();
    for w in printed.iter().filter(|w| !w.is_empty()) {
        if out.contains(w.as_str()) {
            out = out.replacen(w.as_str(), "see the warning above", 1);
        }
    }
    out
}

pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    pages: AtomicU64,
    warnings: AtomicU64,
    started: Mutex<Instant>,
    /// Items (sentences embedded) counted alongside pages, when an item stage has no total.
    items: AtomicU64,
    items_name: Mutex<Option<String>>,
    /// The current bar counts items, not bytes.
    item_bar: std::sync::atomic::AtomicBool,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            bar: Mutex::new(None),
            pages: AtomicU64::new(0),
            warnings: AtomicU64::new(0),
            started: Mutex::new(Instant::now()),
            items: AtomicU64::new(0),
            items_name: Mutex::new(None),
            item_bar: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// "N pages, R pages/s" since the current input started.
    fn rate(&self, pages: u64) -> String {
        let secs = self
            .started
            .lock()
            .expect("progress lock")
            .elapsed()
            .as_secs_f64();
        let mut line = format!(
            "{pages} pages, {:.0} pages/s",
            pages as f64 / secs.max(1e-9)
        );
        if self.items_name.lock().expect("progress lock").is_some() {
            let items = self.items.load(Ordering::Relaxed);
            line.push_str(&format!(
                ", {items} sentences embedded ({:.0}/s)",
                items as f64 / secs.max(1e-9)
            ));
        }
        line
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            f(bar);
        }
    }
}

impl Progress for Bars {
    fn input_started(&self, name: &str, total_bytes: Option<u64>) {
        let bar = ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let short = std::path::Path::new(name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        bar.set_prefix(short);
        self.item_bar.store(false, Ordering::Relaxed);
        self.pages.store(0, Ordering::Relaxed);
        *self.started.lock().expect("progress lock") = Instant::now();
        *self.bar.lock().expect("progress lock") = Some(bar);
    }

    fn bytes_read(&self, n: u64) {
        self.with_bar(|b| b.inc(n));
    }

    fn page_done(&self) {
        let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
        if pages.is_multiple_of(256) {
            let message = self.rate(pages);
            self.with_bar(|b| b.set_message(message));
        }
    }

    fn warning(&self, message: &str) {
        let n = self.warnings.fetch_add(1, Ordering::Relaxed) + 1;
        let line = if n <= SHOWN_WARNINGS {
            PRINTED
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(message.to_string());
            format!("warning: {message}")
        } else if n == SHOWN_WARNINGS + 1 {
            "warning: more warnings follow; `wikirag inspect` lists them".to_string()
        } else {
            return;
        };
        let mut shown = false;
        self.with_bar(|b| {
            b.println(&line);
            shown = true;
        });
        if !shown {
            eprintln!("{line}");
        }
    }

    fn input_finished(&self, _name: &str) {
        let message = self.rate(self.pages.load(Ordering::Relaxed));
        self.with_bar(|b| {
            b.set_message(message);
            b.finish();
        });
    }

    fn items_started(&self, name: &str, total: u64) {
        self.items.store(0, Ordering::Relaxed);
        if total == 0 {
            // Counted in the message of the current (byte) bar.
            *self.items_name.lock().expect("progress lock") = Some(name.to_string());
            return;
        }
        *self.items_name.lock().expect("progress lock") = None;
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {human_pos}/{human_len} ({per_sec}, ETA {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        self.item_bar.store(true, Ordering::Relaxed);
        if let Some(old) = self.bar.lock().expect("progress lock").replace(bar) {
            old.finish();
        }
    }

    fn items_done(&self, n: u64) {
        self.items.fetch_add(n, Ordering::Relaxed);
        if self.item_bar.load(Ordering::Relaxed) {
            self.with_bar(|b| b.inc(n));
        }
    }

    fn stage(&self, name: &str) {
        self.item_bar.store(false, Ordering::Relaxed);
        let bar = ProgressBar::new_spinner();
        bar.set_message(name.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        *self.bar.lock().expect("progress lock") = Some(bar);
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
