//! TLS on links (rustls, ring): a server's certificate and key and the herd's CA, loaded and
//! checked at start, and the rustls configs both ends of a link use. Mutual: each side
//! presents its certificate and checks the other's, which must chain to the herd's CA and be
//! valid for the neighbour's server name. A server checks its own certificate the way its
//! neighbours will (CA, expiry, its name, both key usages), so a bad file stops it at start
//! with the file and the reason instead of leaving every link down.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::rustls::client::danger::ServerCertVerifier;
use futures_rustls::rustls::client::WebPkiServerVerifier;
use futures_rustls::rustls::crypto::{ring, CryptoProvider};
use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::TlsConfig;

/// A TLS file that cannot be used: the setting, the file and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The setting that names the file (`tls.cert`, `tls.key`, `tls.ca`).
    pub field: &'static str,
    /// The file, with `{name}` replaced.
    pub file: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.field,
            self.message
        )
    }
}

impl std::error::Error for TlsError {}

/// One server's TLS for its links.
pub struct LinkTls {
    /// The server's name, which its certificate is valid for.
    pub name: Arc<str>,
    /// Dials neighbours: presents our certificate and checks theirs (CA and name).
    pub connector: TlsConnector,
    /// Accepts neighbours: presents our certificate and requires theirs, signed by the CA.
    pub acceptor: TlsAcceptor,
    /// Checks a certificate against the herd's CA and a server name.
    names: Arc<WebPkiServerVerifier>,
}

impl fmt::Debug for LinkTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkTls({})", self.name)
    }
}

impl LinkTls {
    /// Loads server `name`'s certificate, key and the herd's CA as `cfg` names them, and
    /// checks the certificate as its neighbours will.
    pub fn load(cfg: &TlsConfig, name: &str) -> Result<LinkTls, TlsError> {
        let [(cert_field, cert_path), (key_field, key_path), (ca_field, ca_path)] = cfg.paths(name);
        let err = |field: &'static str, file: &Path, message: String| TlsError {
            field,
            file: file.to_path_buf(),
            message,
        };
        let provider: Arc<CryptoProvider> = Arc::new(ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in read_certs(ca_field, &ca_path)? {
            roots.add(c).map_err(|e| {
                err(
                    ca_field,
                    &ca_path,
                    format!("not a usable CA certificate: {e}"),
                )
            })?;
        }
        let roots = Arc::new(roots);
        let chain = read_certs(cert_field, &cert_path)?;
        let key = read_key(key_field, &key_path)?;
        let server_name = ServerName::try_from(name.to_string()).map_err(|_| {
            err(
                cert_field,
                &cert_path,
                format!("{name:?} cannot be a certificate's name (letters, digits, '-' and '.')"),
            )
        })?;
        let build = |e: rustls::server::VerifierBuilderError| {
            err(
                ca_field,
                &ca_path,
                format!("cannot be used as the herd's CA: {e}"),
            )
        };
        let names = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(build)?;
        let clients = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(build)?;
        // Our own certificate, checked as our neighbours will check it: when we dial (client
        // use) and when we accept (server use, for our name).
        let (ee, rest) = (&chain[0], &chain[1..]);
        let now = UnixTime::now();
        let own = names
            .verify_server_cert(ee, rest, &server_name, &[], now)
            .map(|_| ())
            .and_then(|()| clients.verify_client_cert(ee, rest, now).map(|_| ()));
        if let Err(e) = own {
            return Err(err(cert_field, &cert_path, describe(&e, &ca_path)));
        }
        let tls13 = [&rustls::version::TLS13];
        let key_error = |e: rustls::Error| match e {
            rustls::Error::InconsistentKeys(_) => err(
                key_field,
                &key_path,
                format!(
                    "is not the key of the certificate in {}",
                    cert_path.display()
                ),
            ),
            e => err(key_field, &key_path, format!("cannot be used: {e}")),
        };
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&tls13)
            .map_err(key_error)?
            .with_client_cert_verifier(clients)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(key_error)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&tls13)
            .map_err(key_error)?
            .with_webpki_verifier(names.clone())
            .with_client_auth_cert(chain, key)
            .map_err(key_error)?;
        Ok(LinkTls {
            name: name.into(),
            connector: TlsConnector::from(Arc::new(client)),
            acceptor: TlsAcceptor::from(Arc::new(server)),
            names,
        })
    }

    /// Checks that `certs` (a neighbour's chain, already verified against the CA in the
    /// handshake) are valid for server `name`: a neighbour cannot claim another's name.
    pub fn check_name(&self, certs: &[CertificateDer<'_>], name: &str) -> Result<(), String> {
        let Some((ee, rest)) = certs.split_first() else {
            return Err("it presented no certificate".into());
        };
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| format!("{name:?} cannot be a certificate's name"))?;
        self.names
            .verify_server_cert(ee, rest, &server_name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| format!("it says HELLO as {name} but its certificate: {e}"))
    }
}

/// A rustls verdict on a certificate, in the operator's words.
fn describe(e: &rustls::Error, ca: &Path) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("not signed by the herd's CA (tls.ca {})", ca.display())
        }
        rustls::Error::InvalidCertificate(c) => c.to_string(),
        e => e.to_string(),
    }
}

/// Reads a file of PEM certificates: at least one.
fn read_certs(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(field, path, &e))?;
    if certs.is_empty() {
        return Err(TlsError {
            field,
            file: path.to_path_buf(),
            message: "bad PEM: no certificate in it (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certs)
}

/// Reads a PEM private key.
fn read_key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(field, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError {
            field,
            file: path.to_path_buf(),
            message: "bad PEM: no private key in it (-----BEGIN PRIVATE KEY-----)".into(),
        },
        e => bad_pem(field, path, &e),
    })
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError {
        field,
        file: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })
}

fn bad_pem(field: &'static str, path: &Path, e: &pem::Error) -> TlsError {
    TlsError {
        field,
        file: path.to_path_buf(),
        message: format!("bad PEM: {e}"),
    }
}
