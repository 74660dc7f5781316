"""Reading a store's policy file for a person: clear refusals and warnings, not tracebacks.

`parse_policy(text, source)` turns the YAML text into a `StorePolicy` or raises `PolicyError`
whose lines each name the file, the line, the field (its path in the YAML, e.g.
`suppliers[1].return_window_days`) and the problem. `policy_warnings` lists values that are
legal but probably not what the merchant meant; setup prints them and still loads the policy.
Nothing here does I/O: the caller reads the file (deployments/setup.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from domain.errors import AftersalesError
from domain.money import Money
from domain.policy import StorePolicy

LEGAL_WITHDRAWAL_DAYS = 14  # D1
# K5: evidence goes in this long before the processor's due date at the least; under it a
# late webhook, a queued run or one retry is enough to lose the dispute by default.
MIN_DISPUTE_MARGIN_HOURS = 24
# RFC 2606 / RFC 6761: names that never receive mail. The demo policy uses them.
RESERVED_MAIL_SUFFIXES = (".example", ".test", ".invalid", ".localhost", "@example.com", "@example.org",
                          "@example.net", ".example.com", ".example.org", ".example.net")


class PolicyError(AftersalesError):
    """A policy file (or a stored policy) that cannot be used; `problems` are one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# -- reading --------------------------------------------------------------------------------------


def parse_policy(text: str, source: str) -> StorePolicy:
    """The policy in `text` (the content of the file `source`), or PolicyError."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise PolicyError([_yaml_problem(exc, source)]) from None
    if data is None:
        raise PolicyError([f"{source}: the file is empty; copy sandbox/policy.yaml and edit it"])
    if not isinstance(data, dict):
        raise PolicyError([f"{source}, line 1: the policy must be a mapping (store:, suppliers:, ...), "
                           f"not a {type(data).__name__}"])
    return validate_policy(data, source, root)


def validate_policy(data: Any, source: str, root: yaml.Node | None = None) -> StorePolicy:
    """`StorePolicy.model_validate`, with its errors as one line each (file, line, field, problem)."""
    try:
        return StorePolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError([_field_problem(err, source, root) for err in exc.errors()]) from None


def field_path(loc: Sequence[int | str]) -> str:
    """('suppliers', 1, 'return_window_days') -> 'suppliers[1].return_window_days'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the whole file)"


def _yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        context += f" started on line {context_mark.line + 1}"
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source
    what = f"{context}: {problem}" if context else problem
    return f"{where}: YAML syntax error: {what}"


