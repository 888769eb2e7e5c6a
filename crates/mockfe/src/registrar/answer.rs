//! What the registrar answers to one SIP request: the REGISTER checks in
//! the order a pool applies them, the 401 challenge, the 301 to the home
//! Front End, the 200 OK with its GRUU, and the refusals with their
//! `ms-diagnostics` ids.
//!
//! This module owns those decisions and the ids; it owns no socket and no
//! fault injection (the connection loop in the parent does). The capacity
//! stations are awaited here because whether the back-end store is
//! consulted depends on the request.
//!
//! ms-diagnostics ids ([MS-OCER] 2.2.1.1 syntax):
//! - 400 / 4010 "Missing endpoint identifier": [MS-SIPREGE] 3.1.2.5.1 table;
//!   also used, with its own reason, when `+sip.instance` is not the one
//!   derived from the epid ([MS-SIPRE] 3.3.5.2): the pair is the endpoint
//!   identifier of 3.1.2.5.1, and without a consistent pair there is none.
//! - 489 / 4055 bad Event, 421 / 2057 msrtc-event-categories without
//!   gruu-10: [MS-SIPREGE] 3.1.2.5.1 table.
//! - 404 / 4005 "Destination URI either not enabled for SIP or does not
//!   exist": [MS-OCER] front-end ErrorIds 4000-4999.
//! - 503 / 17000 "Server overloaded": [MS-OCER] 8.16, as PROTOCOL.md lists.
//! - 401 / 1000 "Final handshake failed" ([MS-OCER] 8.2, SipStack): a
//!   TLS-DSK handshake that fails (a certificate the CA did not sign) or a
//!   security association that is unknown or expired; the 401 challenges
//!   again so the phone can re-authenticate. 403 / 1000 for a signed
//!   request whose signature does not verify or whose cnum was used.
//! - 403 / 4004 "Credentials provided are not authorized to act as
//!   specified from URI" ([MS-OCER] 4000-4999): the certificate names
//!   another user than the From URI.
//! - 403 / 4000 "User services default" for one endpoint too many:
//!   [MS-SIPREGE] documents no answer for the registrar's endpoint limit
//!   (MaxEndpointsPerUser of Set-CsRegistrarConfiguration), so the mock
//!   refuses as RFC 3261 21.4.4 allows and names the cause in the reason.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use base64::Engine;
use phonestorm_proto::diag::Diagnostics;
use phonestorm_proto::ntlm;
use phonestorm_proto::sip::tlsdsk;
use phonestorm_proto::sip::{
    AuthValue, KeepAliveRole, Message, MessageBuilder, MsKeepAlive, NameAddr, SipUri,
    epid_to_instance_uuid, instance_matches_epid,
};
use rand::RngExt;

use super::table::{Binding, Bound};
use super::{RegistrarCtx, digest, dsk};
use crate::clock;
use crate::config::RegistrarAuth;

/// The service name in metrics.
pub(super) const SERVICE: &str = "registrar";

/// `Server` of every answer: the value Skype for Business Server 2015
/// Front Ends send.
const SERVER: &str = "RTC/6.0";

/// `Allow-Events` of the 200 OK, as [MS-SIPREGE] 4.1.1's example lists.
const ALLOW_EVENTS: &str = "vnd-microsoft-provisioning,vnd-microsoft-roaming-contacts,vnd-microsoft-roaming-ACL,presence,presence.wpending,vnd-microsoft-roaming-self,vnd-microsoft-provisioning-v2";

/// [MS-OCER] 8.2 SipStack ErrorId 1000, "Final handshake failed.": what
/// a pool's SIP stack sends when authentication fails.
const FINAL_HANDSHAKE_FAILED: u32 = 1000;

/// The realm every [MS-SIPAE] challenge names (section 2.2.2).
const REALM: &str = "SIP Communications Service";

