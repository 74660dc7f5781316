"""A real IMAP server on loopback for the mailbox tests: Debian's dovecot-imapd, started with a
generated configuration (its own directories, free ports, a passwd-file, a self-signed
certificate made here), IMAPS and IMAP+STARTTLS. `tests/run.sh` installs the package; without
the binary the tests that need it are skipped, saying so."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
SKIP_REASON = "dovecot is not installed (apt-get install dovecot-imapd; tests/run.sh does it)"


@dataclass(frozen=True)
class Dovecot:
    host: str
    imaps_port: int
    imap_port: int  # plain IMAP that offers STARTTLS (LOGIN only after it)
    user: str
    password: str
    ca_file: str
    root: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            .not_valid_after(now + dt.timedelta(days=1))
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


@contextmanager
def start_dovecot(*, user: str = "shop@example.test", password: str = "app-password-1",
                  extra_config: str = "", oauth2_introspection_url: str | None = None) -> Iterator[Dovecot]:
    assert DOVECOT is not None, SKIP_REASON
    # Its own folder, open to dovecot's unprivileged processes (pytest's tmp_path is 0700).
    root = Path(tempfile.mkdtemp(prefix="aftersales-dovecot-"))
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
    imaps, imap = _free_port(), _free_port()
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
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
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
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)],  # noqa: S603 - our binary, our config
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot did not start: {out}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", imaps), timeout=0.5), \
                        socket.create_connection(("127.0.0.1", imap), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("dovecot did not listen within 20 s") from None
                time.sleep(0.1)
        yield Dovecot("127.0.0.1", imaps, imap, user, password, str(cert), root)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(root, ignore_errors=True)
