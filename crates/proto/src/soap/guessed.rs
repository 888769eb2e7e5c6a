//! Parsers and builders for the bodies Microsoft never published: the
//! anonymous root chain download, the device update check, and the PIN
//! credentials of the web ticket request.
//!
//! Owns reading the answers (and, for the mock, the requests) in a
//! deliberately lenient way, because the real element names are unknown:
//! every rule here is a GUESS, written down next to the code, and the
//! matching bodies are templates ([`super::template`]) that a lab capture
//! replaces. Does not own the templates' text, nor HTTP.

use super::envelope::Envelope;
use super::template::{TemplateKind, TemplateSet, TemplateValues};
use super::xml::{self, Element};
use super::{NS_WSSE, decode_base64, encode_base64};
use crate::{Error, Result};

/// SOAPAction of the root chain request. GUESS: the pattern of
/// `GetAndPublishCert`'s action with the operation name "GetRootCertChain"
/// seen in Microsoft's bootstrap test output.
pub const ROOT_CHAIN_SOAP_ACTION: &str =
    "http://schemas.microsoft.com/OCS/AuthWebServices/GetRootCertChain";

/// SOAPAction of `ResolveUser`. GUESS: the operation is named in Lync
/// Phone Edition sign-in logs but not defined in [MS-OCAUTHWS]; the action
/// follows the pattern of `GetAndPublishCert`'s.
pub const RESOLVE_USER_SOAP_ACTION: &str =
    "http://schemas.microsoft.com/OCS/AuthWebServices/ResolveUser";

const WHAT_RESOLVE: &str = "ResolveUser message";
const WHAT_CHAIN: &str = "root chain answer";
const WHAT_UPDATE: &str = "device update answer";
const WHAT_UPDATE_REQ: &str = "device update request";

/// Element names taken as one base64 certificate (GUESS).
const CERT_NAMES: &[&str] = &[
    "Certificate",
    "X509Certificate",
    "BinarySecurityToken",
    "RootCertificate",
];
/// Element names taken as the update's download URL (GUESS).
const URL_NAMES: &[&str] = &["Url", "URL", "DownloadUrl", "ImageUrl", "Location"];
/// Element names taken as the update's version (GUESS).
const VERSION_NAMES: &[&str] = &["Version", "ImageVersion", "TargetVersion"];

fn collect<'e, 'a>(el: &'e Element<'a>, names: &[&str], out: &mut Vec<&'e Element<'a>>) {
    if names.contains(&el.local) && el.children.is_empty() {
        out.push(el);
    }
    for c in &el.children {
        collect(c, names, out);
    }
}

