//! `GetAndPublishCert` of the Certificate Provisioning service,
//! [MS-OCAUTHWS] section 3.1.4.1.
//!
//! Owns the request (a WS-Trust `RequestSecurityToken` for an X.509v3 token
//! carrying a PKCS#10 CSR, wrapped in a `GetAndPublishCert` element with the
//! `DeviceId` and `Entity` attributes) and the answer (the issued certificate
//! in `RequestedSecurityToken`, or an `ErrorInfo` element: "SOAP faults
//! SHOULD NOT be used for error reporting"), both ways. Does not own the web
//! ticket that authorizes the call (its `wsse:Security` header is passed in
//! as a fragment), nor CSR or certificate contents (opaque DER here).
//!
//! What is checked against the specification text: the operation and the
//! "SOAP faults SHOULD NOT be used for error reporting" rule (3.1.4.1), the
//! namespaces of section 2.2.1 (`tns` =
//! `http://schemas.microsoft.com/OCS/AuthWebServices/`, `wst` = WS-Trust
//! *with* a trailing slash, `wstep`, `wsse`), and that the server may send
//! the certificate chain as PKCS#7 (section 1.5, [`VALUE_TYPE_PKCS7`]).
//!
//! Guessed parts: the schema of `ErrorInfo` (section 3.1.4.1.2.2) and the
//! section 4 examples were not in the text available when this was
//! written, so the element names inside `ErrorInfo` remain a guess: the
//! builder writes `ErrorCode` and `Reason` and the parser accepts the usual
//! spellings (see [`ErrorInfo`]).
//!
//! Not here: a `ResolveUser` operation. [MS-OCAUTHWS] defines three WSDLs
//! (Appendix A, section 6): the Certificate Provisioning service
//! (`GetAndPublishCert`, this module), the Web Ticket service (`IssueToken`,
//! [`super::wstrust`]) and the Authentication Broker service; none of the
//! sections read defines `ResolveUser`, so it is not part of this protocol.

use super::envelope::{Envelope, build_envelope};
use super::xml::{self, Element};
use super::{
    ENCODING_BASE64, NS_AUTHWS, NS_WSSE, NS_WST_ANY, NS_WST_SLASH, NS_WSTEP, decode_base64,
    encode_base64, push_text_element,
};
use crate::{Error, Result};

/// `SOAPAction` of `GetAndPublishCert`.
pub const GET_AND_PUBLISH_CERT_ACTION: &str =
    "http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert";
/// WS-Security X.509 token profile `X509v3` token type / value type.
pub const TOKEN_TYPE_X509V3: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
/// WS-Security X.509 token profile `PKCS7` value type: [MS-OCAUTHWS] 1.5,
/// "PKCS#7 format ... which \[is\] used by the server to send the certificate
/// chain".
pub const VALUE_TYPE_PKCS7: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7";
/// `ValueType` of the CSR's `BinarySecurityToken`.
pub const VALUE_TYPE_PKCS10: &str = "http://schemas.microsoft.com/OCS/AuthWebServices.xsd#PKCS10";
/// WS-Trust 1.3 `Issue` request type.
pub const REQUEST_TYPE_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";

const WHAT_REQ: &str = "GetAndPublishCert request";
const WHAT_RESP: &str = "GetAndPublishCert response";

/// The `GetAndPublishCert` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAndPublishCertRequest {
    /// `DeviceId` attribute as sent, a GUID in braces (`{…}`).
    pub device_id: String,
    /// `Entity` attribute, the user's SIP address without `sip:`.
    pub entity: String,
    /// The PKCS#10 certificate request, DER.
    pub csr_der: Vec<u8>,
    /// `wstep:RequestID`, if sent.
    pub request_id: Option<String>,
}

