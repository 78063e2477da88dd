//! TLS for the ports clients reach, with rustls (ring as its crypto): the server's certificate
//! and key from PEM files, and, when a CA is given and `tls-auth-clients` asks for it, client
//! certificates verified against that CA, as Redis's `tls-*` options do. Production only: the
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
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(files.cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificates from tls-cert-file {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("tls-cert-file {} holds no certificate", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(files.key)
        .map_err(|e| format!("cannot read a private key from tls-key-file {}: {e}", files.key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match (files.client_auth, files.ca) {
        (ClientAuth::No, _) => builder.with_no_client_auth(),
        (auth, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    format!("cannot read certificates from tls-ca-cert-file {}: {e}", ca.display())
                })?;
            for cert in cas {
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
