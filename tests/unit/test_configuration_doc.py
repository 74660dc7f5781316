"""Every setting the code reads is documented (issue 12): each field of every `BaseSettings`
class and each variable read with `os.environ` / `os.getenv` in the product's packages and the sandbox (and
`prefect.yaml`) is named in docs/configuration.md, and the page names nothing the code no
longer reads, except the retired sender variables it explains."""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["domain", "ledger", "integrations", "tasks", "flows", "deployments", "sandbox"]  # and the sandbox's own
DOC = ROOT / "docs" / "configuration.md"
RETIRED = {"AFTERSALES_SMTP_SENDER_ADDRESS", "AFTERSALES_SMTP_SENDER_NAME"}  # explained, refused by setup


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


@cache
def _trees() -> tuple[tuple[Path, ast.Module], ...]:
    """Every source file parsed, once per test process (the scans below read them all; a parse of
    the whole product is about 2 s, and five tests ask; issue 22)."""
    return tuple((path, ast.parse(path.read_text(encoding="utf-8"))) for path in _sources())


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@cache
def settings_classes() -> tuple[type[BaseSettings], ...]:
    """Every settings class defined in the source (a subclass of BaseSettings, directly or through
    a base of ours such as integrations.vendor_settings.VendorSettings), imported. A base with no
    `env_prefix` of its own reads nothing by itself and is left out."""
    found: list[type[BaseSettings]] = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.bases:
                cls = getattr(importlib.import_module(_module_name(path)), node.name, None)
                if isinstance(cls, type) and issubclass(cls, BaseSettings) and cls is not BaseSettings \
                        and (cls.model_config.get("env_prefix") or cls.model_fields):
                    found.append(cls)
    return tuple(found)


def settings_variables() -> dict[str, str]:
    """variable name -> the class that reads it."""
    out: dict[str, str] = {}
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix") or ""
        for name, field in cls.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            out[(alias or f"{prefix}{name}").upper()] = f"{cls.__module__}.{cls.__name__}.{name}"
    return out


def _constant(tree: ast.Module, node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):  # a module-level NAME = "..." constant
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) \
                    and any(isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets):
                return stmt.value.value if isinstance(stmt.value.value, str) else None
    return None


def environ_reads() -> dict[str, str]:
    """variable name -> the file that reads it with os.environ.get / os.environ[...] / os.getenv."""
    out: dict[str, str] = {}
    for path, tree in _trees():
        for node in ast.walk(tree):
            key: ast.expr | None = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
                target = ast.unparse(node.func.value)
                if (target == "os.environ" and node.func.attr in {"get", "setdefault", "pop"}) or \
                        (target == "os" and node.func.attr == "getenv"):
                    key = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                key = node.slice
            if key is not None:
                name = _constant(tree, key)
                assert name is not None, f"{path}:{node.lineno}: a variable read by a name this test cannot see"
                out[name] = str(path.relative_to(ROOT))
    text = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    out.update({m: "prefect.yaml" for m in re.findall(r"\{\{\s*\$([A-Z][A-Z0-9_]*)\s*\}\}", text)})
    return out


def documented() -> set[str]:
    names = r"`((?:AFTERSALES|PREFECT)_[A-Z0-9_]+|FORWARDED_ALLOW_IPS|PYTHONPYCACHEPREFIX)`"
    return set(re.findall(names, DOC.read_text(encoding="utf-8")))


def test_the_scan_sees_the_settings_it_must_see() -> None:
    variables = settings_variables()
    for known in ("AFTERSALES_DATABASE_URL", "AFTERSALES_STRIPE_ORDER_METADATA_KEYS", "AFTERSALES_SMTP_CA_FILE",
                  "AFTERSALES_INBOX_MAX_DELIVERIES", "AFTERSALES_RECEIVER_OPERATOR_TOKEN"):
        assert known in variables
    reads = environ_reads()
    assert {"AFTERSALES_POLICY_FILE", "PREFECT_API_URL", "AFTERSALES_HOME"} <= set(reads)
    assert "AFTERSALES_SHOPIFY_SCHEMA_PATH" in reads  # read through a module constant


def test_every_settings_field_is_documented() -> None:
    missing = {name: where for name, where in settings_variables().items() if name not in documented()}
    assert missing == {}, f"add these to docs/configuration.md: {missing}"


def test_every_variable_read_from_the_environment_is_documented() -> None:
    missing = {name: where for name, where in environ_reads().items() if name not in documented()}
    assert missing == {}, f"add these to docs/configuration.md: {missing}"


def test_the_page_names_no_setting_the_code_no_longer_reads() -> None:
    read = set(settings_variables()) | set(environ_reads())
    assert documented() - read - RETIRED == set()


def test_no_settings_class_reads_the_sender() -> None:
    """One source: the sender is the policy's store identity, never an SMTP setting."""
    assert RETIRED.isdisjoint(settings_variables())


def test_the_readme_links_the_page() -> None:
    assert "docs/configuration.md" in (ROOT / "README.md").read_text(encoding="utf-8")
