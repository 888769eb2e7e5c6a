//! `phonestorm dhcp-options`: the values of DHCP options 120 and 43 that Lync
//! / Skype for Business IP phones need, for any DHCP server, in the spirit of
//! Microsoft's DHCPUtil; and the reverse, decoding hex an administrator
//! found in a server's configuration.
//!
//! This file owns the flags, their validation and the output formats. The
//! bytes themselves come from `phonestorm_proto::dhcp`.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};
use clap::ValueEnum;
use phonestorm_proto::dhcp::{
    SipServers, SubOption, UcClientOptions, VENDOR_CLASS_UC, VoiceVlanOptions, check_domain_name,
    decode_sub_options, parse_port, sub_option,
};
use serde::Serialize;

use crate::Usage;

/// Raw flags, as typed.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("mode").required(true).args(["sip_server", "decode_120", "decode_43"])
))]
pub(crate) struct Args {
    /// FQDN of the SIP registrar pool for option 120 (usually the Director or
    /// Front End pool)
    #[arg(long, value_name = "FQDN")]
    sip_server: Option<String>,
    /// FQDN of the internal web services for option 43 sub-option 3
    /// [default: the --sip-server FQDN]
    #[arg(long, value_name = "FQDN", requires = "sip_server")]
    web_server: Option<String>,
    /// Web server port for option 43 sub-option 4, sent as ASCII digits
    /// [default: 443]
    #[arg(long, value_name = "PORT", requires = "sip_server")]
    port: Option<String>,
    /// URL scheme for option 43 sub-option 2 [default: https]
    #[arg(long, value_name = "SCHEME", requires = "sip_server")]
    scheme: Option<String>,
    /// Certificate Provisioning path for option 43 sub-option 5
    /// [default: /CertProv/CertProvisioningService.svc]
    #[arg(long, value_name = "PATH", requires = "sip_server")]
    path: Option<String>,
    /// Output format; kea, isc, dnsmasq and netsh print configuration to
    /// paste into that DHCP server
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Decode an option 120 value given in hex (after code and length)
    #[arg(long, value_name = "HEX", conflicts_with = "decode_43")]
    decode_120: Option<String>,
    /// Decode an option 43 value given in hex (after code and length)
    #[arg(long, value_name = "HEX")]
    decode_43: Option<String>,
}

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Hex of both options, one line per sub-option (like DHCPUtil)
    Text,
    /// One JSON object
    Json,
    /// A complete minimal kea-dhcp4 configuration
    Kea,
    /// An ISC dhcpd.conf fragment
    Isc,
    /// dnsmasq configuration lines
    Dnsmasq,
    /// netsh commands for a Windows DHCP server
    Netsh,
}

