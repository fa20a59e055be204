//! Inline templates people read as text (`convert`, dates, `lang`, `nowrap`, …), rendered
//! instead of dropped. Everything not listed here is dropped (navboxes, maintenance tags,
//! citations, hatnotes).

use wikirag_core::Language;

/// A template call with its arguments already rendered to text.
pub struct Call<'a> {
    /// Normalised name: lower case, `_` → space, no `Template:`/`Modèle:` prefix.
    pub name: &'a str,
    pub positional: &'a [String],
    pub named: &'a [(String, String)],
}

impl Call<'_> {
    fn pos(&self, i: usize) -> Option<&str> {
        self.positional
            .get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
    fn named(&self, key: &str) -> Option<&str> {
        self.named
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|s| !s.is_empty())
    }
    fn join_positional(&self, n: usize) -> String {
        self.positional
            .iter()
            .take(n)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Normalises a template name for lookup.
pub fn normalise_name(raw: &str) -> String {
    let mut name = raw.trim().replace('_', " ").to_lowercase();
    for prefix in [
        "template:",
        "modèle:",
        "vorlage:",
        "modello:",
        "plantilla:",
        "msg:",
        "subst:",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest.trim().to_string();
        }
    }
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a template is an infobox, whose fields become facts.
pub fn is_infobox(name: &str) -> bool {
    name.starts_with("infobox")
        || name.starts_with("taxobox")
        || name.starts_with("speciesbox")
        || name == "automatic taxobox"
        || name.starts_with("fiche ")
}

/// Infobox fields that hold no readable fact.
pub fn is_infobox_noise_key(key: &str) -> bool {
    let key = key.to_lowercase();
    [
        "image",
        "logo",
        "map",
        "size",
        "alt",
        "caption",
        "légende",
        "signature",
        "width",
        "pushpin",
        "coordinates",
        "coord",
        "latd",
        "longd",
        "lat_",
        "long_",
        "carte",
        "blason",
        "drapeau",
        "upright",
        "taille",
        "embed",
        "module",
        "onlysourced",
        "charte",
        "wikidata",
        "float",
        "style",
        "colour",
        "color",
        "couleur",
        "native_name_lang",
        "_ref",
        "footnotes",
    ]
    .iter()
    .any(|noise| key.contains(noise))
}

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

fn format_date(year: &str, month: Option<&str>, day: Option<&str>, lang: &Language) -> String {
    let month_name = month
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| (1..=12).contains(m))
        .map(|m| match lang {
            Language::French => FR_MONTHS[m - 1],
            _ => EN_MONTHS[m - 1],
        });
    match (day.and_then(|d| d.parse::<u32>().ok()), month_name) {
        (Some(d), Some(m)) => match lang {
            Language::French if d == 1 => format!("1er {m} {year}"),
            _ => format!("{d} {m} {year}"),
        },
        (None, Some(m)) => format!("{m} {year}"),
        _ => year.to_string(),
    }
}