def _field_problem(err: ErrorDetails, source: str, root: yaml.Node | None) -> str:
    loc = [p for p in err["loc"] if p != "[key]"]
    path = field_path(loc)
    kind = err["type"]
    if kind == "missing":
        problem = "missing: this setting is required"
    elif kind == "extra_forbidden":
        problem = "unknown setting (a typo, or a setting from another version?)"
    else:
        message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        given = err.get("input")
        shown = "" if isinstance(given, dict | list) or given is None else f" (found {given!r})"
        problem = f"{message}{shown}"
    line = _line_of(root, loc) if loc else None  # a rule across the whole file has no one line
    where = f"{source}, line {line}" if line else source
    return f"{where}: {path}: {problem}"


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The line of the deepest node of `loc` present in the YAML (a missing field: its parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if found is None:
                break
            key, node = found
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# -- refusals and warnings -------------------------------------------------------------------------------------


def policy_problems(policy: StorePolicy, shop_domain: str) -> list[str]:
    """Why this policy cannot run this store, one line each (setup refuses it).

    - `store.id` is the key every run loads the policy by: the configured shop domain
      (`AFTERSALES_SHOPIFY_SHOP_DOMAIN`, tasks.runtime.store_id). A policy stored under another id
      is never found, and every run fails with "no policy loaded".
    - `store.timezone` must be a known IANA zone: every deadline is computed in it.
    """
    out: list[str] = []
    if policy.store.id != shop_domain:
        out.append(f"store.id is {policy.store.id!r} but AFTERSALES_SHOPIFY_SHOP_DOMAIN is {shop_domain!r}: "
                   f"runs look the policy up by the shop domain and would never find it; make them equal")
    try:
        ZoneInfo(policy.store.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(f"store.timezone: {policy.store.timezone!r} is not a known time zone (e.g. Europe/Paris)")
    return out


def policy_warnings(policy: StorePolicy, *, today: date | None = None) -> list[str]:
    """Values that are legal but probably not meant, one line each (the field path first).

    - no legal interest rate for the half-year of `today` (L242-4; given by the caller);

    - a supplier return window under the legal 14 days (D1, R1);
    - an amount in another currency than the store's (`reports.currency`);
    - an address at a reserved domain that never receives mail (the demo's, left in);
    - a dispute margin under 24 hours (K5);
    - a goodwill gesture enabled without a code to give (C7);
    - no consumer mediator (`store.mediator_name`, L616-1).
    """
    out: list[str] = []
    if today is not None and policy.refunds.legal_interest_rate_missing_on(today):
        since, rate = max(policy.refunds.legal_interest_rates.items())
        out.append(
            f"refunds.legal_interest_rates: no rate for the half-year of {today.isoformat()}; the rate of "
            f"{since.isoformat()} ({rate * 100:.2f} %) is used for late refunds (L242-4) until you add the one "
            f"published by arrêté for this half-year (consumer creditors' rate, Journal officiel)"
        )
    for i, s in enumerate(policy.suppliers):
        if s.return_window_days < LEGAL_WITHDRAWAL_DAYS:
            out.append(
                f"suppliers[{i}].return_window_days: supplier {s.id} takes returns for {s.return_window_days} days, "
                f"under the legal {LEGAL_WITHDRAWAL_DAYS} the store must give customers (D1): a return in the last "
                f"days cannot go back to this supplier, the store bears it"
            )
    currency = policy.reports.currency
    for path, money in _amounts(policy):
        if money.currency != currency:
            out.append(
                f"{path}: {money.amount} {money.currency} is not in the store's currency {currency} "
                f"(reports.currency): it cannot be compared with the store's {currency} amounts"
            )
    reserved = [path for path, address in _addresses(policy) if address.casefold().endswith(RESERVED_MAIL_SUFFIXES)]
    if reserved:
        out.append(f"{', '.join(reserved)}: at a reserved domain that never receives mail (the demo's values?)")
    if policy.disputes.margin_hours < MIN_DISPUTE_MARGIN_HOURS:
        out.append(
            f"disputes.margin_hours: evidence is submitted only {policy.disputes.margin_hours} h before the "
            f"processor's due date; K5 asks for a safety margin (at least {MIN_DISPUTE_MARGIN_HOURS} h advised)"
        )
    goodwill = policy.cancellation.goodwill
    if goodwill.enabled and not goodwill.code:
        out.append("cancellation.goodwill: enabled without a code, so no gesture is ever given (C7)")
    if not policy.store.mediator_name:
        out.append(
            "store.mediator_name: no consumer mediator set; the law (Code de la consommation L616-1) requires the "
            "store to name the mediator it adheres to, with its website, to its customers (order confirmation, "
            "refusals, partial refunds)"
        )
    return out


def _amounts(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Money]]:
    for name in type(model).model_fields:
        yield from _amounts_in(getattr(model, name), f"{prefix}{name}")


def _amounts_in(value: Any, path: str) -> Iterator[tuple[str, Money]]:
    if isinstance(value, Money):
        yield path, value
    elif isinstance(value, BaseModel):
        yield from _amounts(value, f"{path}.")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _amounts_in(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _amounts_in(item, f"{path}[{i}]")


def _addresses(policy: StorePolicy) -> Iterator[tuple[str, str]]:
    for field in ("support_email", "sender_email", "operator_email"):
        yield f"store.{field}", getattr(policy.store, field)
    for i, s in enumerate(policy.suppliers):
        if s.email:
            yield f"suppliers[{i}].email", s.email
