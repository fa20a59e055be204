//! Searching an index: BM25 over the sentence documents, with title boost, redirect aliases,
//! a per-page cap and neighbouring sentences as context.

use crate::collect::{RankCollector, Ranked};
use crate::columns::ColumnCache;
use crate::error::{Context, IndexError, Result};
use crate::manifest::Manifest;
use crate::schema::{self, Fields, KIND_PAGE, KIND_SENTENCE};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::tokenizer::TokenStream;
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};
use wikirag_core::{BoxError, Hit, Retriever, SearchRequest, SentenceLookup};

/// The most candidates one search ranks to satisfy the per-page cap.
const MAX_FETCH: usize = 20_000;

/// Ranking knobs.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// Boost of the title field against the sentence text (1.0: best MRR on both dev sets,
    /// swept with `wikirag eval --sweep title_boost=...`).
    pub title_boost: f32,
    /// Score given to every sentence of a page whose redirect alias the query names.
    pub alias_boost: f32,
    /// Factor on the BM25 score of infobox facts. Facts are indexed whole, entity included
    /// (so "Autriche — capitale: Vienne" competes with prose repeating "Autriche"), and they
    /// are short: at full weight a query naming the entity fills the page's slots with its
    /// facts and hides its prose (the seed case's "Premier ministre français"); swept with
    /// `wikirag eval --sweep fact_weight=...`.
    pub fact_weight: f32,
    /// Weight of a sentence's words that repeat its page's title (the title field already
    /// scores the name once for every sentence of the page); swept with `wikirag eval
    /// --sweep title_words_weight=...`. Indexes made before have these words in the text.
    pub title_words_weight: f32,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            title_boost: 1.0,
            alias_boost: 4.0,
            fact_weight: FACT_WEIGHT,
            title_words_weight: TITLE_WORDS_WEIGHT,
        }
    }
}

/// [`SearchOptions::fact_weight`]'s default: the largest that keeps the seed case (both
/// women found and answered); benches/RESULTS.md, "Facts".
pub const FACT_WEIGHT: f32 = 0.85;

/// [`SearchOptions::title_words_weight`]'s default (benches/RESULTS.md, "Title words").
pub const TITLE_WORDS_WEIGHT: f32 = 0.1;

/// An open index, ready to search. Cheap to share between threads.
pub struct SentenceIndex {
    path: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    manifest: Manifest,
    slots: Vec<&'static str>,
    parser: QueryParser,
    options: SearchOptions,
    /// Built once: the analyzer of the `alias` field.
    alias_analyzer: tantivy::tokenizer::TextAnalyzer,
    /// Checks segment files block by block as tantivy reads them (an index published with
    /// block checksums).
    verified: Option<crate::verified::VerifyingDirectory>,
    /// Fast-field columns, opened once per segment.
    columns: ColumnCache,
}

impl SentenceIndex {
    pub fn open(dir: &Path) -> Result<SentenceIndex> {
        crate::error::guard(dir, || Self::open_unguarded(dir))
    }

    fn open_unguarded(dir: &Path) -> Result<SentenceIndex> {
        let manifest = Manifest::read_checked(dir)?;
        let (index, verified) = crate::verified::open_index(dir)?;
        schema::register_analyzers(&index);
        let fields = Fields::for_index(&index.schema());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .at(dir)?;
        let mut slots: Vec<&'static str> = manifest
            .languages
            .iter()
            .map(|l| schema::slot(&wikirag_core::Language::from_code(l)))
            .collect();
        slots.sort();
        slots.dedup();
        if slots.is_empty() {
            slots.push("other");
        }
        let options = SearchOptions::default();
        let parser = Self::make_parser(&index, &fields, &slots, &options);
        Ok(SentenceIndex {
            path: dir.to_path_buf(),
            index,
            reader,
            fields,
            manifest,
            slots,
            parser,
            options,
            alias_analyzer: schema::analyzer("other"),
            verified,
            columns: ColumnCache::default(),
        })
    }

