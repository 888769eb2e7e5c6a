//! The web ticket as proof of possession: the `wsse:Security` header a
//! phone puts on the calls it makes with a web ticket, and the check the
//! mock makes of it.
//!
//! [MS-OCAUTHWS] 1.3.1 has the client present the web ticket to the web
//! applications; the ticket is a SAML 1.1 assertion with a symmetric proof
//! key (WS-Trust 1.3 section 4.4.3, `CK/PSHA1`), and SOAP Message Security
//! 1.1 (WSS) is how such a token is presented: the header holds a
//! `wsu:Timestamp`, the assertion, and an XML signature (XML-DSig, the
//! `hmac-sha1` SignatureMethod of section 6.3.1) keyed by the proof key,
//! whose KeyInfo names the assertion through a `wsse:SecurityTokenReference`
//! with a `SAMLAssertionID` KeyIdentifier (WSS SAML Token Profile 1.1
//! section 3.4.2). The web services run over HTTPS, so — as the WS-Security
//! Policy transport binding with an endorsing token does — the signature
//! covers the timestamp: it proves the key, and binds it to a fresh time.
//!
//! Owns: exclusive XML canonicalization without comments (W3C
//! xml-exc-c14n, [`exc_c14n`]) of the signed elements as they appear in a
//! received document, the header builder ([`build_security_header`]) and
//! the verifier ([`verify_security_header`]). Does not own: the proof key's
//! derivation ([`super::psha1`], [`super::wstrust`]), tickets' lifetime
//! (the caller looks the key up and decides), clocks (times are passed in).

use std::time::Duration;

use base64::Engine as _;
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use sha1::{Digest as _, Sha1};

use super::envelope::Envelope;
use super::xml::{self, Element};
use super::{NS_SAML1, NS_SOAP11, NS_WSSE, NS_WSU, NS_XML, psha1, xs_datetime};
use crate::{Error, Result};

/// XML-DSig namespace.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Exclusive XML Canonicalization 1.0, without comments (section 3).
pub const ALG_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// XML-DSig section 6.3.1 HMAC-SHA1.
pub const ALG_HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
/// XML-DSig section 6.2.1 SHA-1 digest.
pub const ALG_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
/// WSS SAML Token Profile 1.1 section 3.4.2: KeyIdentifier ValueType of a
/// SAML 1.1 AssertionID.
pub const VALUE_TYPE_SAML_ASSERTION_ID: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID";
/// WSS 1.1 `wsse11:TokenType` of a SAML 1.1 token.
pub const TOKEN_TYPE_SAML11: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1";
/// The `wsu:Id` the builder gives its timestamp.
const TIMESTAMP_ID: &str = "_0";

const WHAT: &str = "WS-Security header";
const WHAT_C14N: &str = "exclusive canonicalization";

// ---------------------------------------------------------------------------
// Exclusive canonicalization
// ---------------------------------------------------------------------------

