//! A small namespace-aware XML tree over quick-xml, and the escaping the
//! builders use.
//!
//! Owns: turning a SOAP body (bytes) into a tree of [`Element`]s whose names
//! are resolved to (namespace URI, local name) — never compared by prefix,
//! since servers choose prefixes freely — with the byte span of every element
//! so that a caller can cut out raw XML (the SAML assertion must travel back
//! verbatim). It enforces the size and depth limits and refuses document type
//! declarations. Does not own: any message schema (see the sibling modules).
//!
//! The tree borrows its names, values and text from the body it was read
//! from, copying only text that entities or line ends change: every phone
//! reads several answers in a sign-in, and a tree of owned strings cost a
//! few hundred allocations of it (bench/README.md).

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::Event;
use quick_xml::name::{QName, ResolveResult};
use quick_xml::{NsReader, XmlVersion};

use super::{NS_XML, NS_XMLNS};
use crate::{Error, Result};

/// The largest body any parser in this module accepts, in bytes. A web
/// ticket with its signed assertion is a few KiB and a certificate chain
/// tens of KiB; 1 MiB leaves room for odd servers without letting a
/// misbehaving one make thousands of phones allocate without bound.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The deepest element nesting accepted. The deepest real message
/// (envelope, body, RSTRC, RSTR, RequestedSecurityToken, signed assertion
/// with its KeyInfo) stays under 16; 64 is generous and keeps recursion in
/// the message parsers bounded.
pub const MAX_DEPTH: usize = 64;

/// One attribute, its name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Namespace URI; `None` for an unprefixed attribute (XML Namespaces
    /// section 6.2: unprefixed attributes are in no namespace).
    pub namespace: Option<&'a str>,
    /// Local name.
    pub local: &'a str,
    /// Value, with entities resolved and whitespace normalized.
    pub value: Cow<'a, str>,
}

/// One element of a parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element<'a> {
    /// Namespace URI, `None` when the element is in no namespace.
    pub namespace: Option<&'a str>,
    /// Local name (the part after the prefix).
    pub local: &'a str,
    /// Attributes, namespace declarations left out.
    pub attributes: Vec<Attribute<'a>>,
    /// Child elements in document order.
    pub children: Vec<Element<'a>>,
    /// The element's own character data (all its text nodes joined, entities
    /// resolved, CDATA included); text of children is not included.
    pub text: Cow<'a, str>,
    /// Byte range of the whole element (start tag to end tag) in the parsed
    /// source.
    pub span: Range<usize>,
    /// When the text is a qualified name (`s:Client` in a SOAP faultcode),
    /// the namespace its prefix resolves to where it appears.
    pub text_qname_namespace: Option<&'a str>,
    /// Namespace bindings in scope at this element's start tag but declared
    /// on an ancestor, recorded only for the elements the caller asked for
    /// (prefix `""` is the default namespace).
    pub(crate) scope: Option<Vec<(String, String)>>,
}

impl<'a> Element<'a> {
    /// Whether this element has local name `local` in one of `namespaces`.
    pub fn is(&self, namespaces: &[&str], local: &str) -> bool {
        self.local == local && self.namespace.is_some_and(|ns| namespaces.contains(&ns))
    }

    /// The first child with that name.
    pub fn child(&self, namespaces: &[&str], local: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.is(namespaces, local))
    }

    /// Every child with that name.
    pub fn children_named<'s>(
        &'s self,
        namespaces: &'s [&'s str],
        local: &'s str,
    ) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children
            .iter()
            .filter(move |c| c.is(namespaces, local))
    }

    /// The first child with that name, or an error naming what is missing.
    pub fn required_child(
        &self,
        what: &'static str,
        namespaces: &[&str],
        local: &str,
    ) -> Result<&Element<'a>> {
        self.child(namespaces, local).ok_or_else(|| {
            Error::invalid_at(
                what,
                self.span.start,
                format!("<{}> has no <{local}> child", self.local),
            )
        })
    }

    /// The value of an unprefixed attribute.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.namespace.is_none() && a.local == local)
            .map(|a| &*a.value)
    }

    /// The value of a namespaced attribute.
    pub fn attr_ns(&self, namespaces: &[&str], local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.local == local && a.namespace.is_some_and(|ns| namespaces.contains(&ns)))
            .map(|a| &*a.value)
    }

    /// The text with leading and trailing XML whitespace removed.
    pub fn trimmed_text(&self) -> &str {
        self.text.trim_matches(is_xml_space)
    }

    /// Nesting depth of this subtree (1 for an element without children).
    pub fn depth(&self) -> usize {
        1 + self.children.iter().map(Element::depth).max().unwrap_or(0)
    }

    /// The first element with that name in this subtree (depth first,
    /// including this element).
    pub fn find(&self, namespaces: &[&str], local: &str) -> Option<&Element<'a>> {
        if self.is(namespaces, local) {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(namespaces, local))
    }
}

