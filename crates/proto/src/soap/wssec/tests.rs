//! Exclusive canonicalization against the W3C examples, and the signed
//! web-ticket header built and checked end to end.

use super::*;
use crate::soap::envelope::build_envelope;
use crate::soap::wstrust::SamlAssertion;

fn scope(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(p, u)| ((*p).to_owned(), (*u).to_owned()))
        .collect()
}

/// W3C xml-exc-c14n section 2.2, "Example of Exclusive XML
/// Canonicalization": the `n1:elem2` subtree canonicalizes the same in both
/// documents — "<n1:elem2 xmlns:n1="http://example.net" xml:lang="en">
/// <n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>" — the
/// ancestors' `n0`, `n2`, outer `n1`, `n3` and `xml:*` are not carried in.
#[test]
fn w3c_exc_c14n_2_2_example() {
    let elem2 = "<n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n    <n3:stuff xmlns:n3=\"ftp://example.org\"/>\n  </n1:elem2>";
    let expected = "<n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n    <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>";
    let first = scope(&[("n0", "foo:bar"), ("n3", "ftp://example.org")]);
    let second = scope(&[("n1", "http://example.com"), ("n2", "http://foo.example")]);
    assert_eq!(exc_c14n(elem2, &first).unwrap(), expected);
    assert_eq!(exc_c14n(elem2, &second).unwrap(), expected);
}

/// W3C Canonical XML 1.0 section 3.3, "Start and End Tags", under the
/// exclusive rules: empty elements expanded, attributes sorted (unqualified
/// first, then by namespace URI), whitespace in tags dropped, and only
/// visibly utilized namespaces rendered (so `e6`, `e9` lose `xmlns:a` and
/// `e8` keeps `xmlns=""` to undo `e7`'s default).
#[test]
fn w3c_c14n_3_3_start_and_end_tags_exclusive() {
    let input = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
    let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6>
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
    assert_eq!(exc_c14n(input, &[]).unwrap(), expected);
}

/// W3C Canonical XML 1.0 section 3.4, "Character Modifications and
/// Character References" (the elements that need no DTD): character
/// references resolved, `#xD` kept as a reference, CDATA replaced,
/// special characters escaped, attributes in double quotes.
#[test]
fn w3c_c14n_3_4_character_modifications() {
    let input = "<doc>\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n</doc>";
    let expected = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n</doc>";
    assert_eq!(exc_c14n(input, &[]).unwrap(), expected);
}

/// Canonical XML 1.0 section 1.1 "without comments": comments vanish.
#[test]
fn w3c_c14n_1_1_comments_removed() {
    assert_eq!(
        exc_c14n("<a><!-- x --><b/>t<!--y--></a>", &[]).unwrap(),
        "<a><b></b>t</a>"
    );
}

/// exc-c14n section 3: a prefix declared on an ancestor outside the
/// subtree and used by an attribute is rendered on the element using it.
#[test]
fn w3c_exc_c14n_3_inherited_prefix_rendered_where_used() {
    let ts = "<wsu:Timestamp wsu:Id=\"_0\"><wsu:Created>x</wsu:Created></wsu:Timestamp>";
    let out = exc_c14n(ts, &scope(&[("wsu", NS_WSU), ("s", NS_SOAP11)])).unwrap();
    assert_eq!(
        out,
        format!(
            "<wsu:Timestamp xmlns:wsu=\"{NS_WSU}\" wsu:Id=\"_0\"><wsu:Created>x</wsu:Created></wsu:Timestamp>"
        )
    );
    assert!(
        exc_c14n(ts, &[]).is_err(),
        "an undeclared prefix is an error"
    );
    assert!(exc_c14n("<a></a><b></b>", &[]).is_err());
    assert!(exc_c14n("<a>", &[]).is_err());
    assert!(exc_c14n("text", &[]).is_err());
}