impl GetAndPublishCertRequest {
    /// The body element.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(900 + self.csr_der.len() * 4 / 3);
        out.push_str("<GetAndPublishCert xmlns=\"");
        out.push_str(NS_AUTHWS);
        out.push_str("\" xmlns:wst=\"");
        out.push_str(NS_WST_SLASH);
        out.push_str("\" xmlns:wsse=\"");
        out.push_str(NS_WSSE);
        out.push_str("\" xmlns:wstep=\"");
        out.push_str(NS_WSTEP);
        out.push_str("\" DeviceId=\"");
        xml::escape_attr(&self.device_id, &mut out);
        out.push_str("\" Entity=\"");
        xml::escape_attr(&self.entity, &mut out);
        out.push_str("\"><wst:RequestSecurityToken>");
        push_text_element(&mut out, "wst:TokenType", TOKEN_TYPE_X509V3);
        push_text_element(&mut out, "wst:RequestType", REQUEST_TYPE_ISSUE);
        out.push_str("<wsse:BinarySecurityToken ValueType=\"");
        out.push_str(VALUE_TYPE_PKCS10);
        out.push_str("\" EncodingType=\"");
        out.push_str(ENCODING_BASE64);
        out.push_str("\">");
        out.push_str(&encode_base64(&self.csr_der));
        out.push_str("</wsse:BinarySecurityToken>");
        if let Some(id) = &self.request_id {
            push_text_element(&mut out, "wstep:RequestID", id);
        }
        out.push_str("</wst:RequestSecurityToken></GetAndPublishCert>");
        out
    }

    /// A whole envelope; `security_header` is the `wsse:Security` header
    /// block carrying the web ticket, if any.
    pub fn to_envelope(&self, security_header: Option<&str>) -> String {
        build_envelope(security_header, &self.to_xml())
    }

    /// Reads the request from a parsed envelope.
    pub fn from_envelope(env: &Envelope) -> Result<Self> {
        let el = env.required_body_element(WHAT_REQ)?;
        if !el.is(&[NS_AUTHWS], "GetAndPublishCert") {
            return Err(Error::invalid_at(
                WHAT_REQ,
                el.span.start,
                format!("body holds <{}>, not GetAndPublishCert", el.local),
            ));
        }
        let attr = |name: &str| {
            el.attr(name).map(str::to_owned).ok_or_else(|| {
                Error::invalid_at(WHAT_REQ, el.span.start, format!("no {name} attribute"))
            })
        };
        let device_id = attr("DeviceId")?;
        let entity = attr("Entity")?;
        let rst = el.required_child(WHAT_REQ, NS_WST_ANY, "RequestSecurityToken")?;
        let bst = rst.required_child(WHAT_REQ, &[NS_WSSE], "BinarySecurityToken")?;
        let csr_der = decode_base64(&bst.text, WHAT_REQ, bst.span.start)?;
        let request_id = rst
            .child(&[NS_WSTEP], "RequestID")
            .map(|r| r.trimmed_text().to_owned());
        Ok(GetAndPublishCertRequest {
            device_id,
            entity,
            csr_der,
            request_id,
        })
    }

    /// Parses a whole envelope.
    pub fn parse(input: &[u8]) -> Result<Self> {
        Self::from_envelope(&Envelope::parse(input)?)
    }
}

/// One `wsse:BinarySecurityToken` of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySecurityToken {
    /// `ValueType`: [`TOKEN_TYPE_X509V3`] for one certificate,
    /// [`VALUE_TYPE_PKCS7`] for a chain ([MS-OCAUTHWS] 1.5).
    pub value_type: Option<String>,
    /// Decoded content (DER).
    pub data: Vec<u8>,
}

/// The `ErrorInfo` of a refused `GetAndPublishCert`.
///
/// [MS-OCAUTHWS] 3.1.4.1: "If an error occurs during processing, an error
/// response MUST be sent using the ErrorInfo element in
/// GetAndPublishCertResponse". The children are defined in section
/// 3.1.4.1.2.2, which this crate has not seen, so this is best effort:
/// the builder writes `<ErrorInfo><ErrorCode>…</ErrorCode>
/// <Reason>…</Reason></ErrorInfo>` in the [MS-OCAUTHWS] namespace; the
/// parser takes the code from a child or attribute named `ErrorCode`,
/// `Code`, `ErrorId` or `HResult` and the reason from one named `Reason`,
/// `Description`, `Message`, `ErrorMessage` or `ErrorString`, else from the
/// element's own text. Replace with the exact names once a capture exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The error code, kept as text (its schema type is not known).
    pub code: Option<String>,
    /// The explanation.
    pub reason: String,
}