/// The exclusive canonical form (W3C xml-exc-c14n, without comments, with
/// an empty InclusiveNamespaces PrefixList) of one element, given as its
/// raw text and the namespace bindings in scope from its ancestors
/// (`(prefix, uri)`, prefix `""` for the default namespace).
///
/// What it does, by section of Canonical XML 1.0 (which exc-c14n builds
/// on) and exc-c14n 1.0 section 3: character and entity references are
/// replaced, CDATA sections become text, line ends are normalized, empty
/// elements become start-end pairs, attribute values are normalized and
/// written in double quotes, attributes are sorted by namespace URI then
/// local name, comments are dropped; and a namespace declaration is written
/// on an element only where its prefix is *visibly utilized* (by the
/// element's name or an attribute's) and no output ancestor already wrote
/// the same binding (exc-c14n 3, "Specification of Exclusive XML
/// Canonicalization"), sorted by prefix.
pub fn exc_c14n(raw: &str, inherited: &[(String, String)]) -> Result<String> {
    let mut reader = Reader::from_str(raw);
    let mut out = String::with_capacity(raw.len());
    // In-scope bindings per open element (the source's view) and the
    // bindings rendered on output ancestors (the canonical form's view).
    let mut scopes: Vec<Vec<(String, String)>> = vec![inherited.to_vec()];
    let mut rendered: Vec<Vec<(String, String)>> = vec![Vec::new()];
    let mut depth = 0usize;
    let mut seen_root = false;
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(0);
        let event = reader
            .read_event()
            .map_err(|e| Error::invalid_at(WHAT_C14N, pos, format!("malformed XML: {e}")))?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                if depth == 0 && seen_root {
                    return Err(Error::invalid_at(WHAT_C14N, pos, "more than one element"));
                }
                if depth >= xml::MAX_DEPTH {
                    return Err(Error::invalid_at(
                        WHAT_C14N,
                        pos,
                        "elements nested too deep",
                    ));
                }
                seen_root = true;
                let mut scope = scopes.last().cloned().unwrap_or_default();
                let mut attrs: Vec<(String, String, String, String)> = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| {
                        Error::invalid_at(WHAT_C14N, pos, format!("malformed attribute: {e}"))
                    })?;
                    let key = a.key.as_ref().to_owned();
                    let value = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| {
                            Error::invalid_at(WHAT_C14N, pos, format!("bad attribute value: {e}"))
                        })?
                        .into_owned();
                    if key == "xmlns" {
                        bind(&mut scope, "", &value);
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        bind(&mut scope, p, &value);
                    } else {
                        let (prefix, local) = match key.split_once(':') {
                            Some((p, l)) => (p.to_owned(), l.to_owned()),
                            None => (String::new(), key.clone()),
                        };
                        attrs.push((prefix, local, key, value));
                    }
                }
                let name = s.name().as_ref().to_owned();
                let elem_prefix = name.split_once(':').map_or("", |(p, _)| p).to_owned();
                // Visibly utilized prefixes.
                let mut used: Vec<String> = vec![elem_prefix];
                for (p, ..) in &attrs {
                    if !p.is_empty() && p != "xml" && !used.contains(p) {
                        used.push(p.clone());
                    }
                }
                let mut here = rendered.last().cloned().unwrap_or_default();
                let mut decls: Vec<(String, String)> = Vec::new();
                for p in &used {
                    let uri = lookup(&scope, p).unwrap_or_default().to_owned();
                    if !p.is_empty() && uri.is_empty() {
                        return Err(Error::invalid_at(
                            WHAT_C14N,
                            pos,
                            format!("namespace prefix {p:?} is not declared"),
                        ));
                    }
                    let shown = lookup(&here, p).unwrap_or_default();
                    if shown != uri {
                        decls.push((p.clone(), uri.clone()));
                        bind(&mut here, p, &uri);
                    }
                }
                decls.sort();
                let mut keyed: Vec<(String, String, String, String)> = Vec::new();
                for (p, local, qname, value) in attrs {
                    let uri = if p.is_empty() {
                        String::new()
                    } else if p == "xml" {
                        NS_XML.to_owned()
                    } else {
                        lookup(&scope, &p).unwrap_or_default().to_owned()
                    };
                    keyed.push((uri, local, qname, value));
                }
                keyed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
                out.push('<');
                out.push_str(&name);
                for (p, uri) in &decls {
                    if p.is_empty() {
                        out.push_str(" xmlns=\"");
                    } else {
                        out.push_str(" xmlns:");
                        out.push_str(p);
                        out.push_str("=\"");
                    }
                    escape_attr(uri, &mut out);
                    out.push('"');
                }
                for (_, _, qname, value) in &keyed {
                    out.push(' ');
                    out.push_str(qname);
                    out.push_str("=\"");
                    escape_attr(value, &mut out);
                    out.push('"');
                }
                out.push('>');
                if empty {
                    out.push_str("</");
                    out.push_str(&name);
                    out.push('>');
                } else {
                    depth += 1;
                    scopes.push(scope);
                    rendered.push(here);
                }
            }
            Event::End(e) => {
                out.push_str("</");
                out.push_str(e.name().as_ref());
                out.push('>');
                depth = depth.saturating_sub(1);
                scopes.pop();
                rendered.pop();
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                if depth == 0 {
                    if !content.chars().all(xml::is_xml_space) {
                        return Err(Error::invalid_at(
                            WHAT_C14N,
                            pos,
                            "text outside the element",
                        ));
                    }
                } else {
                    escape_text(&content, &mut out);
                }
            }
            Event::CData(c) if depth > 0 => escape_text(&c.xml10_content(), &mut out),
            Event::GeneralRef(r) if depth > 0 => {
                let ch = r.resolve_char_ref().map_err(|e| {
                    Error::invalid_at(WHAT_C14N, pos, format!("bad character reference: {e}"))
                })?;
                match ch {
                    Some(c) => escape_text(c.encode_utf8(&mut [0; 4]), &mut out),
                    None => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => escape_text(s, &mut out),
                        None => {
                            return Err(Error::invalid_at(
                                WHAT_C14N,
                                pos,
                                format!("unknown entity &{};", &*r),
                            ));
                        }
                    },
                }
            }
            Event::PI(p) if depth > 0 => {
                out.push_str("<?");
                out.push_str(p.target());
                let data = p.content().trim_start_matches(xml::is_xml_space);
                if !data.is_empty() {
                    out.push(' ');
                    out.push_str(data);
                }
                out.push_str("?>");
            }
            Event::DocType(_) => {
                return Err(Error::invalid_at(
                    WHAT_C14N,
                    pos,
                    "document type declaration",
                ));
            }
            Event::Eof => break,
            // Comments are dropped (the "without comments" form); an XML
            // declaration, or anything else outside the element, is not
            // part of an element's canonical form.
            _ => {
                if depth == 0 && !matches!(event, Event::Comment(_) | Event::Decl(_) | Event::PI(_))
                {
                    return Err(Error::invalid_at(
                        WHAT_C14N,
                        pos,
                        "content outside the element",
                    ));
                }
            }
        }
    }
    if depth != 0 || !seen_root {
        return Err(Error::invalid_at(
            WHAT_C14N,
            raw.len(),
            "no complete element",
        ));
    }
    Ok(out)
}