/// XML Schema 1.0 part 2, 3.2.7 dateTime: UTC, offsets and fractions.
#[test]
fn xml_schema_3_2_7_datetime_parse() {
    assert_eq!(
        parse_xs_datetime("2023-11-14T22:13:20Z").unwrap(),
        1_700_000_000
    );
    assert_eq!(
        parse_xs_datetime("2023-11-14T22:13:20.123Z").unwrap(),
        1_700_000_000
    );
    assert_eq!(
        parse_xs_datetime("2023-11-15T00:13:20+02:00").unwrap(),
        1_700_000_000
    );
    assert_eq!(parse_xs_datetime("1970-01-01T00:00:00").unwrap(), 0);
    for bad in [
        "",
        "2023-13-01T00:00:00Z",
        "2023-11-14 22:13:20Z",
        "2023-11-14T22:13:20Q",
        "２023-11-14T22:13:20Z",
    ] {
        assert!(parse_xs_datetime(bad).is_err(), "{bad}");
    }
}

const NOW: Duration = Duration::from_secs(1_700_000_000);
const SKEW: Duration = Duration::from_secs(300);
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// The header builder hashes its timestamp and SignedInfo as written, so
/// both must already be in their exclusive canonical form (W3C
/// xml-exc-c14n): the canonicalizer must give back the same bytes, for
/// times and digests of every width.
#[test]
fn built_timestamp_and_signed_info_are_already_canonical() {
    for (created, lifetime) in [
        (Duration::ZERO, Duration::from_secs(300)),
        (Duration::from_secs(1_764_752_400), Duration::from_secs(300)),
        (
            Duration::from_millis(1_764_752_400_123),
            Duration::from_secs(86_400),
        ),
        (Duration::from_secs(253_402_300_000), Duration::from_secs(1)),
    ] {
        let t = timestamp(created, lifetime);
        assert_eq!(exc_c14n(&t, &[]).unwrap(), t);
        let si = signed_info(TIMESTAMP_ID, &sha1_b64(&t));
        assert_eq!(exc_c14n(&si, &[]).unwrap(), si);
    }
}

fn assertion() -> SamlAssertion {
    SamlAssertion::new_unsigned(
        "SamlSecurityToken-1",
        "https://pool.contoso.com/WebTicket/WebTicketService.svc",
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20Z",
        "2023-11-15T06:13:20Z",
        "sip:alice@contoso.com",
    )
}

fn signed(created: Duration) -> String {
    let header =
        build_security_header(&assertion(), KEY, created, Duration::from_secs(300)).unwrap();
    build_envelope(Some(&header), "<x:Op xmlns:x=\"urn:op\"/>")
}

fn check(envelope: &str) -> std::result::Result<VerifiedProof, ProofError> {
    let env = Envelope::parse_with(envelope.as_bytes(), CAPTURE_SCOPE).unwrap();
    verify_security_header(
        &env,
        |id| (id == "SamlSecurityToken-1").then(|| KEY.to_vec()),
        NOW,
        SKEW,
    )
}

/// WSS 1.1 SOAP Message Security sections 6, 8 and 10 (Security header,
/// Signature, Timestamp), XML-DSig 4.3 SignedInfo and 6.3.1 HMAC, SAML
/// Token Profile 1.1 3.4.2 KeyIdentifier: the header the builder writes has
/// the timestamp, the assertion and the signature, and verifies.
#[test]
fn wss_signed_timestamp_accepted() {
    let env = signed(NOW);
    let proof = check(&env).unwrap();
    assert_eq!(proof.assertion_id, "SamlSecurityToken-1");
    assert_eq!(
        (proof.created, proof.expires),
        (1_700_000_000, 1_700_000_300)
    );
    for needle in [
        "<wsu:Timestamp",
        "<saml:Assertion",
        ALG_EXC_C14N,
        ALG_HMAC_SHA1,
        VALUE_TYPE_SAML_ASSERTION_ID,
        "<Reference URI=\"#_0\">",
        "s:mustUnderstand=\"1\"",
    ] {
        assert!(env.contains(needle), "{needle} missing from {env}");
    }
}

/// The same header re-serialized with other prefixes and whitespace between
/// blocks still verifies: the check is over canonical forms, not bytes.
#[test]
fn wss_signature_survives_reserialization() {
    let env = signed(NOW)
        .replace(
            "<wsse:Security xmlns:wsse=",
            "\n  <wsse:Security xmlns:wsse=",
        )
        .replace("</wsse:Security>", "</wsse:Security>\n");
    check(&env).unwrap();
}

