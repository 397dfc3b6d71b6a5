"""Is a drill allowed now? The deployment's drill windows, judged at one moment.

Only a production deployment is bound by its windows: staging may be drilled any time.
A production deployment that declares no window has no safe hours, so every run there
needs ``--force`` with a reason.
"""

from __future__ import annotations

from datetime import datetime

from contracts.deployment import Deployment


def window_refusal(deployment: Deployment, now: datetime) -> str | None:
    """Why ``now`` is outside every drill window (``None``: a drill may run now)."""
    if not deployment.production:
        return None
    if not deployment.drill_windows:
        return "production deployment declares no drill_windows, so no time is safe"
    if any(window.contains(now) for window in deployment.drill_windows):
        return None
    declared = "; ".join(window.describe() for window in deployment.drill_windows)
    return f"{now.isoformat(timespec='minutes')} is outside every drill window ({declared})"