fn bind(scope: &mut Vec<(String, String)>, prefix: &str, uri: &str) {
    match scope.iter_mut().find(|(p, _)| p == prefix) {
        Some(slot) => uri.clone_into(&mut slot.1),
        None => scope.push((prefix.to_owned(), uri.to_owned())),
    }
}

fn lookup<'a>(scope: &'a [(String, String)], prefix: &str) -> Option<&'a str> {
    scope
        .iter()
        .find(|(p, _)| p == prefix)
        .map(|(_, u)| u.as_str())
}

/// Canonical XML 1.0 section 2.3, text nodes: `&`, `<`, `>` and `#xD`
/// replaced.
fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// Canonical XML 1.0 section 2.3, attribute values: `&`, `<`, `"`, `#x9`,
/// `#xA` and `#xD` replaced.
fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha1_b64(data: &str) -> String {
    b64(&Sha1::digest(data.as_bytes()))
}

/// The `wsu:Timestamp` from `created` to `created + lifetime`, written in
/// its exclusive canonical form.
fn timestamp(created: Duration, lifetime: Duration) -> String {
    format!(
        "<wsu:Timestamp xmlns:wsu=\"{NS_WSU}\" wsu:Id=\"{TIMESTAMP_ID}\">\
         <wsu:Created>{}</wsu:Created><wsu:Expires>{}</wsu:Expires></wsu:Timestamp>",
        xs_datetime(created),
        xs_datetime(created.saturating_add(lifetime)),
    )
}

/// The `ds:SignedInfo` for one reference to `#id` with digest `digest_b64`,
/// written in its exclusive canonical form.
fn signed_info(id: &str, digest_b64: &str) -> String {
    format!(
        "<SignedInfo xmlns=\"{NS_DSIG}\">\
         <CanonicalizationMethod Algorithm=\"{ALG_EXC_C14N}\"></CanonicalizationMethod>\
         <SignatureMethod Algorithm=\"{ALG_HMAC_SHA1}\"></SignatureMethod>\
         <Reference URI=\"#{id}\"><Transforms><Transform Algorithm=\"{ALG_EXC_C14N}\">\
         </Transform></Transforms><DigestMethod Algorithm=\"{ALG_SHA1}\"></DigestMethod>\
         <DigestValue>{digest_b64}</DigestValue></Reference></SignedInfo>"
    )
}