#[test]
fn wss_missing_header_refused() {
    let env = build_envelope(None, "<x:Op xmlns:x=\"urn:op\"/>");
    assert!(matches!(check(&env), Err(ProofError::Missing(_))));
    let unsigned = build_envelope(
        Some(&format!(
            "<wsse:Security xmlns:wsse=\"{NS_WSSE}\">{}</wsse:Security>",
            assertion().raw
        )),
        "<x:Op xmlns:x=\"urn:op\"/>",
    );
    assert!(matches!(check(&unsigned), Err(ProofError::Missing(_))));
}

/// A changed timestamp breaks its digest; a changed signature value or a
/// different key breaks the HMAC; an unknown assertion is named as such.
#[test]
fn wss_tampered_refused() {
    let env = signed(NOW);
    let later = env.replace("2023-11-14T22:18:20Z", "2023-11-14T23:18:20Z");
    assert_ne!(later, env);
    assert!(matches!(check(&later), Err(ProofError::Bad(r)) if r.contains("digest")));

    let sig_start = env.find("<SignatureValue>").unwrap() + "<SignatureValue>".len();
    let mut bytes = env.clone().into_bytes();
    bytes[sig_start] = if bytes[sig_start] == b'A' { b'B' } else { b'A' };
    let bad_sig = String::from_utf8(bytes).unwrap();
    assert!(matches!(check(&bad_sig), Err(ProofError::Bad(r)) if r.contains("signature value")));

    let e = Envelope::parse_with(env.as_bytes(), CAPTURE_SCOPE).unwrap();
    let wrong_key = verify_security_header(&e, |_| Some(b"another key".to_vec()), NOW, SKEW);
    assert!(matches!(wrong_key, Err(ProofError::Bad(_))));
    let unknown = verify_security_header(&e, |_| None, NOW, SKEW);
    assert!(matches!(unknown, Err(ProofError::UnknownTicket(_))));

    let other_alg = env.replace(
        ALG_HMAC_SHA1,
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    );
    assert!(matches!(check(&other_alg), Err(ProofError::Bad(_))));
    let elsewhere = env.replace("URI=\"#_0\"", "URI=\"#nothing\"");
    assert!(matches!(check(&elsewhere), Err(ProofError::Bad(_))));
}

/// WSS 1.1 section 10: a message whose timestamp has expired is refused,
/// as is one created beyond the allowed skew in the future.
#[test]
fn wss_expired_timestamp_refused() {
    let old = signed(NOW - Duration::from_secs(3600));
    assert!(matches!(check(&old), Err(ProofError::Expired(_))));
    let future = signed(NOW + Duration::from_secs(3600));
    assert!(matches!(check(&future), Err(ProofError::Expired(_))));
    // Within the skew it passes.
    check(&signed(NOW - Duration::from_secs(400))).unwrap();
}

proptest::proptest! {
    /// Arbitrary text never panics the canonicalizer or the verifier.
    #[test]
    fn never_panics(s in "\\PC{0,200}") {
        let _ = exc_c14n(&s, &[]);
        let _ = parse_xs_datetime(&s);
        if let Ok(env) = Envelope::parse_with(s.as_bytes(), CAPTURE_SCOPE) {
            let _ = verify_security_header(&env, |_| Some(KEY.to_vec()), NOW, SKEW);
        }
    }

    /// The signed envelope with a byte changed never panics the verifier,
    /// and never verifies unless the change left the canonical forms alone.
    #[test]
    fn mutated_never_panics(at in 0usize..4000, b in proptest::prelude::any::<u8>()) {
        let mut v = signed(NOW).into_bytes();
        let i = at % v.len();
        v[i] = b;
        if let Ok(env) = Envelope::parse_with(&v, CAPTURE_SCOPE) {
            let _ = verify_security_header(&env, |_| Some(KEY.to_vec()), NOW, SKEW);
        }
    }
}