/// Methods a Front End serves elsewhere: they get 405 with `Allow` here,
/// anything else 501 (RFC 3261 section 21.5.2).
const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "OPTIONS",
    "BYE",
    "CANCEL",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
    "INFO",
    "PRACK",
    "UPDATE",
    "REFER",
    "PUBLISH",
    "SERVICE",
    "BENOTIFY",
    "NEGOTIATE",
];

/// Retry-After range of a 503, seconds: long enough that a storm backs
/// off, short enough that a test of recovery does not wait minutes.
const RETRY_AFTER: std::ops::RangeInclusive<u32> = 10..=30;

/// What one connection knows about its peer.
#[derive(Debug, Clone, Default)]
pub(super) struct Peer {
    /// Whether the connection is TLS (as opposed to plain TCP).
    pub tls: bool,
    /// The identities of a verified client certificate: URI SANs and the
    /// subject CN, lower case, `sip:` removed. Empty without one.
    pub identities: Vec<String>,
}

/// An answer and the outcome label counted for it.
#[derive(Debug)]
pub(super) struct Answer {
    /// The response to send.
    pub message: Message,
    /// The status code, for metrics.
    pub status: u16,
}

/// Answers one framed request; `None` when nothing is to be sent (an ACK,
/// a stray response). Requests refused as unreadable are counted as
/// malformed.
pub(super) async fn answer(ctx: &RegistrarCtx, peer: &Peer, req: &Message) -> Option<Answer> {
    let malformed = |kind| ctx.metrics.malformed(SERVICE, kind);
    let Some(method) = req.method() else {
        // A response on a server connection: nothing to answer.
        malformed("response");
        return None;
    };
    if let Err(why) = basics(req, method) {
        malformed("headers");
        return reply(req, 400, "Bad Request", |b| {
            b.header("Warning", &warning(ctx, why))
        });
    }
    if method == "ACK" {
        return None;
    }
    if method != "REGISTER" {
        let (code, reason) = if KNOWN_METHODS.contains(&method) {
            (405, "Method Not Allowed")
        } else {
            (501, "Not Implemented")
        };
        return reply(req, code, reason, |b| b.header("Allow", "REGISTER"));
    }
    if ctx.station.serve().await.is_err() {
        return overloaded(ctx, req, "Server is overloaded");
    }
    register(ctx, peer, req).await
}

/// Checks what every answer needs (RFC 3261 section 8.2.6.2 copies Via,
/// From, To, Call-ID and CSeq) and that CSeq names the method.
fn basics(req: &Message, method: &str) -> Result<(), &'static str> {
    if req.vias().map_or(true, |v| v.is_empty()) {
        return Err("missing or malformed Via");
    }
    if req.from_addr().is_err() {
        return Err("missing or malformed From");
    }
    if req.to_addr().is_err() {
        return Err("missing or malformed To");
    }
    if req.call_id().is_none() {
        return Err("missing Call-ID");
    }
    match req.cseq() {
        Ok(c) if c.method == method => Ok(()),
        Ok(_) => Err("CSeq method does not match the request method"),
        Err(_) => Err("missing or malformed CSeq"),
    }
}

