"""nginx running deploy/nginx.conf, the proxy docs/deployment.md documents, in front of a
test's serve processes: the file as shipped, with only what names this machine changed
(the upstream's ports, the port it listens on, a certificate from a test CA)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.support.processes import REPO_ROOT
from tests.support.servers import free_port
from tests.support.waiting import eventually

NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"


def nginx_unavailable_reason() -> str | None:
    return None if shutil.which("nginx") else "nginx is not installed (Debian: nginx-light)"


@dataclass
class Proxy:
    base_url: str
    ws_url: str
    ca_file: Path


def documented_config(ports: list[int], listen: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf for this machine."""
    text = NGINX_CONF.read_text()
    upstream = "".join(
        f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n" for port in ports
    )
    text, replaced = re.subn(r"(    server 127\.0\.0\.1:\d+ [^\n]*\n)+", upstream, text, count=1)
    assert replaced == 1, "the upstream's servers"
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen} ssl http2;")
    text = re.sub(r"\n *listen \[::\]:[^\n]*", "", text)
    text = re.sub(r"\n *listen 80;", f"\n    listen 127.0.0.1:{free_port()};", text)
    text = re.sub(r"ssl_certificate +/\S+;", f"ssl_certificate {cert};", text)
    text = re.sub(r"ssl_certificate_key +/\S+;", f"ssl_certificate_key {key};", text)
    assert str(cert) in text, "the certificate"
    assert f":{listen} ssl" in text, "the listening server"
    return text


@contextmanager
def nginx_in_front(ports: list[int]) -> Iterator[Proxy]:
    folder = Path(tempfile.mkdtemp(prefix="frontdesk-nginx-"))
    ca = trustme.CA()
    issued = ca.issue_cert("chat.example.com", "127.0.0.1")
    cert, key, ca_file = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(cert)
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(cert, append=True)
    issued.private_key_pem.write_to_path(key)
    ca.cert_pem.write_to_path(ca_file)
    listen = free_port()
    temporary = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"daemon off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 4096; }\n"
        f"http {{\n    access_log off;\n{temporary}\n"
        f"{documented_config(ports, listen, cert, key)}\n}}\n"
    )
    stderr = (folder / "stderr.log").open("ab")
    process = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError((folder / "stderr.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
            except OSError:
                return False
            return True

        eventually(listening, timeout=10, interval=0.05, what="nginx listening")
        yield Proxy(f"https://127.0.0.1:{listen}", f"wss://127.0.0.1:{listen}/api/v1", ca_file)
    finally:
        process.terminate()
        process.wait(timeout=10)
        stderr.close()
        shutil.rmtree(folder, ignore_errors=True)
