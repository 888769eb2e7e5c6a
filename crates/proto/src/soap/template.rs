//! A tiny, safe template engine for the bodies Microsoft never published,
//! and the default templates the crate ships.
//!
//! Owns: `{{name}}` placeholders filled from a map with XML escaping (an
//! unknown placeholder is an error, never an empty string), one level of
//! `{{#list}}…{{.}}…{{/list}}` repetition (for certificate chains), and the
//! `include_str!` defaults of `crates/proto/templates/`. Does not own
//! reading a scenario's template directory (no I/O in this crate: the
//! driver reads the files and hands their text to
//! [`TemplateSet::with_override`]).
//!
//! A template's opening XML comment (the note saying where it comes from)
//! is dropped when the template is parsed, so it never goes on the wire.

use std::collections::HashMap;

use super::xml::escape_attr;
use crate::{Error, Result};

const WHAT: &str = "template";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
    Item,
    Section(String, Vec<Part>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A value for a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateValue {
    /// Text for `{{name}}`.
    Text(String),
    /// Items for `{{#name}}…{{.}}…{{/name}}`.
    List(Vec<String>),
}

/// Placeholder values by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateValues {
    map: HashMap<String, TemplateValue>,
}

impl TemplateValues {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a text value.
    pub fn text(mut self, name: &str, value: impl Into<String>) -> Self {
        self.map
            .insert(name.to_owned(), TemplateValue::Text(value.into()));
        self
    }

