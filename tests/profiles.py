"""The test suite's Hypothesis profiles, loaded by tests/conftest.py before any test module.

- "ci" (the default, what `bash tests/run.sh` runs): every @given test draws the same examples on
  every run (derandomize: the seed comes from the test itself), no example database, and a failure
  prints its `@reproduce_failure` blob. A submission never passes or fails by chance.
- "random": a fresh seed each run (printed by Hypothesis with any failure), for the full-size fuzz
  run (`AFTERSALES_FUZZ_EXAMPLES` above the CI size, see tests/fuzz/test_receiver_fuzz.py) or on
  request (`HYPOTHESIS_PROFILE=random`).

An explicit `@settings(...)` on a test inherits what it does not name from the profile loaded when
it is created; none of ours names `derandomize` (tests/unit/test_suite_settings.py checks it).
"""

from __future__ import annotations

import os

FUZZ_CI_EXAMPLES = 1000  # the receiver fuzz run's CI size (AFTERSALES_FUZZ_EXAMPLES' default)
PROFILES = ("ci", "random")


def hypothesis_profile(env: dict[str, str] | None = None) -> str:
    """The profile asked for: HYPOTHESIS_PROFILE, else "random" for a fuzz run above the CI size,
    else "ci"."""
    env = dict(os.environ) if env is None else env
    asked = env.get("HYPOTHESIS_PROFILE")
    if asked:
        if asked not in PROFILES:
            raise ValueError(f"HYPOTHESIS_PROFILE={asked!r}: expected one of {', '.join(PROFILES)}")
        return asked
    examples = int(env.get("AFTERSALES_FUZZ_EXAMPLES") or FUZZ_CI_EXAMPLES)
    return "random" if examples > FUZZ_CI_EXAMPLES else "ci"


def load_hypothesis_profile() -> str:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    settings.register_profile("random", derandomize=False, database=None, print_blob=True)
    name = hypothesis_profile()
    settings.load_profile(name)
    return name
