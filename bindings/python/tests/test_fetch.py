"""fetch_keys against local servers on 127.0.0.1: HTTPS with a test CA
(trustme), pins, the cache, offline mode, a timeout, and refused http.
Each server lives until the client is done with it. The servers are Python
threads in this process, so every successful fetch also shows that
fetch_keys released the GIL (the server thread could not answer otherwise)."""

import http.server
import socket
import ssl
import threading

import pytest
import trustme

import kvitto
from conftest import VECTORS

DOC = (VECTORS / "sample" / "keys.json").read_bytes()
PIN = kvitto.KeySet.from_json(DOC).sha256


class Server:
    """A threaded HTTP(S) server on 127.0.0.1 serving DOC at /keys.json,
    counting requests; `hold` makes it wait (for the timeout test) until
    released."""

    def __init__(self, tls=None, hold=False):
        self.requests = 0
        self.release = threading.Event()
        if not hold:
            self.release.set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests += 1
                outer.release.wait()
                if self.path != "/keys.json":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(DOC)))
                self.end_headers()
                try:
                    self.wfile.write(DOC)
                except (ConnectionError, ssl.SSLError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, scheme="https", path="/keys.json"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture()
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture()
def https(ca):
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    s = Server(tls=ctx)
    yield s
    s.close()


def code_of(fn):
    with pytest.raises(kvitto.VerificationError) as e:
        fn()
    return e.value.code, str(e.value)


def test_fetch_pin_and_cache_hit(https, ca_file, tmp_path):
    cache = tmp_path / "cache"
    k = kvitto.fetch_keys(https.url(), PIN, ca_certs=[ca_file], cache_dir=cache)
    assert k.sha256 == PIN and k.pinned and k.source == https.url() and k.cache_age_s is None
    assert k.document == DOC and https.requests == 1
    again = kvitto.fetch_keys(https.url(), PIN, ca_certs=ca_file, cache_dir=cache)
    assert https.requests == 1, "served from the cache"
    assert again.cache_age_s is not None and again.sha256 == PIN
    fresh = kvitto.fetch_keys(https.url(), PIN, cache_ttl=0, ca_certs=[ca_file], cache_dir=cache)
    assert https.requests == 2 and fresh.cache_age_s is None
    assert list(cache.iterdir()), "the disk cache holds the document"


def test_pin_mismatch(https, ca_file, tmp_path):
    code, msg = code_of(lambda: kvitto.fetch_keys(https.url(), "sha256:" + "0" * 64, ca_certs=[ca_file], cache_dir=tmp_path))
    assert code == "pin_mismatch" and PIN in msg
    with pytest.raises(ValueError, match="expected_sha256"):
        kvitto.fetch_keys(https.url(), "nope", ca_certs=[ca_file])


def test_untrusted_certificate_fails(https, tmp_path):
    code, _ = code_of(lambda: kvitto.fetch_keys(https.url(), cache_dir=tmp_path))
    assert code == "keys_fetch_failed" and https.requests == 0


def test_offline(https, ca_file, tmp_path):
    cache = tmp_path / "cache"
    code, msg = code_of(lambda: kvitto.fetch_keys(https.url(), offline=True, ca_certs=[ca_file], cache_dir=cache))
    assert code == "keys_fetch_failed" and https.requests == 0
    kvitto.fetch_keys(https.url(), ca_certs=[ca_file], cache_dir=cache)
    assert https.requests == 1
    https.close()  # nothing listens any more
    k = kvitto.fetch_keys(https.url(), PIN, cache_ttl=0, offline=True, ca_certs=[ca_file], cache_dir=cache)
    assert k.sha256 == PIN and k.cache_age_s is not None
    code, _ = code_of(lambda: kvitto.fetch_keys(https.url(), cache_ttl=0, ca_certs=[ca_file], cache_dir=cache))
    assert code == "keys_fetch_failed", "online with a stale copy and no server: the fetch fails"


def test_timeout(ca, ca_file, tmp_path):
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    s = Server(tls=ctx, hold=True)  # answers only when released
    try:
        code, msg = code_of(lambda: kvitto.fetch_keys(s.url(), timeout=0.5, ca_certs=[ca_file], cache_dir=tmp_path))
        assert code == "keys_fetch_failed"
        assert s.requests == 1, "the request arrived and was never answered"
    finally:
        s.close()


def test_silent_peer_times_out(tmp_path):
    # A TCP peer that accepts and never speaks TLS.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        url = f"https://127.0.0.1:{sock.getsockname()[1]}/keys.json"
        code, _ = code_of(lambda: kvitto.fetch_keys(url, timeout=0.5, cache_dir=tmp_path))
        assert code == "keys_fetch_failed"
    finally:
        sock.close()


def test_http_refused_unless_loopback_and_allowed(tmp_path):
    s = Server()
    try:
        code, msg = code_of(lambda: kvitto.fetch_keys(s.url("http"), cache_dir=tmp_path))
        assert code == "keys_fetch_failed" and "allow" in msg and s.requests == 0
        code, _ = code_of(lambda: kvitto.fetch_keys("http://example.com/keys.json", allow_insecure_localhost=True, cache_dir=tmp_path))
        assert code == "keys_fetch_failed"
        k = kvitto.fetch_keys(s.url("http"), PIN, allow_insecure_localhost=True, cache_dir=tmp_path)
        assert k.sha256 == PIN and s.requests == 1
        code, _ = code_of(lambda: kvitto.fetch_keys(s.url("http", "/missing"), allow_insecure_localhost=True, cache_dir=tmp_path))
        assert code == "keys_fetch_failed"
    finally:
        s.close()


def test_fetched_keys_verify(https, ca_file, tmp_path):
    k = kvitto.fetch_keys(https.url(), PIN, ca_certs=[ca_file], cache_dir=tmp_path)
    report = kvitto.verify_export(VECTORS / "sample" / "export.jsonl", k)
    assert report.ok
    assert report.summary["keys"] == [
        {"workspace_id": "ws_acme", "sha256": PIN, "source": https.url(), "pinned": True, "cache_age_s": None}
    ]
