"""The sandbox's mailbox: a real IMAP server on loopback (Debian's dovecot-imapd), for the demo
and the tests (issue 18).

It is started with a generated configuration: its own folder, loopback ports, a passwd-file with
one login, a self-signed certificate made at start (its file is the client's CA), IMAPS and,
when asked, IMAP+STARTTLS. Nothing of the system's dovecot is used but the binary.

    python -m sandbox.imap_server --root DIR --imaps-port 8993   # the demo's (until SIGTERM)

`start_dovecot` (a context manager) is what the tests use (tests/integration/dovecot_fixtures.py).
`deliver` is the supplier stand-in's way in: IMAP APPEND of a real RFC 5322 message, as a mail
server's local delivery puts it in the folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.stack import free_port

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
MISSING = "dovecot is not installed (apt-get install dovecot-imapd; tests/run.sh and deployments/run-demo.sh do it)"

# The demo's mailbox: the store's support address (policy.yaml `store.support_email`, the Reply-To
# of every email we send) and a public sandbox password, like the sandbox's other credentials.
DEMO_USER = "bonjour@maison-lumiere.example"
DEMO_PASSWORD = "sandbox-mailbox-password"  # noqa: S105 - the sandbox's public value
DEMO_IMAPS_PORT = 8993


@dataclass(frozen=True)
class Dovecot:
    host: str
    imaps_port: int
    imap_port: int  # plain IMAP that offers STARTTLS (LOGIN only after it); 0 when not listening
    user: str
    password: str
    ca_file: str
    root: Path


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def _users() -> tuple[str, str, int, int]:
    """(internal user, login user, mail uid, mail gid). Dovecot never gives mail access to root:
    as root, its own system users; as anyone else, that user for everything."""
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid()).pw_name
        return me, me, os.getuid(), os.getgid()
    internal = pwd.getpwnam("dovecot")
    login = "dovenull"
    pwd.getpwnam(login)
    return "dovecot", login, internal.pw_uid, internal.pw_gid


def configure(root: Path, *, user: str, password: str, imaps_port: int, imap_port: int = 0,
              extra_config: str = "", oauth2_introspection_url: str | None = None) -> Path:
    """Write dovecot's configuration, passwd-file and certificate under `root` (open to dovecot's
    unprivileged processes); the configuration file's path."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    internal, login, uid, gid = _users()
    for sub in ("run", "state", "home"):
        (root / sub).mkdir(exist_ok=True)
    os.chown(root / "home", uid, gid)
    cert, key = _certificate(root)
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    if oauth2_introspection_url:
        (root / "oauth2.conf.ext").write_text(
            f"introspection_mode = post\nintrospection_url = {oauth2_introspection_url}\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            "force_introspection = yes\n")
    extra_config = extra_config % {"root": root}
    dh = "/usr/share/dovecot/dh.pem"
    config = f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = {uid}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
{f"ssl_dh = <{dh}" if os.path.exists(dh) else ""}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
{"" if "auth_mechanisms" in extra_config else "auth_mechanisms = plain login"}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
{extra_config}
"""
    conf = root / "dovecot.conf"
    conf.write_text(config)
    return conf


def _wait_listening(proc: subprocess.Popen[bytes], root: Path, ports: list[int], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot did not start: {out}\n{log}")
        try:
            for port in ports:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pass
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not listen within {timeout:.0f} s") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def start_dovecot(*, user: str = "shop@example.test", password: str = "app-password-1",  # noqa: S107 - a test login
                  extra_config: str = "", oauth2_introspection_url: str | None = None,
                  imaps_port: int | None = None, imap_port: int | None = None,
                  root: Path | None = None) -> Iterator[Dovecot]:
    """A dovecot on loopback (free ports unless given) until the block ends; its folder removed then."""
    if DOVECOT is None:
        raise RuntimeError(MISSING)
    # Its own folder, open to dovecot's unprivileged processes (pytest's tmp_path is 0700).
    root = root or Path(tempfile.mkdtemp(prefix="aftersales-dovecot-"))
    imaps = imaps_port or free_port()
    imap = free_port() if imap_port is None else imap_port
    conf = configure(root, user=user, password=password, imaps_port=imaps, imap_port=imap,
                     extra_config=extra_config, oauth2_introspection_url=oauth2_introspection_url)
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)],  # noqa: S603 - our binary, our config
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_listening(proc, root, [imaps] + ([imap] if imap else []))
        yield Dovecot("127.0.0.1", imaps, imap, user, password, str(root / "cert.pem"), root)
    finally:
        _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def deliver(raw: bytes, *, host: str, port: int, user: str, password: str, ca_file: str,
            folder: str = "INBOX") -> None:
    """Put a real message in the mailbox (IMAP APPEND over TLS), as local delivery would."""
    from imapclient import IMAPClient

    client = IMAPClient(host, port=port, ssl=True, ssl_context=ssl.create_default_context(cafile=ca_file),
                        timeout=30)
    try:
        client.login(user, password)
        client.append(folder, raw)
    finally:
        client.logout()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="its folder (configuration, certificate, mail)")
    parser.add_argument("--imaps-port", type=int, default=DEMO_IMAPS_PORT)
    parser.add_argument("--user", default=DEMO_USER)
    parser.add_argument("--password", default=DEMO_PASSWORD)
    args = parser.parse_args(argv)
    if DOVECOT is None:
        raise SystemExit(f"the sandbox mailbox cannot start: {MISSING}")
    stop = False

    def _term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    with start_dovecot(user=args.user, password=args.password, imaps_port=args.imaps_port, imap_port=0,
                       root=args.root) as running:
        print(f"sandbox mailbox  imaps://127.0.0.1:{running.imaps_port}  login {running.user} "
              f"(certificate {running.ca_file})", flush=True)
        while not stop:
            time.sleep(0.5)
    sys.exit(0)


if __name__ == "__main__":
    main()