/// A parsed document: the source text and its root element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    /// The source, as UTF-8 text (a byte order mark removed).
    pub source: &'a str,
    /// The root element.
    pub root: Element<'a>,
}

impl Document<'_> {
    /// The raw XML text of an element of this document.
    pub fn raw(&self, el: &Element<'_>) -> &str {
        self.source.get(el.span.clone()).unwrap_or("")
    }
}

/// XML 1.0 `S` production.
pub(crate) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Parses a whole document. `capture_scope` names the elements (namespace
/// URI, local name) whose in-scope namespace bindings are recorded.
pub fn parse_document<'a>(
    input: &'a [u8],
    what: &'static str,
    capture_scope: &[(&str, &str)],
) -> Result<Document<'a>> {
    if input.len() > MAX_BODY_BYTES {
        return Err(Error::invalid(
            what,
            format!(
                "body of {} bytes is over the {MAX_BODY_BYTES} byte limit",
                input.len()
            ),
        ));
    }
    let (bom, bytes) = match input.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (3, rest),
        None => (0, input),
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::invalid_at(what, bom + e.valid_up_to(), "body is not valid UTF-8"))?;
    let root = parse_tree(text, what, capture_scope).map_err(|e| shift(e, bom))?;
    Ok(Document { source: text, root })
}

/// Moves an error's offset by the removed BOM so it points into the input.
fn shift(e: Error, by: usize) -> Error {
    match e {
        Error::Invalid { what, at, reason } => Error::Invalid {
            what,
            at: at.map(|a| a + by),
            reason,
        },
        other => other,
    }
}

/// The namespaces declared on the open elements, as slices of the source:
/// quick-xml resolves a name to a copy in its own buffer, and the tree
/// keeps the source's. Declarations are taken literally
/// ([`literal_namespace_name`]), so each binding is the text of one. Like
/// quick-xml's own bindings, an element's go when it ends, so a long run
/// of siblings each declaring a namespace costs no more than one.
struct Declared<'a> {
    /// The names, outermost element's first.
    names: Vec<&'a str>,
    /// For each open element, how many names were there before its own.
    marks: Vec<usize>,
}

impl<'a> Declared<'a> {
    /// The namespace a name resolved to, `None` when it is in none.
    fn of(&self, res: ResolveResult<'_>, what: &'static str, at: usize) -> Result<Option<&'a str>> {
        let ns = match res {
            ResolveResult::Bound(ns) => ns.0,
            ResolveResult::Unbound => return Ok(None),
            ResolveResult::Unknown(p) => {
                return Err(Error::invalid_at(
                    what,
                    at,
                    format!("namespace prefix {p:?} is not declared"),
                ));
            }
        };
        self.names
            .iter()
            .rev()
            .copied()
            .chain([NS_XML, NS_XMLNS])
            .find(|n| *n == ns)
            .map(Some)
            .ok_or_else(|| {
                Error::invalid_at(
                    what,
                    at,
                    format!("namespace {ns:?} is bound by no declaration"),
                )
            })
    }
}

/// The prefix an attribute named `key` declares (`""` for the default
/// namespace), or `None` when it is no namespace declaration.
fn declared_prefix(key: &str) -> Option<&str> {
    if key == "xmlns" {
        Some("")
    } else {
        key.strip_prefix("xmlns:")
    }
}

/// `part` as the slice of `source` it is. quick-xml hands out names and
/// values borrowed from the event rather than the input, though for a
/// reader over a `&str` they lie in it; this finds them there by address,
/// and gives `None` for bytes that do not (a value quick-xml rewrote).
fn within<'a>(source: &'a str, part: &str) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(source.as_ptr() as usize)?;
    source.get(start..start.checked_add(part.len())?)
}

/// A value read from `source`, borrowed when quick-xml left it as it was.
fn kept<'a>(source: &'a str, value: Cow<'_, str>) -> Cow<'a, str> {
    match value {
        Cow::Borrowed(v) => {
            within(source, v).map_or_else(|| Cow::Owned(v.to_owned()), Cow::Borrowed)
        }
        Cow::Owned(v) => Cow::Owned(v),
    }
}

