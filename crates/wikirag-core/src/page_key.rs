//! Page keys: what identifies a page inside one index.
//!
//! MediaWiki page ids are unique within a wiki, not across wikis: enwiki and frwiki both have
//! a page 1003940. An index may hold several wikis, and everything that finds a page by a
//! number — the sentence index's page lookups, vector rows, per-page caps, updates deleting a
//! page, the MCP ids — must not mistake one wiki's page for another's. So an index (format 5
//! on) stores a *page key*: the wiki's tag above bit [`PAGE_ID_BITS`], the MediaWiki id below.
//! The tag depends on the wiki's name alone, so shards built apart agree on every key and their
//! segments can be adopted by a merge unchanged; two wikis of one index whose tags coincide are
//! refused ([`tag_clash`]). Indexes of format 4 stored the MediaWiki id itself
//! ([`PageIds::Raw`]); they are read and updated as they were written.

/// Bits of a page key that hold the MediaWiki page id (MediaWiki's own ids are 32-bit).
pub const PAGE_ID_BITS: u32 = 40;

/// The largest page id a dump may carry.
pub const MAX_PAGE_ID: u64 = (1 << PAGE_ID_BITS) - 1;

/// Tags run from 1 to 2²³ − 1, so a key stays below 2⁶³.
const TAG_SPACE: u64 = (1 << 23) - 1;

/// The tag of a wiki's name (`frwiki`): FNV-1a, folded into 1..2²³.
pub fn wiki_tag(wiki: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in wiki.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % TAG_SPACE + 1
}

/// The key of page `page_id` of `wiki`.
pub fn page_key(wiki: &str, page_id: u64) -> u64 {
    debug_assert!(page_id <= MAX_PAGE_ID, "page id {page_id} beyond 2^40");
    (wiki_tag(wiki) << PAGE_ID_BITS) | (page_id & MAX_PAGE_ID)
}

/// The MediaWiki page id a key (or a format-4 stored id, which is its own id) stands for.
pub fn page_id_of_key(key: u64) -> u64 {
    key & MAX_PAGE_ID
}

/// Serializes a page key as the MediaWiki page id it stands for (`page_id` in JSON answers:
/// what Wikipedia calls the page; with the wiki, in the URL, it names the page).
pub fn serialize_page_id<S: serde::Serializer>(key: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(page_id_of_key(*key))
}

/// Two of `wikis` whose tags coincide (their pages could not be told apart in one index).
pub fn tag_clash<'a>(wikis: impl IntoIterator<Item = &'a str>) -> Option<(String, String)> {
    let mut seen: std::collections::HashMap<u64, &str> = std::collections::HashMap::new();
    for wiki in wikis {
        match seen.insert(wiki_tag(wiki), wiki) {
            Some(other) if other != wiki => return Some((other.to_string(), wiki.to_string())),
            _ => {}
        }
    }
    None
}

/// How an index stores a page's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageIds {
    /// Page keys ([`page_key`]): indexes of format 5 on.
    Keyed,
    /// The MediaWiki id alone: format 4, whose wikis' pages can collide.
    Raw,
}

impl PageIds {
    /// What the index stores for page `page_id` of `wiki`.
    pub fn stored(self, wiki: &str, page_id: u64) -> u64 {
        match self {
            PageIds::Keyed => page_key(wiki, page_id),
            PageIds::Raw => page_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_wikis_apart_and_give_the_id_back() {
        let (en, fr) = (page_key("enwiki", 1003940), page_key("frwiki", 1003940));
        assert_ne!(en, fr);
        assert_eq!(page_id_of_key(en), 1003940);
        assert_eq!(page_id_of_key(fr), 1003940);
        assert_eq!(page_id_of_key(page_key("enwiki", MAX_PAGE_ID)), MAX_PAGE_ID);
        assert!(page_key("enwiki", MAX_PAGE_ID) < 1 << 63);
        // A format-4 id is its own id.
        assert_eq!(page_id_of_key(1003940), 1003940);
        assert_eq!(PageIds::Raw.stored("frwiki", 7), 7);
        assert_eq!(PageIds::Keyed.stored("frwiki", 7), page_key("frwiki", 7));
        // Fixed: shards built apart, and every later wikirag, must agree on the keys.
        assert_eq!(wiki_tag("enwiki"), wiki_tag("enwiki"));
        assert!((1..1 << 23).contains(&wiki_tag("")));
    }

    #[test]
    fn the_wikis_of_wikipedia_do_not_clash() {
        let langs = "en fr de es it ja ru pt zh pl nl ar fa uk sv ca vi ko he id cs fi hu no \
                     ro tr sr ce ceb war arz simple eu ms eo hy da bg sh min kk uz et be az gl \
                     el sk lt hr sl ta ur th ka ast la cy nn hi bn af oc mk lv tt tg sq te bs";
        let wikis: Vec<String> = langs
            .split_whitespace()
            .flat_map(|l| ["wiki", "wiktionary", "wikisource"].map(|p| format!("{l}{p}")))
            .collect();
        assert_eq!(tag_clash(wikis.iter().map(String::as_str)), None);
        assert_eq!(tag_clash(["enwiki", "enwiki"]), None);
    }

    #[test]
    fn a_clash_is_found() {
        // Found by trying names in turn.
        let other = "xx4306400wiki";
        assert_eq!(wiki_tag(other), wiki_tag("enwiki"));
        assert_eq!(
            tag_clash(["enwiki", "frwiki", other]),
            Some(("enwiki".to_string(), other.to_string()))
        );
    }
}
