//! Certificates made at test time (rcgen): a herd CA and server certificates signed by it,
//! good ones and the bad kinds a server must refuse (another CA, expired, another name).

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority.
pub struct Ca {
    /// Signs the certificates.
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

/// A server's certificate and key, PEM.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

/// How a certificate is made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid from 2020 to 4096 (rcgen's default end).
    Good,
    /// Valid only during 2020.
    Expired,
}

impl Ca {
    pub fn new(common_name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.distinguished_name.push(DnType::CommonName, common_name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = p.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A certificate for server `name`, good for dialing and accepting links.
    pub fn leaf(&self, name: &str, validity: Validity) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(vec![name.to_string()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        if validity == Validity::Expired {
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = p.signed_by(&key, &self.issuer).expect("certificate");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Writes `<dir>/<name>.crt`, `<dir>/<name>.key` and `<dir>/ca.crt`.
pub fn write(dir: &Path, name: &str, leaf: &Leaf, ca: &Ca) {
    std::fs::create_dir_all(dir).expect("tls dir");
    std::fs::write(dir.join(format!("{name}.crt")), &leaf.cert).expect("cert");
    std::fs::write(dir.join(format!("{name}.key")), &leaf.key).expect("key");
    std::fs::write(dir.join("ca.crt"), &ca.pem).expect("ca");
}

/// The config section that points every server at its files in `dir`.
pub fn tls_section(dir: &Path) -> String {
    let d = dir.display();
    format!("tls: (cert: \"{d}/{{name}}.crt\", key: \"{d}/{{name}}.key\", ca: \"{d}/ca.crt\")")
}

/// A herd CA and good certificates for `names`, written to `dir`.
pub fn good_herd(dir: &Path, names: &[&str]) -> Ca {
    let ca = Ca::new("herd test CA");
    for n in names {
        write(dir, n, &ca.leaf(n, Validity::Good), &ca);
    }
    ca
}