/// Appends character data to an element's text, borrowing it when it is
/// the first.
fn push_text<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else {
        text.to_mut().push_str(&more);
    }
}

/// Checks that a namespace declaration's value is a namespace name written
/// literally. quick-xml binds a prefix to the declaration's raw text, while
/// XML Namespaces 1.0 section 3 binds it to the *normalized* attribute
/// value: `xmlns:p="a&amp;b"` names `a&b`, and a bare `&` (`"&ttp://"`) is
/// not well-formed at all (XML 1.0 section 3.1, AttValue). Accepting such a
/// value would bind the wrong name, and the builders, which escape with
/// [`escape_attr`], would write a different one. So a value with a
/// character [`escape_attr`] changes is refused: real namespace names are
/// URIs and never need it.
fn literal_namespace_name(
    attr: &quick_xml::events::attributes::Attribute<'_>,
    key: &str,
    what: &'static str,
    at: usize,
) -> Result<()> {
    let raw: &str = &attr.value;
    attr.normalized_value(XmlVersion::Implicit1_0)
        .map_err(|e| Error::invalid_at(what, at, format!("bad value of {key:?}: {e}")))?;
    if let Some(c) = raw.chars().find(|c| "&<>\"'\t\n\r".contains(*c)) {
        return Err(Error::invalid_at(
            what,
            at,
            format!("namespace name of {key:?} holds {c:?}, which is not taken literally"),
        ));
    }
    Ok(())
}