/// Validated settings.
#[derive(Debug)]
enum Settings {
    Encode {
        sip_server: String,
        uc: UcClientOptions,
        format: Format,
    },
    Decode120 {
        bytes: Vec<u8>,
        json: bool,
    },
    Decode43 {
        bytes: Vec<u8>,
        json: bool,
    },
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

impl Settings {
    fn from_args(a: Args) -> Result<Self> {
        let json_or_text = |flag: &str| match a.format {
            Format::Text => Ok(false),
            Format::Json => Ok(true),
            other => Err(usage(format!(
                "--format {} cannot be used with {flag}: decoding prints text or json",
                format_name(other)
            ))),
        };
        if let Some(hex) = &a.decode_120 {
            let json = json_or_text("--decode-120")?;
            let bytes = parse_hex(hex).map_err(|e| usage(format!("--decode-120: {e}")))?;
            return Ok(Settings::Decode120 { bytes, json });
        }
        if let Some(hex) = &a.decode_43 {
            let json = json_or_text("--decode-43")?;
            let bytes = parse_hex(hex).map_err(|e| usage(format!("--decode-43: {e}")))?;
            return Ok(Settings::Decode43 { bytes, json });
        }
        let raw_sip = a
            .sip_server
            .ok_or_else(|| usage("one of --sip-server, --decode-120, --decode-43 is required"))?;
        let sip = check_domain_name("SIP server FQDN", &raw_sip)
            .map_err(|e| usage(format!("--sip-server: {e}")))?;
        let web = match &a.web_server {
            Some(w) => check_domain_name("web server FQDN", w)
                .map_err(|e| usage(format!("--web-server: {e}")))?,
            None => sip.clone(),
        };
        let mut uc = UcClientOptions::new(web);
        if let Some(p) = &a.port {
            uc.port = parse_port(p).map_err(|e| usage(format!("--port: {e}")))?;
        }
        if let Some(s) = a.scheme {
            uc.url_scheme = s;
        }
        if let Some(p) = a.path {
            uc.cert_prov_path = p;
        }
        // The remaining checks (scheme and path syntax) are the encoder's.
        uc.encode().map_err(|e| {
            let flag = match &e {
                phonestorm_proto::Error::BadValue { what, .. } if what.contains("scheme") => {
                    "--scheme"
                }
                phonestorm_proto::Error::BadValue { what, .. } if what.contains("path") => "--path",
                _ => "--sip-server",
            };
            usage(format!("{flag}: {e}"))
        })?;
        Ok(Settings::Encode {
            sip_server: sip,
            uc,
            format: a.format,
        })
    }
}

fn format_name(f: Format) -> String {
    f.to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// Runs the command.
pub(crate) fn run(args: Args) -> Result<()> {
    let out = match Settings::from_args(args)? {
        Settings::Encode {
            sip_server,
            uc,
            format,
        } => {
            let e = Encoded::new(&sip_server, &uc)?;
            match format {
                Format::Text => e.text(),
                Format::Json => json(&e)?,
                Format::Kea => e.kea(),
                Format::Isc => e.isc(),
                Format::Dnsmasq => e.dnsmasq(),
                Format::Netsh => e.netsh(),
            }
        }
        Settings::Decode120 { bytes, json: j } => {
            let servers =
                SipServers::decode(&bytes).map_err(|e| usage(format!("--decode-120: {e}")))?;
            let d = Decoded120::new(&servers);
            if j { json(&d)? } else { d.text() }
        }
        Settings::Decode43 { bytes, json: j } => {
            let d = Decoded43::new(&bytes).map_err(|e| usage(format!("--decode-43: {e}")))?;
            if j { json(&d)? } else { d.text() }
        }
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing to stdout")
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(v).context("encoding JSON")?;
    s.push('\n');
    Ok(s)
}

/// Upper-case hex without separators, as DHCPUtil prints it.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
}

/// Hex with colons, the form ISC dhcpd and dnsmasq read as bytes.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads hex as administrators paste it: optional `0x`, and `:`, `-` or
/// spaces between bytes allowed.
fn parse_hex(s: &str) -> std::result::Result<Vec<u8>, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: Vec<u8> = t
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b' '))
        .collect();
    if digits.is_empty() {
        return Err("no hex digits".into());
    }
    if let Some(bad) = digits.iter().find(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a hex digit", char::from(*bad)));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks_exact(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| "not hex".to_owned())
        })
        .collect()
}

/// DHCPUtil's names for the `MS-UC-Client` sub-options.
fn sub_option_name(code: u8) -> &'static str {
    match code {
        sub_option::UC_IDENTIFIER => "UC Identifier",
        sub_option::URL_SCHEME => "URL Scheme",
        sub_option::WEB_SERVER_FQDN => "Web Server FQDN",
        sub_option::WEB_SERVER_PORT => "Port",
        sub_option::CERT_PROV_REL_PATH => "Relative Path for Cert Prov",
        sub_option::VOICE_VLAN => "Voice VLAN (CPE-OCPHONE)",
        _ => "unknown",
    }
}

