//! The SOAP 1.1 envelope and fault, and how a web service answer maps to an
//! outcome.
//!
//! Owns: wrapping a body (and optional header blocks) in an `Envelope`,
//! splitting a received one into header and body (SOAP 1.1 section 4), the
//! `Fault` (SOAP 1.1 section 4.4) with the `OCSDiagnosticsFault` detail of
//! [MS-OCAUTHWS] section 2.2.4, and [`classify`], which turns HTTP status,
//! `X-Ms-diagnostics` header and body into an [`Outcome`]. Does not own the
//! `ms-diagnostics` grammar ([`crate::diag`]) nor the operation bodies.

use super::certprov::ErrorInfo;
use super::xml::{self, Element, escape_text, is_xml_space};
use super::{NS_AF, NS_SOAP11, NS_XML, NS_XMLNS};
use crate::diag::Diagnostics;
use crate::{Error, Result};

/// `Content-Type` of every SOAP 1.1 request (SOAP 1.1 section 6.1.1).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const WHAT: &str = "SOAP envelope";
const WHAT_FAULT: &str = "SOAP fault";

/// A received envelope, split into header blocks and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The envelope's source text; element spans point into it.
    pub source: &'a str,
    /// The `Header` element, if present.
    pub header: Option<Element<'a>>,
    /// The `Body` element.
    pub body: Element<'a>,
}

impl<'a> Envelope<'a> {
    /// Parses an envelope. `capture_scope` names elements whose in-scope
    /// namespace bindings the caller needs (see [`xml::parse_document`]).
    pub fn parse_with(input: &'a [u8], capture_scope: &[(&str, &str)]) -> Result<Envelope<'a>> {
        let doc = xml::parse_document(input, WHAT, capture_scope)?;
        let root = doc.root;
        if root.local != "Envelope" || root.namespace != Some(NS_SOAP11) {
            // SOAP 1.1 section 4.4.1: an envelope in another namespace is a
            // VersionMismatch (SOAP 1.2 servers answer in their own one).
            return Err(Error::invalid_at(
                WHAT,
                root.span.start,
                format!(
                    "root is <{}> in namespace {:?}, not a SOAP 1.1 Envelope",
                    root.local, root.namespace
                ),
            ));
        }
        let start = root.span.start;
        let mut header = None;
        let mut body = None;
        for child in root.children {
            if child.is(&[NS_SOAP11], "Header") && header.is_none() && body.is_none() {
                header = Some(child);
            } else if child.is(&[NS_SOAP11], "Body") && body.is_none() {
                body = Some(child);
            }
        }
        let body = body.ok_or_else(|| Error::invalid_at(WHAT, start, "no Body element"))?;
        Ok(Envelope {
            source: doc.source,
            header,
            body,
        })
    }

    /// Parses an envelope.
    pub fn parse(input: &'a [u8]) -> Result<Envelope<'a>> {
        Self::parse_with(input, &[])
    }

    /// The first element of the body (the operation, the answer or the
    /// fault).
    pub fn body_element(&self) -> Option<&Element<'a>> {
        self.body.children.first()
    }

    /// The first body element, or an error saying it is missing.
    pub fn required_body_element(&self, what: &'static str) -> Result<&Element<'a>> {
        self.body_element()
            .ok_or_else(|| Error::invalid_at(what, self.body.span.start, "the Body is empty"))
    }

    /// The raw XML text of an element of this envelope.
    pub fn raw(&self, el: &Element<'_>) -> &'a str {
        self.source.get(el.span.clone()).unwrap_or("")
    }

    /// The fault in the body, if the body holds one.
    pub fn fault(&self) -> Option<Result<Fault>> {
        self.body
            .child(&[NS_SOAP11], "Fault")
            .map(Fault::from_element)
    }
}

/// Wraps a body (and optional header blocks) in a SOAP 1.1 envelope. Both
/// are XML fragments the builders of this module made; the prefix `s` is
/// bound to the SOAP 1.1 namespace in them.
pub fn build_envelope(header: Option<&str>, body: &str) -> String {
    let mut out = String::with_capacity(160 + body.len() + header.map_or(0, str::len));
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"");
    out.push_str(NS_SOAP11);
    out.push_str("\">");
    if let Some(h) = header {
        out.push_str("<s:Header>");
        out.push_str(h);
        out.push_str("</s:Header>");
    }
    out.push_str("<s:Body>");
    out.push_str(body);
    out.push_str("</s:Body></s:Envelope>");
    out
}

/// A qualified fault code (SOAP 1.1 section 4.4.1), compared by namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultCode {
    /// Namespace of the code's prefix; the SOAP 1.1 namespace for the
    /// standard codes.
    pub namespace: Option<String>,
    /// Local part, with any dotted refinement (`Client.Authentication`).
    pub local: String,
}

impl FaultCode {
    /// A standard SOAP 1.1 code such as `Client` or `Server`.
    pub fn soap(local: impl Into<String>) -> Self {
        FaultCode {
            namespace: Some(NS_SOAP11.to_owned()),
            local: local.into(),
        }
    }
}

/// The `af:Ms-Diagnostics-Fault` of an `af:OCSDiagnosticsFault` detail,
/// [MS-OCAUTHWS] section 2.2.4.1 (`af` is
/// `urn:component:Microsoft.Rtc.WebAuthentication.2010`, section 2.2.1).
/// The schema's `xs:any` extension content is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsDiagnosticsFault {
    /// `af:ErrorId`, an `xs:positiveInteger` ([MS-OCER] section 7.22 id,
    /// e.g. 28020); never 0.
    pub error_id: u32,
    /// `af:Reason`.
    pub reason: String,
}