fn parse_tree<'a>(
    text: &'a str,
    what: &'static str,
    capture_scope: &[(&str, &str)],
) -> Result<Element<'a>> {
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element<'a>> = Vec::new();
    let mut root: Option<Element<'a>> = None;
    let mut declared = Declared {
        names: Vec::new(),
        marks: Vec::new(),
    };
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (res, event) = match reader.read_resolved_event() {
            Ok(v) => v,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(pos);
                return Err(Error::invalid_at(what, at, format!("malformed XML: {e}")));
            }
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(Error::invalid_at(
                        what,
                        pos,
                        "element after the root element",
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(Error::invalid_at(
                        what,
                        pos,
                        format!("elements nested deeper than {MAX_DEPTH}"),
                    ));
                }
                let in_source = |part: &str| {
                    within(text, part).ok_or_else(|| {
                        Error::invalid_at(what, pos, "a name that is not in the source")
                    })
                };
                let local = in_source(start.local_name().as_ref())?;
                // This tag's own declarations first: its name may use them.
                let mark = declared.names.len();
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| {
                        Error::invalid_at(what, pos, format!("malformed attribute: {e}"))
                    })?;
                    let key = attr.key.as_ref();
                    if declared_prefix(key).is_some() {
                        literal_namespace_name(&attr, key, what, pos)?;
                        declared.names.push(in_source(&attr.value)?);
                    }
                }
                let namespace = declared.of(res, what, pos)?;
                let mut attributes = Vec::new();
                // The pass above checked for duplicates (XML 1.0 section
                // 3.1); a second check would only allocate again.
                for attr in start.attributes().with_checks(false) {
                    let attr = attr.map_err(|e| {
                        Error::invalid_at(what, pos, format!("malformed attribute: {e}"))
                    })?;
                    let key = attr.key.as_ref();
                    if declared_prefix(key).is_some() {
                        continue;
                    }
                    let (r, attr_local) = reader.resolver().resolve_attribute(attr.key);
                    let attr_local = in_source(attr_local.as_ref())?;
                    let attr_ns = declared.of(r, what, pos)?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| {
                            Error::invalid_at(
                                what,
                                pos,
                                format!("bad value of attribute {key:?}: {e}"),
                            )
                        })?;
                    // XML Namespaces 1.0 section 6.3: two prefixes bound
                    // to one namespace make `p:k` and `q:k` the same name,
                    // which quick-xml's check of the raw names lets by.
                    if attr_ns.is_some()
                        && attributes.iter().any(|a: &Attribute<'_>| {
                            a.namespace == attr_ns && a.local == attr_local
                        })
                    {
                        return Err(Error::invalid_at(
                            what,
                            pos,
                            format!("attribute {key:?} names one already given in another prefix"),
                        ));
                    }
                    attributes.push(Attribute {
                        namespace: attr_ns,
                        local: attr_local,
                        value: kept(text, value),
                    });
                }
                let wants_scope = capture_scope
                    .iter()
                    .any(|(ns, l)| *l == local && namespace == Some(*ns));
                let scope = wants_scope.then(|| {
                    // The bindings this tag declares itself are not
                    // inherited; looked up only here, as few tags want a
                    // scope.
                    let own = |p: &str| {
                        start
                            .attributes()
                            .with_checks(false)
                            .flatten()
                            .any(|a| declared_prefix(a.key.as_ref()) == Some(p))
                    };
                    reader
                        .resolver()
                        .bindings()
                        .map(|(p, ns)| {
                            let prefix = match p {
                                quick_xml::name::PrefixDeclaration::Default => String::new(),
                                quick_xml::name::PrefixDeclaration::Named(n) => n.to_owned(),
                            };
                            (prefix, ns.0.to_owned())
                        })
                        .filter(|(p, _)| !own(p))
                        .collect()
                });
                let el = Element {
                    namespace,
                    local,
                    attributes,
                    children: Vec::new(),
                    text: Cow::Borrowed(""),
                    span: pos..pos,
                    text_qname_namespace: None,
                    scope,
                };
                if matches!(event, Event::Empty(_)) {
                    let end = usize::try_from(reader.buffer_position()).unwrap_or(pos);
                    let el = Element {
                        span: pos..end,
                        ..el
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                    declared.names.truncate(mark);
                } else {
                    stack.push(el);
                    declared.marks.push(mark);
                }
            }
            Event::End(_) => {
                let end = usize::try_from(reader.buffer_position()).unwrap_or(pos);
                let Some(mut el) = stack.pop() else {
                    return Err(Error::invalid_at(what, pos, "end tag without a start tag"));
                };
                el.span.end = end;
                if el.children.is_empty() {
                    let t = el.text.trim_matches(is_xml_space);
                    if t.contains(':') && !t.contains(is_xml_space) && !t.contains('/') {
                        // Only a bound prefix makes a qualified name: most
                        // such text is a time or a URN, not worth an error.
                        let (r, _) = reader.resolver().resolve_element(QName(t));
                        if matches!(r, ResolveResult::Bound(_)) {
                            el.text_qname_namespace = declared.of(r, what, pos).ok().flatten();
                        }
                    }
                }
                if let Some(mark) = declared.marks.pop() {
                    declared.names.truncate(mark);
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(top) => push_text(&mut top.text, content),
                    None if content.trim_matches(is_xml_space).is_empty() => {}
                    None => {
                        return Err(Error::invalid_at(
                            what,
                            pos,
                            "text outside the root element",
                        ));
                    }
                }
            }
            Event::CData(c) => match stack.last_mut() {
                Some(top) => push_text(&mut top.text, c.xml10_content()),
                None => {
                    return Err(Error::invalid_at(
                        what,
                        pos,
                        "CDATA outside the root element",
                    ));
                }
            },
            Event::GeneralRef(r) => {
                let Some(top) = stack.last_mut() else {
                    return Err(Error::invalid_at(
                        what,
                        pos,
                        "reference outside the root element",
                    ));
                };
                let ch = r.resolve_char_ref().map_err(|e| {
                    Error::invalid_at(what, pos, format!("bad character reference: {e}"))
                })?;
                match ch {
                    Some(c) => top.text.to_mut().push(c),
                    None => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => top.text.to_mut().push_str(s),
                        None => {
                            return Err(Error::invalid_at(
                                what,
                                pos,
                                format!("unknown entity &{};", &*r),
                            ));
                        }
                    },
                }
            }
            Event::DocType(_) => {
                // SOAP 1.1 section 3: "A SOAP message MUST NOT contain a
                // Document Type Declaration." Refusing it also rules out
                // entity expansion attacks.
                return Err(Error::invalid_at(
                    what,
                    pos,
                    "document type declarations are not allowed",
                ));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(Error::invalid_at(
            what,
            text.len(),
            "document ends inside an element",
        ));
    }
    root.ok_or_else(|| Error::invalid_at(what, 0, "no root element"))
}

/// Escapes character data for element content. `\r` becomes a character
/// reference so that it survives the end-of-line normalization of a reader
/// (XML 1.0 section 2.11).
pub fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Escapes an attribute value for double quotes. Tab, CR and LF become
/// character references so that attribute-value normalization (XML 1.0
/// section 3.3.3) gives them back unchanged.
pub fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Escaped text as a new string.
pub fn escaped_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_text(s, &mut out);
    out
}