/// Renders a known inline template; `None` drops it.
pub fn render(call: &Call<'_>, lang: &Language, title: &str) -> Option<String> {
    let name = call.name;
    let text = match name {
        "convert" | "cvt" | "convertir" => {
            let value = call.pos(0)?;
            match call.pos(1) {
                Some(sep @ ("-" | "–" | "to" | "and" | "or" | "by" | "x" | "×" | "+/-" | "±")) =>
                {
                    format!(
                        "{value} {sep} {} {}",
                        call.pos(2).unwrap_or(""),
                        call.pos(3).unwrap_or("")
                    )
                }
                Some(unit) => format!("{value} {unit}"),
                None => value.to_string(),
            }
        }
        "birth date" | "birth date and age" | "death date" | "death date and age"
        | "start date" | "end date" | "start date and age" | "end date and age" | "film date"
        | "dob" | "bda" | "dda" | "dts" | "birth year and age" | "death year and age"
        | "birth-date" | "death-date" => {
            let (y, m, d) = (call.pos(0)?, call.pos(1), call.pos(2));
            if y.chars().all(|c| c.is_ascii_digit()) {
                format_date(y, m, d, lang)
            } else {
                call.join_positional(3)
            }
        }
        "date" | "date-" | "date de naissance" | "date de décès" | "date de naissance-"
        | "date de décès-" | "naissance" | "décès" | "date sport" | "date1" => {
            // French: {{date|9|janvier|1934}}; English: {{date|1934-01-09}}.
            call.join_positional(3)
        }
        "lang" | "langue" | "lang-fr" | "transl" | "transliteration" => call
            .named("text")
            .or_else(|| call.named("texte"))
            .or_else(|| {
                call.pos(call.positional.len().saturating_sub(1))
                    .or(call.pos(1))
            })?
            .to_string(),
        "nowrap"
        | "nobr"
        | "nobold"
        | "noitalic"
        | "small"
        | "big"
        | "smaller"
        | "larger"
        | "abbr"
        | "abréviation"
        | "sic"
        | "math"
        | "mvar"
        | "var"
        | "em"
        | "strong"
        | "quote"
        | "cquote"
        | "blockquote"
        | "quotation"
        | "smallcaps"
        | "sc"
        | "sc1"
        | "unicode"
        | "ipa"
        | "nihongo"
        | "ill"
        | "interlanguage link"
        | "interlanguage link multi"
        | "souligner"
        | "pc"
        | "petites capitales"
        | "romain"
        | "rom"
        | "rom-maj"
        | "rom-min"
        | "nobr-"
        | "lnobr"
        | "w"
        | "wikt"
        | "flag"
        | "flagcountry"
        | "flagu"
        | "refnec"
        | "référence nécessaire"
        | "à prouver"
        | "pas clair"
        | "trad"
        | "font"
        | "center"
        | "centre"
        | "highlight"
        | "mono"
        | "tooltip"
        | "keypress"
        | "serif"
        | "sans-serif"
        | "lien web simple" => call
            .named("text")
            .or_else(|| call.named("1"))
            .or_else(|| call.pos(0))?
            .to_string(),
        "lien" | "link" => call
            .named("fr")
            .or_else(|| call.pos(0))
            .or_else(|| call.named("trad"))?
            .to_string(),
        "citation" | "citation bloc" | "début citation" if *lang == Language::French => {
            format!("« {} »", call.pos(0)?)
        }
        "unité" | "nombre" | "nb" | "num" | "formatnum" | "val" | "nombre romain" => {
            call.join_positional(2)
        }
        "s" | "siècle" | "-s-" | "sp" | "-sp-" => format!("{}e siècle", call.pos(0)?),
        "s-" | "-s" => format!("{}e", call.pos(0)?),
        "as of" => format!("As of {}", call.join_positional(3)),
        "circa" | "c." => match call.pos(0) {
            Some(y) => format!("c. {y}"),
            None => "c.".to_string(),
        },
        "us$" => format!("US${}", call.pos(0)?),
        "frac" | "sfrac" => match (call.pos(0), call.pos(1), call.pos(2)) {
            (Some(a), Some(b), Some(c)) => format!("{a} {b}/{c}"),
            (Some(a), Some(b), None) => format!("{a}/{b}"),
            (Some(a), None, None) => format!("1/{a}"),
            _ => return None,
        },
        "marriage" | "married" => match call.pos(1) {
            Some(year) => format!("{} (m. {year})", call.pos(0)?),
            None => call.pos(0)?.to_string(),
        },
        "lit" | "literally" => format!("lit. '{}'", call.pos(0)?),
        "ndash" | "en dash" | "–" => "–".to_string(),
        "mdash" | "em dash" | "—" => "—".to_string(),
        "snd" | "spaced ndash" | "spnd" | "sndash" => " – ".to_string(),
        "nbsp" | "nbsp;" | "space" | "espace" | "esp" | "espace insécable" => " ".to_string(),
        "'" | "apostrophe" => "'".to_string(),
        "!" => "|".to_string(),
        "=" => "=".to_string(),
        "·" | "dot" | "middot" => " · ".to_string(),
        "okina" => "ʻ".to_string(),
        "pagename" | "pagenamee" | "fullpagename" => title.to_string(),
        "er" | "e" | "ère" | "re" | "ier" | "ers" | "es" | "res" | "nd" | "nde" | "d" | "o" => {
            match call.pos(0) {
                Some(n) => format!("{n}{name}"),
                None => name.to_string(),
            }
        }
        "1er" | "1re" | "1ère" | "ire" => name.to_string(),
        _ => {
            // {{XIXe siècle}}, {{IIe millénaire}}, {{2e}}: the name is the text.
            if is_ordinal_name(name) {
                return Some(call_name_display(name));
            }
            return None;
        }
    };
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn is_ordinal_name(name: &str) -> bool {
    let first = name.split(' ').next().unwrap_or("");
    let stem = first
        .strip_suffix("er")
        .or_else(|| first.strip_suffix('e'))
        .unwrap_or("");
    let stem_ok = !stem.is_empty()
        && (stem.chars().all(|c| c.is_ascii_digit()) || stem.chars().all(|c| "ivxlcm".contains(c)));
    let rest = name[first.len()..].trim();
    stem_ok
        && matches!(
            rest,
            "" | "siècle" | "millénaire" | "siècle av. j.-c." | "millénaire av. j.-c."
        )
}

fn call_name_display(name: &str) -> String {
    let mut parts = name.splitn(2, ' ');
    let first = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    let first = if first.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        first.to_string()
    } else {
        let (roman, suffix) = first.split_at(first.trim_end_matches(['e', 'r']).len());
        format!("{}{suffix}", roman.to_uppercase())
    };
    if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.replace("j.-c.", "J.-C."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        lang: Language,
        name: &str,
        pos: &[&str],
        named: &[(&str, &str)],
        expect: Option<&str>,
    ) {
        let positional: Vec<String> = pos.iter().map(|s| s.to_string()).collect();
        let named: Vec<(String, String)> = named
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let call = Call {
            name,
            positional: &positional,
            named: &named,
        };
        assert_eq!(
            render(&call, &lang, "T").as_deref(),
            expect,
            "{name} {pos:?}"
        );
    }

    #[test]
    fn renders_common_templates() {
        use Language::*;
        check(English, "convert", &["10", "km", "mi"], &[], Some("10 km"));
        check(
            English,
            "convert",
            &["5", "to", "7", "ft"],
            &[],
            Some("5 to 7 ft"),
        );
        check(
            English,
            "birth date and age",
            &["1934", "1", "9"],
            &[("df", "y")],
            Some("9 January 1934"),
        );
        check(
            French,
            "date de naissance",
            &["9", "janvier", "1934"],
            &[],
            Some("9 janvier 1934"),
        );
        check(
            French,
            "birth date",
            &["1991", "5", "1"],
            &[],
            Some("1er mai 1991"),
        );
        check(
            English,
            "lang",
            &["fr", "Premier ministre"],
            &[],
            Some("Premier ministre"),
        );
        check(
            French,
            "langue",
            &["en", "text=hello"],
            &[("text", "hello")],
            Some("hello"),
        );
        check(English, "nowrap", &["10 June"], &[], Some("10 June"));
        check(French, "s", &["XIX"], &[], Some("XIXe siècle"));
        check(French, "xixe siècle", &[], &[], Some("XIXe siècle"));
        check(French, "1er", &[], &[], Some("1er"));
        check(French, "unité", &["10", "km"], &[], Some("10 km"));
        check(English, "citation needed", &[], &[], None);
        check(English, "navbox", &["x"], &[], None);
    }

    #[test]
    fn infobox_names() {
        assert!(is_infobox(&normalise_name("Infobox_U.S._state")));
        assert!(is_infobox(&normalise_name(
            "Modèle:Infobox Personnalité politique"
        )));
        assert!(!is_infobox("navbox"));
        assert!(is_infobox_noise_key("image_map"));
        assert!(!is_infobox_noise_key("capital"));
    }
}