#[derive(Debug, Serialize)]
struct SubOptionOut {
    code: u8,
    name: &'static str,
    hex: String,
    /// The value as text when it is printable ASCII.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

impl SubOptionOut {
    fn new(s: &SubOption) -> Self {
        SubOptionOut {
            code: s.code,
            name: sub_option_name(s.code),
            hex: hex(&s.value),
            value: (!s.value.is_empty()
                && s.value.iter().all(|b| b.is_ascii_graphic() || *b == b' '))
            .then(|| String::from_utf8_lossy(&s.value).into_owned()),
        }
    }

    fn line(&self) -> String {
        let mut l = format!("Sub-Option {} <{}>: {}", self.code, self.name, self.hex);
        if let Some(v) = &self.value {
            let _ = write!(l, "  ({v})");
        }
        l
    }
}

/// Everything the encode formats print.
#[derive(Debug, Serialize)]
struct Encoded {
    sip_server: String,
    web_server: String,
    certprov_url: String,
    vendor_class: &'static str,
    option120_hex: String,
    option43_hex: String,
    option43_suboptions: Vec<SubOptionOut>,
    #[serde(skip)]
    o120: Vec<u8>,
    #[serde(skip)]
    o43: Vec<u8>,
}

impl Encoded {
    fn new(sip_server: &str, uc: &UcClientOptions) -> Result<Self> {
        let o120 = SipServers::Names(vec![sip_server.to_owned()])
            .encode()
            .map_err(|e| usage(format!("--sip-server: {e}")))?;
        let subs = uc.sub_options().map_err(|e| usage(e.to_string()))?;
        let o43 = uc.encode().map_err(|e| usage(e.to_string()))?;
        Ok(Encoded {
            sip_server: sip_server.to_owned(),
            web_server: uc.web_server.clone(),
            certprov_url: uc.cert_prov_url(),
            vendor_class: VENDOR_CLASS_UC,
            option120_hex: hex(&o120),
            option43_hex: hex(&o43),
            option43_suboptions: subs.iter().map(SubOptionOut::new).collect(),
            o120,
            o43,
        })
    }

    fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Sip Server FQDN: {}", self.sip_server);
        let _ = writeln!(s, "Web Server FQDN: {}", self.web_server);
        let _ = writeln!(
            s,
            "Certificate Provisioning Service URL: {}",
            self.certprov_url
        );
        let _ = writeln!(s, "Option 120: {}", self.option120_hex);
        let _ = writeln!(s, "Vendor Class Identifier: {}", self.vendor_class);
        let _ = writeln!(
            s,
            "Option 43 (for vendor={}): {}",
            self.vendor_class, self.option43_hex
        );
        for o in &self.option43_suboptions {
            let _ = writeln!(s, "{}", o.line());
        }
        s
    }

    fn header(&self, comment: &str, server: &str) -> String {
        format!(
            "{comment} Generated by `phonestorm dhcp-options --format {server}`.\n\
             {comment} DHCP options for Lync / Skype for Business IP phones, vendor class {vc}:\n\
             {comment}   option 120 (SIP server, RFC 3361): {sip}\n\
             {comment}   option 43 (Certificate Provisioning): {url}\n",
            sip = self.sip_server,
            vc = self.vendor_class,
            url = self.certprov_url,
        )
    }

    /// Fills a template: `{head}`, `{vc}`, `{o43}`, `{o120}` (upper-case
    /// hex) and `{o43:}`, `{o120:}` (colon hex).
    fn fill(&self, template: &str, comment: &str, server: &str) -> String {
        template
            .replace("{head}", &self.header(comment, server))
            .replace("{vc}", self.vendor_class)
            .replace("{o43}", &self.option43_hex)
            .replace("{o120}", &self.option120_hex)
            .replace("{o43:}", &colon_hex(&self.o43))
            .replace("{o120:}", &colon_hex(&self.o120))
    }

