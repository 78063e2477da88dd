//! Certificates for trying TLS on one machine (`dev-cluster --tls`, and the tests): a CA, a
//! certificate per node that names it as its peers expect (`node-<id>.redraft`) and as clients
//! reach it (`localhost`, `127.0.0.1`), good for server and client use, and a client
//! certificate for `redis-cli --tls`; all PEM files in one directory, made with rcgen. Not for
//! production: the CA's key is written beside them, unencrypted, and they never expire soon.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};

/// Where the files of [`write`] are.
#[derive(Clone, Debug)]
pub struct DevCertificates {
    pub dir: PathBuf,
}

impl DevCertificates {
    /// The CA's certificate: what `tls-ca-cert-file` and a client's `--cacert` name.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Node `id`'s certificate.
    pub fn node_cert(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}.pem"))
    }

    /// Node `id`'s private key.
    pub fn node_key(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}.key"))
    }

    /// The client certificate and key, for `tls-auth-clients yes`.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("client.pem"), self.dir.join("client.key"))
    }
}

fn params(names: Vec<String>, common_name: &str) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::new(names).map_err(|e| format!("certificate names: {e}"))?;
    // A subject of its own: with one name on every certificate, a leaf's subject would equal its
    // issuer's and OpenSSL would take it for self-signed.
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    Ok(params)
}

/// Makes a new CA in `dir` and certificates for nodes `ids` and one client.
///
/// # Errors
/// A sentence saying what could not be made or written.
pub fn write(dir: &Path, ids: impl IntoIterator<Item = u64>) -> Result<DevCertificates, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut ca_params = params(Vec::new(), "redraft dev CA")?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().map_err(|e| format!("a key: {e}"))?;
    let ca = ca_params.self_signed(&ca_key).map_err(|e| format!("the CA: {e}"))?;
    let certs = DevCertificates { dir: dir.to_owned() };
    let mut files = vec![(certs.ca(), ca.pem()), (dir.join("ca.key"), ca_key.serialize_pem())];
    let both = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    for id in ids {
        let name = redraft_net::peer::node_name(id);
        let mut node = params(vec![name.clone(), "localhost".into(), "127.0.0.1".into()], &name)?;
        node.extended_key_usages = both.clone();
        let key = KeyPair::generate().map_err(|e| format!("a key: {e}"))?;
        let cert = node.signed_by(&key, &ca, &ca_key).map_err(|e| format!("node {id}'s certificate: {e}"))?;
        files.push((certs.node_cert(id), cert.pem()));
        files.push((certs.node_key(id), key.serialize_pem()));
    }
    let mut client = params(vec!["redraft-client".into()], "redraft dev client")?;
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().map_err(|e| format!("a key: {e}"))?;
    let cert = client.signed_by(&key, &ca, &ca_key).map_err(|e| format!("the client certificate: {e}"))?;
    let (client_cert, client_key) = certs.client();
    files.push((client_cert, cert.pem()));
    files.push((client_key, key.serialize_pem()));
    for (path, pem) in files {
        std::fs::write(&path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(certs)
}
