"""Read Chaos Toolkit journals and judge them: the gate's verdict on one experiment.

``chaos run`` (chaostoolkit 1.19 / chaostoolkit-lib 1.44) exits 0 when a method action
failed, when the steady state before the method failed (so the method was skipped) and
when every during-method check failed without ``--fail-fast``. Its exit code is not a
verdict, so the gate reads the journal and demands all of:

- ``status`` is ``completed`` and ``deviated`` is false;
- the experiment declared steady-state probes, and the ``before``, every ``during`` and
  the ``after`` steady states were met, every probe having run and met its tolerance;
- the journal names the experiment its file is named after;
- the method declares at least one foreground action (the fault);
- the method runs and the rollback runs are the declared activities, matched by name as
  a multiset (background ones included), and every one succeeded;
- with ``runtime.hypothesis.strategy: continuously`` declared (the catalog always
  declares it), during checks started at least every window + frequency (+ slack)
  seconds across the method, and every one was met.

A tripped safeguard (the ``recdrill-safeguard`` extension the control writes) is a
failure of its own kind, phase ``safeguard``, listed first with the figure that tripped
it: the interrupted status and skipped activities that follow are its consequences.

The recorder's time series is judged in ``experiments.outcome``.

Journals are untrusted input: anything missing or of the wrong shape is a failure in
the ``journal`` phase, never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.coverage import (
    cadence,
    coverage_gap,
    declares_continuous,
    experiment_identity,
    fault_actions,
    name_mismatch,
)

PHASES = ("safeguard", "journal", "before", "during", "method", "after", "rollbacks", "recovery")
_SECRET_KEY = re.compile(
    r"token|secret|passw|credential|auth|api[_-]?key|private|cookie|session", re.I
)
REDACTED = "***"
SAFEGUARD_EXTENSION = "recdrill-safeguard"
_MAX_DETAIL = 400


class JournalError(Exception):
    """The journal file cannot be read as a JSON object."""


@dataclass(frozen=True)
class Failure:
    """One reason an experiment did not pass."""

    experiment: str
    phase: str
    subject: str
    detail: str

    def message(self) -> str:
        return f"{self.experiment}: {self.phase}: {self.subject}: {self.detail}"


@dataclass
class Verdict:
    """The gate's judgement of one journal file."""

    experiment: str
    path: Path
    journal: dict[str, Any] | None
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def title(self) -> str:
        exp = (self.journal or {}).get("experiment")
        title = exp.get("title") if isinstance(exp, dict) else None
        return title if isinstance(title, str) else self.experiment

    @property
    def experiment_spec(self) -> dict[str, Any]:
        exp = (self.journal or {}).get("experiment")
        return exp if isinstance(exp, dict) else {}


def experiment_name(path: Path) -> str:
    """``<journals>/<experiment>.json`` names the experiment (the contract for journals)."""
    return path.name[: -len(".json")] if path.name.endswith(".json") else path.name


def load_journal(path: Path) -> dict[str, Any]:
    """Parse a journal file, or raise JournalError saying what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise JournalError(f"journal file {path} does not exist") from None
    except OSError as exc:
        raise JournalError(f"journal file {path} cannot be read: {exc.strerror}") from None
    if not raw.strip():
        raise JournalError(f"journal file {path} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JournalError(f"journal file {path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        at_end = exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        cut = " (truncated?)" if at_end else ""
        raise JournalError(
            f"journal file {path} is not valid JSON{cut}: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise JournalError(
            f"journal file {path} holds a JSON {type(data).__name__}, not a journal object"
        )
    return data


def secret_values(experiment: dict[str, Any]) -> set[str]:
    """Literal secret strings declared in the experiment, to scrub from anything shown."""
    found: set[str] = set()

    def walk(node: Any, secret: bool) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("env", "vault") and "key" in node:
                return
            for key, value in node.items():
                walk(value, secret or bool(_SECRET_KEY.search(str(key))))
        elif isinstance(node, list):
            for value in node:
                walk(value, secret)
        elif secret and isinstance(node, str) and len(node) >= 4:
            found.add(node)

    walk(experiment.get("secrets"), True)
    walk(experiment.get("configuration"), False)
    return found


def redact(value: Any, secrets: set[str] = frozenset()) -> Any:
    """Copy of ``value`` with secret-looking keys and known secret strings masked."""
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_KEY.search(str(k)) else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


def summarize(value: Any, secrets: set[str] = frozenset(), limit: int = _MAX_DETAIL) -> str:
    """A short one-line rendering of a probe output or activity argument set."""
    value = redact(value, secrets)
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def exception_text(run: dict[str, Any], secrets: set[str] = frozenset()) -> str:
    """The last meaningful line of a run's recorded exception, if it has one."""
    exc = run.get("exception")
    if isinstance(exc, list):
        lines = [ln.strip() for part in exc if isinstance(part, str) for ln in part.splitlines()]
        lines = [ln for ln in lines if ln]
        exc = lines[-1] if lines else None
    return summarize(exc, secrets) if exc else ""