    /// Runs `f` over the index: a panic inside tantivy, or a block that does not match its
    /// checksum (found by this read or an earlier one), is [`IndexError::Damaged`].
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let result = crate::error::guard(&self.path, f);
        match self.damage() {
            Some(detail) => Err(IndexError::Damaged {
                path: self.path.clone(),
                detail,
            }),
            None => result,
        }
    }

    /// The first damaged block any read found, said for a user.
    pub fn damage(&self) -> Option<String> {
        self.verified
            .as_ref()?
            .damage()
            .map(|d| format!("{d} (damaged)"))
    }

    /// Checks every block of the segment files that no search has read yet (a background
    /// pass; an index published without block checksums has nothing to check).
    pub fn verify_blocks(&self) -> Result<()> {
        if let Some(directory) = &self.verified {
            directory.verify_all().map_err(|d| IndexError::Damaged {
                path: self.path.clone(),
                detail: format!("{d} (damaged)"),
            })?;
        }
        Ok(())
    }

    /// Blocks of the segment files verified so far, and in all (0, 0 without checksums).
    pub fn blocks_verified(&self) -> (usize, usize) {
        self.verified.as_ref().map_or((0, 0), |d| d.progress())
    }

    fn make_parser(
        index: &Index,
        fields: &Fields,
        slots: &[&str],
        options: &SearchOptions,
    ) -> QueryParser {
        let mut default_fields = Vec::new();
        let mut title_fields = Vec::new();
        for slot in slots {
            let (t, ti) = fields.slot_fields(slot);
            default_fields.push(t);
            default_fields.push(ti);
            title_fields.push(ti);
        }
        // Indexes made before the title words were split off have no such fields.
        let mut title_words_fields = Vec::new();
        if options.title_words_weight > 0.0 {
            for tw in slots
                .iter()
                .filter_map(|slot| fields.title_words_field(slot))
            {
                default_fields.push(tw);
                title_words_fields.push(tw);
            }
        }
        let mut parser = QueryParser::for_index(index, default_fields);
        for ti in title_fields {
            parser.set_field_boost(ti, options.title_boost);
        }
        for tw in title_words_fields {
            parser.set_field_boost(tw, options.title_words_weight);
        }
        parser
    }

    pub fn with_options(mut self, options: SearchOptions) -> SentenceIndex {
        self.parser = Self::make_parser(&self.index, &self.fields, &self.slots, &options);
        self.options = options;
        self
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of sentence documents.
    pub fn num_sentences(&self) -> u64 {
        self.manifest.counts.sentences
    }

    /// Ranks: (score, page id, sentence, document) of the top `req.k` under the per-page cap.
    fn rank(
        &self,
        searcher: &Searcher,
        req: &SearchRequest,
    ) -> Result<Vec<(f32, u64, u64, DocAddress)>> {
        self.columns.keep_only(searcher);
        let query_text = sanitize_query(&req.query);
        if query_text.trim().is_empty() || req.k == 0 {
            return if req.query.trim().is_empty() {
                Err(IndexError::EmptyQuery)
            } else {
                Ok(Vec::new())
            };
        }
        let (user_query, _errors) = self.parser.parse_query_lenient(&query_text);
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        flatten_union(user_query, &mut should);
        for page_id in self.alias_targets(searcher, &query_text)? {
            // The target's sentences, not its page document (which has no text).
            let q = BooleanQuery::new(vec![
                (Occur::Must, kind_query(self.fields.kind, KIND_SENTENCE)),
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_u64(self.fields.page_id, page_id),
                        IndexRecordOption::Basic,
                    )),
                ),
            ]);
            should.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(Box::new(q), self.options.alias_boost)),
            ));
        }
        // Only sentence documents have text and title fields, so the union of the query's
        // terms needs no kind filter (and, flat, is eligible for block-max WAND).
        let query = BooleanQuery::new(should);
        // Over-fetch for the per-page cap, and fetch more while the cap starves the result.
        let mut fetch = if req.per_page == 0 {
            req.k
        } else {
            req.k * 4 + 32
        };
        let mut hits = Vec::with_capacity(req.k);
        loop {
            // Ranked by (score to 1e-4, page, sentence), facts weighted, the cut independent
            // of segments and document order (`collect`).
            let ranked = searcher
                .search(
                    &query,
                    &RankCollector {
                        k: fetch,
                        fact_weight: self.options.fact_weight,
                        columns: &self.columns,
                    },
                )
                .at(&self.path)?;
            let exhausted = ranked.len() < fetch;
            let mut per_page: HashMap<u64, usize> = HashMap::new();
            hits.clear();
            for Ranked {
                score,
                page: page_id,
                sentence,
                addr,
            } in ranked
            {
                let n = per_page.entry(page_id).or_default();
                if req.per_page > 0 && *n >= req.per_page {
                    continue;
                }
                *n += 1;
                hits.push((score, page_id, sentence, addr));
                if hits.len() == req.k {
                    break;
                }
            }
            if hits.len() == req.k || exhausted || fetch >= MAX_FETCH {
                break;
            }
            fetch = (fetch * 4).min(MAX_FETCH);
        }
        Ok(hits)
    }

    /// Searches, ranks and attaches context.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>> {
        self.guarded(|| self.search_unguarded(req))
    }

    fn search_unguarded(&self, req: &SearchRequest) -> Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        let wider = SearchRequest {
            k: wikirag_core::dedupe_slack(req.k),
            ..req.clone()
        };
        let hits = self.rank(&searcher, &wider)?;
        let hits = hits
            .into_iter()
            .map(|(score, _, _, addr)| self.hit(&searcher, addr, score))
            .collect::<Result<Vec<_>>>()?;
        let mut hits = wikirag_core::dedupe_hits(hits, req.k);
        if req.context > 0 {
            let mut pages = HashMap::new();
            for hit in &mut hits {
                let addrs = self.page_cached(&searcher, &mut pages, hit.page_id)?;
                self.attach_context(&searcher, hit, req.context, addrs)?;
            }
        }
        Ok(hits)
    }

    /// Pages whose redirect alias is named in full by the query.
    fn alias_targets(&self, searcher: &Searcher, query: &str) -> Result<Vec<u64>> {
        let query_tokens: HashSet<String> = self.fold_tokens(query).into_iter().collect();
        let terms: Vec<(Occur, Box<dyn Query>)> = query_tokens
            .iter()
            .map(|tok| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.alias, tok),
                    IndexRecordOption::Basic,
                ));
                (Occur::Should, q)
            })
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let top = searcher
            .search(&BooleanQuery::new(terms), &TopDocs::with_limit(8))
            .at(&self.path)?;
        let mut out = Vec::new();
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).at(&self.path)?;
            let alias_tokens = self.fold_tokens(&text_of(&doc, self.fields.title));
            if alias_tokens.is_empty() || !alias_tokens.iter().all(|t| query_tokens.contains(t)) {
                continue;
            }
            let target = text_of(&doc, self.fields.target);
            if let Some(id) = self.page_id_of(searcher, &target)?
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The page id of an article by exact title.
    pub fn page_id_of(&self, searcher: &Searcher, title: &str) -> Result<Option<u64>> {
        let q = BooleanQuery::new(vec![
            (Occur::Must, kind_query(self.fields.kind, KIND_PAGE)),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.title_key, &schema::title_key(title)),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        let top = searcher
            .search(&q, &TopDocs::with_limit(1))
            .at(&self.path)?;
        match top.first() {
            Some((_, addr)) => {
                let doc: TantivyDocument = searcher.doc(*addr).at(&self.path)?;
                Ok(u64_of(&doc, self.fields.page_id))
            }
            None => Ok(None),
        }
    }

    /// Tokens of the language-neutral analyzer the `alias` field is indexed with.
    fn fold_tokens(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.alias_analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    fn hit(&self, searcher: &Searcher, addr: DocAddress, score: f32) -> Result<Hit> {
        let doc: TantivyDocument = searcher.doc(addr).at(&self.path)?;
        let f = &self.fields;
        Ok(Hit {
            title: text_of(&doc, f.title),
            section: text_of(&doc, f.section),
            text: text_of(&doc, f.text),
            url: text_of(&doc, f.url),
            page_id: u64_of(&doc, f.page_id).unwrap_or(0),
            sentence: u64_of(&doc, f.sentence).unwrap_or(0) as u32,
            score,
            kind: schema::sentence_kind_from_code(u64_of(&doc, f.sentence_kind).unwrap_or(0)),
            revision_id: u64_of(&doc, f.revision_id),
            before: Vec::new(),
            after: Vec::new(),
        })
    }

    /// The sentences `first..=last` of a page, in order.
    pub fn sentences(&self, page_id: u64, first: u32, last: u32) -> Result<Vec<(u32, String)>> {
        self.guarded(|| {
            let searcher = self.reader.searcher();
            let addrs = self.page_sentences(&searcher, page_id)?;
            self.texts_in(&searcher, &addrs, first, last)
        })
    }

    /// The texts of the sentences `first..=last` among a page's `addrs`, in order.
    fn texts_in(
        &self,
        searcher: &Searcher,
        addrs: &HashMap<u32, DocAddress>,
        first: u32,
        last: u32,
    ) -> Result<Vec<(u32, String)>> {
        // The page's own ordinals, not the range: a wide range (`0..=u32::MAX`) costs nothing.
        let mut wanted: Vec<(u32, DocAddress)> = addrs
            .iter()
            .filter(|(i, _)| (first..=last).contains(*i))
            .map(|(&i, &addr)| (i, addr))
            .collect();
        wanted.sort_unstable_by_key(|&(i, _)| i);
        let mut out = Vec::with_capacity(wanted.len());
        for (i, addr) in wanted {
            let doc: TantivyDocument = searcher.doc(addr).at(&self.path)?;
            out.push((i, text_of(&doc, self.fields.text)));
        }
        Ok(out)
    }

    /// Sentence ordinal → document of every sentence of a page: one unscored term lookup
    /// (no BM25 statistics) and the ordinals from fast fields, no stored document read.
    ///
    /// Only sentence documents carry an ordinal (`documents`): the page's own document and
    /// an alias's, which share the page id term, have none and are left out here. The page id
    /// is not intersected with the `kind` term: tantivy seeks a posting list block by block,
    /// and that one lists every sentence (a 10-hit fetch took 6.2 ms at 10 M sentences,
    /// benches/RESULTS.md, "BM25 and fetches at 10 M").
    fn page_sentences(
        &self,
        searcher: &Searcher,
        page_id: u64,
    ) -> Result<HashMap<u32, DocAddress>> {
        let q = TermQuery::new(
            Term::from_field_u64(self.fields.page_id, page_id),
            IndexRecordOption::Basic,
        );
        let docs = searcher.search(&q, &DocSetCollector).at(&self.path)?;
        let mut out = HashMap::with_capacity(docs.len());
        for addr in docs {
            let columns = self
                .columns
                .of(searcher.segment_reader(addr.segment_ord))
                .at(&self.path)?;
            if let Some(sentence) = columns.sentence.first(addr.doc_id) {
                out.insert(sentence as u32, addr);
            }
        }
        Ok(out)
    }

    /// [`Self::page_sentences`] of `page_id`, looked up once per `pages` (one request's pages).
    fn page_cached<'p>(
        &self,
        searcher: &Searcher,
        pages: &'p mut HashMap<u64, HashMap<u32, DocAddress>>,
        page_id: u64,
    ) -> Result<&'p HashMap<u32, DocAddress>> {
        Ok(match pages.entry(page_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(self.page_sentences(searcher, page_id)?)
            }
        })
    }

    /// Up to `n` sentences on each side of `hit`, from its page's `addrs`.
    fn attach_context(
        &self,
        searcher: &Searcher,
        hit: &mut Hit,
        n: usize,
        addrs: &HashMap<u32, DocAddress>,
    ) -> Result<()> {
        let n = n.min(50) as u32;
        let first = hit.sentence.saturating_sub(n);
        let last = hit.sentence.saturating_add(n);
        for (i, text) in self.texts_in(searcher, addrs, first, last)? {
            if i < hit.sentence {
                hit.before.push(text);
            } else if i > hit.sentence {
                hit.after.push(text);
            }
        }
        Ok(())
    }
}