async fn register(ctx: &RegistrarCtx, peer: &Peer, req: &Message) -> Option<Answer> {
    // [MS-SIPREGE] 3.1.1.4: Event, if present, "MUST have the value
    // registration".
    if let Some(event) = req.header("Event") {
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case("registration") {
            return refuse(
                ctx,
                req,
                489,
                "Bad Event",
                4055,
                "Event header is not set to registration",
            );
        }
    }
    // [MS-SIPREGE] 3.1.2.5.1: msrtc-event-categories needs gruu-10.
    let supports = |tag: &str| {
        req.header_values("Supported")
            .any(|t| t.eq_ignore_ascii_case(tag))
    };
    if supports("msrtc-event-categories") && !supports("gruu-10") {
        let mut a = refuse(
            ctx,
            req,
            421,
            "Extension Required",
            2057,
            "Supported header does not have gruu-10, but msrtc-event-categories is present",
        )?;
        // RFC 3261 21.4.16: a 421 lists the extension in Require.
        let _ = a.message.push_header("Require", "gruu-10");
        return Some(a);
    }
    let from = req.from_addr().ok()?;
    let contact = req.contacts().ok().and_then(|c| c.into_iter().next());
    let epid = from.epid().filter(|e| !e.is_empty());
    let instance = contact.as_ref().and_then(|c| c.sip_instance());
    let (Some(epid), Some(contact), Some(instance)) = (epid, contact.as_ref(), instance) else {
        return refuse(
            ctx,
            req,
            400,
            "Bad Request",
            4010,
            "Missing endpoint identifier (Epid and SIP.INSTANCE)",
        );
    };
    if !instance_matches_epid(instance, epid) {
        return refuse(
            ctx,
            req,
            400,
            "Bad Request",
            4010,
            "Endpoint identifier mismatch: +sip.instance is not derived from Epid",
        );
    }
    let address = from
        .sip_uri()
        .ok()
        .and_then(|u| Some(format!("{}@{}", u.user?, u.host)));
    let Some(user) = address.as_deref().and_then(|a| ctx.directory.by_sip(a)) else {
        return refuse(
            ctx,
            req,
            404,
            "Not Found",
            4005,
            "Destination URI either not enabled for SIP or does not exist",
        );
    };
    if ctx.front_ends.len() > 1 && user.home != ctx.index {
        return redirect(ctx, peer, req, user.home);
    }
    // [MS-SIPREGE] 3.1.2.5.1 authenticates before it validates; the mock
    // validates first so that refusals can be exercised over plain TCP and
    // without credentials, where every REGISTER would otherwise get 401.
    let signer = match ctx.config.auth {
        RegistrarAuth::Certificate => {
            let authenticated = peer.tls
                && peer
                    .identities
                    .iter()
                    .any(|i| i.eq_ignore_ascii_case(&user.sip_address));
            if !authenticated {
                return challenge(ctx, req);
            }
            None
        }
        RegistrarAuth::TlsDsk | RegistrarAuth::Ntlm => match sipae(ctx, req, &user.sip_address) {
            Ok(a) => Some(a),
            Err(answer) => return answer,
        },
        RegistrarAuth::Digest => {
            if let Err(answer) = digest_auth(ctx, req, &user.sip_address) {
                return answer;
            }
            None
        }
    };
    let mut answer = bind(ctx, req, &user, contact, epid).await?;
    // [MS-SIPAE] 3.3.5.3: every answer to a request signed under an SA is
    // signed too.
    if let (Some(auth), Some(dsk)) = (signer, &ctx.dsk) {
        dsk.sign(&auth, &mut answer.message);
    }
    Some(answer)
}