/// The `wsse:Security` header block a call made with a web ticket carries:
/// a `wsu:Timestamp` from `created` to `created + lifetime` (times as
/// distances from the Unix epoch), the assertion verbatim, and a signature
/// over the timestamp with HMAC-SHA1 under `proof_key`, naming the
/// assertion by its AssertionID. The SOAP 1.1 `s` prefix must be bound
/// where the block is placed ([`super::envelope::build_envelope`] does).
/// The assertion comes parsed, as the caller kept it from the web ticket
/// answer: a phone signs every call with the same one.
pub fn build_security_header(
    assertion: &super::wstrust::SamlAssertion,
    proof_key: &[u8],
    created: Duration,
    lifetime: Duration,
) -> Result<String> {
    if proof_key.is_empty() {
        return Err(Error::bad_value("web ticket proof key", "empty"));
    }
    let assertion_raw = &assertion.raw;
    let timestamp = timestamp(created, lifetime);
    // The digest and the signature are over the canonical forms the
    // verifier computes. Both literals are written canonical (the tests
    // run them through the canonicalizer), so they are hashed as they are
    // rather than canonicalized on every call.
    let digest = sha1_b64(&timestamp);
    let si = signed_info(TIMESTAMP_ID, &digest);
    let value = b64(&psha1::hmac_sha1(proof_key, &[si.as_bytes()]));
    let mut id = String::new();
    xml::escape_text(&assertion.assertion_id, &mut id);
    Ok(format!(
        "<wsse:Security xmlns:wsse=\"{NS_WSSE}\" s:mustUnderstand=\"1\">{timestamp}{assertion_raw}\
         <Signature xmlns=\"{NS_DSIG}\">{si}<SignatureValue>{value}</SignatureValue>\
         <KeyInfo><wsse:SecurityTokenReference><wsse:KeyIdentifier ValueType=\"{VALUE_TYPE_SAML_ASSERTION_ID}\">{id}\
         </wsse:KeyIdentifier></wsse:SecurityTokenReference></KeyInfo></Signature></wsse:Security>"
    ))
}

// ---------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------

/// The elements whose namespace context [`verify_security_header`] needs;
/// parse the envelope with [`Envelope::parse_with`] and these.
pub const CAPTURE_SCOPE: &[(&str, &str)] = &[
    (NS_WSU, "Timestamp"),
    (NS_DSIG, "SignedInfo"),
    (NS_SOAP11, "Body"),
];

/// Why a proof was refused, for the fault the service sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// No `wsse:Security`, no signature or no timestamp.
    Missing(String),
    /// The header is there but wrong: structure, algorithm, digest or
    /// signature value.
    Bad(String),
    /// The assertion the signature names is not one the caller knows.
    UnknownTicket(String),
    /// The timestamp has expired (or is not yet valid).
    Expired(String),
}

impl ProofError {
    /// The WSS 1.0 section 12 fault code (local name in the `wsse`
    /// namespace) a service answers this refusal with: `InvalidSecurity`
    /// ("an error was discovered processing the <wsse:Security> header"),
    /// `FailedCheck` ("the signature or decryption was invalid"),
    /// `InvalidSecurityToken` and `MessageExpired`.
    pub fn wss_fault_code(&self) -> &'static str {
        match self {
            ProofError::Missing(_) => "InvalidSecurity",
            ProofError::Bad(_) => "FailedCheck",
            ProofError::UnknownTicket(_) => "InvalidSecurityToken",
            ProofError::Expired(_) => "MessageExpired",
        }
    }
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProofError::Missing(s) => write!(f, "missing proof: {s}"),
            ProofError::Bad(s) => write!(f, "bad proof: {s}"),
            ProofError::UnknownTicket(s) => write!(f, "unknown web ticket: {s}"),
            ProofError::Expired(s) => write!(f, "expired proof: {s}"),
        }
    }
}

