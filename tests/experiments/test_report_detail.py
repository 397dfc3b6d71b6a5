"""Hypothesis rows in words: measured values and limits a person reads at a glance."""

from __future__ import annotations

from experiments.report_detail import describe_tolerance, describe_value


def test_an_slo_window_in_words() -> None:
    value = {"availability": 0.9995, "p99_ms": 24.4, "degraded_ratio": 0.01, "requests": 105}
    assert describe_value(value) == ("availability 99.95%, p99 24 ms, degraded 1.00%, 105 requests")


def test_a_capacity_listing_in_words() -> None:
    value = {"ready": 4, "zones": {"local-b": 2, "local-a": 0, "local-c": 2}}
    assert describe_value(value) == "4 ready replicas (local-a 0, local-b 2, local-c 2)"


def test_a_python_tolerance_resolves_the_configuration_and_drops_the_recorded_value() -> None:
    tolerance = {
        "type": "probe",
        "name": "slo-window-meets-slo",
        "provider": {
            "type": "python",
            "func": "within_slo",
            "arguments": {
                "availability": "${slo_availability}",
                "p99_ms": "${slo_p99_ms}",
                "max_degraded_ratio": 0.05,
                "value": {"requests": 105},
            },
        },
    }
    config = {"slo_availability": 0.999, "slo_p99_ms": 250}
    assert describe_tolerance(tolerance, config) == (
        "availability ≥ 99.90%, p99 ≤ 250 ms, degraded ratio ≤ 0.05"
    )


def test_range_and_boolean_tolerances() -> None:
    assert describe_tolerance({"type": "range", "range": [0.999, 1.0]}, {}) == (
        "between 0.999 and 1.0"
    )
    assert describe_tolerance(True, {}) == "is true"