impl SentenceIndex {
    /// The sentences at `(page_id, ordinal)` as hits (score 0), in the order asked, with
    /// `context` neighbouring sentences on each side.
    pub fn fetch_hits(&self, positions: &[(u64, u32)], context: usize) -> Result<Vec<Hit>> {
        self.guarded(|| self.fetch_hits_unguarded(positions, context))
    }

    fn fetch_hits_unguarded(&self, positions: &[(u64, u32)], context: usize) -> Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        self.columns.keep_only(&searcher);
        // One lookup per page serves its hits and their context.
        let mut pages: HashMap<u64, HashMap<u32, DocAddress>> = HashMap::new();
        let mut hits = Vec::with_capacity(positions.len());
        for &(page_id, sentence) in positions {
            let addrs = self.page_cached(&searcher, &mut pages, page_id)?;
            let Some(&addr) = addrs.get(&sentence) else {
                return Err(IndexError::NoSuchSentence {
                    path: self.path.clone(),
                    page_id,
                    sentence,
                });
            };
            let mut hit = self.hit(&searcher, addr, 0.0)?;
            if context > 0 {
                self.attach_context(&searcher, &mut hit, context, addrs)?;
            }
            hits.push(hit);
        }
        Ok(hits)
    }
}

impl SentenceLookup for SentenceIndex {
    fn fetch(&self, positions: &[(u64, u32)], context: usize) -> Result<Vec<Hit>, BoxError> {
        Ok(self.fetch_hits(positions, context)?)
    }
}

