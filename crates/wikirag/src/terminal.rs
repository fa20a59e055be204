//! Text from a dump on a terminal: a title or sentence may hold ESC, BEL, CR or LF (dumps are
//! data written by anyone), which would move the cursor, recolour or clear the screen, or
//! forge output lines. Human-readable output shows them escaped; JSON output is escaped by
//! serde already.

use std::borrow::Cow;

/// `text` with every control character (C0 but tab, DEL, C1) shown as `\u{…}`.
pub fn safe(text: &str) -> Cow<'_, str> {
    escape(text, |c| c.is_control() && c != '\t')
}

/// [`safe`] for text of several lines (an answer): line ends are kept.
pub fn safe_lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c.is_control() && c != '\t' && c != '\n')
}

fn escape(text: &str, needs_escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert!(matches!(safe("Plain – text\there"), Cow::Borrowed(_)));
        assert_eq!(
            safe("A\u{1b}[2JB\u{7}C\r\nD\u{9b}E"),
            "A\\u{1b}[2JB\\u{7}C\\u{d}\\u{a}D\\u{9b}E"
        );
        assert_eq!(safe_lines("a\u{1b}]0;x\u{7}\nb"), "a\\u{1b}]0;x\\u{7}\nb");
    }
}