    /// A complete kea-dhcp4 configuration: `kea-dhcp4 -t FILE` accepts it.
    /// Option 120 is unknown to Kea, so it gets a binary definition; option
    /// 43 is redefined as binary inside the class, the way Kea's manual
    /// describes for raw vendor options.
    fn kea(&self) -> String {
        self.fill(
            r#"{head}// Server: ISC Kea kea-dhcp4 (2.x). A complete minimal configuration: check it
// with `kea-dhcp4 -t FILE`. The interface (lo) and subnet (198.18.0.0/15, the
// benchmarking range) are placeholders: use your own, or copy the "option-def"
// and "client-classes" entries into your configuration. Phones get both
// options only when option 60 is exactly {vc}.
{
  "Dhcp4": {
    "interfaces-config": { "interfaces": [ "lo" ] },
    "lease-database": { "type": "memfile", "persist": false },
    "option-def": [
      { "name": "ms-uc-sip-server", "code": 120, "space": "dhcp4", "type": "binary" }
    ],
    "client-classes": [
      {
        "name": "{vc}",
        "test": "option[60].text == '{vc}'",
        "option-def": [
          { "name": "vendor-encapsulated-options", "code": 43, "type": "binary" }
        ],
        "option-data": [
          { "name": "vendor-encapsulated-options", "code": 43, "csv-format": false, "data": "{o43}" },
          { "name": "ms-uc-sip-server", "code": 120, "csv-format": false, "data": "{o120}" }
        ]
      }
    ],
    "subnet4": [
      {
        "id": 1,
        "subnet": "198.18.0.0/15",
        "pools": [ { "pool": "198.18.0.100 - 198.18.0.199" } ]
      }
    ]
  }
}
"#,
            "//",
            "kea",
        )
    }

    /// An ISC dhcpd.conf fragment: option 120 defined as a string of bytes,
    /// both options given only to the class matching option 60.
    fn isc(&self) -> String {
        self.fill(
            r#"{head}# Server: ISC DHCP dhcpd (dhcpd.conf). Paste at the top level of dhcpd.conf;
# check with `dhcpd -t -cf FILE`.
option ms-uc-sip-server code 120 = string;
class "{vc}" {
  match if option vendor-class-identifier = "{vc}";
  option ms-uc-sip-server {o120:};
  option vendor-encapsulated-options {o43:};
}
"#,
            "#",
            "isc",
        )
    }

    /// dnsmasq lines: tag clients whose vendor class contains the string,
    /// then give both options, as bytes, to that tag only.
    fn dnsmasq(&self) -> String {
        self.fill(
            r#"{head}# Server: dnsmasq. Add to dnsmasq.conf (or a file in /etc/dnsmasq.d);
# check with `dnsmasq --test --conf-file=FILE`. Values are raw bytes (hex).
dhcp-vendorclass=set:ms-uc-client,{vc}
dhcp-option=tag:ms-uc-client,120,{o120:}
dhcp-option=tag:ms-uc-client,43,{o43:}
"#,
            "#",
            "dnsmasq",
        )
    }