    /// Adds a list value.
    pub fn list(mut self, name: &str, items: Vec<String>) -> Self {
        self.map.insert(name.to_owned(), TemplateValue::List(items));
        self
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

impl Template {
    /// Parses template text. A leading XML comment is dropped.
    pub fn parse(text: &str) -> Result<Template> {
        let mut rest = text.trim_start_matches('\u{feff}');
        let mut offset = text.len() - rest.len();
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after
                .find("-->")
                .ok_or_else(|| Error::invalid_at(WHAT, offset, "opening comment is not closed"))?;
            let consumed = 4 + end + 3;
            let tail = rest.get(consumed..).unwrap_or("");
            let trimmed = tail.trim_start();
            offset += consumed + (tail.len() - trimmed.len());
            rest = trimmed;
        }
        let mut stack: Vec<(String, Vec<Part>)> = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        let mut pos = 0;
        while let Some(open) = rest.get(pos..).and_then(|r| r.find("{{")) {
            let start = pos + open;
            if open > 0 {
                parts.push(Part::Literal(rest.get(pos..start).unwrap_or("").to_owned()));
            }
            let close = rest
                .get(start + 2..)
                .and_then(|r| r.find("}}"))
                .ok_or_else(|| Error::invalid_at(WHAT, offset + start, "unclosed {{"))?;
            let inner = rest.get(start + 2..start + 2 + close).unwrap_or("").trim();
            let at = offset + start;
            if let Some(name) = inner.strip_prefix('#') {
                if !valid_name(name) {
                    return Err(Error::invalid_at(
                        WHAT,
                        at,
                        format!("bad section name {name:?}"),
                    ));
                }
                if !stack.is_empty() {
                    return Err(Error::invalid_at(WHAT, at, "sections do not nest"));
                }
                stack.push((name.to_owned(), std::mem::take(&mut parts)));
            } else if let Some(name) = inner.strip_prefix('/') {
                let Some((open_name, outer)) = stack.pop() else {
                    return Err(Error::invalid_at(
                        WHAT,
                        at,
                        format!("{{{{/{name}}}}} closes nothing"),
                    ));
                };
                if open_name != name {
                    return Err(Error::invalid_at(
                        WHAT,
                        at,
                        format!("{{{{/{name}}}}} closes section {open_name:?}"),
                    ));
                }
                let body = std::mem::replace(&mut parts, outer);
                parts.push(Part::Section(open_name, body));
            } else if inner == "." {
                if stack.is_empty() {
                    return Err(Error::invalid_at(WHAT, at, "{{.}} outside a section"));
                }
                parts.push(Part::Item);
            } else if valid_name(inner) {
                parts.push(Part::Var(inner.to_owned()));
            } else {
                return Err(Error::invalid_at(
                    WHAT,
                    at,
                    format!("bad placeholder {inner:?}"),
                ));
            }
            pos = start + 2 + close + 2;
        }
        if let Some((name, _)) = stack.last() {
            return Err(Error::invalid_at(
                WHAT,
                offset + rest.len(),
                format!("section {name:?} is not closed"),
            ));
        }
        if let Some(tail) = rest.get(pos..).filter(|t| !t.is_empty()) {
            parts.push(Part::Literal(tail.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The placeholder and section names the template uses.
    pub fn placeholders(&self) -> Vec<&str> {
        fn walk<'a>(parts: &'a [Part], out: &mut Vec<&'a str>) {
            for p in parts {
                match p {
                    Part::Var(n) => out.push(n),
                    Part::Section(n, body) => {
                        out.push(n);
                        walk(body, out);
                    }
                    Part::Literal(_) | Part::Item => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.parts, &mut out);
        out
    }

    /// Fills the placeholders, XML-escaping every value. A placeholder
    /// without a value, or of the wrong kind, is an error.
    pub fn render(&self, values: &TemplateValues) -> Result<String> {
        let mut out = String::with_capacity(1024);
        render_parts(&self.parts, values, None, &mut out)?;
        Ok(out)
    }
}

fn render_parts(
    parts: &[Part],
    values: &TemplateValues,
    item: Option<&str>,
    out: &mut String,
) -> Result<()> {
    for p in parts {
        match p {
            Part::Literal(s) => out.push_str(s),
            // Values may land in attribute values or in text: escape for
            // the stricter of the two (quotes, and tab/CR/LF as references).
            Part::Item => escape_attr(item.unwrap_or(""), out),
            Part::Var(n) => match values.map.get(n) {
                Some(TemplateValue::Text(v)) => escape_attr(v, out),
                Some(TemplateValue::List(_)) => {
                    return Err(Error::bad_value(
                        "template placeholder",
                        format!("{n:?} is a list, used as {{{{{n}}}}}"),
                    ));
                }
                None => {
                    return Err(Error::bad_value(
                        "template placeholder",
                        format!("no value for {{{{{n}}}}}"),
                    ));
                }
            },
            Part::Section(n, body) => match values.map.get(n) {
                Some(TemplateValue::List(items)) => {
                    for it in items {
                        render_parts(body, values, Some(it), out)?;
                    }
                }
                Some(TemplateValue::Text(_)) => {
                    return Err(Error::bad_value(
                        "template placeholder",
                        format!("{n:?} is text, used as a section"),
                    ));
                }
                None => {
                    return Err(Error::bad_value(
                        "template placeholder",
                        format!("no list for {{{{#{n}}}}}"),
                    ));
                }
            },
        }
    }
    Ok(())
}

/// The bodies kept as templates because they are not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// Web ticket request with phone number and PIN (`webticket-pin.xml`).
    WebTicketPin,
    /// Anonymous root chain request to CertProvisioningService.svc
    /// (`root-chain-request.xml`).
    RootChainRequest,
    /// Its answer (`root-chain-response.xml`).
    RootChainResponse,
    /// Device update check to `ucdevice.upx` (`ucdevice-request.xml`).
    UcDeviceRequest,
    /// Device update answer: nothing to do (`ucdevice-response-none.xml`).
    UcDeviceResponseNone,
    /// Device update answer: update to a version at a URL
    /// (`ucdevice-response-update.xml`).
    UcDeviceResponseUpdate,
    /// `ResolveUser` body: which SIP URI a phone number belongs to
    /// (`resolve-user-request.xml`).
    ResolveUserRequest,
    /// Its answer (`resolve-user-response.xml`).
    ResolveUserResponse,
}

impl TemplateKind {
    /// Every kind.
    pub const ALL: [TemplateKind; 8] = [
        TemplateKind::WebTicketPin,
        TemplateKind::RootChainRequest,
        TemplateKind::RootChainResponse,
        TemplateKind::UcDeviceRequest,
        TemplateKind::UcDeviceResponseNone,
        TemplateKind::UcDeviceResponseUpdate,
        TemplateKind::ResolveUserRequest,
        TemplateKind::ResolveUserResponse,
    ];

    /// File name in a template directory.
    pub fn file_name(self) -> &'static str {
        match self {
            TemplateKind::WebTicketPin => "webticket-pin.xml",
            TemplateKind::RootChainRequest => "root-chain-request.xml",
            TemplateKind::RootChainResponse => "root-chain-response.xml",
            TemplateKind::UcDeviceRequest => "ucdevice-request.xml",
            TemplateKind::UcDeviceResponseNone => "ucdevice-response-none.xml",
            TemplateKind::UcDeviceResponseUpdate => "ucdevice-response-update.xml",
            TemplateKind::ResolveUserRequest => "resolve-user-request.xml",
            TemplateKind::ResolveUserResponse => "resolve-user-response.xml",
        }
    }

    /// The built-in default text.
    pub fn default_text(self) -> &'static str {
        match self {
            TemplateKind::WebTicketPin => include_str!("../../templates/webticket-pin.xml"),
            TemplateKind::RootChainRequest => {
                include_str!("../../templates/root-chain-request.xml")
            }
            TemplateKind::RootChainResponse => {
                include_str!("../../templates/root-chain-response.xml")
            }
            TemplateKind::UcDeviceRequest => include_str!("../../templates/ucdevice-request.xml"),
            TemplateKind::UcDeviceResponseNone => {
                include_str!("../../templates/ucdevice-response-none.xml")
            }
            TemplateKind::UcDeviceResponseUpdate => {
                include_str!("../../templates/ucdevice-response-update.xml")
            }
            TemplateKind::ResolveUserRequest => {
                include_str!("../../templates/resolve-user-request.xml")
            }
            TemplateKind::ResolveUserResponse => {
                include_str!("../../templates/resolve-user-response.xml")
            }
        }
    }
}

/// One template per [`TemplateKind`]: the defaults, some replaced by a
/// scenario's captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSet {
    templates: HashMap<TemplateKind, Template>,
}

impl TemplateSet {
    /// The built-in defaults.
    pub fn defaults() -> Result<TemplateSet> {
        let mut templates = HashMap::new();
        for kind in TemplateKind::ALL {
            templates.insert(kind, Template::parse(kind.default_text())?);
        }
        Ok(TemplateSet { templates })
    }

    /// Replaces one template with text the driver read from a scenario's
    /// template directory.
    pub fn with_override(mut self, kind: TemplateKind, text: &str) -> Result<TemplateSet> {
        self.templates.insert(kind, Template::parse(text)?);
        Ok(self)
    }

    /// Renders one template.
    pub fn render(&self, kind: TemplateKind, values: &TemplateValues) -> Result<String> {
        self.templates
            .get(&kind)
            .ok_or_else(|| {
                Error::bad_value("template", format!("no {} template", kind.file_name()))
            })?
            .render(values)
    }

    /// The template of one kind.
    pub fn get(&self, kind: TemplateKind) -> Option<&Template> {
        self.templates.get(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn placeholders_are_escaped_and_unknown_ones_refused() {
        let t = Template::parse(
            "<!-- note {{x}} -->\n<a b=\"{{v}}\">{{v}}{{#l}}<i>{{.}}</i>{{/l}}</a>",
        )
        .unwrap();
        assert_eq!(t.placeholders(), ["v", "v", "l"]);
        let out = t
            .render(
                &TemplateValues::new()
                    .text("v", "<&>\"")
                    .list("l", vec!["1".into(), "&".into()]),
            )
            .unwrap();
        assert_eq!(
            out,
            "<a b=\"&lt;&amp;&gt;&quot;\">&lt;&amp;&gt;&quot;<i>1</i><i>&amp;</i></a>"
        );
        assert!(matches!(
            t.render(&TemplateValues::new().text("v", "")),
            Err(Error::BadValue { .. })
        ));
        assert!(
            t.render(&TemplateValues::new().text("v", "").text("l", "x"))
                .is_err()
        );
        for bad in [
            "{{",
            "{{a b}}",
            "{{#a}}",
            "{{/a}}",
            "{{.}}",
            "{{#a}}{{#b}}{{/b}}{{/a}}",
            "<!-- x",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_parse_and_open_with_a_best_effort_note() {
        let set = TemplateSet::defaults().unwrap();
        for kind in TemplateKind::ALL {
            let text = kind.default_text();
            assert!(text.starts_with("<!--"), "{}", kind.file_name());
            assert!(text.contains("best-effort default"), "{}", kind.file_name());
            assert!(set.get(kind).is_some());
        }
        let custom = set
            .with_override(TemplateKind::UcDeviceRequest, "<x>{{model}}</x>")
            .unwrap();
        assert_eq!(
            custom
                .render(
                    TemplateKind::UcDeviceRequest,
                    &TemplateValues::new().text("model", "CX600")
                )
                .unwrap(),
            "<x>CX600</x>"
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            if let Ok(t) = Template::parse(&s) {
                let _ = t.render(&TemplateValues::new());
            }
        }
    }
}
