"""`python -m deployments.setup` as a merchant runs it (issue 12), on SQLite and PostgreSQL: the
policy it loads is the one every run finds; a policy for another shop, a bad field or a YAML
error is refused in one line with exit code 2 and nothing loaded; a suspicious value warns.

The runs that load a policy are the README's command in a process of its own; the refusals, which
stop before the ledger, call the same `main()` in this process with the same environment and
arguments (about 4 CPU s less each: no interpreter and imports; issue 22)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments import setup as setup_command  # not "setup_module": a pytest hook name
from deployments.setup import DEFAULT_POLICY
from domain.policy_file import PolicyError
from ledger import records
from tasks import runtime

ROOT = Path(__file__).resolve().parents[2]
REAL_SHOP = "lampes-dupont.myshopify.com"
DEMO_TEXT = DEFAULT_POLICY.read_text(encoding="utf-8")


async def setup(db: Any, policy: Path, **env: str) -> tuple[int, str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_SMTP_SENDER")}
    full.update(AFTERSALES_DATABASE_URL=db.url, **env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deployments.setup", "--policy", str(policy), cwd=ROOT, env=full,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def refused_setup(db: Any, policy: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[int, str, str]:
    """`setup()`'s run, in this process: `main()` with the environment and arguments the
    subprocess gets, in a thread (its own event loops, as in the process); stdout and stderr
    kept. For the refusals only: a run that loads would share this process's ledger engines."""
    for name in [k for k in os.environ if k.startswith("AFTERSALES_SMTP_SENDER")]:
        monkeypatch.delenv(name)
    for name, value in {"AFTERSALES_DATABASE_URL": db.url, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["deployments/setup.py", "--policy", str(policy)])
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        # What a fresh process prints on stderr: its own lines and any log record of WARNING and
        # up (logging's last-resort handler); both must be the one refusal line.
        logged = logging.StreamHandler(err)
        logged.setLevel(logging.WARNING)
        logging.getLogger().addHandler(logged)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                setup_command.main()
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 1
        finally:
            logging.getLogger().removeHandler(logged)
        return 0

    code = await asyncio.to_thread(run)
    return code, out.getvalue(), err.getvalue()


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def real_store(text: str = DEMO_TEXT) -> str:
    return text.replace("maison-lumiere.myshopify.com", REAL_SHOP)


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AFTERSALES_SHOPIFY_SHOP_DOMAIN", REAL_SHOP)
    runtime.clear_settings_cache()
    yield REAL_SHOP
    monkeypatch.undo()
    runtime.clear_settings_cache()


async def test_the_policy_setup_loads_is_the_one_runs_find(any_db: Any, shop: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", any_db.url)
    code, out, err = await setup(any_db, policy_file(tmp_path, real_store()), AFTERSALES_SHOPIFY_SHOP_DOMAIN=shop)
    assert code == 0, err
    assert f"policy for {shop} loaded" in out
    assert "Traceback" not in err
    assert (await runtime.load_policy()).store.id == shop  # what every run does (tasks.runtime.store_id)


@pytest.mark.parametrize("configured", ["maison-lumiere.myshopify.com", "other-shop.myshopify.com"])
async def test_a_policy_for_another_shop_is_refused_and_not_loaded(any_db: Any, tmp_path: Path, configured: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = await refused_setup(any_db, policy_file(tmp_path, real_store()), monkeypatch,
                                         AFTERSALES_SHOPIFY_SHOP_DOMAIN=configured)
    assert code == 2
    refusals = [line for line in err.splitlines() if line.startswith("setup refused:")]
    assert len(refusals) == 1, err
    assert f"store.id is '{REAL_SHOP}' but AFTERSALES_SHOPIFY_SHOP_DOMAIN is '{configured}'" in refusals[0]
    assert "Traceback" not in err and "loaded" not in out
    assert await records.load_policy_document(any_db) is None


@pytest.mark.parametrize(("text", "says"), [
    (real_store().replace("  burst_hours: 1  ", "  burst_hours: often  "), "disputes.burst_hours: "),
    (real_store().replace("  burst_hours: 1  ", "  burst_hours: [1  "), "YAML syntax error"),
])
async def test_a_bad_policy_file_is_one_line_naming_the_file_and_the_field(any_db: Any, shop: str,
                                                                           tmp_path: Path, text: str, says: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = policy_file(tmp_path, text)
    code, _, err = await refused_setup(any_db, path, monkeypatch, AFTERSALES_SHOPIFY_SHOP_DOMAIN=shop)
    assert code == 2
    assert "Traceback" not in err and "<unicode string>" not in err and "pydantic" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("setup refused:")]
    assert line.startswith(f"setup refused: {path}, line ") and says in line, err
    assert len(err.splitlines()) <= 2, err  # the refusal, and at most the demo addresses' warning
    assert await records.load_policy_document(any_db) is None


async def test_a_suspicious_value_warns_and_still_loads(any_db: Any, shop: str, tmp_path: Path) -> None:
    text = real_store().replace("    return_window_days: 25", "    return_window_days: 10")
    code, _, err = await setup(any_db, policy_file(tmp_path, text), AFTERSALES_SHOPIFY_SHOP_DOMAIN=shop)
    assert code == 0, err
    assert [w for w in err.splitlines() if w.startswith("warning: suppliers[1].return_window_days:")]
    assert (await records.load_policy_document(any_db, shop)) is not None


async def test_a_stored_policy_that_no_longer_validates_names_its_field(any_db: Any, shop: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", any_db.url)
    import json

    import yaml

    def as_json(value: Any) -> Any:  # as the ledger keeps a document: JSON (dated keys become text)
        if isinstance(value, dict):
            return {str(k): as_json(v) for k, v in value.items()}
        return [as_json(v) for v in value] if isinstance(value, list) else value

    document = json.loads(json.dumps(as_json(yaml.safe_load(real_store())), default=str))
    document["refunds"]["promise_business_days"] = 30
    await records.save_policy(any_db, shop, "old", document)
    with pytest.raises(PolicyError) as caught:
        await runtime.load_policy()
    (line,) = caught.value.problems
    assert line.startswith(f"the policy stored for {shop} (version old;")
    assert "refunds.promise_business_days: Input should be less than or equal to 10 (found 30)" in line
