//! Leaf certificates kept in KV: what the stored certificate says (names, expiry, issuer) and
//! whether it must be issued again. Only public material is parsed here; private keys never
//! pass through this module.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::desired::CertSpec;

/// The facts of a stored certificate that decide its renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Subject common name.
    pub common_name: Option<String>,
    /// DNS SANs, lowercased.
    pub dns: BTreeSet<String>,
    /// IP SANs.
    pub ips: BTreeSet<IpAddr>,
    /// Expiry, seconds since the Unix epoch.
    pub not_after: i64,
    /// Serial as Vault prints it (`0a:1b:...`).
    pub serial: String,
    issuer: Vec<u8>,
    authority_key_id: Option<Vec<u8>>,
}

/// The identity of a CA certificate: subject and subject key identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
}

/// Why a certificate is (re)issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No KV entry (or no certificate in it).
    Missing,
    /// The entry lacks the private key or the `pem` bundle, or the certificate does not parse.
    Unusable(String),
    /// The common name, DNS SANs or IP SANs differ from the site.
    NamesChanged,
    /// Not signed by the mount's current default issuer (or the CA is being replaced).
    IssuerChanged,
    /// Less than `renew_before` is left; `seconds` left (negative: expired).
    Expiring {
        /// Seconds until `not_after`.
        seconds: i64,
    },
}

impl Reason {
    /// A stable word for the plan digest (no clock-dependent numbers).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Unusable(_) => "unusable",
            Self::NamesChanged => "names-changed",
            Self::IssuerChanged => "issuer-changed",
            Self::Expiring { .. } => "expiring",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("missing"),
            Self::Unusable(why) => write!(f, "stored entry unusable: {why}"),
            Self::NamesChanged => f.write_str("names changed"),
            Self::IssuerChanged => f.write_str("issuer changed"),
            Self::Expiring { seconds } if *seconds < 0 => {
                let days = seconds.unsigned_abs() / 86_400;
                write!(f, "expired {days} day{} ago", plural(days))
            }
            Self::Expiring { seconds } => {
                let days = seconds.unsigned_abs() / 86_400;
                write!(f, "expires in {days} day{}", plural(days))
            }
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn der_of(pem_text: &str) -> Result<Vec<u8>, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.trim_start().as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    if pem.label != "CERTIFICATE" {
        return Err(format!("PEM block is {:?}, not CERTIFICATE", pem.label));
    }
    Ok(pem.contents)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| format!("not an X.509 certificate: {e}"))
}