    /// netsh commands in the order of Microsoft's DHCPConfigScript.bat: a
    /// vendor class, option 120 server-wide (Windows ties only vendor
    /// options to a class), sub-options 1 to 5 as vendor options.
    fn netsh(&self) -> String {
        let c = "REM";
        let mut s = self.header(c, "netsh");
        let _ = writeln!(
            s,
            "{c} Server: Windows Server DHCP. Run in an elevated command prompt on the DHCP\n\
             {c} server (the same commands as Lync's DHCPConfigScript.bat)."
        );
        let _ = writeln!(
            s,
            "netsh dhcp server add optiondef 120 UCSipServer Binary 0 comment=\"Sip Server Fqdn\""
        );
        let _ = writeln!(
            s,
            "netsh dhcp server set optionvalue 120 Binary {}",
            self.option120_hex
        );
        let _ = writeln!(
            s,
            "netsh dhcp server add class MSUCClient \"UC Vendor Class Id\" \"{}\" 1",
            self.vendor_class
        );
        for o in &self.option43_suboptions {
            let (name, comment) = match o.code {
                sub_option::UC_IDENTIFIER => ("UCIdentifier", "UC Identifier"),
                sub_option::URL_SCHEME => ("URLScheme", "URL Scheme"),
                sub_option::WEB_SERVER_FQDN => ("WebServerFqdn", "Web Server Fqdn"),
                sub_option::WEB_SERVER_PORT => ("WebServerPort", "Web Server Port"),
                sub_option::CERT_PROV_REL_PATH => ("CertProvRelPath", "Cert Prov Relative Path"),
                _ => continue,
            };
            let _ = writeln!(
                s,
                "netsh dhcp server add optiondef {code} {name} Binary 0 vendor=MSUCClient comment=\"{comment}\"",
                code = o.code
            );
            let _ = writeln!(
                s,
                "netsh dhcp server set optionvalue {code} Binary vendor=MSUCClient {hex}",
                code = o.code,
                hex = o.hex
            );
        }
        s
    }
}

#[derive(Debug, Serialize)]
struct Decoded120 {
    encoding: u8,
    sip_servers: Vec<String>,
}

impl Decoded120 {
    fn new(s: &SipServers) -> Self {
        Decoded120 {
            encoding: match s {
                SipServers::Names(_) => 0,
                SipServers::Addresses(_) => 1,
            },
            sip_servers: s.to_strings(),
        }
    }

    fn text(&self) -> String {
        let kind = if self.encoding == 0 {
            "domain names"
        } else {
            "IPv4 addresses"
        };
        let mut s = format!(
            "Option 120 (RFC 3361), encoding {} ({kind}):\n",
            self.encoding
        );
        for (i, n) in self.sip_servers.iter().enumerate() {
            let _ = writeln!(s, "SIP server {}: {n}", i + 1);
        }
        s
    }
}

#[derive(Debug, Serialize)]
struct Decoded43 {
    suboptions: Vec<SubOptionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certprov_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voice_vlan: Option<u16>,
}

impl Decoded43 {
    fn new(bytes: &[u8]) -> phonestorm_proto::Result<Self> {
        let subs = decode_sub_options(bytes)?;
        let has = |r: std::ops::RangeInclusive<u8>| subs.iter().any(|o| r.contains(&o.code));
        let certprov_url = if has(sub_option::UC_IDENTIFIER..=sub_option::CERT_PROV_REL_PATH) {
            Some(UcClientOptions::decode(bytes)?.cert_prov_url())
        } else {
            None
        };
        let voice_vlan = if has(sub_option::VOICE_VLAN..=sub_option::VOICE_VLAN) {
            Some(VoiceVlanOptions::decode(bytes)?.vlan_id)
        } else {
            None
        };
        Ok(Decoded43 {
            suboptions: subs.iter().map(SubOptionOut::new).collect(),
            certprov_url,
            voice_vlan,
        })
    }

    fn text(&self) -> String {
        let mut s = format!(
            "Option 43 (vendor-specific), {} sub-option(s):\n",
            self.suboptions.len()
        );
        for o in &self.suboptions {
            let _ = writeln!(s, "{}", o.line());
        }
        if let Some(u) = &self.certprov_url {
            let _ = writeln!(s, "Certificate Provisioning Service URL: {u}");
        }
        if let Some(v) = self.voice_vlan {
            let _ = writeln!(s, "Voice VLAN: {v}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex("0x01:0A ff").unwrap(), vec![1, 10, 255]);
        assert!(parse_hex("abc").unwrap_err().contains("odd"));
        assert!(parse_hex("zz").unwrap_err().contains("not a hex digit"));
        assert!(parse_hex("").is_err());
        assert_eq!(hex(&[0xab, 1]), "AB01");
        assert_eq!(colon_hex(&[0xab, 1]), "ab:01");
    }
}
