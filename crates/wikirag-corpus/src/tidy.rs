//! The last pass over cleaned text: whitespace collapsed, what dropped markup leaves behind
//! mended (empty parentheses, spaces before punctuation, residual tags and brackets), and the
//! plain-text tags the parser must not see protected before it and restored after.

use wikirag_core::Language;

/// Collapses whitespace and mends what dropped markup leaves behind: empty parentheses, spaces
/// before commas and full stops (and before `;`/`:` except in French typography). One pass.
pub fn tidy(text: &str, lang: &Language) -> String {
    let stripped;
    // One pass for the bytes any residual markup starts with (the placeholders start with
    // 0xEF) before the exact checks, which most texts never need.
    let may_have_markup = text
        .bytes()
        .any(|b| matches!(b, b'{' | b'}' | b'[' | b']' | b'\'' | b'<' | 0xEF));
    let text = if may_have_markup
        && (["{{", "}}", "[[", "]]", "''", "<"]
            .iter()
            .any(|m| text.contains(m))
            || text.contains(crate::balance::LINK_OPENER_AS_TEXT)
            || text.contains(crate::balance::BRACE_SEPARATOR))
    {
        stripped = strip_residual_markup(text);
        stripped.as_str()
    } else {
        text
    };
    let french = *lang == Language::French;
    let mut out = String::with_capacity(text.len());
    // Byte offset in `out` of the innermost open parenthesis holding no word yet.
    let mut empty_paren: Option<usize> = None;
    let mut space = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // A run of plain ASCII (not whitespace, not one of `(),.;:`): the rules below do the
        // same for each of its characters after the first — push it, and an alphanumeric one
        // ends an empty parenthesis — so the run is copied whole.
        if is_plain_ascii(bytes[i]) {
            let end = bytes[i..]
                .iter()
                .position(|&b| !is_plain_ascii(b))
                .map_or(bytes.len(), |p| i + p);
            if space && !out.is_empty() && !out.ends_with('(') {
                out.push(' ');
            }
            space = false;
            out.push_str(&text[i..end]);
            if bytes[i..end].iter().any(u8::is_ascii_alphanumeric) {
                empty_paren = None;
            }
            i = end;
            continue;
        }
        let c = text[i..].chars().next().expect("i is a char boundary");
        i += c.len_utf8();
        if c.is_whitespace() {
            space = true;
            continue;
        }
        let glue_left = matches!(c, ',' | '.' | ')') || (!french && matches!(c, ';' | ':'));
        if space && !out.is_empty() && !glue_left && !out.ends_with('(') {
            out.push(' ');
        }
        space = false;
        match c {
            '(' => {
                empty_paren = Some(out.len());
                out.push('(');
            }
            ')' if empty_paren.is_some() => {
                // "( )", "(, ;)": nothing inside, drop the pair and a space before it.
                let at = empty_paren.take().unwrap_or(0);
                out.truncate(at);
                if out.ends_with(' ') {
                    out.pop();
                }
                space = true;
            }
            ',' if out.ends_with(',') => {}
            _ => {
                if c.is_alphanumeric() {
                    empty_paren = None;
                }
                out.push(c);
            }
        }
    }
    out.trim().to_string()
}

/// An ASCII byte [`tidy`] copies as it is: not whitespace and none of `(),.;:`.
fn is_plain_ascii(b: u8) -> bool {
    b.is_ascii()
        && !matches!(
            b,
            b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C | b'(' | b')' | b',' | b'.' | b';' | b':'
        )
}