/// The binding itself, once the request is authenticated.
async fn bind(
    ctx: &RegistrarCtx,
    req: &Message,
    user: &crate::directory::User,
    contact: &NameAddr,
    epid: &str,
) -> Option<Answer> {
    let requested = match req.expires() {
        Ok(header) => contact.expires().or(header),
        Err(_) => {
            return reply(req, 400, "Bad Request", |b| {
                b.header("Warning", &warning(ctx, "Expires is not delta-seconds"))
            });
        }
    };
    let uuid = epid_to_instance_uuid(epid);
    let now = clock::now();
    if requested == Some(0) {
        // RFC 3261 10.3 step 6 and 8: remove the binding; the 200 lists the
        // bindings that remain, and this endpoint has none left.
        ctx.registrations.unbind(user.index, &uuid, now);
        return reply(req, 200, "OK", |b| b.header("Expires", "0"));
    }
    let cfg = &ctx.config;
    let granted = requested
        .map_or(cfg.default_expires, |s| Duration::from_secs(u64::from(s)))
        .clamp(cfg.min_expires, cfg.max_expires.max(cfg.min_expires));
    if ctx
        .registrations
        .would_exceed(user.index, &uuid, cfg.max_endpoints, now)
    {
        return too_many(ctx, req);
    }
    // A user's first sign-in writes the back-end store (the endpoint and
    // presence containers), which is what makes first sign-ins costly.
    let first = !ctx.registrations.seen(user.index);
    if first && ctx.backend.serve().await.is_err() {
        return overloaded(ctx, req, "Back-end database is overloaded");
    }
    let now = clock::now();
    let binding = Binding {
        instance: uuid.clone(),
        epid: epid.to_owned(),
        contact: contact.uri.clone(),
        expires_at: now + granted,
    };
    let action = match ctx
        .registrations
        .bind(user.index, binding, cfg.max_endpoints, now)
    {
        Bound::Added => "added",
        Bound::Refreshed => "refreshed",
        Bound::TooMany(_) => return too_many(ctx, req),
    };
    let secs = granted.as_secs().to_string();
    let gruu = format!(
        "\"sip:{};opaque=user:epid:{};gruu\"",
        user.sip_address,
        gruu_opaque(&uuid)
    );
    let raw_instance = contact
        .params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("+sip.instance"))
        .and_then(|(_, v)| v.as_deref());
    let echoed = NameAddr::new(contact.uri.clone())
        .with_param("expires", Some(&secs))
        .with_param("+sip.instance", raw_instance)
        .with_param("gruu", Some(&gruu));
    let keep_alive = MsKeepAlive {
        role: KeepAliveRole::Uas,
        tcp: Some(false),
        hop_hop: Some(true),
        end_end: Some(false),
        timeout: Some(u32::try_from(cfg.keepalive_timeout.as_secs()).unwrap_or(u32::MAX)),
    };
    // [MS-SIPREGE] 4.1.1's 200 OK, header for header where the mock has
    // the information.
    reply(req, 200, "OK", |b| {
        b.header("ms-keep-alive", &keep_alive.to_string())
            .header("Contact", &echoed.to_string())
            .header("Expires", &secs)
            .header("presence-state", &format!("register-action=\"{action}\""))
            .header("Allow-Events", ALLOW_EVENTS)
            .header("Supported", "gruu-10")
            .header("Supported", "adhoclist")
            .header("Supported", "msrtc-event-categories")
    })
}

