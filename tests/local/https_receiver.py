"""An HTTPS endpoint on 127.0.0.1 for webhook tests: what a producer's backend would run, with a scripted answer.

EventBridge calls only HTTPS endpoints, so the test endpoint serves TLS with a certificate made
for 127.0.0.1 on the spot (the `cryptography` package, which moto already needs); the emulator is
told to trust it (`ssl_context`), as a real deployment trusts a public CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case (HTTP header names ignore case)
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """The endpoint's base URL, what it received, and what it answers next (`script`, then `otherwise`)."""

    url: str
    trust: ssl.SSLContext
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    otherwise: int = 200
    token_path: str = "/token"
    token: str = "issued-token-1"

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == self.token_path:
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"access_token": self.token, "token_type": "bearer", "expires_in": 3600}).encode()
        status, headers = self.script.pop(0) if self.script else (self.otherwise, {})
        return status, headers, b"{}"

    def calls(self, path: str = "/hooks") -> list[Received]:
        return [r for r in self.received if r.path == path]


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def https_receiver() -> Iterator[Receiver]:
    """Serve HTTPS on a free port of 127.0.0.1 until the block ends."""
    with tempfile.TemporaryDirectory() as scratch:
        cert, key = _certificate(Path(scratch))
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serving.load_cert_chain(cert, key)
        trust = ssl.create_default_context(cafile=str(cert))
        holder: dict[str, Receiver] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver = holder["receiver"]
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, payload = receiver.answer(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = serving.wrap_socket(server.socket, server_side=True)
        holder["receiver"] = Receiver(f"https://127.0.0.1:{server.server_address[1]}", trust)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield holder["receiver"]
        finally:
            server.shutdown()
            server.server_close()
