//! The tantivy schema: one document per sentence, plus one per page and per redirect so titles
//! and aliases can be looked up. Text is indexed in a field per language so each gets its own
//! analyzer (stemming, stop words), and stored once.

use tantivy::Index;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language as TLang, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};
use wikirag_core::{Language, PageIds};

/// Languages with their own analyzer; everything else uses `other`.
pub const ANALYZED: &[&str] = &["en", "fr", "de", "it", "es", "pt", "nl", "other"];

/// `kind` values.
pub const KIND_SENTENCE: &str = "s";
pub const KIND_PAGE: &str = "p";
pub const KIND_ALIAS: &str = "a";

/// The analyzer slot for a language.
pub fn slot(lang: &Language) -> &'static str {
    ANALYZED
        .iter()
        .find(|s| **s == lang.code())
        .copied()
        .unwrap_or("other")
}

fn tantivy_lang(slot: &str) -> Option<TLang> {
    Some(match slot {
        "en" => TLang::English,
        "fr" => TLang::French,
        "de" => TLang::German,
        "it" => TLang::Italian,
        "es" => TLang::Spanish,
        "pt" => TLang::Portuguese,
        "nl" => TLang::Dutch,
        _ => return None,
    })
}

/// The analyzer of a slot: lower case, stop words, stemming, then accents folded so "Edith"
/// finds "Édith".
pub fn analyzer(slot: &str) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(48))
        .filter(LowerCaser);
    match tantivy_lang(slot) {
        Some(lang) => match StopWordFilter::new(lang) {
            Some(stop) => base
                .filter(stop)
                .filter(StopWordFilter::remove(
                    question_words(slot).iter().map(|w| w.to_string()),
                ))
                .filter(Stemmer::new(lang))
                .filter(AsciiFoldingFilter)
                .build(),
            None => base
                .filter(Stemmer::new(lang))
                .filter(AsciiFoldingFilter)
                .build(),
        },
        None => base.filter(AsciiFoldingFilter).build(),
    }
}

/// Question words: users type questions, and "who" or "combien" only add noise to a sentence
/// search (measured on the dev sets, see benches/RESULTS.md). Removed on top of the language's
/// stop list.
fn question_words(slot: &str) -> &'static [&'static str] {
    match slot {
        "en" => &[
            "who", "whom", "whose", "what", "when", "where", "which", "why", "how", "does", "did",
            "do",
        ],
        "fr" => &[
            "combien", "comment", "où", "quand", "pourquoi", "quels", "quelles", "lequel",
            "laquelle",
        ],
        _ => &[],
    }
}

pub fn analyzer_name(slot: &str) -> String {
    format!("wikirag_{slot}")
}