/// What a verified header proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The AssertionID of the ticket whose key signed.
    pub assertion_id: String,
    /// The timestamp's `Created`, seconds since the Unix epoch.
    pub created: i64,
    /// The timestamp's `Expires`, seconds since the Unix epoch.
    pub expires: i64,
}

/// Checks the `wsse:Security` header of `env` (parsed with
/// [`CAPTURE_SCOPE`]): a timestamp, a signature with exclusive
/// canonicalization and HMAC-SHA1 whose references include the timestamp
/// (and whose every reference digests right), a KeyInfo naming a SAML
/// assertion present in the header, `key_of(assertion_id)` giving the proof
/// key, a signature value that matches, and `created - skew <= now <
/// expires + skew`, `now` as a distance from the Unix epoch.
pub fn verify_security_header(
    env: &Envelope,
    key_of: impl FnOnce(&str) -> Option<Vec<u8>>,
    now: Duration,
    skew: Duration,
) -> std::result::Result<VerifiedProof, ProofError> {
    use ProofError::{Bad, Expired, Missing, UnknownTicket};
    let header = env
        .header
        .as_ref()
        .ok_or_else(|| Missing("no SOAP header".into()))?;
    let security = header
        .child(&[NS_WSSE], "Security")
        .ok_or_else(|| Missing("no wsse:Security header".into()))?;
    let timestamp = security
        .child(&[NS_WSU], "Timestamp")
        .ok_or_else(|| Missing("no wsu:Timestamp".into()))?;
    let signature = security
        .child(&[NS_DSIG], "Signature")
        .ok_or_else(|| Missing("no ds:Signature".into()))?;
    let si = signature
        .child(&[NS_DSIG], "SignedInfo")
        .ok_or_else(|| Bad("no SignedInfo".into()))?;
    let alg = |el: &Element, local: &str| {
        el.child(&[NS_DSIG], local)
            .and_then(|c| c.attr("Algorithm"))
            .unwrap_or_default()
            .to_owned()
    };
    if alg(si, "CanonicalizationMethod") != ALG_EXC_C14N {
        return Err(Bad("CanonicalizationMethod is not exclusive c14n".into()));
    }
    if alg(si, "SignatureMethod") != ALG_HMAC_SHA1 {
        return Err(Bad("SignatureMethod is not hmac-sha1".into()));
    }
    let ts_id = timestamp
        .attr_ns(&[NS_WSU], "Id")
        .ok_or_else(|| Bad("wsu:Timestamp without wsu:Id".into()))?;
    let mut covers_timestamp = false;
    let mut references = 0usize;
    for r in si.children_named(&[NS_DSIG], "Reference") {
        references += 1;
        let uri = r.attr("URI").unwrap_or_default();
        let id = uri
            .strip_prefix('#')
            .ok_or_else(|| Bad(format!("reference {uri:?} is not a same-document id")))?;
        let target = if id == ts_id {
            covers_timestamp = true;
            timestamp
        } else if env.body.attr_ns(&[NS_WSU], "Id") == Some(id) {
            &env.body
        } else {
            return Err(Bad(format!("reference {uri:?} names no signable element")));
        };
        let transforms: Vec<String> = r
            .child(&[NS_DSIG], "Transforms")
            .map(|t| {
                t.children_named(&[NS_DSIG], "Transform")
                    .map(|x| x.attr("Algorithm").unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if transforms.iter().any(|t| t != ALG_EXC_C14N) {
            return Err(Bad(
                "a reference has a transform other than exclusive c14n".into()
            ));
        }
        if alg(r, "DigestMethod") != ALG_SHA1 {
            return Err(Bad("DigestMethod is not sha1".into()));
        }
        let sent = r
            .child(&[NS_DSIG], "DigestValue")
            .map(|d| d.trimmed_text().to_owned())
            .unwrap_or_default();
        let canon = canonical(env, target).map_err(|e| Bad(e.to_string()))?;
        if sha1_b64(&canon) != sent {
            return Err(Bad(format!("digest of {uri:?} does not match")));
        }
    }
    if references == 0 || !covers_timestamp {
        return Err(Bad("the signature does not cover the timestamp".into()));
    }
    let id = signature
        .child(&[NS_DSIG], "KeyInfo")
        .and_then(|k| k.child(&[NS_WSSE], "SecurityTokenReference"))
        .and_then(|s| s.child(&[NS_WSSE], "KeyIdentifier"))
        .filter(|k| k.attr("ValueType") == Some(VALUE_TYPE_SAML_ASSERTION_ID))
        .map(|k| k.trimmed_text().to_owned())
        .ok_or_else(|| Bad("KeyInfo names no SAML assertion".into()))?;
    let in_header = security
        .children_named(&[NS_SAML1], "Assertion")
        .any(|a| a.attr("AssertionID") == Some(id.as_str()));
    if !in_header {
        return Err(Bad(
            "the assertion the signature names is not in the header".into(),
        ));
    }
    let key = key_of(&id).ok_or_else(|| UnknownTicket(id.clone()))?;
    let sent = signature
        .child(&[NS_DSIG], "SignatureValue")
        .map(|v| v.trimmed_text())
        .unwrap_or_default();
    let sent = super::decode_base64(sent, WHAT, 0).map_err(|e| Bad(e.to_string()))?;
    let canon = canonical(env, si).map_err(|e| Bad(e.to_string()))?;
    let mac = psha1::hmac_sha1(&key, &[canon.as_bytes()]);
    let same =
        sent.len() == mac.len() && sent.iter().zip(mac).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
    if !same {
        return Err(Bad("signature value does not match".into()));
    }
    let time = |local: &str| {
        timestamp
            .child(&[NS_WSU], local)
            .ok_or_else(|| Bad(format!("timestamp without {local}")))
            .and_then(|e| parse_xs_datetime(e.trimmed_text()).map_err(|e| Bad(e.to_string())))
    };
    let created = time("Created")?;
    let expires = time("Expires")?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let skew = i64::try_from(skew.as_secs()).unwrap_or(i64::MAX);
    if now >= expires.saturating_add(skew) {
        return Err(Expired(format!(
            "the timestamp expired at {}",
            xs_at(expires)
        )));
    }
    if created.saturating_sub(skew) > now {
        return Err(Expired(format!(
            "the timestamp is created in the future ({})",
            xs_at(created)
        )));
    }
    Ok(VerifiedProof {
        assertion_id: id,
        created,
        expires,
    })
}

fn xs_at(secs: i64) -> String {
    xs_datetime(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

fn canonical(env: &Envelope, el: &Element) -> Result<String> {
    exc_c14n(env.raw(el), el.scope.as_deref().unwrap_or_default())
}

/// Reads an `xs:dateTime` (XML Schema 1.0 part 2, 3.2.7) as seconds since
/// the Unix epoch: `yyyy-mm-ddThh:mm:ss`, optional fraction (dropped),
/// then `Z`, an offset `+hh:mm` / `-hh:mm`, or nothing (taken as UTC).
pub fn parse_xs_datetime(s: &str) -> Result<i64> {
    const WHAT_DT: &str = "xs:dateTime";
    let bad = || {
        Error::invalid(
            WHAT_DT,
            format!("{s:?} is not yyyy-mm-ddThh:mm:ss[Z|+hh:mm]"),
        )
    };
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        let t = s.get(r).ok_or_else(bad)?;
        if !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let sep = |i: usize, c: u8| s.as_bytes().get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return Err(bad());
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut rest = s.get(19..).ok_or_else(bad)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = frac.get(digits..).ok_or_else(bad)?;
    }
    let offset = match rest {
        "" | "Z" => 0,
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && sep(s.len() - 3, b':') =>
        {
            let base = s.len() - 6;
            let m = num(base + 1..base + 3)? * 3600 + num(base + 4..base + 6)? * 60;
            if o.starts_with('-') { -m } else { m }
        }
        _ => return Err(bad()),
    };
    let month = time::Month::try_from(u8::try_from(mo).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(
        i32::try_from(y).map_err(|_| bad())?,
        month,
        u8::try_from(d).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let days = i64::from(date.to_julian_day())
        - i64::from(time::OffsetDateTime::UNIX_EPOCH.date().to_julian_day());
    Ok(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests;