/// The opaque part of a user-agent GRUU ([MS-SIPRE] 2.2.3 and 3.4): the
/// instance UUID's 16 octets in Windows GUID order (first three fields
/// little-endian, as [MS-SIPRE] 3.3.3 builds it), base64url without
/// padding, which is what [MS-SIPREGE] 4.1.1's example carries.
pub(super) fn gruu_opaque(uuid: &str) -> String {
    let hex: String = uuid.chars().filter(char::is_ascii_hexdigit).collect();
    let mut b = [0u8; 16];
    for (i, dst) in b.iter_mut().enumerate() {
        *dst = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    // Windows GUID order: Data1, Data2, Data3 little-endian.
    b.swap(0, 3);
    b.swap(1, 2);
    b.swap(4, 5);
    b.swap(6, 7);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A To tag that stays the same for every answer of one registration
/// (same Call-ID and From tag), as the 401 and 200 of a pool share one.
fn to_tag(req: &Message) -> String {
    let from_tag = req
        .from_addr()
        .ok()
        .and_then(|f| f.tag().map(str::to_owned));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (req.call_id(), from_tag.as_deref()).hash(&mut h);
    let a = h.finish();
    "to-tag".hash(&mut h);
    format!("{a:016X}{:016X}", h.finish())
}

fn warning(ctx: &RegistrarCtx, text: &str) -> String {
    // RFC 3261 20.43: 399 is the miscellaneous warning; the text is quoted,
    // so quotes and backslashes in it are dropped rather than escaped.
    let clean: String = text.chars().filter(|c| *c != '"' && *c != '\\').collect();
    format!("399 {} \"{clean}\"", ctx.fqdn())
}

fn diagnostics(ctx: &RegistrarCtx, id: u32, reason: &str) -> String {
    Diagnostics::new(id, reason)
        .with_source(ctx.fqdn())
        .to_header_value()
}

/// A response to `req` with the common headers, `extra` added.
fn reply(
    req: &Message,
    status: u16,
    reason: &str,
    extra: impl FnOnce(MessageBuilder) -> MessageBuilder,
) -> Option<Answer> {
    let b = MessageBuilder::reply_to(req, status, reason, Some(&to_tag(req)));
    let message = extra(b).header("Server", SERVER).build().ok()?;
    Some(Answer { message, status })
}

fn refuse(
    ctx: &RegistrarCtx,
    req: &Message,
    status: u16,
    reason: &str,
    id: u32,
    why: &str,
) -> Option<Answer> {
    reply(req, status, reason, |b| {
        b.header("ms-diagnostics", &diagnostics(ctx, id, why))
    })
}

fn too_many(ctx: &RegistrarCtx, req: &Message) -> Option<Answer> {
    refuse(
        ctx,
        req,
        403,
        "Forbidden",
        4000,
        "Maximum number of endpoints for the user reached",
    )
}

fn overloaded(ctx: &RegistrarCtx, req: &Message, why: &str) -> Option<Answer> {
    let retry = rand::rng().random_range(RETRY_AFTER);
    reply(req, 503, "Service Unavailable", |b| {
        b.header("ms-diagnostics", &diagnostics(ctx, 17000, why))
            .header("Retry-After", &retry.to_string())
    })
}

/// [MS-SIPAE] 3.2.3 / 4.4: the challenge offers every scheme the pool
/// runs at once, each with the realm, the server's targetname and the
/// protocol version; TLS-DSK also says where to get a certificate. The
/// Kerberos targetname is the server's SPN (`sip/<fqdn>`), as the
/// [MS-SIPAE] 4.4 example writes it.
fn challenge(ctx: &RegistrarCtx, req: &Message) -> Option<Answer> {
    unauthorized(ctx, req, &challenges(ctx), None)
}

/// The challenges of a first 401: in the default mode the three a pool
/// sends, in its order; NTLM alone in `auth = "ntlm"`; a fresh Digest
/// challenge in `auth = "digest"`.
fn challenges(ctx: &RegistrarCtx) -> Vec<AuthValue> {
    let fqdn = ctx.fqdn();
    let scheme = |name: &str, target: &str| {
        AuthValue::new(name)
            .with("realm", REALM)
            .with("targetname", target)
            .with("version", "4")
    };
    match (ctx.config.auth, &ctx.digest) {
        (RegistrarAuth::Ntlm, _) => vec![scheme(ntlm::SCHEME, fqdn)],
        (RegistrarAuth::Digest, Some(d)) => vec![d.challenge(&ctx.sip_domain, false)],
        _ => vec![
            scheme(ntlm::SCHEME, fqdn),
            scheme("Kerberos", &format!("sip/{fqdn}")),
            scheme(tlsdsk::SCHEME, fqdn).with("sts-uri", ctx.cert_prov_url.as_str()),
        ],
    }
}

/// The request's credentials under one of `schemes`, if any ([MS-SIPAE]
/// 3.3.5.1, RFC 3261 22.4: Authorization or Proxy-Authorization).
fn credentials(req: &Message, schemes: &[&str]) -> Option<AuthValue> {
    req.headers()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("Authorization") || n.eq_ignore_ascii_case("Proxy-Authorization")
        })
        .find_map(|(_, v)| {
            AuthValue::parse(v)
                .ok()
                .filter(|a| schemes.iter().any(|s| a.is_scheme(s)))
        })
}

