"""How often a run of the `aftersales` pool says it is alive, and how long its silence is allowed
(issue 16: a run lost with its whole worker). Imports nothing: `python -m deployments.worker`
sets the default before Prefect reads its settings.

Every run's engine emits `prefect.flow-run.heartbeat` every PREFECT_FLOWS_HEARTBEAT_FREQUENCY
seconds (Prefect's default 180, its minimum 30) from a thread of its own, the first at the run's
start. The automation `aftersales-crash-silent-runs` (prefect.yaml, `definitions.automations`,
registered by `python -m deployments.setup --prefect`) marks Crashed a run that was Running or sent
a heartbeat and then, within `SILENCE_SECONDS`, neither sent another nor ended, suspended,
paused or was cancelled (the operator's Cancel is final: never Crashed). Three heartbeats fit in
the window: a loaded machine may delay one."""

from __future__ import annotations

from collections.abc import MutableMapping

HEARTBEAT_SECONDS = 30
SILENCE_SECONDS = 90  # prefect.yaml's `within` (tests/unit/test_heartbeat_settings.py holds them together)
VARIABLES = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")  # the new name, the old


def set_default(environ: MutableMapping[str, str]) -> None:
    """The worker's heartbeat frequency (its forks inherit it), unless the operator set one."""
    if not any(environ.get(name) for name in VARIABLES):
        environ[VARIABLES[0]] = str(HEARTBEAT_SECONDS)


def refusal(environ: MutableMapping[str, str]) -> str | None:
    """Why the worker must not start with this frequency, or None: the operator's value leaves
    fewer than two heartbeats in the automation's window (Prefect's own default, 180, would have
    every run longer than 90 s marked Crashed while it works). Prefect reads the new name first."""
    for name in VARIABLES:
        value = (environ.get(name) or "").strip()
        if not value:
            continue
        try:
            seconds = float(value)
        except ValueError:
            return None  # not a number: Prefect's own settings refuse it, naming it
        if 2 * seconds > SILENCE_SECONDS:
            return (f"the worker refuses to start: {name}={value} is over {SILENCE_SECONDS // 2} s: the automation "
                    f"aftersales-crash-silent-runs marks Crashed a run silent for {SILENCE_SECONDS} s "
                    f"(unset it: the worker sends one every {HEARTBEAT_SECONDS} s)")
        return None
    return None