/// Reads the first certificate of a PEM text.
///
/// # Errors
/// A one-line reason when the text holds no parseable certificate.
pub fn inspect(pem_text: &str) -> Result<Inspected, String> {
    let der = der_of(pem_text)?;
    let cert = parse(&der)?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let mut dns = BTreeSet::new();
    let mut ips = BTreeSet::new();
    let mut authority_key_id = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => {
                            dns.insert(d.to_ascii_lowercase());
                        }
                        GeneralName::IPAddress(bytes) => {
                            if let Some(ip) = ip_of(bytes) {
                                ips.insert(ip);
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            _ => {}
        }
    }
    Ok(Inspected {
        common_name,
        dns,
        ips,
        not_after: cert.validity().not_after.timestamp(),
        serial: cert.raw_serial_as_string(),
        issuer: cert.issuer().as_raw().to_vec(),
        authority_key_id,
    })
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Reads a CA certificate (the first of a PEM text) as an issuer identity.
///
/// # Errors
/// A one-line reason when the text holds no parseable certificate.
pub fn issuer(pem_text: &str) -> Result<Issuer, String> {
    let der = der_of(pem_text)?;
    let cert = parse(&der)?;
    let key_id = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    Ok(Issuer {
        subject: cert.subject().as_raw().to_vec(),
        key_id,
    })
}

impl Inspected {
    /// Whether `ca` issued this certificate: same issuer name and, when both carry one, the
    /// authority key id equals the CA's subject key id (a re-keyed CA with the same name is
    /// another issuer).
    #[must_use]
    pub fn issued_by(&self, ca: &Issuer) -> bool {
        if self.issuer != ca.subject {
            return false;
        }
        match (&self.authority_key_id, &ca.key_id) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// Whether the names match the site: CN, DNS SANs (the CN included, as Vault adds it)
    /// and IP SANs.
    #[must_use]
    pub fn names_match(&self, spec: &CertSpec) -> bool {
        let want_dns: BTreeSet<String> = std::iter::once(&spec.common_name)
            .chain(&spec.alt_names)
            .filter(|n| !n.contains('@') && n.parse::<IpAddr>().is_err())
            .map(|n| n.to_ascii_lowercase())
            .collect();
        let want_ips: BTreeSet<IpAddr> =
            spec.ip_sans.iter().filter_map(|i| i.parse().ok()).collect();
        self.common_name
            .as_deref()
            .is_some_and(|cn| cn.eq_ignore_ascii_case(&spec.common_name))
            && self.dns == want_dns
            && self.ips == want_ips
    }
}

/// Decides whether the stored certificate must be issued again. `current` is the mount's
/// default issuer (`None`: unreadable, e.g. the CA is created by this very apply);
/// `ca_replaced` says the plan replaces or re-defaults the mount's CA.
#[must_use]
pub fn decide(
    spec: &CertSpec,
    stored: Option<&Inspected>,
    current: Option<&Issuer>,
    ca_replaced: bool,
    now: i64,
) -> Option<Reason> {
    let Some(stored) = stored else {
        return Some(Reason::Missing);
    };
    if !stored.names_match(spec) {
        return Some(Reason::NamesChanged);
    }
    if ca_replaced || !current.is_some_and(|ca| stored.issued_by(ca)) {
        return Some(Reason::IssuerChanged);
    }
    let left = stored.not_after - now;
    let margin = i64::try_from(spec.renew_before).unwrap_or(i64::MAX);
    (left < margin).then_some(Reason::Expiring { seconds: left })
}

/// `not_after` as RFC 3339 (UTC).
#[must_use]
pub fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).map_or_else(|_| unix.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

    struct Ca {
        pem: String,
        issuer: rcgen::Issuer<'static, KeyPair>,
    }

    fn ca(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf valid until 2030-01-31T00:00:00Z.
    fn leaf(ca: &Ca, cn: &str, dns: &[&str], ips: &[&str]) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(dns.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>())
                .unwrap();
        for ip in ips {
            params
                .subject_alt_names
                .push(SanType::IpAddress(ip.parse().unwrap()));
        }
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.use_authority_key_identifier_extension = true;
        params.not_after = rcgen::date_time_ymd(2030, 1, 31);
        params.signed_by(&key, &ca.issuer).unwrap().pem()
    }

    const NOT_AFTER: i64 = 1_896_048_000; // 2030-01-31T00:00:00Z
    const DAY: i64 = 86_400;

    fn spec() -> CertSpec {
        CertSpec {
            name: "lb-ingress".into(),
            pki: "pki_int".into(),
            role: "server".into(),
            common_name: "apps.rachuna-net.pl".into(),
            alt_names: vec!["*.apps.rachuna-net.pl".into(), "Apps.rachuna-net.pl".into()],
            ip_sans: vec!["127.0.0.1".into(), "::1".into()],
            ttl: Some(30 * 86_400),
            renew_before: 10 * 86_400,
            store_mount: "kv".into(),
            store_path: "lb/ingress".into(),
        }
    }

    fn good(ca: &Ca) -> String {
        leaf(
            ca,
            "apps.rachuna-net.pl",
            &["apps.rachuna-net.pl", "*.apps.rachuna-net.pl"],
            &["127.0.0.1", "::1"],
        )
    }

    #[test]
    fn reads_names_expiry_and_serial() {
        let ca = ca("test CA");
        let got = inspect(&good(&ca)).unwrap();
        assert_eq!(got.common_name.as_deref(), Some("apps.rachuna-net.pl"));
        assert_eq!(
            got.dns.iter().map(String::as_str).collect::<Vec<_>>(),
            ["*.apps.rachuna-net.pl", "apps.rachuna-net.pl"]
        );
        assert_eq!(got.ips.len(), 2);
        assert_eq!(got.not_after, NOT_AFTER);
        assert_eq!(rfc3339(got.not_after), "2030-01-31T00:00:00Z");
        assert!(got.serial.contains(':'), "{}", got.serial);
        assert!(got.issued_by(&issuer(&ca.pem).unwrap()));
        assert!(got.names_match(&spec()));
    }

    #[test]
    fn decides_each_reason() {
        let ca = ca("test CA");
        let current = issuer(&ca.pem).unwrap();
        let stored = inspect(&good(&ca)).unwrap();
        let s = spec();
        let fresh = NOT_AFTER - 20 * DAY;
        assert_eq!(
            decide(&s, Some(&stored), Some(&current), false, fresh),
            None
        );
        assert_eq!(
            decide(&s, None, Some(&current), false, fresh),
            Some(Reason::Missing)
        );
        // Expiry: inside the margin, and past it.
        let r = decide(
            &s,
            Some(&stored),
            Some(&current),
            false,
            NOT_AFTER - 9 * DAY - 1,
        );
        assert_eq!(
            r,
            Some(Reason::Expiring {
                seconds: 9 * DAY + 1
            })
        );
        assert_eq!(r.unwrap().to_string(), "expires in 9 days");
        let r = decide(&s, Some(&stored), Some(&current), false, NOT_AFTER + DAY);
        assert_eq!(r.unwrap().to_string(), "expired 1 day ago");
        // Names: an added alt name, a dropped IP, another CN.
        let mut more = spec();
        more.alt_names.push("x.apps.rachuna-net.pl".into());
        let r = decide(&more, Some(&stored), Some(&current), false, fresh);
        assert_eq!(r, Some(Reason::NamesChanged));
        let mut fewer = spec();
        fewer.ip_sans.pop();
        assert_eq!(
            decide(&fewer, Some(&stored), Some(&current), false, fresh),
            Some(Reason::NamesChanged)
        );
        let mut cn = spec();
        cn.common_name = "x.apps.rachuna-net.pl".into();
        assert_eq!(
            decide(&cn, Some(&stored), Some(&current), false, fresh),
            Some(Reason::NamesChanged)
        );
        // Issuer: another CA with the same name (another key), no readable CA, a CA replaced.
        let twin = issuer(&self::ca("test CA").pem).unwrap();
        assert_eq!(
            decide(&s, Some(&stored), Some(&twin), false, fresh),
            Some(Reason::IssuerChanged)
        );
        let other = issuer(&self::ca("other CA").pem).unwrap();
        assert!(!stored.issued_by(&other));
        assert_eq!(
            decide(&s, Some(&stored), None, false, fresh),
            Some(Reason::IssuerChanged)
        );
        assert_eq!(
            decide(&s, Some(&stored), Some(&current), true, fresh),
            Some(Reason::IssuerChanged)
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(inspect("").is_err());
        assert!(inspect("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
        assert!(inspect("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
        assert!(issuer("garbage").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_random_input(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = inspect(&text);
            let _ = issuer(&text);
            let wrapped = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(&bytes)
            });
            let _ = inspect(&wrapped);
        }
    }
}
