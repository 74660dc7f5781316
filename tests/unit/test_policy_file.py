"""A policy file read for a person (issue 12): a bad file gives one line per problem naming the
file, the line, the field's path in the YAML and the problem; setup refuses a policy that cannot
run the configured store and warns about values that are legal but suspicious."""

from __future__ import annotations

import re
from datetime import date

import pytest
import yaml

from deployments.setup import DEFAULT_POLICY, check_policy
from domain.policy import StorePolicy
from domain.policy_file import PolicyError, field_path, parse_policy, policy_problems, policy_warnings

DEMO_TEXT = DEFAULT_POLICY.read_text(encoding="utf-8")
SOURCE = "/etc/aftersales/policy.yaml"
DEMO_SHOP = "maison-lumiere.myshopify.com"


def edited(old: str, new: str, text: str = DEMO_TEXT) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def refused(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, SOURCE)
    return caught.value.problems


def test_the_demo_policy_reads_and_runs_the_demo_store() -> None:
    policy = parse_policy(DEMO_TEXT, SOURCE)
    assert policy.store.id == DEMO_SHOP
    assert policy_problems(policy, DEMO_SHOP) == []


@pytest.mark.parametrize(("old", "new", "anchor", "path", "problem"), [
    ("    return_window_days: 25", '    return_window_days: "twenty"', 'return_window_days: "twenty"',
     "suppliers[1].return_window_days", "valid integer"),
    ("  sender_email: bonjour@maison-lumiere.example\n", "", "store:",
     "store.sender_email", "missing: this setting is required"),
    ("  burst_hours: 1  ", "  burts_hours: 1  ", "burts_hours",
     "disputes.burts_hours", "unknown setting"),
    ("promise_business_days: 5 ", "promise_business_days: 12 ", "promise_business_days",
     "refunds.promise_business_days", "less than or equal to 10 (found 12)"),
    ("passed_on_orders: supplier_first ", "passed_on_orders: supplier_later ", "passed_on_orders",
     "cancellation.passed_on_orders", "'supplier_later'"),
    ("keep_it_max_value: {amount: \"15.00\", currency: EUR}", "keep_it_max_value: {amount: \"15.00\", currency: EURO}",
     "keep_it_max_value", "returns.keep_it_max_value.currency", "not an ISO 4217 currency code"),
    ("    channel: email\n    email: commandes@atelier-lyon.example\n", "    channel: email\n",
     "- id: atelier-lyon", "suppliers[0]", "the email channel needs an email address"),
])
def test_a_bad_field_is_one_line_with_file_line_path_and_problem(old: str, new: str, anchor: str, path: str,
                                                                  problem: str) -> None:
    text = edited(old, new)
    problems = refused(text)
    assert len(problems) == 1, problems
    (line,) = problems
    assert "\n" not in line and "Traceback" not in line and "pydantic" not in line
    assert line.startswith(f"{SOURCE}, line {line_of(text, anchor)}: {path}: "), line
    assert problem in line, line


@pytest.mark.parametrize(("text", "line"), [
    ("store:\n  id: shop.myshopify.com\n  name: [Maison\n", 4),  # an unclosed flow sequence
    ("store:\n  id: shop.myshopify.com\n\tname: Maison\n", 3),  # a tab
    ("store:\n  id: 'shop\nsuppliers: []\n", 4),  # an unclosed quote
    ("store:\n  name: a\n   id: b\n", 3),  # bad indentation
])
def test_a_yaml_syntax_error_names_the_file_and_the_line(text: str, line: int) -> None:
    (problem,) = refused(text)
    assert problem.startswith(f"{SOURCE}, line {line}, column "), problem
    assert "YAML syntax error" in problem and "<unicode string>" not in problem


@pytest.mark.parametrize(("text", "says"), [
    ("", "the file is empty"),
    ("# nothing but a comment\n", "the file is empty"),
    ("- store\n- suppliers\n", "must be a mapping"),
])
def test_an_empty_or_shapeless_file_says_so(text: str, says: str) -> None:
    (problem,) = refused(text)
    assert problem.startswith(SOURCE) and says in problem


def test_a_rule_across_the_file_names_the_file_without_a_line() -> None:
    (problem,) = refused(edited("default_supplier: atelier-lyon", "default_supplier: lyon"))
    assert problem == f"{SOURCE}: (the whole file): default_supplier 'lyon' is not a listed supplier"


def test_every_problem_of_a_file_is_listed_with_its_own_line() -> None:
    text = edited("  burst_hours: 1  ", "  burst_hours: 0  ", edited("  name: Maison Lumière\n", ""))
    problems = refused(text)
    assert [re.sub(r"^.*?: ([^:]+): .*$", r"\1", p) for p in problems] == ["store.name", "disputes.burst_hours"]
    assert f"line {line_of(text, 'burst_hours: 0')}:" in problems[1]


