"""The fake Stripe's parsed-spec cache (issue 22): spec3.yaml is parsed once per machine, not in
every process that starts the fake; a changed spec, or a damaged entry, is parsed afresh."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandbox.stripe import spec as stripe_spec


def _openapi(version: str) -> str:
    return (
        "openapi: 3.0.0\n"
        f"info: {{version: '{version}'}}\n"
        "paths:\n"
        "  /v1/charges: {get: {operationId: GetCharges}}\n"
        "components: {schemas: {}}\n"
    )


@pytest.fixture()
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec3.yaml"
    path.write_text(_openapi("2023-08-16"))
    return path


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("stripe-spec-*.marshal"))


def _yaml_load_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the spec was parsed, not read from the cache")

    monkeypatch.setattr(yaml, "load", refuse)  # what the loader parses with


def test_the_second_load_reads_the_cache_not_the_yaml(
    spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = stripe_spec.load_spec_file(spec_file, cache)
    assert first == yaml.safe_load(spec_file.read_text())
    assert len(_entries(cache)) == 1
    _yaml_load_fails(monkeypatch)
    assert stripe_spec.load_spec_file(spec_file, cache) == first


def test_a_changed_spec_is_parsed_afresh(spec_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert stripe_spec.load_spec_file(spec_file, cache)["info"]["version"] == "2023-08-16"
    spec_file.write_text(_openapi("2024-04-10"))
    assert stripe_spec.load_spec_file(spec_file, cache)["info"]["version"] == "2024-04-10"
    assert len(_entries(cache)) == 2  # one entry per spec content; the old one is not read again


def test_a_damaged_entry_is_parsed_afresh_and_rewritten(spec_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = stripe_spec.load_spec_file(spec_file, cache)
    (entry,) = _entries(cache)
    entry.write_bytes(entry.read_bytes()[:20])
    assert stripe_spec.load_spec_file(spec_file, cache) == expected
    assert _entries(cache) == [entry]
    assert entry.stat().st_size > 20


def test_an_entry_that_is_not_a_spec_is_not_used(spec_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = stripe_spec.load_spec_file(spec_file, cache)
    (entry,) = _entries(cache)
    entry.write_bytes(b"N")  # marshal's None: a readable entry, not an OpenAPI document
    assert stripe_spec.load_spec_file(spec_file, cache) == expected


def test_without_a_cache_directory_the_spec_is_parsed(spec_file: Path) -> None:
    parsed = stripe_spec.load_spec_file(spec_file, None)
    assert parsed["paths"] == {"/v1/charges": {"get": {"operationId": "GetCharges"}}}


def test_a_cache_directory_that_cannot_be_written_is_skipped(spec_file: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert stripe_spec.load_spec_file(spec_file, blocked / "cache")["info"]["version"] == "2023-08-16"


def test_a_document_without_paths_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec3.yaml"
    path.write_text("info: {version: x}\n")
    with pytest.raises(ValueError, match="not an OpenAPI document"):
        stripe_spec.load_spec_file(path, tmp_path / "cache")


def test_only_the_newest_entries_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    path = tmp_path / "spec3.yaml"
    for n in range(6):
        path.write_text(_openapi(f"v{n}"))
        stripe_spec.load_spec_file(path, cache)
    assert len(_entries(cache)) == stripe_spec._CACHE_ENTRIES_KEPT
    _yaml_load_fails(monkeypatch)  # the entry just written is one of those kept
    assert stripe_spec.load_spec_file(path, cache)["info"]["version"] == "v5"


def test_the_cache_directory_is_the_env_setting_else_the_users_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(stripe_spec.CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert stripe_spec.spec_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(stripe_spec.CACHE_DIR_ENV)
    assert stripe_spec.spec_cache_dir() == Path.home() / ".cache" / "aftersales"


def test_a_cache_directory_others_may_write_to_is_not_read(
    spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AFTERSALES_CACHE_DIR=/tmp, say: an entry another user planted there under the (predictable)
    name would be served as the fake Stripe's spec; the spec is parsed instead."""
    cache = tmp_path / "cache"
    first = stripe_spec.load_spec_file(spec_file, cache)
    assert len(_entries(cache)) == 1
    cache.chmod(0o777)
    parsed: list[object] = []
    real_load = yaml.load

    def load(*args: object, **kwargs: object) -> object:
        parsed.append(args[0])
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(yaml, "load", load)
    assert stripe_spec.load_spec_file(spec_file, cache) == first
    assert len(parsed) == 1  # parsed afresh, the shared directory's entry not read