const CODE_NAMES: &[&str] = &["ErrorCode", "Code", "ErrorId", "HResult"];
const REASON_NAMES: &[&str] = &[
    "Reason",
    "Description",
    "Message",
    "ErrorMessage",
    "ErrorString",
];

impl ErrorInfo {
    /// Reads an `ErrorInfo` element.
    pub fn from_element(el: &Element) -> ErrorInfo {
        let pick = |names: &[&str]| {
            el.children
                .iter()
                .find(|c| names.contains(&c.local))
                .map(|c| c.trimmed_text().to_owned())
                .or_else(|| {
                    names
                        .iter()
                        .find_map(|n| el.attr(n))
                        .map(|v| v.trim_matches(xml::is_xml_space).to_owned())
                })
        };
        let code = pick(CODE_NAMES);
        let reason = pick(REASON_NAMES).unwrap_or_else(|| el.trimmed_text().to_owned());
        ErrorInfo { code, reason }
    }

    /// Finds an `ErrorInfo` (in the [MS-OCAUTHWS] namespace or in none)
    /// anywhere in a SOAP body.
    pub fn find_in(body: &Element) -> Option<ErrorInfo> {
        find_error_info(body).map(Self::from_element)
    }

    fn to_xml(&self, out: &mut String) {
        out.push_str("<ErrorInfo>");
        if let Some(code) = &self.code {
            push_text_element(out, "ErrorCode", code);
        }
        push_text_element(out, "Reason", &self.reason);
        out.push_str("</ErrorInfo>");
    }
}

fn find_error_info<'e, 'a>(el: &'e Element<'a>) -> Option<&'e Element<'a>> {
    if el.local == "ErrorInfo" && matches!(el.namespace, None | Some(NS_AUTHWS)) {
        return Some(el);
    }
    el.children.iter().find_map(find_error_info)
}

/// The answer to `GetAndPublishCert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetAndPublishCertResponse {
    /// The certificate was issued: the user's certificate first, then any
    /// issuing chain the server added.
    Issued(Vec<BinarySecurityToken>),
    /// The request was refused.
    Error(ErrorInfo),
}