@pytest.mark.parametrize(("loc", "path"), [
    (("suppliers", 1, "email"), "suppliers[1].email"),
    (("store",), "store"),
    (("disputes", "contest_fee", "stripe", "amount"), "disputes.contest_fee.stripe.amount"),
    ((), "(the whole file)"),
])
def test_field_paths_read_like_the_yaml(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


# -- refusals ---------------------------------------------------------------------------------------


def test_a_policy_for_another_shop_is_refused_in_one_line() -> None:
    policy = parse_policy(DEMO_TEXT, SOURCE)
    (problem,) = policy_problems(policy, "real-shop.myshopify.com")
    assert problem.startswith("store.id is 'maison-lumiere.myshopify.com'")
    assert "'real-shop.myshopify.com'" in problem and "AFTERSALES_SHOPIFY_SHOP_DOMAIN" in problem


def test_an_unknown_time_zone_is_refused() -> None:
    policy = parse_policy(edited("timezone: Europe/Paris", "timezone: Europe/Parris"), SOURCE)
    (problem,) = policy_problems(policy, DEMO_SHOP)
    assert problem.startswith("store.timezone: 'Europe/Parris' is not a known time zone")


@pytest.mark.parametrize(("variable", "value", "refusal"), [
    ("AFTERSALES_SMTP_SENDER_ADDRESS", "orders@other-shop.fr", True),
    ("AFTERSALES_SMTP_SENDER_ADDRESS", "bonjour@maison-lumiere.example", False),
    ("AFTERSALES_SMTP_SENDER_NAME", "Other Shop", True),
    ("AFTERSALES_SMTP_SENDER_NAME", "Maison Lumière", False),
])
def test_a_retired_sender_variable_is_refused_when_it_contradicts_the_policy(variable: str, value: str,
                                                                            refusal: bool) -> None:
    policy = parse_policy(DEMO_TEXT, SOURCE)
    refusals, warnings = check_policy(policy, shop_domain=DEMO_SHOP, environ={variable: value})
    said = refusals if refusal else warnings
    assert [line for line in said if variable in line], (refusals, warnings)
    assert not [line for line in (warnings if refusal else refusals) if variable in line]


# -- warnings ---------------------------------------------------------------------------------------


def warnings_for(text: str) -> list[str]:
    demo = set(policy_warnings(parse_policy(DEMO_TEXT, SOURCE)))
    return [w for w in policy_warnings(parse_policy(text, SOURCE)) if w not in demo]


def test_the_demo_policy_warns_only_about_its_reserved_addresses() -> None:
    (warning,) = policy_warnings(parse_policy(DEMO_TEXT, SOURCE))
    assert warning.startswith("store.support_email, store.sender_email, store.operator_email, suppliers[0].email:")
    assert "never receives mail" in warning


@pytest.mark.parametrize(("old", "new", "starts", "says"), [
    ("    return_window_days: 25", "    return_window_days: 10", "suppliers[1].return_window_days:",
     "supplier cj takes returns for 10 days, under the legal 14"),
    ("    return_window_days: 30", "    return_window_days: 13", "suppliers[0].return_window_days:", "13 days"),
    ("keep_it_max_value: {amount: \"15.00\", currency: EUR}", "keep_it_max_value: {amount: \"15.00\", currency: USD}",
     "returns.keep_it_max_value:", "15.00 USD is not in the store's currency EUR"),
    ("stripe: {amount: \"15.00\", currency: EUR}", "stripe: {amount: \"15.00\", currency: GBP}",
     "disputes.contest_fee.stripe:", "GBP is not in the store's currency EUR"),
    ("  currency: EUR     ", "  currency: CHF     ", "returns.return_shipping_cost:", "6.90 EUR"),
    ("margin_hours: 48", "margin_hours: 6", "disputes.margin_hours:", "only 6 h before"),
    ("    code: MERCI10\n    description_fr", "    description_fr", "cancellation.goodwill:",
     "no gesture is ever given"),
])
def test_a_legal_but_suspicious_value_warns_in_one_line(old: str, new: str, starts: str, says: str) -> None:
    found = [w for w in warnings_for(edited(old, new)) if w.startswith(starts)]
    assert len(found) == 1, warnings_for(edited(old, new))
    assert says in found[0] and "\n" not in found[0]


def test_a_store_on_its_own_domains_and_fourteen_days_has_no_warning() -> None:
    text = DEMO_TEXT.replace("maison-lumiere.example", "maison-lumiere.fr").replace(
        "atelier-lyon.example", "atelier-lyon.fr").replace("    return_window_days: 25", "    return_window_days: 14")
    assert policy_warnings(parse_policy(text, SOURCE)) == []


def test_the_parsed_policy_is_the_one_pydantic_reads() -> None:
    assert parse_policy(DEMO_TEXT, SOURCE) == StorePolicy.model_validate(yaml.safe_load(DEMO_TEXT))


def test_a_store_without_a_consumer_mediator_is_warned() -> None:
    """L616-1: the store names the consumer mediator it adheres to; setup says when none is set."""
    lines = [line for line in DEMO_TEXT.splitlines(keepends=True) if not line.lstrip().startswith("mediator_")]
    assert len(lines) < len(DEMO_TEXT.splitlines())  # the demo sets one
    found = [w for w in warnings_for("".join(lines)) if w.startswith("store.mediator_name:")]
    assert len(found) == 1 and "L616-1" in found[0] and "\n" not in found[0]
    assert not [w for w in policy_warnings(parse_policy(DEMO_TEXT, SOURCE)) if "mediator" in w]


def test_a_half_year_without_its_legal_interest_rate_is_a_warning_naming_the_rate_used() -> None:
    """L242-4: the rate changes each half-year by arrêté; the setting holds the published ones. Past
    the last one, setup says so (the last known rate is used until the operator adds the new one)."""
    policy = parse_policy(DEMO_TEXT, SOURCE)
    latest = max(policy.refunds.legal_interest_rates)
    assert not [w for w in policy_warnings(policy, today=latest) if "legal_interest_rates" in w]
    later = date(latest.year + 1, latest.month, 1)
    (warning,) = [w for w in policy_warnings(policy, today=later) if "legal_interest_rates" in w]
    assert later.isoformat() in warning and latest.isoformat() in warning and "L242-4" in warning
    assert policy.refunds.legal_interest_rate_missing_on(later)
    assert not policy.refunds.legal_interest_rate_missing_on(latest)
