//! TLS for the ports clients reach, with rustls (ring as its crypto): the server's certificate
//! and key from PEM files, and, when a CA is given and `tls-auth-clients` asks for it, client
//! certificates verified against that CA, as Redis's `tls-*` options do; and the same files made
//! into mutual TLS between peers ([`peer_tls`], `tls-cluster`). Production only: the
//! simulator's sockets carry no TLS.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

pub use crate::config::ClientAuth;

/// The files TLS is configured from.
#[derive(Clone, Debug)]
pub struct TlsFiles<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub ca: Option<&'a Path>,
    pub client_auth: ClientAuth,
}

/// An acceptor for TLS connections configured from `files`.
///
/// # Errors
/// A sentence naming the file or setting that is wrong.
pub fn acceptor(files: &TlsFiles<'_>) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (certs, key) = certificate_and_key(files)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match (files.client_auth, files.ca) {
        (ClientAuth::No, _) => builder.with_no_client_auth(),
        (auth, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca, "tls-ca-cert-file")? {
                roots.add(cert).map_err(|e| format!("tls-ca-cert-file {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier =
                if auth == ClientAuth::Optional { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|e| format!("tls-ca-cert-file {}: {e}", ca.display()))?,
            )
        }
        (_, None) => {
            return Err(
                "tls-auth-clients is yes (or optional) but no tls-ca-cert-file is given to check client \
                        certificates against; give one, or set tls-auth-clients = \"no\""
                    .into(),
            )
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls-cert-file and tls-key-file do not make a certificate: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Mutual TLS between peers from the node's certificate and key and the cluster's CA.
///
/// # Errors
/// A sentence naming the file or setting that is wrong.
pub fn peer_tls(files: &TlsFiles<'_>) -> Result<redraft_net::peer::PeerTls, String> {
    let (chain, key) = certificate_and_key(files)?;
    let ca = files.ca.ok_or("tls-cluster needs tls-ca-cert-file")?;
    redraft_net::peer::PeerTls::new(chain, key, certificates(ca, "tls-ca-cert-file")?)
        .map_err(|e| format!("tls-cluster: {e}"))
}

/// The certificate chain in tls-cert-file and the key in tls-key-file.
fn certificate_and_key(
    files: &TlsFiles<'_>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = certificates(files.cert, "tls-cert-file")?;
    let key = PrivateKeyDer::from_pem_file(files.key)
        .map_err(|e| format!("cannot read a private key from tls-key-file {}: {e}", files.key.display()))?;
    Ok((certs, key))
}

/// The certificates in the PEM file `path`, named by its setting `setting` in errors; at least one.
fn certificates(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificates from {setting} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{setting} {} holds no certificate", path.display()));
    }
    Ok(certs)
}
