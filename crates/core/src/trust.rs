//! The root certificates a blueprint's HTTPS clients trust: read once per cold start and
//! handed to both the AWS SDK's client and the algorithm client.
//!
//! Where they come from: `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, as
//! OpenSSL reads them; otherwise the system's bundle file alone. Left to themselves, each
//! client would read the trust store on its own, bundle file and certificate directory
//! both, and on Debian-family systems that directory repeats the bundle as ~290 files:
//! ~4 ms per read, twice per cold start.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use base64::Engine;
use rustls_native_certs::CertificateResult;
use rustls_pki_types::CertificateDer;

use crate::env::process_env;

static SYSTEM: LazyLock<TrustRoots> = LazyLock::new(|| TrustRoots::load(process_env));

/// Trust anchors, each one a certificate rustls accepts as a root.
pub struct TrustRoots {
    certs: Vec<CertificateDer<'static>>,
}

impl TrustRoots {
    /// The process's roots, read on first use.
    pub fn system() -> &'static TrustRoots {
        &SYSTEM
    }

    /// Reads the roots the environment `env` names (see the module docs). Problems are
    /// logged, not returned: a function that calls only `http://` endpoints needs none,
    /// and an `https://` call without its root fails naming the unknown issuer.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Self {
        let (file, dirs) = sources(env);
        // The file goes with the first directory in one read: rustls-native-certs then
        // skips that directory's links to the file (SSL_CERT_DIR=/etc/ssl/certs holds
        // the bundle it names, ca-certificates.crt, as one of its entries).
        let mut dirs_left = dirs.iter();
        let mut found = match (&file, dirs_left.next()) {
            (None, None) => CertificateResult::default(),
            (file, dir) => rustls_native_certs::load_certs_from_paths(
                file.as_deref(),
                dir.map(|d| d.as_path()),
            ),
        };
        for dir in dirs_left {
            merge(
                &mut found,
                rustls_native_certs::load_certs_from_paths(None, Some(dir)),
            );
        }
        for error in &found.errors {
            tracing::warn!("reading root certificates: {error}");
        }
        let roots = Self::from_certs(found.certs);
        if roots.certs.is_empty() {
            tracing::warn!(
                "no root certificates in {}: HTTPS calls will fail (set SSL_CERT_FILE)",
                describe(file.as_deref(), &dirs)
            );
        }
        roots
    }

    /// Keeps the certificates rustls can use as roots, once each.
    fn from_certs(mut certs: Vec<CertificateDer<'static>>) -> Self {
        certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
        certs.dedup();
        let mut store = rustls::RootCertStore::empty();
        certs.retain(|cert| store.add(cert.clone()).is_ok());
        Self { certs }
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The AWS SDK's HTTPS client (rustls with aws-lc, as the SDK's default), trusting
    /// these roots only.
    pub fn aws_http_client(&self) -> aws_sdk_kms::config::SharedHttpClient {
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(self.pem());
        let builder = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        match TlsContext::builder().with_trust_store(trust).build() {
            Ok(context) => builder.tls_context(context).build_https(),
            // Not reached with rustls (only s2n rejects a context); the SDK's default then.
            Err(_) => builder.build_https(),
        }
    }

    /// `builder` trusting these roots only.
    pub fn trusted_by(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.tls_certs_only(
            self.certs
                .iter()
                .filter_map(|cert| reqwest::Certificate::from_der(cert).ok()),
        )
    }

    /// The roots as a PEM bundle, the form the SDK's trust store takes.
    fn pem(&self) -> Vec<u8> {
        let mut pem = Vec::with_capacity(self.certs.iter().map(|c| c.len() * 4 / 3 + 64).sum());
        for cert in &self.certs {
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            let encoded = base64::engine::general_purpose::STANDARD.encode(cert);
            for line in encoded.as_bytes().chunks(64) {
                pem.extend_from_slice(line);
                pem.push(b'\n');
            }
            pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        pem
    }
}