/// Digest (RFC 3261 22.4): credentials proving the directory's password
/// under a fresh nonce pass; a stale nonce gets a new challenge with
/// `stale=true`; anything else a new challenge and a counted refusal.
fn digest_auth(ctx: &RegistrarCtx, req: &Message, user: &str) -> Result<(), Option<Answer>> {
    let Some(server) = &ctx.digest else {
        return Err(challenge(ctx, req));
    };
    let Some(creds) = credentials(req, &["Digest"]) else {
        return Err(challenge(ctx, req));
    };
    let method = req.method().unwrap_or("REGISTER");
    match server.verify(&creds, method, &ctx.sip_domain, &ctx.directory, user) {
        Ok(first) => {
            if first {
                ctx.metrics.auth_signin(SERVICE, "digest");
            }
            Ok(())
        }
        Err(r) => {
            ctx.metrics.auth_rejection(SERVICE, r.label());
            Err(match r {
                digest::Refusal::Stale => {
                    unauthorized(ctx, req, &[server.challenge(&ctx.sip_domain, true)], None)
                }
                digest::Refusal::WrongUser => wrong_user(ctx, req),
                // RFC 3261 22.4: wrong credentials are challenged again;
                // the phone sees a second 401 and gives up.
                digest::Refusal::Replayed | digest::Refusal::Bad(_) => challenge(ctx, req),
            })
        }
    }
}

/// 403 / 4004 "Credentials provided are not authorized to act as
/// specified from URI" ([MS-OCER] 4000-4999): authenticated, but as
/// another user than the From URI names.
fn wrong_user(ctx: &RegistrarCtx, req: &Message) -> Option<Answer> {
    refuse(
        ctx,
        req,
        403,
        "Forbidden",
        4004,
        "Credentials provided are not authorized to act as specified from URI",
    )
}

/// 403 / 1000 "Final handshake failed" ([MS-OCER] 8.2) for a signed
/// request the security association does not accept, saying `why`.
fn handshake_forbidden(ctx: &RegistrarCtx, req: &Message, why: &str) -> Option<Answer> {
    refuse(ctx, req, 403, "Forbidden", FINAL_HANDSHAKE_FAILED, why)
}

/// A 401 whose `WWW-Authenticate` lines are `challenges`, with an
/// optional `ms-diagnostics`.
fn unauthorized(
    ctx: &RegistrarCtx,
    req: &Message,
    challenges: &[AuthValue],
    diag: Option<&str>,
) -> Option<Answer> {
    reply(req, 401, "Unauthorized", |mut b| {
        for c in challenges {
            b = b.header("WWW-Authenticate", &c.to_string());
        }
        b.header_opt(
            "ms-diagnostics",
            diag.map(|d| diagnostics(ctx, FINAL_HANDSHAKE_FAILED, d))
                .as_deref(),
        )
    })
}

