//! Throwaway certificates, and loopback HTTP and HTTPS servers for a test's axum router (a
//! legacy API, as usher's clients meet one).

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{CertifiedKey, KeyPair};
use tokio_rustls::rustls;

/// A fresh self-signed certificate for 127.0.0.1, and its key.
pub fn self_signed() -> CertifiedKey<KeyPair> {
    rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap()
}

/// A PEM file holding a fresh [`self_signed`] certificate: a CA that signed nothing a server
/// presents.
pub fn unrelated_ca_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), self_signed().cert.pem()).unwrap();
    file
}

/// Serves `router` over HTTP on 127.0.0.1 until the test ends; its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Serves `router` over HTTPS on 127.0.0.1 with a fresh [`self_signed`] certificate until the
/// test ends; its address and the certificate's PEM (the CA to trust).
pub async fn serve_https(router: axum::Router) -> (SocketAddr, String) {
    let cert = self_signed();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
    };
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, cert.cert.pem())
}

/// The listener of a TLS server: TCP, then a rustls handshake; failed handshakes are dropped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