/// The bundle file and directories to read: the variables' when either is set, else the
/// first system bundle file that exists (its directory only when there is none).
fn sources(env: impl Fn(&str) -> Option<String>) -> (Option<PathBuf>, Vec<PathBuf>) {
    let file = env("SSL_CERT_FILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    let dirs: Vec<PathBuf> = env("SSL_CERT_DIR")
        .map(|dirs| {
            std::env::split_paths(&dirs)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if file.is_some() || !dirs.is_empty() {
        return (file, dirs);
    }
    let probed = openssl_probe::probe();
    match probed.cert_file {
        Some(file) => (Some(file), Vec::new()),
        None => (None, probed.cert_dir),
    }
}

fn merge(into: &mut CertificateResult, from: CertificateResult) {
    into.certs.extend(from.certs);
    into.errors.extend(from.errors);
}

fn describe(file: Option<&Path>, dirs: &[PathBuf]) -> String {
    let mut places: Vec<String> = file.iter().map(|f| f.display().to_string()).collect();
    places.extend(dirs.iter().map(|d| format!("{}/", d.display())));
    if places.is_empty() {
        "no bundle file or certificate directory found".into()
    } else {
        places.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    fn fixture(name: &str) -> String {
        format!("{}/../../fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn ssl_cert_file_names_the_only_roots() {
        let ca = fixture("ca.pem");
        let roots = TrustRoots::load(|var| (var == "SSL_CERT_FILE").then(|| ca.clone()));
        assert_eq!(roots.len(), 1);
    }

    #[test]
    fn without_the_variables_the_system_bundle_is_read_and_not_its_directory() {
        let (file, dirs) = sources(|_| None);
        if let Some(file) = file {
            assert!(file.is_file(), "{}", file.display());
            assert!(dirs.is_empty(), "{dirs:?}");
            assert!(!TrustRoots::load(|_| None).is_empty());
        }
    }

    #[test]
    fn ssl_cert_dir_is_read_when_set() {
        let dir = format!("{}/../../fixtures/tls", env!("CARGO_MANIFEST_DIR"));
        let (file, dirs) = sources(|var| (var == "SSL_CERT_DIR").then(|| dir.clone()));
        assert_eq!((file, dirs), (None, vec![PathBuf::from(&dir)]));
        // ca.pem and the server certificate it signed: both parse as anchors.
        let roots = TrustRoots::load(|var| (var == "SSL_CERT_DIR").then(|| dir.clone()));
        assert_eq!(roots.len(), 2);
    }

    #[test]
    fn a_file_inside_the_named_directory_counts_once() {
        let dir = format!("{}/../../fixtures/tls", env!("CARGO_MANIFEST_DIR"));
        let ca = fixture("ca.pem");
        let roots = TrustRoots::load(|var| match var {
            "SSL_CERT_FILE" => Some(ca.clone()),
            "SSL_CERT_DIR" => Some(dir.clone()),
            _ => None,
        });
        assert_eq!(roots.len(), 2, "ca.pem and server.pem");
    }

    #[test]
    fn what_rustls_cannot_use_as_a_root_is_left_out_and_duplicates_are_kept_once() {
        let ca = std::fs::read(fixture("ca.pem")).expect("ca.pem");
        let ca = CertificateDer::from_pem_slice(&ca).expect("a certificate");
        let junk = CertificateDer::from(b"not a certificate".to_vec());
        let roots = TrustRoots::from_certs(vec![junk, ca.clone(), ca.clone()]);
        assert_eq!(roots.certs, vec![ca]);
    }

    #[test]
    fn the_pem_bundle_reads_back_as_the_same_certificates() {
        let roots = TrustRoots::load(|var| (var == "SSL_CERT_FILE").then(|| fixture("ca.pem")));
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&roots.pem())
            .collect::<Result<_, _>>()
            .expect("PEM");
        assert_eq!(back, roots.certs);
    }

    #[test]
    fn a_missing_file_gives_no_roots_rather_than_an_error() {
        let roots = TrustRoots::load(|var| {
            (var == "SSL_CERT_FILE").then(|| "/nonexistent/ca.pem".to_string())
        });
        assert!(roots.is_empty());
    }
}
