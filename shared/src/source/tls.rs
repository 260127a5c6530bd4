//! TLS to the source databases, on rustls with the aws-lc-rs crypto provider (the stack the
//! S3 client builds already; no OpenSSL).
//!
//! Both engines share the same three levels of checking, named after libpq's `sslmode`:
//! encrypt without checking the certificate (`require`, as libpq and the mysql client do when
//! no root certificate is given), check that the chain ends at a given root (`verify-ca`), and
//! check the chain and that the certificate names the host (`verify-full`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Error, Result};

/// Whether `host` is this machine: `localhost`, a loopback address (127.0.0.0/8, ::1), or a
/// Unix socket path. Connections to it stay unencrypted unless the URL asks otherwise.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    if host.is_empty() || host.starts_with('/') || host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `%XX` escapes, as the drivers decode URL query values.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing but the handshake's signatures (libpq's `require` without a root certificate).
    None,
    /// The chain must end at one of the given roots; any host name.
    Chain,
    /// The chain, and the certificate must name the host we connect to.
    Full,
}

/// The one crypto provider we use, whatever else the build enables.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Makes aws-lc-rs the process's default provider, for libraries that build their rustls
/// configuration with the default (mysql_async). A no-op when one is already installed.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Reads the root certificates a URL names: a PEM file (one or more certificates, as the
/// Amazon RDS bundle), or `system` for the operating system's store.
pub fn load_roots(option: &str, path: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if path == "system" {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(Error::InvalidInput(format!(
                "{option}=system: no root certificates found in the system's store"
            )));
        }
        return Ok(roots);
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Error::InvalidInput(format!("cannot read {option} file {path:?}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::InvalidInput(format!(
                "{option} file {path:?} is not a PEM certificate bundle: {e}"
            ))
        })?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::InvalidInput(format!(
            "{option} file {path:?} holds no usable PEM certificate"
        )));
    }
    Ok(roots)
}

/// A client configuration that checks as much as `verify` says against `roots`.
pub fn client_config(verify: Verify, roots: Option<RootCertStore>) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS configuration: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (verify, roots) {
        (Verify::None, _) => Arc::new(AnyCertificate(provider.signature_verification_algorithms)),
        (Verify::Chain | Verify::Full, None) => {
            return Err(Error::Internal(
                "certificate verification without root certificates".into(),
            ));
        }
        (Verify::Chain | Verify::Full, Some(roots)) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .map_err(|e| Error::InvalidInput(format!("unusable root certificates: {e}")))?;
            if verify == Verify::Full {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(Arc::new(
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    ))
}

/// Accepts any certificate: libpq's `sslmode=require` (and the mysql client's
/// `--ssl-mode=REQUIRED`) without a root certificate encrypt the session but do not
/// authenticate the server, and so do we. The handshake's signatures are still verified, so
/// the peer must hold the key of the certificate it shows.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the full check, less the host name. webpki checks the name only once the
/// chain is valid, so a name error means everything else passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// tokio-postgres's TLS hook over tokio-rustls.
#[derive(Clone)]
pub struct PgTls {
    config: Arc<ClientConfig>,
}

impl PgTls {
    pub fn new(config: Arc<ClientConfig>) -> PgTls {
        PgTls { config }
    }
}

impl<S> tokio_postgres::tls::MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<PgTlsConnect> {
        // tokio-postgres asks for a connector before it knows whether TLS is wanted (and with
        // an empty name for a Unix socket): a bad name is an error only if TLS is attempted.
        Ok(PgTlsConnect {
            config: self.config.clone(),
            name: ServerName::try_from(domain.to_string()).map_err(|_| domain.to_string()),
        })
    }
}

pub struct PgTlsConnect {
    config: Arc<ClientConfig>,
    name: std::result::Result<ServerName<'static>, String>,
}

impl<S> tokio_postgres::tls::TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.map_err(|domain| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{domain:?} is not a host name or address TLS can check"),
                )
            })?;
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            tracing::debug!(
                version = ?tls.get_ref().1.protocol_version(),
                "TLS session with the PostgreSQL source established"
            );
            Ok(PgTlsStream(tls))
        })
    }
}

/// A TLS session to PostgreSQL. No channel binding (`tls-server-end-point`): tokio-postgres
/// then uses SCRAM without it, as libpq does with `channel_binding=prefer`.
pub struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for PgTlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        tokio_postgres::tls::ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "/var/run/postgresql",
            "",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "db.example",
            "10.0.0.5",
            "::2",
            "mydb.abc123.eu-west-1.rds.amazonaws.com",
            "localhost.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn root_files_are_checked_when_parsed() {
        let e = load_roots("sslrootcert", "/nonexistent/bundle.pem").unwrap_err();
        assert_eq!(e.class(), crate::error::ErrorClass::InvalidInput);
        assert!(
            e.to_string().contains("cannot read sslrootcert file"),
            "{e}"
        );
        let junk = std::env::temp_dir().join(format!("snapex-junk-{}.pem", std::process::id()));
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = load_roots("ssl-ca", junk.to_str().unwrap()).unwrap_err();
        std::fs::remove_file(&junk).unwrap();
        assert!(e.to_string().contains("no usable PEM certificate"), "{e}");
    }
}
