//! Reading TOML with `--set` overrides, and saying where a mistake is.
//!
//! The file is parsed into toml's spanned document tree, the `--set
//! key=value` overrides are written into that tree, and only then is it
//! deserialized, so an error points at the file's line and column when the
//! value came from the file and at `--set key` when it came from the
//! command line. This module knows nothing of the scenario schema.

use std::borrow::Cow;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Error, Result};

/// Maps a byte span of the (virtual) source back to something a person can
/// find: `file: line L, column C` or `--set key`.
#[derive(Debug, Clone)]
pub struct Locator {
    name: String,
    file_len: usize,
    text: String,
    sets: Vec<(Range<usize>, String)>,
}

impl Locator {
    /// A locator for errors that have no file (values built in code).
    pub fn none(name: &str) -> Self {
        Locator {
            name: name.to_owned(),
            file_len: 0,
            text: String::new(),
            sets: Vec::new(),
        }
    }

    /// The file's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the byte `span` lies, for an error message.
    pub fn at(&self, span: Option<Range<usize>>) -> String {
        let Some(span) = span else {
            return self.name.clone();
        };
        if span.start >= self.file_len
            && let Some((_, key)) = self.sets.iter().rev().find(|(r, _)| r.start <= span.start)
        {
            return format!("--set {key}");
        }
        let before = self.text.get(..span.start).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}: line {line}, column {col}", self.name)
    }

    /// A scenario error at `span` saying `message`.
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Error {
        Error::Scenario {
            at: self.at(span),
            message: message.into(),
        }
    }
}

/// Parses `text` (named `name` in messages), applies `sets` (each
/// `dotted.key=value`; a value that is not valid TOML is taken as a string),
/// and deserializes the result into `T`.
pub fn deserialize<T: DeserializeOwned>(
    name: &str,
    text: &str,
    sets: &[String],
) -> Result<(T, Locator)> {
    // The overrides are appended to a copy of the text so that their values
    // have spans of their own, past the end of the file.
    let mut virt = String::with_capacity(text.len() + 64);
    virt.push_str(text);
    virt.push('\n');
    let mut regions: Vec<(Range<usize>, String, bool)> = Vec::new();
    for set in sets {
        let Some((key, value)) = set.split_once('=') else {
            return Err(Error::Scenario {
                at: format!("--set {set}"),
                message: "expected key=value".into(),
            });
        };
        let start = virt.len();
        virt.push_str(value.trim());
        regions.push((start..virt.len(), key.trim().to_owned(), true));
        virt.push('\n');
    }
    let loc = Locator {
        name: name.to_owned(),
        file_len: text.len() + 1,
        text: virt.clone(),
        sets: regions
            .iter()
            .map(|(r, k, _)| (r.clone(), k.clone()))
            .collect(),
    };
    let file = virt.get(..text.len()).unwrap_or_default();
    let mut root = DeTable::parse(file).map_err(|e| de_error(&loc, &e))?;
    for (range, key, _) in &regions {
        let raw = virt.get(range.clone()).unwrap_or_default();
        let value = match DeValue::parse(raw) {
            Ok(v) => shifted(v.into_inner(), range.start),
            Err(_) => DeValue::String(Cow::Borrowed(raw)),
        };
        let path = split_key(key).ok_or_else(|| Error::Scenario {
            at: format!("--set {key}"),
            message: "expected a dotted key such as phones.count".into(),
        })?;
        insert(
            root.get_mut(),
            &path,
            Spanned::new(range.clone(), value),
            range,
        )
        .map_err(|message| Error::Scenario {
            at: format!("--set {key}"),
            message,
        })?;
    }
    let value =
        T::deserialize(toml::de::Deserializer::from(root)).map_err(|e| de_error(&loc, &e))?;
    Ok((value, loc))
}

fn de_error(loc: &Locator, e: &toml::de::Error) -> Error {
    loc.error(e.span(), humanize(e.message().trim()))
}

/// Says serde's Rust type names the way a scenario author thinks of them.
fn humanize(message: &str) -> String {
    let mut m = message.to_owned();
    for (rust, person) in [
        ("expected u8", "expected an integer"),
        ("expected u16", "expected an integer"),
        ("expected u32", "expected an integer"),
        ("expected u64", "expected an integer"),
        ("expected usize", "expected an integer"),
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        if let Some(rest) = m.strip_suffix(rust) {
            m = format!("{rest}{person}");
            break;
        }
    }
    m
}

/// Splits `a.b."c.d"` into `[a, b, c.d]`; `None` if a segment is empty or
/// a quote is unbalanced.
fn split_key(key: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    for c in key.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                if cur.is_empty() && !was_quoted {
                    return None;
                }
                out.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    if quoted || (cur.is_empty() && !was_quoted) {
        return None;
    }
    out.push(cur);
    Some(out)
}

