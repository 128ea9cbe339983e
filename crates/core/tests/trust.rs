//! Both HTTPS clients of a blueprint (the AWS SDK's and the algorithm client's) trust the
//! roots `TrustRoots` reads, and only those: checked against a real TLS server on
//! 127.0.0.1 whose certificate a private CA signed (fixtures/tls).

use std::sync::Arc;

use aws_sdk_s3::error::DisplayErrorContext;
use blueprint_core::trust::TrustRoots;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const LIST_BUCKETS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<ListAllMyBucketsResult><Owner><ID>test</ID></Owner><Buckets><Bucket><Name>over-tls</Name>\
<CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>";

fn fixture(name: &str) -> String {
    format!("{}/../../fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// An HTTPS server on 127.0.0.1 answering every request with S3's ListBuckets reply
/// naming one bucket; stops with the test's runtime.
async fn https_server() -> String {
    let cert = CertificateDer::from_pem_file(fixture("server.pem")).expect("server.pem");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server certificate");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // the client rejected the certificate
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{LIST_BUCKETS}",
                    LIST_BUCKETS.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

fn private_ca() -> TrustRoots {
    let ca = fixture("ca.pem");
    TrustRoots::load(|var| (var == "SSL_CERT_FILE").then(|| ca.clone()))
}

async fn s3(roots: &TrustRoots, endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(roots.aws_http_client())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_s3::Client::new(&config)
}

async fn get(roots: &TrustRoots, endpoint: &str) -> Result<String, String> {
    let client = roots
        .trusted_by(reqwest::Client::builder())
        .build()
        .map_err(|e| e.to_string())?;
    // reqwest's Debug shows the whole cause (its Display hides it in `source()`).
    let reply = client
        .get(endpoint)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    reply.text().await.map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn both_clients_reach_a_server_the_named_ca_signed() {
    let endpoint = https_server().await;
    let roots = private_ca();

    let buckets = s3(&roots, &endpoint)
        .await
        .list_buckets()
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())
        .expect("the SDK's client trusts the CA");
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["over-tls"]);

    let body = get(&roots, &endpoint)
        .await
        .expect("the algorithm client trusts the CA");
    assert!(body.contains("<Name>over-tls</Name>"), "{body}");
}

#[tokio::test]
async fn neither_client_trusts_a_ca_it_was_not_given() {
    let endpoint = https_server().await;
    let system = TrustRoots::load(|_| None);

    let error = s3(&system, &endpoint)
        .await
        .list_buckets()
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DisplayErrorContext(e).to_string())
        .expect_err("the system roots do not include the test CA");
    assert!(error.contains("UnknownIssuer"), "{error}");

    let error = get(&system, &endpoint).await.expect_err("not trusted");
    assert!(error.contains("UnknownIssuer"), "{error}");
}
