//! Test servers on 127.0.0.1: HTTPS with a CA made at test time, and plain
//! HTTP. Blocking, one thread per connection, every socket with timeouts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// 200 with Content-Length.
    Body(Vec<u8>),
    /// 200 without Content-Length: the body ends when the connection closes.
    Unsized(Vec<u8>),
    /// 200 without Content-Length, `total` bytes of spaces written in chunks.
    Endless { total: usize },
    /// 200 with this `Content-Encoding` and the Content-Length of `body`
    /// (the encoded bytes).
    Encoded { coding: &'static str, body: Vec<u8> },
    /// 200 with this `Content-Encoding`, without Content-Length: `head`, then
    /// `chunk` again and again until at least `total` bytes are written (or
    /// the peer goes away), counted in [`Server::written`].
    EncodedStream {
        coding: &'static str,
        head: Vec<u8>,
        chunk: Vec<u8>,
        total: usize,
    },
    /// This status with an empty body.
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// Read the request, say nothing for this long, then close.
    Stall(Duration),
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

/// A running server; stops accepting when dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    scheme: &'static str,
    paths: Arc<Mutex<Vec<String>>>,
    /// The `Accept-Encoding` of each request, in order.
    accept_encodings: Arc<Mutex<Vec<Option<String>>>>,
    /// Body bytes written by `Reply::Endless` or `Reply::EncodedStream`
    /// before the peer went away.
    pub(crate) written: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// The test CA: its PEM, written to a file, and the server's TLS config.
pub(crate) struct Pki {
    pub(crate) ca_pem_path: PathBuf,
    config: Arc<rustls::ServerConfig>,
    _dir: tempfile::TempDir,
}

/// One CA and server certificate (for 127.0.0.1 and localhost) per test run.
pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kvitto-keys test CA");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("leaf params");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .expect("server config");

        let dir = tempfile::tempdir().expect("temp dir");
        let ca_pem_path = dir.path().join("ca.pem");
        std::fs::write(&ca_pem_path, ca_cert.pem()).expect("write CA");
        Pki {
            ca_pem_path,
            config: Arc::new(config),
            _dir: dir,
        }
    })
}

impl Server {
    pub(crate) fn https(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        Server::start("https", Arc::new(handler))
    }

    pub(crate) fn http(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        Server::start("http", Arc::new(handler))
    }

    /// A server that answers every path with this document.
    pub(crate) fn serving(scheme: &str, doc: Vec<u8>) -> Server {
        let handler = move |_: &str| Reply::Body(doc.clone());
        match scheme {
            "http" => Server::http(handler),
            _ => Server::https(handler),
        }
    }

    fn start(scheme: &'static str, handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let paths = Arc::new(Mutex::new(Vec::new()));
        let accept_encodings = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tls = (scheme == "https").then(|| pki().config.clone());
        {
            let (paths, accept_encodings, written, stop) = (
                paths.clone(),
                accept_encodings.clone(),
                written.clone(),
                stop.clone(),
            );
            thread::spawn(move || {
                // At most 64 connections per server: bounded in count.
                for stream in listener.incoming().take(64) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let log = Log {
                        paths: paths.clone(),
                        accept_encodings: accept_encodings.clone(),
                        written: written.clone(),
                    };
                    let (handler, tls) = (handler.clone(), tls.clone());
                    thread::spawn(move || serve(stream, tls, &*handler, &log));
                }
            });
        }
        Server {
            addr,
            scheme,
            paths,
            accept_encodings,
            written,
            stop,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Requests served so far.
    pub(crate) fn hits(&self) -> usize {
        self.paths.lock().expect("lock").len()
    }

    pub(crate) fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("lock").clone()
    }

    /// The `Accept-Encoding` header of each request so far.
    pub(crate) fn accept_encodings(&self) -> Vec<Option<String>> {
        self.accept_encodings.lock().expect("lock").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// What one connection records.
struct Log {
    paths: Arc<Mutex<Vec<String>>>,
    accept_encodings: Arc<Mutex<Vec<Option<String>>>>,
    written: Arc<AtomicUsize>,
}

fn serve(stream: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, handler: &Handler, log: &Log) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            exchange(&mut tls, handler, log);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        None => {
            let mut stream = stream;
            exchange(&mut stream, handler, log);
        }
    }
}

fn exchange(stream: &mut (impl Read + Write), handler: &Handler, log: &Log) {
    let Some((path, accept_encoding)) = read_request(stream) else {
        return; // a wake-up connection, or a client that gave up in the handshake
    };
    log.accept_encodings
        .lock()
        .expect("lock")
        .push(accept_encoding);
    log.paths.lock().expect("lock").push(path.clone());
    let written = &log.written;
    let head = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\nConnection: close\r\n{extra}\r\n").into_bytes()
    };
    let _ = match handler(&path) {
        Reply::Body(body) => {
            let mut out = head("200 OK", &format!("Content-Length: {}\r\n", body.len()));
            out.extend_from_slice(&body);
            stream.write_all(&out)
        }
        Reply::Unsized(body) => {
            let mut out = head("200 OK", "");
            out.extend_from_slice(&body);
            stream.write_all(&out)
        }
        Reply::Endless { total } => {
            let chunk = vec![b' '; 64 * 1024];
            let mut result = stream.write_all(&head("200 OK", ""));
            let mut sent = 0;
            while result.is_ok() && sent < total {
                result = stream.write_all(&chunk).and_then(|()| stream.flush());
                if result.is_ok() {
                    sent += chunk.len();
                    written.store(sent, Ordering::SeqCst);
                }
            }
            result
        }
        Reply::Encoded { coding, body } => {
            let mut out = head(
                "200 OK",
                &format!(
                    "Content-Encoding: {coding}\r\nContent-Length: {}\r\n",
                    body.len()
                ),
            );
            out.extend_from_slice(&body);
            stream.write_all(&out)
        }
        Reply::EncodedStream {
            coding,
            head: start,
            chunk,
            total,
        } => {
            let mut result = stream
                .write_all(&head("200 OK", &format!("Content-Encoding: {coding}\r\n")))
                .and_then(|()| stream.write_all(&start));
            let mut sent = start.len();
            while result.is_ok() && sent < total {
                result = stream.write_all(&chunk).and_then(|()| stream.flush());
                if result.is_ok() {
                    sent += chunk.len();
                    written.store(sent, Ordering::SeqCst);
                }
            }
            result
        }
        Reply::Status(code) => {
            stream.write_all(&head(&format!("{code} Status"), "Content-Length: 0\r\n"))
        }
        Reply::Redirect(location) => stream.write_all(&head(
            "302 Found",
            &format!("Location: {location}\r\nContent-Length: 0\r\n"),
        )),
        Reply::Stall(time) => {
            thread::sleep(time);
            Ok(())
        }
    };
    let _ = stream.flush();
}

/// The path and `Accept-Encoding` of a `GET` request, after reading its
/// head (at most 16 KiB).
fn read_request(stream: &mut (impl Read + Write)) -> Option<(String, Option<String>)> {
    let mut reader = BufReader::new(stream.take(16 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_owned();
    let mut accept_encoding = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("accept-encoding")
        {
            accept_encoding = Some(value.trim().to_owned());
        }
    }
    Some((path, accept_encoding))
}