/// `value` with the spans inside it moved `by` bytes on. A `--set` value
/// is parsed alone, so the keys and values of an inline table or array
/// count from its own first byte; moved to where it lies in the virtual
/// text, an error inside it says `--set key` rather than a place in the
/// file.
fn shifted(value: DeValue<'_>, by: usize) -> DeValue<'_> {
    let at = |r: Range<usize>| r.start + by..r.end + by;
    match value {
        DeValue::Table(t) => {
            let mut out = DeTable::new();
            for (k, v) in t {
                let (ks, vs) = (at(k.span()), at(v.span()));
                out.insert(
                    Spanned::new(ks, k.into_inner()),
                    Spanned::new(vs, shifted(v.into_inner(), by)),
                );
            }
            DeValue::Table(out)
        }
        DeValue::Array(a) => DeValue::Array(
            a.into_iter()
                .map(|v| {
                    let s = at(v.span());
                    Spanned::new(s, shifted(v.into_inner(), by))
                })
                .collect(),
        ),
        other => other,
    }
}

fn insert<'i>(
    table: &mut DeTable<'i>,
    path: &[String],
    value: Spanned<DeValue<'i>>,
    span: &Range<usize>,
) -> std::result::Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Err("empty key".into());
    };
    if rest.is_empty() {
        table.insert(Spanned::new(span.clone(), Cow::Owned(first.clone())), value);
        return Ok(());
    }
    let key = Spanned::new(span.clone(), Cow::Owned(first.clone()));
    let slot = table
        .entry(key)
        .or_insert_with(|| Spanned::new(span.clone(), DeValue::Table(DeTable::new())));
    match slot.get_mut() {
        DeValue::Table(t) => insert(t, rest, value, span),
        other => Err(format!(
            "{first} is not a table (it holds a {} value)",
            other.type_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        phones: Phones,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Phones {
        count: u32,
        #[serde(default)]
        name: Option<String>,
    }

    /// The message of the error reading `text` as `s.toml` with `sets`.
    fn error(text: &str, sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
        deserialize::<Doc>("s.toml", text, &sets)
            .unwrap_err()
            .to_string()
    }

    /// A mistake inside an inline table given with --set is the --set's,
    /// not at the file's first line.
    #[test]
    fn an_error_inside_a_set_table_names_the_set() {
        let err = error(
            "[phones]\ncount = 1\n",
            &["phones={ count = 2, nonsense = 1 }"],
        );
        assert!(
            err.starts_with("--set phones: unknown field `nonsense`"),
            "{err}"
        );
    }

    #[test]
    fn set_replaces_a_file_value() {
        let (d, _) = deserialize::<Doc>(
            "s.toml",
            "[phones]\ncount = 5\n",
            &["phones.count=7".into()],
        )
        .unwrap();
        assert_eq!(d.phones.count, 7);
    }

    #[test]
    fn set_value_not_toml_is_a_string() {
        let (d, _) = deserialize::<Doc>(
            "s.toml",
            "[phones]\ncount = 5\n",
            &["phones.name=pool01.contoso.com".into()],
        )
        .unwrap();
        assert_eq!(d.phones.name.as_deref(), Some("pool01.contoso.com"));
    }

    #[test]
    fn set_with_wrong_type_names_the_key() {
        let err = error("[phones]\ncount = 5\n", &["phones.count=abc"]);
        assert!(err.starts_with("--set phones.count: "), "{err}");
        assert!(err.contains("expected an integer"), "{err}");
    }

    #[test]
    fn file_type_error_names_line_and_column() {
        let err = error("[phones]\ncount = \"x\"\n", &[]);
        assert!(err.starts_with("s.toml: line 2, column 9: "), "{err}");
        assert!(err.contains("expected an integer"), "{err}");
    }

    #[test]
    fn unknown_key_names_line() {
        let err = error("[phones]\ncount = 1\ncuont = 2\n", &[]);
        assert!(err.starts_with("s.toml: line 3, column 1: "), "{err}");
        assert!(err.contains("cuont"), "{err}");
    }

    #[test]
    fn syntax_error_names_line() {
        let err = error("[phones]\ncount = = 1\n", &[]);
        assert!(err.starts_with("s.toml: line 2"), "{err}");
    }

    #[test]
    fn set_into_a_scalar_is_refused() {
        let err = error("[phones]\ncount = 1\n", &["phones.count.x=1"]);
        assert!(
            err.starts_with("--set phones.count.x: count is not a table"),
            "{err}"
        );
    }

    #[test]
    fn set_without_equals_is_refused() {
        let err = error("", &["phones.count"]);
        assert!(err.contains("expected key=value"), "{err}");
    }

    #[test]
    fn split_key_handles_quotes() {
        assert_eq!(
            split_key("thresholds.\"register.p99\"").unwrap(),
            vec!["thresholds".to_owned(), "register.p99".to_owned()]
        );
        assert_eq!(split_key("a..b"), None);
        assert_eq!(split_key("a.\"b"), None);
        assert_eq!(split_key(""), None);
    }
}
