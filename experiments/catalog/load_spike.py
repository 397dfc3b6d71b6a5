"""load-spike: several times normal traffic; p99 holds or excess is shed cleanly with 429."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import (
    BLAST_DEFAULTS,
    action,
    experiment,
    hypothesis,
    pause_probe,
    recorder,
)

NAME = "load-spike"
TRAFFIC = "experiments.faults.traffic"
PLATFORMS = ("local",)
BLAST_RADIUS = 5  # every replica: traffic goes to ``spike_factor`` times normal
NO_ALERT = (
    "a spike of seconds is absorbed or shed cleanly; the p99 and degraded alerts are over "
    "5 m rates and should not page for it"
)
MAX_SHED_RATIO = 0.2


def build(config: dict[str, Any]) -> dict[str, Any]:
    factor = float(config.get("spike_factor", BLAST_DEFAULTS["spike_factor"]))
    config = {
        **config,
        "spike_rate_rps": None,
        "spike_duration_s": 6.0,
        "max_shed_ratio": MAX_SHED_RATIO,
    }
    body = experiment(
        NAME,
        config,
        title=f"{factor:g}x normal traffic keeps p99 in budget or sheds cleanly",
        description=(
            f"Raise the total traffic to {factor:g} times the drill's normal load (the "
            "steady-state windows and the recorder keep sending theirs; the spike adds "
            "the rest), which at the default load fraction of 0.5 is the capacity "
            "measured before the catalog. "
            "Every request gets either an answer within the p99 budget or a clean 429, "
            f"shedding stays under {MAX_SHED_RATIO:.0%}, and nothing crashes (capacity "
            "holds)."
        ),
        tags=["load", "capacity"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            action(
                "traffic-spike",
                TRAFFIC,
                "spike_traffic",
                {
                    "endpoint": "${endpoint}",
                    "rate_rps": "${spike_rate_rps}",
                    "duration_s": "${spike_duration_s}",
                    "timeout_s": "${request_timeout_s}",
                    "p99_ms": "${slo_p99_ms}",
                    "max_shed_ratio": "${max_shed_ratio}",
                    "availability": "${slo_availability}",
                },
            ),
        ],
        rollbacks=[],
    )
    conf = body["configuration"]
    normal = float(conf["ssh_rate_rps"]) + float(conf["recorder_rate_rps"])
    conf["spike_rate_rps"] = round((float(conf["spike_factor"]) - 1.0) * normal, 1)
    return body