impl Retriever for SentenceIndex {
    type Error = IndexError;
    fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        SentenceIndex::search(self, request)
    }

    fn page_sentences(&self, page_id: u64, last: u32) -> Result<Option<Vec<(u32, String)>>> {
        self.sentences(page_id, 0, last).map(Some)
    }

    fn sentences_at(&self, positions: &[(u64, u32)], context: usize) -> Result<Option<Vec<Hit>>> {
        self.fetch_hits(positions, context).map(Some)
    }

    /// Positions from fast fields, no stored document read.
    fn search_positions(&self, request: &SearchRequest) -> Result<wikirag_core::ScoredPositions> {
        self.guarded(|| {
            let searcher = self.reader.searcher();
            Ok(self
                .rank(&searcher, request)?
                .into_iter()
                .map(|(score, page, sentence, _)| ((page, sentence as u32), score))
                .collect())
        })
    }
}

fn kind_query(field: Field, kind: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, kind),
        IndexRecordOption::Basic,
    ))
}

fn text_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

fn u64_of(doc: &TantivyDocument, field: Field) -> Option<u64> {
    doc.get_first(field).and_then(|v| v.as_u64())
}

/// Appends the leaves of a union of unions to `out` as clauses of one union. tantivy prunes
/// with block-max WAND only a union whose clauses are all term queries (a field's boost is
/// folded into its term scorer); the parser's union (a term query per word and field) put
/// whole inside the union that also holds the alias clauses is one clause that is not, and
/// tantivy then scores every document holding any word: 17 → 12 ms a BM25 query at 10 M
/// sentences (benches/RESULTS.md, "BM25 and fetches at 10 M"). A union's score is the sum of its
/// clauses' either way (up to float order, which the collector's 1e-4 keys absorb). Anything
/// else (a phrase, a union with a minimum of more than one) stays whole.
fn flatten_union(query: Box<dyn Query>, out: &mut Vec<(Occur, Box<dyn Query>)>) {
    if let Some(union) = query.downcast_ref::<BooleanQuery>()
        && union.get_minimum_number_should_match() <= 1
        && union
            .clauses()
            .iter()
            .all(|(occur, _)| *occur == Occur::Should)
    {
        for (_, clause) in union.clauses() {
            flatten_union(clause.box_clone(), out);
        }
        return;
    }
    out.push((Occur::Should, query));
}

