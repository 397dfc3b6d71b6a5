"""The serving benchmarks' own logic: the shed counts they read, the index bench's report."""

from __future__ import annotations

import json

from bench.serving import shed_counts
from bench.serving_index import main as index_bench
from model.index import IVF_KIND
from serving.replica.metrics import ReplicaMetrics


def test_shed_counts_reads_the_replicas_metric_by_reason():
    metrics = ReplicaMetrics()
    metrics.shed.labels("in_flight").inc(3)
    metrics.shed.labels("queue_time").inc()
    metrics.requests.labels("/v1/recommend", "429").inc(4)
    assert shed_counts(metrics.render().decode()) == {"in_flight": 3, "queue_time": 1}
    assert shed_counts(ReplicaMetrics().render().decode()) == {}


def test_the_index_bench_reports_build_memory_and_recall(capsys):
    argv = ["--items", "3000", "--dim", "8", "--queries", "20", "--threads", "1"]
    assert index_bench([*argv, "--ivf-from", "1000", "--sweep", "1", "55"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["kind"] == IVF_KIND and report["params"]["nlist"] == 55
    assert report["build_seconds"] >= 0 and report["peak_rss_mb"] > 0
    one, every = report["sweep"]["1"]["recall_at_20"], report["sweep"]["55"]["recall_at_20"]
    assert every == 1.0 and one < every, "scanning every list is exact; one list is not"