/// A SOAP 1.1 fault (section 4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultcode`.
    pub code: FaultCode,
    /// `faultstring`.
    pub string: String,
    /// `faultactor`, if present.
    pub actor: Option<String>,
    /// The [MS-OCAUTHWS] diagnostics in `detail`, if present. Other detail
    /// content is not kept.
    pub diagnostics: Option<MsDiagnosticsFault>,
}

/// SOAP 1.1 section 4.4: the fault's sub-elements are unqualified; a few
/// stacks qualify them with the envelope namespace, which is accepted too.
fn fault_part<'e, 'a>(fault: &'e Element<'a>, local: &str) -> Option<&'e Element<'a>> {
    fault
        .children
        .iter()
        .find(|c| c.local == local && matches!(c.namespace, None | Some(NS_SOAP11)))
}

impl Fault {
    /// Reads a `Fault` element.
    pub fn from_element(el: &Element) -> Result<Fault> {
        let code_el = fault_part(el, "faultcode")
            .ok_or_else(|| Error::invalid_at(WHAT_FAULT, el.span.start, "no faultcode"))?;
        let raw = code_el.trimmed_text();
        let at = code_el.span.start;
        if raw.is_empty() || raw.contains(is_xml_space) {
            return Err(Error::invalid_at(
                WHAT_FAULT,
                at,
                "faultcode is not a qualified name",
            ));
        }
        let code = match raw.split_once(':') {
            Some((_, local)) => {
                let namespace = code_el.text_qname_namespace.ok_or_else(|| {
                    Error::invalid_at(
                        WHAT_FAULT,
                        at,
                        format!("faultcode {raw:?} has an undeclared prefix"),
                    )
                })?;
                if local.is_empty() || local.contains(':') {
                    return Err(Error::invalid_at(
                        WHAT_FAULT,
                        at,
                        format!("faultcode {raw:?} is not a qualified name"),
                    ));
                }
                FaultCode {
                    namespace: Some(namespace.to_owned()),
                    local: local.to_owned(),
                }
            }
            None => FaultCode {
                namespace: None,
                local: raw.to_owned(),
            },
        };
        let string = fault_part(el, "faultstring")
            .ok_or_else(|| Error::invalid_at(WHAT_FAULT, el.span.start, "no faultstring"))?
            .trimmed_text()
            .to_owned();
        let actor = fault_part(el, "faultactor").map(|a| a.trimmed_text().to_owned());
        let diagnostics = match fault_part(el, "detail") {
            Some(detail) => parse_ms_diagnostics(detail)?,
            None => None,
        };
        Ok(Fault {
            code,
            string,
            actor,
            diagnostics,
        })
    }