/// Field handles.
#[derive(Clone, Debug)]
pub struct Fields {
    pub kind: Field,
    pub lang: Field,
    pub text: Field,
    pub title: Field,
    /// Per analyzer slot: (text, title) indexed fields.
    pub by_slot: Vec<(&'static str, Field, Field)>,
    pub title_key: Field,
    /// Redirect titles, on alias documents only (folded, not stemmed).
    pub alias: Field,
    pub target: Field,
    pub section: Field,
    pub page_id: Field,
    pub sentence: Field,
    pub sentence_kind: Field,
    pub revision_id: Field,
    pub url: Field,
    pub timestamp: Field,
    /// The wiki a page, sentence or redirect came from (`frwiki`): updates are per wiki, and
    /// page ids are only unique within one. Absent from indexes made before updates.
    pub wiki: Field,
    /// Per analyzer slot: the words of a sentence that repeat its page's title, scored apart
    /// from the rest of the text (`title_words_weight`). Absent from older indexes, whose
    /// text fields hold every word.
    pub title_words_by_slot: Vec<(&'static str, Field)>,
    /// What `page_id` holds: page keys (format 5 on; a new index) or MediaWiki ids (format
    /// 4). Set from the manifest by whoever adds documents to an existing index.
    pub page_ids: PageIds,
}

impl Fields {
    pub fn slot_fields(&self, slot: &str) -> (Field, Field) {
        let (_, t, ti) = self
            .by_slot
            .iter()
            .find(|(s, _, _)| *s == slot)
            .or_else(|| self.by_slot.iter().find(|(s, _, _)| *s == "other"))
            .expect("`other` slot always exists");
        (*t, *ti)
    }

    /// The field of a slot for the words that repeat the page title (`None` in indexes made
    /// before they were split off: see [`Fields::for_index`]).
    pub fn title_words_field(&self, slot: &str) -> Option<Field> {
        self.title_words_by_slot
            .iter()
            .find(|(s, _)| *s == slot)
            .or_else(|| self.title_words_by_slot.iter().find(|(s, _)| *s == "other"))
            .map(|(_, f)| *f)
    }

    /// The handles for an existing index: without the title-words fields when it has none
    /// (its documents keep every word in the text field, and new ones must too).
    pub fn for_index(schema: &Schema) -> Fields {
        let (_, mut fields) = build_schema();
        if schema.get_field("title_words_other").is_err() {
            fields.title_words_by_slot.clear();
        }
        fields
    }
}

pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let kind = b.add_text_field("kind", STRING);
    let lang = b.add_text_field("lang", STRING | STORED);
    let text = b.add_text_field("text", STORED);
    let title = b.add_text_field("title", STORED);
    let mut by_slot = Vec::new();
    for slot in ANALYZED {
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&analyzer_name(slot))
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let t = b.add_text_field(&format!("text_{slot}"), opts.clone());
        let ti = b.add_text_field(&format!("title_{slot}"), opts);
        by_slot.push((*slot, t, ti));
    }
    let title_key = b.add_text_field("title_key", STRING);
    let alias = b.add_text_field(
        "alias",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&analyzer_name("other"))
                .set_index_option(IndexRecordOption::Basic),
        ),
    );
    let target = b.add_text_field("target", STORED);
    let section = b.add_text_field("section", STORED);
    let page_id = b.add_u64_field("page_id", INDEXED | STORED | FAST);
    let sentence = b.add_u64_field("sentence", INDEXED | STORED | FAST);
    // Fast as well: ranking reads it for the fact weight (indexes made before read as prose).
    let sentence_kind = b.add_u64_field("sentence_kind", STORED | FAST);
    let revision_id = b.add_u64_field("revision_id", STORED);
    let url = b.add_text_field("url", STORED);
    let timestamp = b.add_text_field("timestamp", STORED);
    // Last, so the fields before it keep their ids in indexes made without it.
    let wiki = b.add_text_field("wiki", STRING | STORED);
    // After it, for the same reason.
    let title_words_by_slot = ANALYZED
        .iter()
        .map(|slot| {
            let opts = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(&analyzer_name(slot))
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            );
            (
                *slot,
                b.add_text_field(&format!("title_words_{slot}"), opts),
            )
        })
        .collect();
    let fields = Fields {
        kind,
        lang,
        text,
        title,
        by_slot,
        title_key,
        alias,
        target,
        section,
        page_id,
        sentence,
        sentence_kind,
        revision_id,
        url,
        timestamp,
        wiki,
        title_words_by_slot,
        page_ids: PageIds::Keyed,
    };
    (b.build(), fields)
}

/// Registers our analyzers on an index (needed on create and on open).
pub fn register_analyzers(index: &Index) {
    for slot in ANALYZED {
        index
            .tokenizers()
            .register(&analyzer_name(slot), analyzer(slot));
    }
}

/// The exact-match key of a title: case- and space-insensitive, `_` = space.
pub fn title_key(title: &str) -> String {
    title
        .replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

pub fn sentence_kind_code(kind: wikirag_core::SentenceKind) -> u64 {
    use wikirag_core::SentenceKind::*;
    match kind {
        Prose => 0,
        ListItem => 1,
        TableRow => 2,
        Fact => 3,
    }
}

pub fn sentence_kind_from_code(code: u64) -> wikirag_core::SentenceKind {
    use wikirag_core::SentenceKind::*;
    match code {
        1 => ListItem,
        2 => TableRow,
        3 => Fact,
        _ => Prose,
    }
}
