"""load-spike: several times normal traffic; p99 holds or excess is shed cleanly with 429."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import (
    SLO,
    experiment,
    hypothesis,
    pause_probe,
    probe,
    recorder,
)

NAME = "load-spike"
PLATFORMS = ("local",)
SPIKE_FACTOR = 3
MAX_SHED_RATIO = 0.2


def build(config: dict[str, Any]) -> dict[str, Any]:
    config = {
        **config,
        "spike_rate_rps": None,
        "spike_duration_s": 6.0,
        "max_shed_ratio": MAX_SHED_RATIO,
    }
    body = experiment(
        NAME,
        config,
        title=f"{SPIKE_FACTOR}x normal traffic keeps p99 in budget or sheds cleanly",
        description=(
            f"Add {SPIKE_FACTOR} times the steady-state window's rate on top of normal "
            "traffic, while the steady-state windows keep probing. "
            "Every request gets either an answer within the p99 budget or a clean 429, "
            f"shedding stays under {MAX_SHED_RATIO:.0%}, and nothing crashes (capacity "
            "holds)."
        ),
        tags=["load", "capacity"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            probe(
                "traffic-spike",
                SLO,
                "measure_window",
                {
                    "endpoint": "${endpoint}",
                    "duration_s": "${spike_duration_s}",
                    "rate_rps": "${spike_rate_rps}",
                    "timeout_s": "${request_timeout_s}",
                },
            ),
        ],
        rollbacks=[],
    )
    conf = body["configuration"]
    conf["spike_rate_rps"] = SPIKE_FACTOR * float(conf["ssh_rate_rps"])
    return body