    /// Parses a whole envelope whose body is a fault.
    pub fn parse(input: &[u8]) -> Result<Fault> {
        let env = Envelope::parse(input)?;
        env.fault().unwrap_or_else(|| {
            Err(Error::invalid_at(
                WHAT_FAULT,
                env.body.span.start,
                "the Body holds no Fault",
            ))
        })
    }

    /// The `Fault` element, for use inside [`build_envelope`].
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<s:Fault>");
        match self.code.namespace.as_deref() {
            Some(NS_SOAP11) => out.push_str("<faultcode>s:"),
            // These two may not be bound to another prefix (XML Namespaces
            // section 3); their own prefixes are always in scope.
            Some(NS_XML) => out.push_str("<faultcode>xml:"),
            Some(NS_XMLNS) => out.push_str("<faultcode>xmlns:"),
            Some(ns) => {
                out.push_str("<faultcode xmlns:fc=\"");
                xml::escape_attr(ns, &mut out);
                out.push_str("\">fc:");
            }
            None => out.push_str("<faultcode>"),
        }
        escape_text(&self.code.local, &mut out);
        out.push_str("</faultcode><faultstring>");
        escape_text(&self.string, &mut out);
        out.push_str("</faultstring>");
        if let Some(actor) = &self.actor {
            out.push_str("<faultactor>");
            escape_text(actor, &mut out);
            out.push_str("</faultactor>");
        }
        if let Some(d) = &self.diagnostics {
            // [MS-OCAUTHWS] 2.2.4.1: af:OCSDiagnosticsFault in s:Fault/detail,
            // its children qualified in the same `af` namespace.
            out.push_str("<detail><OCSDiagnosticsFault xmlns=\"");
            out.push_str(NS_AF);
            out.push_str("\"><Ms-Diagnostics-Fault><ErrorId>");
            out.push_str(&d.error_id.to_string());
            out.push_str("</ErrorId><Reason>");
            escape_text(&d.reason, &mut out);
            out.push_str("</Reason></Ms-Diagnostics-Fault></OCSDiagnosticsFault></detail>");
        }
        out.push_str("</s:Fault>");
        out
    }

    /// A whole envelope carrying this fault.
    pub fn to_envelope(&self) -> String {
        build_envelope(None, &self.to_xml())
    }
}

/// The `af` namespace, or none: [MS-OCAUTHWS] 2.2.4.1 writes the children
/// as `af:ErrorId` and `af:Reason`; an unqualified child is accepted too,
/// because the schema text does not show its `elementFormDefault`.
fn is_af_child(el: &Element, local: &str) -> bool {
    el.local == local && matches!(el.namespace, None | Some(NS_AF))
}

/// Reads `af:Ms-Diagnostics-Fault` from a fault `detail` ([MS-OCAUTHWS]
/// 2.2.4.1: "The af:OCSDiagnosticsFaultType element is a child element of
/// s:Fault/s:detail"). The spec names the element's type, not the element:
/// `OCSDiagnosticsFault` (what this crate writes) is an inference, so any
/// `af` child of `detail` holding an `af:Ms-Diagnostics-Fault` is read.
/// A detail without one (e.g. another service's fault) gives `None`; one
/// that has it must carry the schema's required `ErrorId` (a positive
/// integer) and `Reason`.
fn parse_ms_diagnostics(detail: &Element) -> Result<Option<MsDiagnosticsFault>> {
    let Some(d) = detail
        .children
        .iter()
        .filter(|c| c.namespace == Some(NS_AF))
        .find_map(|c| c.child(&[NS_AF], "Ms-Diagnostics-Fault"))
    else {
        return Ok(None);
    };
    let id_el = d
        .children
        .iter()
        .find(|c| is_af_child(c, "ErrorId"))
        .ok_or_else(|| {
            Error::invalid_at(
                WHAT_FAULT,
                d.span.start,
                "Ms-Diagnostics-Fault has no ErrorId",
            )
        })?;
    let error_id = id_el
        .trimmed_text()
        .parse::<u32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            Error::invalid_at(
                WHAT_FAULT,
                id_el.span.start,
                format!(
                    "ErrorId {:?} is not a positive integer",
                    id_el.trimmed_text()
                ),
            )
        })?;
    let reason = d
        .children
        .iter()
        .find(|c| is_af_child(c, "Reason"))
        .ok_or_else(|| {
            Error::invalid_at(
                WHAT_FAULT,
                d.span.start,
                "Ms-Diagnostics-Fault has no Reason",
            )
        })?
        .trimmed_text()
        .to_owned();
    Ok(Some(MsDiagnosticsFault { error_id, reason }))
}

