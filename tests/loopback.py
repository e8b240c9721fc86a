"""A threaded HTTP(S) server on 127.0.0.1 (free port) for tests; stops by itself when the `with` block ends.

Every stand-in built on it can answer with faults on demand (`server.faults`, see Faults): the handler calls
`server.fault(handler, method, path)` once it has read the request, and stops if that answered.
"""

from __future__ import annotations

import datetime as _dt
import functools
import http.server
import ipaddress
import pathlib
import random
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

DROP = "drop"
"""A fault that closes the connection without an answer (the client sees a reset / remote end closed)."""
HANG = "hang"
"""A fault that reads the request and answers nothing for `Faults.hang_seconds`, then closes (a client timeout)."""


@functools.lru_cache(maxsize=1)
def loopback_certificate() -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert path, key path), made once per test process. Clients trust it
    through CURL_CA_BUNDLE / a WGETRC `ca_certificate` line, so https code paths run for real on loopback."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    directory = pathlib.Path(tempfile.mkdtemp(prefix="kosmos-tls-"))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@dataclass
class Faults:
    """What a stand-in answers instead of the real thing: first `script` (one entry per eligible request), then, at
    random (seeded, so a run is reproducible), `share` of the eligible requests get one of `kinds`. `only(method,
    path)` picks the eligible requests (default: all). At most `limit` faults in all, so a test always ends."""

    script: list = field(default_factory=list)
    """HTTP statuses, DROP, HANG or None (the real answer), one per eligible request, in order."""
    share: float = 0.0
    kinds: tuple = (429, 503, DROP)
    retry_after: Optional[str] = "1"
    """The Retry-After header of a 429 (seconds or an HTTP date); None: no header."""
    hang_seconds: float = 1.0
    only: Optional[Callable[[str, str], bool]] = None
    seed: int = 20
    limit: int = 10_000
    injected: list = field(default_factory=list)
    """(method, path, fault) of every fault answered, in order."""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, method: str, path: str) -> Union[int, str, None]:
        with self._lock:
            if self.only is not None and not self.only(method, path):
                return None
            if len(self.injected) >= self.limit:
                return None
            if self.script:
                fault = self.script.pop(0)
            elif self.share and self._random.random() < self.share:
                fault = self._random.choice(self.kinds)
            else:
                fault = None
            if fault is not None:
                self.injected.append((method, path, fault))
            return fault

    def count(self, fault: Union[int, str]) -> int:
        return sum(1 for *_, f in self.injected if f == fault)


class LoopbackServer:
    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], tls: bool = False):
        self.faults = Faults()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.tls = tls
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*loopback_certificate())
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def error_body(self, status: int) -> tuple[str, bytes]:
        """(content type, body) of a fault answer with this status: each stand-in answers in its vendor's shape."""
        return "text/plain; charset=utf-8", f"HTTP {status}\n".encode()

    def fault(self, handler: http.server.BaseHTTPRequestHandler, method: str, path: str) -> bool:
        """Answer this request with the next fault, if any is due (True: answered, the handler stops)."""
        fault = self.faults.draw(method, path)
        if fault is None:
            return False
        if fault in (DROP, HANG):
            if fault == HANG:
                time.sleep(self.faults.hang_seconds)
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        ctype, body = self.error_body(int(fault))
        handler.send_response(int(fault))
        if int(fault) == 429 and self.faults.retry_after is not None:
            handler.send_header("Retry-After", self.faults.retry_after)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return True

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