fn first_text(el: &Element, names: &[&str]) -> Option<String> {
    let mut found = Vec::new();
    collect(el, names, &mut found);
    found
        .into_iter()
        .map(|e| e.trimmed_text())
        .find(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Reads the root chain answer: every leaf element named `Certificate`,
/// `X509Certificate`, `BinarySecurityToken` or `RootCertificate` (any
/// namespace, any depth) holding base64 text, in document order, decoded to
/// DER. An answer without one is an error.
pub fn parse_root_chain(body: &[u8]) -> Result<Vec<Vec<u8>>> {
    let doc = xml::parse_document(body, WHAT_CHAIN, &[])?;
    let mut found = Vec::new();
    collect(&doc.root, CERT_NAMES, &mut found);
    let mut certs = Vec::new();
    for el in found {
        if !el.trimmed_text().is_empty() {
            certs.push(decode_base64(&el.text, WHAT_CHAIN, el.span.start)?);
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid_at(
            WHAT_CHAIN,
            doc.root.span.start,
            "no certificate in the answer",
        ));
    }
    Ok(certs)
}

/// Builds the root chain answer from the templates (the mock's side).
pub fn build_root_chain_response(templates: &TemplateSet, certs: &[Vec<u8>]) -> Result<String> {
    templates.render(
        TemplateKind::RootChainResponse,
        &TemplateValues::new().list(
            "certificates",
            certs.iter().map(|c| encode_base64(c)).collect(),
        ),
    )
}

/// What the device update service told the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceUpdate {
    /// Nothing to install.
    None,
    /// Install the image at `url`.
    Update {
        /// The image version, if the answer names it.
        version: Option<String>,
        /// Where to download the image.
        url: String,
    },
}

/// Reads the device update answer. GUESS: an answer with a non-empty `Url`,
/// `URL`, `DownloadUrl`, `ImageUrl` or `Location` element means "update",
/// with the version from the first `Version`, `ImageVersion` or
/// `TargetVersion`; any other well-formed XML means "no update".
pub fn parse_ucdevice_answer(body: &[u8]) -> Result<DeviceUpdate> {
    let doc = xml::parse_document(body, WHAT_UPDATE, &[])?;
    Ok(match first_text(&doc.root, URL_NAMES) {
        Some(url) => DeviceUpdate::Update {
            version: first_text(&doc.root, VERSION_NAMES),
            url,
        },
        None => DeviceUpdate::None,
    })
}

/// Builds the device update answer from the templates (the mock's side).
pub fn build_ucdevice_answer(templates: &TemplateSet, update: &DeviceUpdate) -> Result<String> {
    match update {
        DeviceUpdate::None => {
            templates.render(TemplateKind::UcDeviceResponseNone, &TemplateValues::new())
        }
        DeviceUpdate::Update { version, url } => templates.render(
            TemplateKind::UcDeviceResponseUpdate,
            &TemplateValues::new()
                .text("version", version.clone().unwrap_or_default())
                .text("url", url.clone()),
        ),
    }
}

/// Reads a device update request as (element local name, text) pairs of its
/// leaf elements, in document order (the mock's side; the names depend on
/// the template in use).
pub fn parse_ucdevice_request(body: &[u8]) -> Result<Vec<(String, String)>> {
    fn walk(el: &Element, out: &mut Vec<(String, String)>) {
        if el.children.is_empty() {
            out.push((el.local.to_owned(), el.trimmed_text().to_owned()));
        }
        for c in &el.children {
            walk(c, out);
        }
    }
    let doc = xml::parse_document(body, WHAT_UPDATE_REQ, &[])?;
    let mut out = Vec::new();
    walk(&doc.root, &mut out);
    Ok(out)
}

/// The phone number (or extension) and PIN of a PIN web ticket request, read
/// from `wsse:Security/wsse:UsernameToken` in the header (the assumption of
/// the default `webticket-pin.xml`; the body is an ordinary RST).
pub fn parse_pin_credentials(env: &Envelope) -> Option<(String, String)> {
    let token = env
        .header
        .as_ref()?
        .child(&[NS_WSSE], "Security")?
        .child(&[NS_WSSE], "UsernameToken")?;
    let user = token
        .child(&[NS_WSSE], "Username")?
        .trimmed_text()
        .to_owned();
    let pin = token
        .child(&[NS_WSSE], "Password")
        .map(|p| p.trimmed_text().to_owned())
        .unwrap_or_default();
    Some((user, pin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::wstrust::RequestSecurityToken;
    use proptest::prelude::*;

    #[test]
    fn root_chain_roundtrip_through_default_template() {
        let set = TemplateSet::defaults().unwrap();
        let certs = vec![vec![0x30, 3, 2, 1, 1], vec![0x30, 3, 2, 1, 2]];
        let body = build_root_chain_response(&set, &certs).unwrap();
        assert_eq!(parse_root_chain(body.as_bytes()).unwrap(), certs);
        assert!(parse_root_chain(b"<a><b/></a>").is_err());
        let request = set
            .render(TemplateKind::RootChainRequest, &TemplateValues::new())
            .unwrap();
        assert!(Envelope::parse(request.as_bytes()).is_ok());
    }

    #[test]
    fn ucdevice_answers_and_request() {
        let set = TemplateSet::defaults().unwrap();
        for u in [
            DeviceUpdate::None,
            DeviceUpdate::Update {
                version: Some("4.0.7577.4455".into()),
                url: "http://web.contoso.com/RequestHandler/Files/CX600/img.cab?a=1&b=2".into(),
            },
        ] {
            let body = build_ucdevice_answer(&set, &u).unwrap();
            assert_eq!(parse_ucdevice_answer(body.as_bytes()).unwrap(), u);
        }
        let values = TemplateValues::new()
            .text("device_type", "3PIP")
            .text("vendor", "Polycom")
            .text("model", "CX600")
            .text("hardware_revision", "rev1")
            .text("version", "4.0.7577.4100")
            .text("locale", "ENU")
            .text("mac_address", "0004f2000001");
        let req = set.render(TemplateKind::UcDeviceRequest, &values).unwrap();
        let pairs = parse_ucdevice_request(req.as_bytes()).unwrap();
        assert!(pairs.contains(&("Model".into(), "CX600".into())));
    }

    #[test]
    fn pin_web_ticket_default_template() {
        let set = TemplateSet::defaults().unwrap();
        let values = TemplateValues::new()
            .text(
                "web_ticket_url",
                "https://pool.contoso.com/WebTicket/WebTicketService.svc",
            )
            .text("created", "2024-05-01T08:00:00Z")
            .text("expires", "2024-05-01T08:05:00Z")
            .text("phone_number", "+14255550100")
            .text("pin", "1234")
            .text("context", "c1")
            .text(
                "applies_to",
                "https://pool.contoso.com/CertProv/CertProvisioningService.svc",
            )
            .text("entropy_base64", encode_base64(&[7; 32]))
            .text("key_size", "256");
        let body = set.render(TemplateKind::WebTicketPin, &values).unwrap();
        let env = Envelope::parse(body.as_bytes()).unwrap();
        assert_eq!(
            parse_pin_credentials(&env),
            Some(("+14255550100".into(), "1234".into()))
        );
        let rst = RequestSecurityToken::parse(body.as_bytes()).unwrap();
        assert_eq!(rst.entropy, Some(vec![7; 32]));
        assert_eq!(rst.key_size, Some(256));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_root_chain(&bytes);
            let _ = parse_ucdevice_answer(&bytes);
            let _ = parse_ucdevice_request(&bytes);
        }
    }
}

/// Element names taken as the resolved SIP URI (GUESS).
const SIP_URI_NAMES: &[&str] = &["SipUri", "SipURI", "Uri", "Entity"];
/// Element names taken as the phone number to resolve (GUESS).
const NUMBER_NAMES: &[&str] = &["PhoneNumber", "Number", "LineUri", "Extension"];

/// The `ResolveUser` request body for `phone_number` (the phone's side);
/// the caller wraps it in an envelope with the web ticket in its header.
pub fn build_resolve_user_request(templates: &TemplateSet, phone_number: &str) -> Result<String> {
    templates.render(
        TemplateKind::ResolveUserRequest,
        &TemplateValues::new().text("phone_number", phone_number),
    )
}

/// The phone number a `ResolveUser` request asks about (the mock's side):
/// the first leaf named `PhoneNumber`, `Number`, `LineUri` or `Extension`.
/// GUESS, as the body is.
pub fn parse_resolve_user_request(body: &[u8]) -> Result<String> {
    let doc = xml::parse_document(body, WHAT_RESOLVE, &[])?;
    first_text(&doc.root, NUMBER_NAMES)
        .ok_or_else(|| Error::invalid(WHAT_RESOLVE, "no phone number in the request"))
}

/// The `ResolveUser` answer for `sip_uri` (the mock's side).
pub fn build_resolve_user_answer(templates: &TemplateSet, sip_uri: &str) -> Result<String> {
    templates.render(
        TemplateKind::ResolveUserResponse,
        &TemplateValues::new().text("sip_uri", sip_uri),
    )
}

/// The SIP URI in a `ResolveUser` answer (the phone's side): the first
/// leaf named `SipUri`, `SipURI`, `Uri` or `Entity`. GUESS, as the body is.
pub fn parse_resolve_user_answer(body: &[u8]) -> Result<String> {
    let doc = xml::parse_document(body, WHAT_RESOLVE, &[])?;
    first_text(&doc.root, SIP_URI_NAMES)
        .ok_or_else(|| Error::invalid(WHAT_RESOLVE, "no SIP URI in the answer"))
}

#[cfg(test)]
mod resolve_user_tests {
    use super::*;
    use crate::soap::envelope::build_envelope;

    #[test]
    fn resolve_user_round_trip_through_the_templates() {
        let t = TemplateSet::defaults().unwrap();
        let body = build_resolve_user_request(&t, "+14255550007").unwrap();
        let env = build_envelope(Some("<h/>"), &body);
        assert_eq!(
            parse_resolve_user_request(env.as_bytes()).unwrap(),
            "+14255550007"
        );
        let answer = build_resolve_user_answer(&t, "sip:user7@contoso.com").unwrap();
        assert_eq!(
            parse_resolve_user_answer(answer.as_bytes()).unwrap(),
            "sip:user7@contoso.com"
        );
        assert!(parse_resolve_user_answer(b"<a><b>x</b></a>").is_err());
        assert!(parse_resolve_user_request(b"<a").is_err());
    }
}