/// Escaped attribute value as a new string.
pub fn escaped_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_attr(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_resolve_by_namespace_not_prefix() {
        let a = parse_document(br#"<x:a xmlns:x="urn:n"><x:b/></x:a>"#, "t", &[]).unwrap();
        let b = parse_document(br#"<a xmlns="urn:n"><b></b></a>"#, "t", &[]).unwrap();
        assert!(a.root.is(&["urn:n"], "a") && b.root.is(&["urn:n"], "a"));
        assert!(a.root.child(&["urn:n"], "b").is_some());
        assert!(b.root.child(&["urn:n"], "b").is_some());
    }

    #[test]
    fn spans_cut_out_raw_elements() {
        let src = "<?xml version=\"1.0\"?>\n<r><k a=\"1\">x&amp;y<![CDATA[<z>]]></k><e/></r>";
        let d = parse_document(src.as_bytes(), "t", &[]).unwrap();
        let k = &d.root.children[0];
        assert_eq!(d.raw(k), "<k a=\"1\">x&amp;y<![CDATA[<z>]]></k>");
        assert_eq!(k.text, "x&y<z>");
        assert_eq!(d.raw(&d.root.children[1]), "<e/>");
    }

    /// The tree borrows names, namespaces, values and text from the body;
    /// only what entity resolution changed is copied. The `xml` prefix is
    /// bound without a declaration (XML Namespaces 1.0 section 3).
    #[test]
    fn names_values_and_plain_text_are_borrowed_from_the_body() {
        let src =
            r#"<r xmlns="urn:n" a="v" b="x&amp;y" xml:lang="en"><k>plain</k><m>a&amp;b</m></r>"#;
        let d = parse_document(src.as_bytes(), "t", &[]).unwrap();
        let inside = |s: &str| src.as_bytes().as_ptr_range().contains(&s.as_ptr());
        assert!(inside(d.root.local) && inside(d.root.namespace.unwrap()));
        assert_eq!(d.root.namespace, Some("urn:n"));
        assert!(matches!(d.root.attributes[0].value, Cow::Borrowed(v) if v == "v" && inside(v)));
        assert!(matches!(&d.root.attributes[1].value, Cow::Owned(v) if v == "x&y"));
        assert_eq!(d.root.attr_ns(&[NS_XML], "lang"), Some("en"));
        assert!(matches!(d.root.children[0].text, Cow::Borrowed(t) if t == "plain" && inside(t)));
        assert_eq!(d.root.children[1].text, "a&b");
        assert_eq!(d.root.children[1].namespace, Some("urn:n"));
    }

    /// SOAP 1.1 section 3: no DTD.
    /// XML Namespaces 1.0 section 3: a prefix is bound to the namespace
    /// name, the *normalized* value of its declaration. `&amp;` would name
    /// `&`, which this parser cannot bind (quick-xml binds the literal
    /// text), so it is refused rather than bound wrong; a bare `&` is not
    /// well-formed (XML 1.0 section 3.1, AttValue). Literal names bind.
    #[test]
    fn xml_names_3_namespace_name_is_taken_literally_or_refused() {
        for bad in [
            r#"<p:a xmlns:p="&ttp://x"/>"#,
            r#"<p:a xmlns:p="urn:a&amp;b"/>"#,
            r#"<a xmlns="urn:a&#9;b"/>"#,
            "<a xmlns=\"urn:a\tb\"/>",
            r#"<a xmlns='urn:"q"'/>"#,
        ] {
            assert!(parse_document(bad.as_bytes(), "t", &[]).is_err(), "{bad}");
        }
        let d = parse_document(br#"<p:a xmlns:p="urn:x?y=1;z"/>"#, "t", &[]).unwrap();
        assert!(d.root.is(&["urn:x?y=1;z"], "a"));
    }

    #[test]
    fn soap11_section_3_refuses_doctype() {
        let e = parse_document(b"<!DOCTYPE r [<!ENTITY x \"y\">]><r>&x;</r>", "t", &[]);
        assert!(matches!(e, Err(Error::Invalid { at: Some(0), .. })));
    }

    #[test]
    fn limits_and_errors_say_where() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse_document(deep.as_bytes(), "t", &[]).is_err());
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(parse_document(&big, "t", &[]).is_err());
        assert!(matches!(
            parse_document(b"<a><b></a>", "t", &[]),
            Err(Error::Invalid { at: Some(_), .. })
        ));
        assert!(matches!(
            parse_document(b"<p:a/>", "t", &[]),
            Err(Error::Invalid { at: Some(0), .. })
        ));
        assert!(parse_document(b"<a/><b/>", "t", &[]).is_err());
        assert!(parse_document(b"", "t", &[]).is_err());
        assert!(parse_document(b"<a>&bogus;</a>", "t", &[]).is_err());
    }

    /// An element's namespace declarations go out of scope at its end tag
    /// (XML Namespaces 1.0 section 6.1): a sibling cannot use them, and a
    /// long run of siblings each declaring one is read in linear time.
    #[test]
    fn xml_names_6_1_declarations_end_with_their_element() {
        assert!(parse_document(br#"<r><a xmlns:p="urn:a"/><p:b/></r>"#, "t", &[]).is_err());
        assert!(parse_document(br#"<r><a xmlns:p="urn:a"></a><p:b/></r>"#, "t", &[]).is_err());
        let d =
            parse_document(br#"<r xmlns="urn:r"><a xmlns="urn:a"/><b/></r>"#, "t", &[]).unwrap();
        assert_eq!(d.root.children[0].namespace, Some("urn:a"));
        assert_eq!(d.root.children[1].namespace, Some("urn:r"));
        let mut many = String::from("<r>");
        for i in 0..20_000 {
            many.push_str(&format!("<a xmlns=\"urn:{i}\"/>"));
        }
        many.push_str("</r>");
        let d = parse_document(many.as_bytes(), "t", &[]).unwrap();
        assert_eq!(d.root.children[19_999].namespace, Some("urn:19999"));
    }

    /// XML 1.0 section 3.1, Unique Att Spec: "No attribute name may appear
    /// more than once in the same start-tag", nor may a prefix be declared
    /// twice on one.
    #[test]
    fn xml_3_1_unique_att_spec() {
        for bad in [
            &br#"<a x="1" y="2" x="3"/>"#[..],
            br#"<a xmlns:p="urn:a" xmlns:p="urn:b"/>"#,
            br#"<a><b k="1" k="1"></b></a>"#,
        ] {
            assert!(
                parse_document(bad, "t", &[]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_document(br#"<a x="1" y="2"/>"#, "t", &[]).is_ok());
    }

    /// XML Namespaces 1.0 section 6.3: no tag may hold two attributes
    /// "with the same local part and with prefixes which have been bound to
    /// namespace names that are identical"; the spec's own example is
    /// refused, its allowed one read.
    #[test]
    fn xml_names_6_3_attributes_unique_by_expanded_name() {
        let bad = br#"<x xmlns:n1="http://www.w3.org" xmlns="http://www.w3.org"><bad n1:a="1" n1:a="2"/><bad2 xmlns:n2="http://www.w3.org" n1:a="1" n2:a="2"/></x>"#;
        assert!(parse_document(bad, "t", &[]).is_err());
        let split = br#"<x xmlns:n1="http://www.w3.org" xmlns="http://www.w3.org"><bad2 xmlns:n2="http://www.w3.org" n1:a="1" n2:a="2"/></x>"#;
        assert!(matches!(
            parse_document(split, "t", &[]),
            Err(Error::Invalid { reason, .. }) if reason.contains("n2:a")
        ));
        let good = br#"<x xmlns:n1="http://www.w3.org" xmlns="http://www.w3.org"><good a="1" b="2"/><good a="1" n1:a="2"/></x>"#;
        let d = parse_document(good, "t", &[]).unwrap();
        assert_eq!(d.root.children[1].attr("a"), Some("1"));
        assert_eq!(
            d.root.children[1].attr_ns(&["http://www.w3.org"], "a"),
            Some("2")
        );
    }

    proptest! {
        #[test]
        fn escaping_roundtrips(s in "\\PC{0,40}", a in "[\\PC\t\r\n]{0,40}") {
            let xml = format!("<r a=\"{}\">{}</r>", escaped_attr(&a), escaped_text(&s));
            let d = parse_document(xml.as_bytes(), "t", &[]).unwrap();
            prop_assert_eq!(d.root.attr("a").unwrap(), a.as_str());
            prop_assert_eq!(&*d.root.text, s.as_str());
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_document(&bytes, "t", &[]);
        }
    }
}