/// Users type questions, not query syntax: keep words, drop operators that would make the
/// parser reject or reinterpret the query (`field:`, `+`, `-`, `^`, quotes stay as phrases).
fn sanitize_query(q: &str) -> String {
    q.chars()
        .map(|c| match c {
            ':' | '^' | '+' | '(' | ')' | '[' | ']' | '{' | '}' | '~' | '*' | '!' | '\\' | '/'
            | '?' | '<' | '>' | '=' | '\'' | '’' => ' ',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .map(|w| {
            let w = w.trim_start_matches('-');
            match w.to_ascii_uppercase().as_str() {
                "AND" | "OR" | "NOT" | "IN" => w.to_lowercase(),
                _ => w.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace(
            '"',
            if q.matches('"').count().is_multiple_of(2) {
                "\""
            } else {
                " "
            },
        )
}

#[cfg(test)]
mod tests {
    use super::{flatten_union, sanitize_query};
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
    use tantivy::schema::{STORED, Schema, TEXT};
    use tantivy::{Index, doc};

    /// The parser's nested unions become one union of term queries (the shape tantivy prunes
    /// with block-max WAND) that ranks and scores the documents as the nested one did.
    #[test]
    fn a_parsed_query_is_one_union_of_terms_that_scores_the_same() -> tantivy::Result<()> {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT | STORED);
        let title = schema.add_text_field("title", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000)?;
        let pages = [
            ("Paris", "Paris is the capital of France"),
            ("Lyon", "Lyon is a city in France on the Rhone"),
            ("Rhone", "The Rhone flows through Lyon to the sea"),
            ("Berlin", "Berlin is the capital of Germany"),
            ("France", "France is a country whose capital is Paris"),
        ];
        for (t, x) in pages {
            writer.add_document(doc!(text => x, title => t))?;
        }
        writer.commit()?;
        let mut parser = QueryParser::for_index(&index, vec![text, title]);
        parser.set_field_boost(title, 2.0);
        // The query as `rank` built it before: the parser's union inside the union that also
        // holds the alias clauses.
        let parsed = parser.parse_query("capital of France \"the Rhone\"")?;
        let nested: Box<dyn Query> = Box::new(BooleanQuery::new(vec![(Occur::Should, parsed)]));
        let mut clauses = Vec::new();
        flatten_union(nested.box_clone(), &mut clauses);
        let searcher = index.reader()?.searcher();
        // What tantivy asks of a union's clauses before it prunes with block-max WAND: each a
        // term query (a field's boost is folded into its scorer). `TermScorer` is not public,
        // so the query is read: a term query, or one boosted.
        let term_scorers = |clauses: &[(Occur, Box<dyn Query>)]| {
            clauses
                .iter()
                .filter(|(_, q)| {
                    q.downcast_ref::<TermQuery>().is_some()
                        || format!("{q:?}").starts_with("Boost(query=TermQuery(")
                })
                .count()
        };
        // Three words in two fields, as terms; the quoted words, a phrase a field, kept whole.
        assert_eq!(
            (term_scorers(&clauses), clauses.len()),
            (6, 8),
            "{clauses:?}"
        );
        let nested_clauses = nested
            .downcast_ref::<BooleanQuery>()
            .expect("a union")
            .clauses()
            .iter()
            .map(|(o, q)| (*o, q.box_clone()))
            .collect::<Vec<_>>();
        assert_eq!(term_scorers(&nested_clauses), 0, "nested: {nested:?}");
        let flat = BooleanQuery::new(clauses);
        let top = |q: &dyn Query| searcher.search(q, &TopDocs::with_limit(10));
        let (a, b) = (top(nested.as_ref())?, top(&flat)?);
        assert_eq!(a.len(), 5);
        assert_eq!(a.len(), b.len());
        for ((sa, da), (sb, db)) in a.iter().zip(&b) {
            assert_eq!(da, db);
            assert!((sa - sb).abs() < 1e-5, "{sa} against {sb}");
        }
        // A query of words alone is terms only: the shape block-max WAND runs on.
        let mut words = Vec::new();
        flatten_union(parser.parse_query("capital France")?, &mut words);
        assert!(words.iter().all(|(o, _)| *o == Occur::Should));
        assert_eq!((term_scorers(&words), words.len()), (4, 4));
        Ok(())
    }

    #[test]
    fn queries_are_sanitized() {
        assert_eq!(sanitize_query("Who is title:x?"), "Who is title x");
        assert_eq!(sanitize_query("C++ AND -foo"), "C and foo");
        assert_eq!(sanitize_query("\"unbalanced"), " unbalanced");
        assert_eq!(sanitize_query("l'État"), "l État");
    }
}