def run_detail(run: dict[str, Any], secrets: set[str] = frozenset()) -> str:
    """How a run ended: its status, exception and output, for failure messages."""
    parts = [f"status {run.get('status')!s}"]
    if run.get("tolerance_met") is False:
        parts.append("tolerance not met")
    exc = exception_text(run, secrets)
    if exc:
        parts.append(f"exception: {exc}")
    parts.append(f"output: {summarize(run.get('output'), secrets)}")
    return "; ".join(parts)


def activity_name(entry: Any) -> str:
    """The name of a declared activity, a ``ref`` entry, or a run's activity."""
    if isinstance(entry, dict):
        if isinstance(entry.get("activity"), dict):
            return activity_name(entry["activity"])
        name = entry.get("name") or entry.get("ref")
        if isinstance(name, str):
            return name
    return "<unnamed>"


def _declared_probes(experiment: dict[str, Any]) -> list[Any]:
    hypothesis = experiment.get("steady-state-hypothesis")
    probes = hypothesis.get("probes") if isinstance(hypothesis, dict) else None
    return probes if isinstance(probes, list) else []


class _Judge:
    """Collects failures for one journal, in phase order."""

    def __init__(self, name: str, journal: dict[str, Any]) -> None:
        self.name = name
        self.journal = journal
        exp = journal.get("experiment")
        self.experiment: dict[str, Any] = exp if isinstance(exp, dict) else {}
        self.secrets = secret_values(self.experiment)
        self.failures: list[Failure] = []

    def fail(self, phase: str, subject: str, detail: str) -> None:
        self.failures.append(Failure(self.name, phase, subject, redact(detail, self.secrets)))

    def _list(self, key: str, phase: str) -> list[Any]:
        value = self.journal.get(key, [])
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        self.fail(phase, key, f"journal key '{key}' is not a list of runs")
        return []

    def run(self) -> list[Failure]:
        self.check_safeguard()
        self.check_header()
        self.check_identity()
        probes = _declared_probes(self.experiment)
        if not probes:
            self.fail(
                "journal",
                "steady-state-hypothesis",
                "the experiment declares no steady-state probes, so nothing was verified",
            )
        states = self.journal.get("steady_states")
        if not isinstance(states, dict):
            self.fail("journal", "steady_states", "journal has no steady_states object")
            states = {}
        if probes:
            self.check_state("before", states.get("before"), len(probes))
            during = states.get("during", [])
            if isinstance(during, list):
                self.check_during(during, len(probes))
                self.check_coverage(during)
            else:
                self.fail("journal", "steady_states.during", "is not a list")
        self.check_activities("method", "run", self.experiment.get("method"))
        if self.experiment and not fault_actions(self.experiment):
            self.fail(
                "method",
                "method",
                "the method declares no foreground action, so nothing was injected",
            )
        if probes:
            self.check_state("after", states.get("after"), len(probes))
        self.check_activities("rollbacks", "rollbacks", self.experiment.get("rollbacks", []))
        order = {phase: i for i, phase in enumerate(PHASES)}
        return sorted(self.failures, key=lambda f: order.get(f.phase, len(order)))

    def check_safeguard(self) -> None:
        """A tripped safeguard fails on its own; a declared one that left no record
        means chaoslib did not load it, so nobody watched the users."""
        extensions = self.experiment.get("extensions") if self.experiment else None
        extensions = extensions if isinstance(extensions, list) else []
        controls = self.experiment.get("controls") if self.experiment else None
        declared = any(
            isinstance(c, dict) and c.get("name") == SAFEGUARD_EXTENSION
            for c in (controls if isinstance(controls, list) else [])
        )
        recorded = any(
            isinstance(e, dict) and e.get("name") == SAFEGUARD_EXTENSION for e in extensions
        )
        if declared and not recorded:
            detail = "declared but left no record: it did not run, so users were not watched"
            self.fail("journal", "safeguard", detail)
        for entry in extensions:
            tripped = isinstance(entry, dict) and entry.get("tripped") is True
            if tripped and entry.get("name") == SAFEGUARD_EXTENSION:
                figures = summarize(entry.get("figures") or {})
                why = summarize(entry.get("reason") or "no reason recorded")
                self.fail("safeguard", "stopped by safeguard", f"{why} (window: {figures})")

    def check_header(self) -> None:
        if not self.experiment:
            self.fail("journal", "experiment", "journal embeds no experiment definition")
        status = self.journal.get("status")
        if status != "completed":
            self.fail("journal", "status", f"status is {status!r}, not 'completed'")
        deviated = self.journal.get("deviated")
        if deviated is not False:
            self.fail("journal", "deviated", f"deviated is {deviated!r}: the experiment deviated")

    def state_problems(self, state: Any, declared: int) -> tuple[str, str] | None:
        """(subject, detail) of why a steady-state check failed, or None if it was met."""
        if not isinstance(state, dict):
            return "steady-state-hypothesis", "was not run (no steady state recorded)"
        runs = state.get("probes")
        runs = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
        for run in runs:
            if run.get("status") != "succeeded" or run.get("tolerance_met") is not True:
                return f"probe '{activity_name(run)}'", run_detail(run, self.secrets)
        if state.get("steady_state_met") is not True:
            return "steady-state-hypothesis", (
                f"steady_state_met is {state.get('steady_state_met')!r}"
            )
        if len(runs) != declared:
            return "steady-state-hypothesis", f"{len(runs)} of {declared} declared probes ran"
        return None

    def check_state(self, phase: str, state: Any, declared: int) -> None:
        problem = self.state_problems(state, declared)
        if problem:
            self.fail(phase, *problem)

    def check_during(self, during: list[Any], declared: int) -> None:
        problems = [(i, self.state_problems(s, declared)) for i, s in enumerate(during)]
        bad = [(i, p) for i, p in problems if p]
        if bad:
            index, (subject, detail) = bad[0]
            self.fail(
                "during",
                subject,
                f"{len(bad)} of {len(during)} during-method checks failed; "
                f"first (check #{index + 1}): {detail}",
            )

    def check_activities(self, phase: str, key: str, declared: Any) -> None:
        if not isinstance(declared, list):
            self.fail(phase, key, f"the experiment's '{phase}' block is not a list")
            declared = []
        runs = self._list(key, phase)
        for run in runs:
            if run.get("status") != "succeeded":
                self.fail(phase, f"activity '{activity_name(run)}'", run_detail(run, self.secrets))
        mismatch = name_mismatch(declared, runs)
        if mismatch:
            self.fail(phase, "activities", mismatch)

    def check_identity(self) -> None:
        if not self.experiment:
            return
        identity = experiment_identity(self.experiment)
        if identity is None:
            self.fail(
                "journal",
                "identity",
                "the journal does not say which experiment it is (no configuration "
                "experiment_name, no '<name>: ' title)",
            )
        elif identity != self.name:
            self.fail(
                "journal",
                "identity",
                f"the journal is of experiment {identity!r} but its file is named {self.name}.json",
            )

    def check_coverage(self, during: list[Any]) -> None:
        if not declares_continuous(self.experiment):
            self.fail(
                "during",
                "runtime",
                "the experiment does not declare runtime.hypothesis.strategy "
                "'continuously', so nothing checked the steady state during the method",
            )
            return
        runs = self.journal.get("run")
        runs = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
        gap = coverage_gap(during, runs, cadence(self.experiment, during))
        if gap:
            self.fail("during", "coverage", gap)


def judge(path: Path) -> Verdict:
    """Load and judge one journal file; never raises for bad journal content."""
    name = experiment_name(path)
    try:
        journal = load_journal(path)
    except JournalError as exc:
        return Verdict(name, path, None, [Failure(name, "journal", path.name, str(exc))])
    return Verdict(name, path, journal, _Judge(name, journal).run())