/// Last resort for markup the parser left as text (it does on some real pages): templates are
/// dropped innermost first, links keep their label, bold and italic quotes go.
fn strip_residual_markup(text: &str) -> String {
    let mut s = text
        .replace(concat!('\u{FDD0}', '['), "[[")
        .replace(crate::balance::LINK_OPENER_AS_TEXT, "[[")
        .replace(crate::balance::BRACE_SEPARATOR, "");
    // Templates, innermost first; a bounded number of rounds keeps this linear in practice.
    for _ in 0..8 {
        let Some(open) = s.find("{{") else { break };
        let mut out = String::with_capacity(s.len());
        let mut rest = &s[..];
        let mut changed = false;
        let _ = open;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            match (after.find("}}"), after.find("{{")) {
                (Some(end), next) if next.is_none_or(|n| n > end) => {
                    out.push_str(&rest[..start]);
                    rest = &after[end + 2..];
                    changed = true;
                }
                _ => {
                    out.push_str(&rest[..start + 2]);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        s = out;
        if !changed {
            break;
        }
    }
    // Links: [[target|label]] → label, [[target]] → target.
    while let Some(start) = s.find("[[") {
        let Some(len) = s[start..].find("]]") else {
            break;
        };
        let inner = &s[start + 2..start + len];
        let label = inner.rsplit('|').next().unwrap_or(inner).to_string();
        s.replace_range(start..start + len + 2, &label);
    }
    let s = strip_tags(&s);
    s.replace("'''", "")
        .replace("''", "")
        .replace("{{", "")
        .replace("}}", "")
        .replace("[[", "")
        .replace("]]", "")
}

/// Drops `<ref>…</ref>` (with its content) and any other tag-shaped `<name …>` left as text.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let tail = &rest[lt..];
        let name: String = tail[1..]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let close = tail.find('>').filter(|&i| i < 300);
        match (name.is_empty(), close) {
            (false, Some(gt)) => {
                let tag = &tail[..=gt];
                rest = &tail[gt + 1..];
                if name.eq_ignore_ascii_case("ref")
                    && !tag.ends_with("/>")
                    && !tag.starts_with("</")
                {
                    // Skip the reference's content up to its end tag.
                    match rest.find("</ref>") {
                        Some(end) => rest = &rest[end + "</ref>".len()..],
                        None => rest = "",
                    }
                }
            }
            _ => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Offset of the private-use plane that stands for markup characters inside `<nowiki>`.
const PROTECTED: u32 = 0xF_0000;
/// The characters wikitext gives a meaning to; inside `<nowiki>` they are plain text.
const MARKUP: &[char] = &[
    '[', ']', '{', '}', '|', '\'', '<', '>', '=', '*', '#', ':', ';', '~', '_', '-', '&', '!',
];

/// parse-wiki-text parses `<nowiki>…</nowiki>` and `<math>…</math>` without flushing the text
/// before the tag, so "Alpha beta <nowiki>gamma</nowiki> delta." came out as "gamma delta.".
/// Before parsing, a `<nowiki>` element becomes its content with every markup character moved
/// to a private-use code point (plain text to the parser; [`unprotect`] restores it), and a
/// `<math>` element (whose formula the cleaner drops anyway) is removed. Unclosed tags are left
/// as they are (the parser keeps them as text).
pub(crate) fn protect_plain_text_tags(text: &str) -> std::borrow::Cow<'_, str> {
    // Most pages have neither: answer that without copying the page.
    let has = |tag: &[u8]| {
        text.as_bytes()
            .windows(tag.len())
            .any(|w| w.eq_ignore_ascii_case(tag))
    };
    if !has(b"<nowiki") && !has(b"<math") {
        return std::borrow::Cow::Borrowed(text);
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find('<') {
        let start = pos + found;
        let rest = &lower[start + 1..];
        let name = ["nowiki", "math"].into_iter().find(|n| {
            rest.starts_with(n)
                && rest[n.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c == '>' || c.is_ascii_whitespace())
        });
        let element = name.and_then(|name| {
            let open_end = start + 1 + lower[start + 1..].find('>')?;
            if lower[..open_end].ends_with('/') {
                return None; // <nowiki/>: the parser handles it
            }
            let close = format!("</{name}");
            let content_end = open_end + 1 + lower[open_end + 1..].find(&close)?;
            let close_end = content_end + lower[content_end..].find('>')? + 1;
            Some((name, open_end + 1, content_end, close_end))
        });
        match element {
            Some((name, content_start, content_end, close_end)) => {
                out.push_str(&text[pos..start]);
                if name == "nowiki" {
                    for c in text[content_start..content_end].chars() {
                        match MARKUP.contains(&c) {
                            true => out.push(char::from_u32(PROTECTED + c as u32).unwrap_or(c)),
                            false => out.push(c),
                        }
                    }
                }
                pos = close_end;
            }
            None => {
                out.push_str(&text[pos..=start]);
                pos = start + 1;
            }
        }
    }
    out.push_str(&text[pos..]);
    std::borrow::Cow::Owned(out)
}

/// Restores the markup characters [`protect_plain_text_tags`] moved out of the parser's way.
pub(crate) fn unprotect(text: &str) -> String {
    if !text.chars().any(|c| c as u32 >= PROTECTED) {
        return text.to_string();
    }
    text.chars()
        .map(|c| match (c as u32).checked_sub(PROTECTED) {
            Some(ascii) if ascii < 128 => char::from_u32(ascii).unwrap_or(c),
            _ => c,
        })
        .collect()
}