/// What a web service call came to, from the phone's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A 2xx answer whose body is neither a fault nor an `ErrorInfo`.
    Ok(Envelope<'a>),
    /// A SOAP fault (whatever the status; WCF sends them with 500).
    Fault {
        /// HTTP status code.
        status: u16,
        /// The fault.
        fault: Fault,
        /// The `X-Ms-diagnostics` header, when present and well formed.
        diagnostics: Option<Diagnostics>,
    },
    /// A `GetAndPublishCert` refusal in an `ErrorInfo` element
    /// ([MS-OCAUTHWS] 3.1.4.1: "SOAP faults SHOULD NOT be used").
    ErrorInfo {
        /// HTTP status code.
        status: u16,
        /// The error.
        error: ErrorInfo,
    },
    /// A non-2xx answer without a usable SOAP body, e.g. the Web Ticket
    /// service's 401/403/500 with `X-Ms-diagnostics` ([MS-OCAUTHWS] 3.2.4.1).
    Refused {
        /// HTTP status code.
        status: u16,
        /// The `X-Ms-diagnostics` header, when present and well formed.
        diagnostics: Option<Diagnostics>,
    },
}

/// Maps a web service answer to an [`Outcome`]. An `X-Ms-diagnostics` value
/// that does not parse is dropped (the caller still has the raw header); a
/// 2xx body that is not a SOAP 1.1 envelope is an error.
pub fn classify<'a>(
    status: u16,
    x_ms_diagnostics: Option<&str>,
    body: &'a [u8],
) -> Result<Outcome<'a>> {
    let diagnostics = x_ms_diagnostics.and_then(|v| Diagnostics::parse(v).ok());
    let success = (200..300).contains(&status);
    let env = match Envelope::parse(body) {
        Ok(env) => env,
        Err(e) if success => return Err(e),
        Err(_) => {
            return Ok(Outcome::Refused {
                status,
                diagnostics,
            });
        }
    };
    if let Some(fault) = env.fault() {
        match fault {
            Ok(fault) => {
                return Ok(Outcome::Fault {
                    status,
                    fault,
                    diagnostics,
                });
            }
            Err(e) if success => return Err(e),
            Err(_) => {
                return Ok(Outcome::Refused {
                    status,
                    diagnostics,
                });
            }
        }
    }
    if let Some(error) = ErrorInfo::find_in(&env.body) {
        return Ok(Outcome::ErrorInfo { status, error });
    }
    if success {
        Ok(Outcome::Ok(env))
    } else {
        Ok(Outcome::Refused {
            status,
            diagnostics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SOAP 1.1 section 4.4 (Fault) and its example 4.4.2-style layout: an
    /// envelope whose body is a fault with unqualified faultcode/faultstring,
    /// here with a prefix other than the builder's.
    #[test]
    fn soap11_section_4_4_fault() {
        let f = Fault::parse(include_bytes!("../../testdata/soap/soap11-4.4-fault.xml")).unwrap();
        assert_eq!(f.code, FaultCode::soap("MustUnderstand"));
        assert_eq!(f.string, "SOAP Must Understand Error");
        assert_eq!(f.actor, None);
        assert_eq!(f.diagnostics, None);
    }

    /// [MS-OCAUTHWS] 2.2.4.1: "The af:OCSDiagnosticsFaultType element is a
    /// child element of s:Fault/s:detail" and "The af:Ms-Diagnostics-Fault
    /// element is a child element of af:OCSDiagnosticsFaultType element",
    /// holding ErrorId and Reason; 2.2.1 binds `af` to
    /// urn:component:Microsoft.Rtc.WebAuthentication.2010.
    #[test]
    fn ms_ocauthws_2_2_4_1_ocs_diagnostics_fault() {
        let f = Fault::parse(include_bytes!(
            "../../testdata/soap/ms-ocauthws-2.2.4.1-ocsdiagnosticsfault.xml"
        ))
        .unwrap();
        assert_eq!(f.code.local, "FailedAuthentication");
        assert_eq!(f.code.namespace.as_deref(), Some(crate::soap::NS_WSSE));
        assert_eq!(f.string, "No valid security token.");
        let want = MsDiagnosticsFault {
            error_id: 28020,
            reason: "No valid security token.".into(),
        };
        assert_eq!(f.diagnostics, Some(want.clone()));
        // The builder writes the same structure in the af namespace.
        let built = f.to_envelope();
        assert!(built.contains(
            "<OCSDiagnosticsFault xmlns=\"urn:component:Microsoft.Rtc.WebAuthentication.2010\">"
        ));
        assert_eq!(Fault::parse(built.as_bytes()).unwrap(), f);
    }

    fn fault_with_detail(detail: &str) -> String {
        build_envelope(
            None,
            &format!(
                "<s:Fault><faultcode>s:Client</faultcode><faultstring>x</faultstring>\
                 <detail>{detail}</detail></s:Fault>"
            ),
        )
    }

    /// [MS-OCAUTHWS] 2.2.4.1, MsDiagnosticsFaultType: `ErrorId` is an
    /// `xs:positiveInteger` with minOccurs="1", `Reason` an `xs:string` with
    /// minOccurs="1", followed by `xs:any` content; OCSDiagnosticsFaultType
    /// also allows `xs:any` after Ms-Diagnostics-Fault.
    #[test]
    fn ms_ocauthws_2_2_4_1_schema_constraints() {
        let af = NS_AF;
        let ok = fault_with_detail(&format!(
            "<OCSDiagnosticsFault xmlns=\"{af}\"><Ms-Diagnostics-Fault><ErrorId>28001</ErrorId>\
             <Reason>Internal error.</Reason><Extra>1</Extra></Ms-Diagnostics-Fault>\
             <NameValuePairs xmlns=\"urn:x\"/></OCSDiagnosticsFault>"
        ));
        assert_eq!(
            Fault::parse(ok.as_bytes()).unwrap().diagnostics,
            Some(MsDiagnosticsFault {
                error_id: 28001,
                reason: "Internal error.".into()
            })
        );
        for bad in [
            "<ErrorId>0</ErrorId><Reason>r</Reason>",
            "<ErrorId>-5</ErrorId><Reason>r</Reason>",
            "<ErrorId>28020</ErrorId>",
            "<Reason>r</Reason>",
        ] {
            let body = fault_with_detail(&format!(
                "<OCSDiagnosticsFault xmlns=\"{af}\"><Ms-Diagnostics-Fault>{bad}</Ms-Diagnostics-Fault></OCSDiagnosticsFault>"
            ));
            assert!(Fault::parse(body.as_bytes()).is_err(), "{bad}");
        }
        // The element in another namespace (this crate's earlier assumption,
        // the AuthWebServices namespace) is not the af element.
        let other = fault_with_detail(&format!(
            "<OCSDiagnosticsFault xmlns=\"{}\"><Ms-Diagnostics-Fault><ErrorId>1</ErrorId>\
             <Reason>r</Reason></Ms-Diagnostics-Fault></OCSDiagnosticsFault>",
            crate::soap::NS_AUTHWS
        ));
        assert_eq!(Fault::parse(other.as_bytes()).unwrap().diagnostics, None);
    }

    /// [MS-OCAUTHWS] 2.2.4.1 names the detail's child by its type,
    /// `af:OCSDiagnosticsFaultType`, never by an element name: a server
    /// whose wrapper element has another `af` name still gives its
    /// diagnostics.
    #[test]
    fn ms_ocauthws_2_2_4_1_wrapper_named_by_type() {
        for wrapper in ["OCSDiagnosticsFaultType", "OCSDiagnosticsFaultDetail"] {
            let body = fault_with_detail(&format!(
                "<{wrapper} xmlns=\"{NS_AF}\"><Ms-Diagnostics-Fault><ErrorId>28000</ErrorId>\
                 <Reason>User is not SIP enabled.</Reason></Ms-Diagnostics-Fault></{wrapper}>"
            ));
            assert_eq!(
                Fault::parse(body.as_bytes()).unwrap().diagnostics,
                Some(MsDiagnosticsFault {
                    error_id: 28000,
                    reason: "User is not SIP enabled.".into()
                }),
                "{wrapper}"
            );
        }
    }

    #[test]
    fn soap11_section_4_envelope_header_and_body() {
        let env = build_envelope(Some("<h xmlns=\"urn:h\">1</h>"), "<b xmlns=\"urn:b\"/>");
        let e = Envelope::parse(env.as_bytes()).unwrap();
        assert!(e.header.as_ref().unwrap().child(&["urn:h"], "h").is_some());
        assert!(e.body_element().unwrap().is(&["urn:b"], "b"));
        // SOAP 1.2 envelope: version mismatch.
        let soap12 = br#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>"#;
        assert!(Envelope::parse(soap12).is_err());
        let no_body = format!("<s:Envelope xmlns:s=\"{NS_SOAP11}\"/>");
        assert!(Envelope::parse(no_body.as_bytes()).is_err());
    }

    /// [MS-OCAUTHWS] 3.2.4.1: Web Ticket errors come as HTTP status plus
    /// X-Ms-diagnostics (28000 user not SIP enabled, 403).
    #[test]
    fn ms_ocauthws_3_2_4_1_classify() {
        let out = classify(
            403,
            Some(r#"28000;source="fe01.contoso.com";reason="User is not SIP enabled";fault="s:Client""#),
            b"",
        )
        .unwrap();
        match out {
            Outcome::Refused {
                status: 403,
                diagnostics: Some(d),
            } => assert_eq!(d.id, 28000),
            other => panic!("{other:?}"),
        }
        let fault = Fault {
            code: FaultCode::soap("Server"),
            string: "x".into(),
            actor: None,
            diagnostics: Some(MsDiagnosticsFault {
                error_id: 28001,
                reason: "internal".into(),
            }),
        };
        let sent = fault.to_envelope();
        let out = classify(500, None, sent.as_bytes()).unwrap();
        assert_eq!(
            out,
            Outcome::Fault {
                status: 500,
                fault,
                diagnostics: None
            }
        );
        let ok = build_envelope(None, "<x xmlns=\"urn:x\"/>");
        assert!(matches!(
            classify(200, None, ok.as_bytes()).unwrap(),
            Outcome::Ok(_)
        ));
        assert!(classify(200, None, b"not xml").is_err());
    }

    fn fault_strategy() -> impl Strategy<Value = Fault> {
        (
            prop_oneof![
                Just(Some(NS_SOAP11.to_owned())),
                Just(None),
                "urn:[a-z]{1,8}".prop_map(Some)
            ],
            "[A-Za-z][A-Za-z0-9.]{0,12}",
            "\\PC{0,30}",
            proptest::option::of("\\PC{0,20}"),
            proptest::option::of((1u32.., "\\PC{0,20}")),
        )
            .prop_map(|(ns, local, string, actor, diag)| Fault {
                code: FaultCode {
                    namespace: ns,
                    local,
                },
                string: string.trim_matches(is_xml_space).to_owned(),
                actor: actor.map(|a| a.trim_matches(is_xml_space).to_owned()),
                diagnostics: diag.map(|(error_id, r)| MsDiagnosticsFault {
                    error_id,
                    reason: r.trim_matches(is_xml_space).to_owned(),
                }),
            })
    }

    proptest! {
        #[test]
        fn fault_roundtrip(f in fault_strategy()) {
            prop_assert_eq!(Fault::parse(f.to_envelope().as_bytes()).unwrap(), f);
        }

        #[test]
        fn classify_never_panics(status in any::<u16>(), h in proptest::option::of("\\PC{0,30}"), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = classify(status, h.as_deref(), &body);
        }
    }
}