/// TLS-DSK and NTLM ([MS-SIPAE] 3.3.5): a handshake leg gets the next
/// 401 (an accepted NTLM AUTHENTICATE_MESSAGE authenticates its request at
/// once), a signed request is checked; `Ok` is the SA that signs the
/// answer, `Err` the answer to send instead.
fn sipae(
    ctx: &RegistrarCtx,
    req: &Message,
    user: &str,
) -> Result<dsk::Authenticated, Option<Answer>> {
    let Some(server) = &ctx.dsk else {
        return Err(challenge(ctx, req));
    };
    let schemes: &[&str] = match ctx.config.auth {
        RegistrarAuth::Ntlm => &[ntlm::SCHEME],
        _ => &[tlsdsk::SCHEME, ntlm::SCHEME],
    };
    let Some(creds) = credentials(req, schemes) else {
        return Err(challenge(ctx, req));
    };
    // 3.3.5.1: credentials for another realm or server get a challenge.
    if creds.realm() != Some(REALM) || creds.targetname() != Some(ctx.fqdn()) {
        return Err(challenge(ctx, req));
    }
    let reject = |label: &str| ctx.metrics.auth_rejection(SERVICE, label);
    if creds.response().is_some() {
        return server.check(req, &creds, user).map_err(|r| {
            reject(r.label());
            match r {
                dsk::Refusal::NoSa(why) => unauthorized(
                    ctx,
                    req,
                    &challenges(ctx),
                    Some(&format!(
                        "Final handshake failed: security association {why}"
                    )),
                ),
                dsk::Refusal::WrongUser => wrong_user(ctx, req),
                dsk::Refusal::BadSignature => handshake_forbidden(
                    ctx,
                    req,
                    "Final handshake failed: message signature does not verify",
                ),
                dsk::Refusal::Replayed => {
                    handshake_forbidden(ctx, req, "Final handshake failed: cnum already used")
                }
                dsk::Refusal::Malformed(why) => {
                    handshake_forbidden(ctx, req, &format!("Final handshake failed: {why}"))
                }
            }
        });
    }
    if creds.gssapi_data().is_none() {
        return Err(challenge(ctx, req));
    }
    if creds.is_scheme(ntlm::SCHEME) {
        let leg = server.ntlm_leg(
            &creds,
            REALM,
            ctx.fqdn(),
            &ctx.directory,
            &ctx.sip_domain,
            user,
        );
        return match leg {
            dsk::NtlmLeg::Challenge(c) => Err(unauthorized(ctx, req, &[c], None)),
            dsk::NtlmLeg::Established(a) => {
                ctx.metrics.auth_signin(SERVICE, "ntlm");
                Ok(a)
            }
            dsk::NtlmLeg::WrongUser => {
                reject("wrong_user");
                Err(wrong_user(ctx, req))
            }
            dsk::NtlmLeg::Failed(why) => {
                reject("ntlm_handshake");
                Err(unauthorized(
                    ctx,
                    req,
                    &challenges(ctx),
                    Some(&format!("Final handshake failed: {why}")),
                ))
            }
        };
    }
    Err(match server.leg(&creds, REALM, ctx.fqdn()) {
        dsk::Leg::Continue(c) => unauthorized(ctx, req, &[c], None),
        dsk::Leg::Done(c) => {
            ctx.metrics.auth_signin(SERVICE, "tls-dsk");
            unauthorized(ctx, req, &[c], None)
        }
        dsk::Leg::Failed(why, alert) => {
            reject("handshake");
            let offered = alert.map_or_else(|| challenges(ctx), |a| vec![a]);
            unauthorized(
                ctx,
                req,
                &offered,
                Some(&format!("Final handshake failed: {why}")),
            )
        }
    })
}

/// PROTOCOL.md: "A 301 from the registrar names the user's home server in
/// its Contact: reconnect there and register again", over the transport
/// the phone used.
fn redirect(ctx: &RegistrarCtx, peer: &Peer, req: &Message, home: usize) -> Option<Answer> {
    let fe = ctx.front_ends.get(home)?;
    let (port, transport) = if peer.tls {
        (fe.sip_tls, "tls")
    } else {
        (fe.sip_tcp, "tcp")
    };
    let target = SipUri {
        secure: false,
        user: None,
        host: fe.fqdn.clone(),
        port: Some(port),
        params: vec![("transport".into(), Some(transport.into()))],
        headers: None,
    };
    reply(req, 301, "Moved Permanently", |b| {
        b.header("Contact", &format!("<{target}>"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_siprege_4_1_1_gruu_opaque_from_instance() {
        // [MS-SIPREGE] 4.1.1 200 OK: +sip.instance
        // "<urn:uuid:b43b3d1d-9f8f-5fdc-9f74-3ca273cadb97>" and
        // gruu="sip:alice@fabrikam.com;opaque=user:epid:HT07tI-f3F-fdDyic8rblw;gruu"
        assert_eq!(
            gruu_opaque("b43b3d1d-9f8f-5fdc-9f74-3ca273cadb97"),
            "HT07tI-f3F-fdDyic8rblw"
        );
        // [MS-SIPRE] 4.2's UUID and the opaque of its GRUU example
        // "opaque=user:epid:qIIWS2j5AVeD_HxnQdxmlwAA" share their first 22
        // characters (that example pads two zero octets).
        assert!(
            "qIIWS2j5AVeD_HxnQdxmlwAA"
                .starts_with(&gruu_opaque("4b1682a8-f968-5701-83fc-7c6741dc6697"))
        );
    }
}