impl GetAndPublishCertResponse {
    /// The body element.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(512);
        out.push_str("<GetAndPublishCertResponse xmlns=\"");
        out.push_str(NS_AUTHWS);
        out.push_str("\">");
        match self {
            GetAndPublishCertResponse::Issued(tokens) => {
                out.push_str("<wst:RequestSecurityTokenResponse xmlns:wst=\"");
                out.push_str(NS_WST_SLASH);
                out.push_str("\" xmlns:wsse=\"");
                out.push_str(NS_WSSE);
                out.push_str("\">");
                push_text_element(&mut out, "wst:TokenType", TOKEN_TYPE_X509V3);
                out.push_str("<wst:RequestedSecurityToken>");
                for t in tokens {
                    out.push_str("<wsse:BinarySecurityToken");
                    if let Some(vt) = &t.value_type {
                        out.push_str(" ValueType=\"");
                        xml::escape_attr(vt, &mut out);
                        out.push('"');
                    }
                    out.push_str(" EncodingType=\"");
                    out.push_str(ENCODING_BASE64);
                    out.push_str("\">");
                    out.push_str(&encode_base64(&t.data));
                    out.push_str("</wsse:BinarySecurityToken>");
                }
                out.push_str("</wst:RequestedSecurityToken></wst:RequestSecurityTokenResponse>");
            }
            GetAndPublishCertResponse::Error(e) => e.to_xml(&mut out),
        }
        out.push_str("</GetAndPublishCertResponse>");
        out
    }

    /// A whole envelope.
    pub fn to_envelope(&self) -> String {
        build_envelope(None, &self.to_xml())
    }

    /// Reads the answer from a parsed envelope.
    pub fn from_envelope(env: &Envelope) -> Result<Self> {
        let el = env.required_body_element(WHAT_RESP)?;
        if !el.is(&[NS_AUTHWS], "GetAndPublishCertResponse") {
            return Err(Error::invalid_at(
                WHAT_RESP,
                el.span.start,
                format!("body holds <{}>, not GetAndPublishCertResponse", el.local),
            ));
        }
        if let Some(e) = el
            .children
            .iter()
            .find(|c| c.local == "ErrorInfo" && matches!(c.namespace, None | Some(NS_AUTHWS)))
        {
            return Ok(GetAndPublishCertResponse::Error(ErrorInfo::from_element(e)));
        }
        let rstr = el
            .child(NS_WST_ANY, "RequestSecurityTokenResponse")
            .or_else(|| {
                el.child(NS_WST_ANY, "RequestSecurityTokenResponseCollection")
                    .and_then(|c| c.child(NS_WST_ANY, "RequestSecurityTokenResponse"))
            })
            .ok_or_else(|| {
                Error::invalid_at(
                    WHAT_RESP,
                    el.span.start,
                    "neither RequestSecurityTokenResponse nor ErrorInfo",
                )
            })?;
        let rst = rstr.required_child(WHAT_RESP, NS_WST_ANY, "RequestedSecurityToken")?;
        let mut tokens = Vec::new();
        for bst in rst.children_named(&[NS_WSSE], "BinarySecurityToken") {
            tokens.push(BinarySecurityToken {
                value_type: bst.attr("ValueType").map(str::to_owned),
                data: decode_base64(&bst.text, WHAT_RESP, bst.span.start)?,
            });
        }
        if tokens.is_empty() {
            return Err(Error::invalid_at(
                WHAT_RESP,
                rst.span.start,
                "RequestedSecurityToken holds no BinarySecurityToken",
            ));
        }
        Ok(GetAndPublishCertResponse::Issued(tokens))
    }

    /// Parses a whole envelope.
    pub fn parse(input: &[u8]) -> Result<Self> {
        Self::from_envelope(&Envelope::parse(input)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::envelope::{Outcome, classify};
    use crate::soap::xml::is_xml_space;
    use proptest::prelude::*;

    /// [MS-OCAUTHWS] 3.1.4.1.1: GetAndPublishCert with DeviceId and Entity,
    /// an RST for X509v3 in the slash-terminated WS-Trust namespace, and the
    /// CSR (base64 with line breaks) in a PKCS10 BinarySecurityToken.
    #[test]
    fn ms_ocauthws_3_1_4_1_1_get_and_publish_cert_request() {
        let r = GetAndPublishCertRequest::parse(include_bytes!(
            "../../testdata/soap/ms-ocauthws-3.1.4.1-getandpublishcert-request.xml"
        ))
        .unwrap();
        assert_eq!(r.device_id, "{8d5b2f4e-1c3a-4e7b-9f00-0123456789ab}");
        assert_eq!(r.entity, "alice@contoso.com");
        assert_eq!(r.csr_der[..4], [0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(
            r.request_id.as_deref(),
            Some("{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}")
        );
        assert_eq!(
            GetAndPublishCertRequest::parse(r.to_envelope(None).as_bytes()).unwrap(),
            r
        );
    }

    /// [MS-OCAUTHWS] 3.1.4.1.2: the certificate (and chain) in
    /// RequestedSecurityToken.
    #[test]
    fn ms_ocauthws_3_1_4_1_2_get_and_publish_cert_response() {
        let r = GetAndPublishCertResponse::parse(include_bytes!(
            "../../testdata/soap/ms-ocauthws-3.1.4.1-getandpublishcert-response.xml"
        ))
        .unwrap();
        let GetAndPublishCertResponse::Issued(tokens) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].data, [0x30, 3, 2, 1, 1]);
        assert_eq!(tokens[0].value_type.as_deref(), Some(TOKEN_TYPE_X509V3));
        assert_eq!(
            GetAndPublishCertResponse::parse(r.to_envelope().as_bytes()).unwrap(),
            r
        );
    }

    /// [MS-OCAUTHWS] 3.1.4.1: "If an error occurs during processing, an
    /// error response MUST be sent using the ErrorInfo element in
    /// GetAndPublishCertResponse ... SOAP faults SHOULD NOT be used for error
    /// reporting." (The children of ErrorInfo are this crate's guess.)
    #[test]
    fn ms_ocauthws_3_1_4_1_error_info() {
        let body = include_bytes!(
            "../../testdata/soap/ms-ocauthws-3.1.4.1-getandpublishcert-errorinfo.xml"
        );
        let want = ErrorInfo {
            code: Some("28023".into()),
            reason: "Certificate request key size is smaller than the minimum.".into(),
        };
        assert_eq!(
            GetAndPublishCertResponse::parse(body).unwrap(),
            GetAndPublishCertResponse::Error(want.clone())
        );
        assert_eq!(
            classify(200, None, body).unwrap(),
            Outcome::ErrorInfo {
                status: 200,
                error: want
            }
        );
    }

    /// [MS-OCAUTHWS] 1.5: "Protocol clients are required to be able to
    /// understand PKCS#7 format ... and X.509 v3 certificate (2) format ...
    /// which are used by the server to send the certificate chain and the
    /// certificate (2)." A chain token keeps its PKCS7 value type.
    #[test]
    fn ms_ocauthws_1_5_pkcs7_chain_and_x509_certificate() {
        let r = GetAndPublishCertResponse::Issued(vec![
            BinarySecurityToken {
                value_type: Some(TOKEN_TYPE_X509V3.into()),
                data: vec![0x30, 3, 2, 1, 1],
            },
            BinarySecurityToken {
                value_type: Some(VALUE_TYPE_PKCS7.into()),
                data: vec![0x30, 3, 6, 1, 1],
            },
        ]);
        let body = r.to_envelope();
        assert!(body.contains("#PKCS7\""));
        assert_eq!(
            GetAndPublishCertResponse::parse(body.as_bytes()).unwrap(),
            r
        );
    }

    /// [MS-OCAUTHWS] 2.2.1 binds `wst` to
    /// "http://docs.oasis-open.org/ws-sx/ws-trust/200512/" (trailing slash)
    /// and `tns` to "http://schemas.microsoft.com/OCS/AuthWebServices/": the
    /// builders use exactly these for GetAndPublishCert and its answer.
    #[test]
    fn ms_ocauthws_2_2_1_certprov_namespaces() {
        let req = GetAndPublishCertRequest {
            device_id: "{00000000-0000-0000-0000-000000000001}".into(),
            entity: "alice@contoso.com".into(),
            csr_der: vec![0x30, 0],
            request_id: None,
        };
        let x = req.to_xml();
        assert!(x.starts_with(
            "<GetAndPublishCert xmlns=\"http://schemas.microsoft.com/OCS/AuthWebServices/\""
        ));
        assert!(x.contains("xmlns:wst=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512/\""));
        let resp = GetAndPublishCertResponse::Issued(vec![BinarySecurityToken {
            value_type: None,
            data: vec![1],
        }])
        .to_xml();
        assert!(resp.contains("xmlns:wst=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512/\""));
    }

    fn txt() -> impl Strategy<Value = String> {
        "\\PC{0,20}".prop_map(|s| s.trim_matches(is_xml_space).to_owned())
    }

    proptest! {
        #[test]
        fn request_roundtrip(device_id in "[\\PC\t\n]{0,30}", entity in "\\PC{0,30}",
                             csr_der in proptest::collection::vec(any::<u8>(), 0..200),
                             request_id in proptest::option::of(txt())) {
            let r = GetAndPublishCertRequest { device_id, entity, csr_der, request_id };
            prop_assert_eq!(GetAndPublishCertRequest::parse(r.to_envelope(None).as_bytes()).unwrap(), r);
        }

        #[test]
        fn response_roundtrip(
            tokens in proptest::collection::vec(
                (proptest::option::of("[ -~]{0,20}"), proptest::collection::vec(any::<u8>(), 0..100)),
                1..4),
            err in proptest::option::of((proptest::option::of(txt()), txt())),
        ) {
            let r = match err {
                Some((code, reason)) => GetAndPublishCertResponse::Error(ErrorInfo { code, reason }),
                None => GetAndPublishCertResponse::Issued(tokens.into_iter()
                    .map(|(value_type, data)| BinarySecurityToken { value_type, data }).collect()),
            };
            prop_assert_eq!(GetAndPublishCertResponse::parse(r.to_envelope().as_bytes()).unwrap(), r);
        }
    }
}
