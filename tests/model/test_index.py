"""The retrieval index as a version artifact: built at publish, verified, checked, read safely."""

from __future__ import annotations

import hashlib

import pytest
import torch

from model import index as ann
from model.artifacts import publish_artifacts, read_artifacts
from model.store import ModelStore, StoreError, open_store
from tests.factories import tiny_artifacts


def publish(store: ModelStore, tmp_path, *, index: bool = True, seed: int = 0):
    art = tiny_artifacts(seed=seed)
    return publish_artifacts(
        store,
        "m",
        art,
        tmp_path / f"build-{seed}-{index}",
        metrics={},
        popular_items=art.items[:5],
        data_fingerprint="tiny",
        index=ann.IndexParams() if index else None,
    )


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return open_store(f"file://{tmp_path / 'store'}")


def test_publish_stores_the_index_with_its_sha256_and_measured_recall(store, tmp_path):
    manifest = publish(store, tmp_path)
    block = manifest.data["index"]
    assert block["file"] == ann.INDEX_FILE and block["kind"] == ann.INDEX_KIND
    assert block["items"] == 120 and block["dim"] == 16
    assert block["recall_queries"] > 0 and 0.9 <= block["recall@20"] <= 1.0
    raw = store.read_file("m", manifest.version, ann.INDEX_FILE)
    entry = manifest.data["files"][ann.INDEX_FILE]
    assert entry["sha256"] == hashlib.sha256(raw).hexdigest()
    path = store.fetch("m", manifest.version, tmp_path / "cache")
    art = read_artifacts(path, manifest)
    assert art.index_path == path / ann.INDEX_FILE and art.index_info == block


def test_a_corrupted_index_fails_verification(store, tmp_path):
    manifest = publish(store, tmp_path)
    path = tmp_path / "store" / "m" / "versions" / manifest.version / ann.INDEX_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=ann.INDEX_FILE):
        store.verify("m", manifest.version)


def test_a_version_without_index_has_none(store, tmp_path):
    manifest = publish(store, tmp_path, index=False)
    assert "index" not in manifest.data and ann.INDEX_FILE not in manifest.data["files"]
    art = read_artifacts(store.fetch("m", manifest.version, tmp_path / "c"), manifest)
    assert art.index_path is None


def test_a_manifest_naming_a_missing_index_is_refused(store, tmp_path):
    manifest = publish(store, tmp_path)
    path = store.fetch("m", manifest.version, tmp_path / "c")
    (path / ann.INDEX_FILE).unlink()
    with pytest.raises(ValueError, match=r"items\.faiss is missing"):
        read_artifacts(path, manifest)


def vectors(n: int = 300, d: int = 8, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=gen), dim=1)


EF16 = ann.IndexParams(ef_search=16)


def test_read_index_refuses_garbage_and_mismatched_sizes(tmp_path):
    garbage = tmp_path / "garbage.faiss"
    garbage.write_bytes(b"\x00not a faiss index" * 10)
    with pytest.raises(ann.BadIndex, match="cannot read"):
        ann.read_index(garbage, n_items=300, dim=8, params=EF16)
    good = ann.write_index(ann.build_index(vectors()), tmp_path / "good.faiss")
    assert ann.read_index(good, n_items=300, dim=8, params=EF16).ntotal == 300
    with pytest.raises(ann.BadIndex, match="300 vectors of dim 8"):
        ann.read_index(good, n_items=301, dim=8, params=EF16)


def test_read_index_refuses_another_index_type(tmp_path):
    import faiss

    flat = faiss.IndexFlatIP(8)
    flat.add(vectors().numpy())
    path = ann.write_index(flat, tmp_path / "flat.faiss")
    with pytest.raises(ann.BadIndex, match="IndexHNSWFlat or IndexIVFFlat"):
        ann.read_index(path, n_items=300, dim=8, params=EF16)


def test_recall_is_measured_against_exact_search():
    items = vectors(2000, 16)
    queries = vectors(50, 16, seed=1)
    good = ann.build_index(items, ann.IndexParams(m=16, ef_construction=64, ef_search=256))
    weak = ann.build_index(items, ann.IndexParams(m=2, ef_construction=2, ef_search=1))
    assert ann.recall_at_k(good, items, queries, 20) >= 0.95
    assert ann.recall_at_k(weak, items, queries, 20) < 0.9, "a poor graph must show in recall"
    assert ann.recall_at_k(good, items, queries[:0], 20) == 1.0


def clustered(n: int, d: int = 16, centres: int = 40, seed: int = 0) -> torch.Tensor:
    """Vectors around a few centres, as a trained model's items group by category."""
    middle = torch.nn.functional.normalize(
        torch.randn(centres, d, generator=torch.Generator().manual_seed(0)), dim=1
    )
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, centres, (n,), generator=gen)
    noise = 0.3 * torch.randn(n, d, generator=gen)
    return torch.nn.functional.normalize(middle[picks] + noise, dim=1)


IVF = ann.IndexParams(ivf_from=1000, nprobe=20)


def test_large_catalogues_get_an_ivf_index_that_reads_back_checked(tmp_path):
    import faiss

    items = clustered(3000)
    small = ann.build_index(items[:999], IVF)
    large = ann.build_index(items, IVF)
    assert isinstance(small, faiss.IndexHNSWFlat) and ann.index_kind(small) == ann.INDEX_KIND
    assert isinstance(large, faiss.IndexIVFFlat) and ann.index_kind(large) == ann.IVF_KIND
    assert large.nlist == ann.ivf_lists(3000, IVF) == 55 and large.ntotal == 3000
    path = ann.write_index(large, tmp_path / "ivf.faiss")
    read = ann.read_index(path, n_items=3000, dim=16, params=ann.IndexParams(nprobe=7))
    assert isinstance(read, faiss.IndexIVFFlat) and read.nprobe == 7
    with pytest.raises(ann.BadIndex, match="3000 vectors of dim 16"):
        ann.read_index(path, n_items=2999, dim=16, params=IVF)


def test_an_ivf_index_with_another_metric_is_refused(tmp_path):
    import faiss

    l2 = faiss.IndexIVFFlat(faiss.IndexFlatL2(16), 16, 4)
    l2.train(clustered(400).numpy())
    l2.add(clustered(400).numpy())
    path = ann.write_index(l2, tmp_path / "l2.faiss")
    with pytest.raises(ann.BadIndex, match="inner-product"):
        ann.read_index(path, n_items=400, dim=16, params=IVF)


def test_ivf_recall_is_measured_against_exact_search():
    items, queries = clustered(3000), clustered(60, seed=1)
    index = ann.build_index(items, IVF)
    assert ann.recall_at_k(index, items, queries, 20) >= 0.95
    index.nprobe = 1
    assert ann.recall_at_k(index, items, queries, 20) < 0.9, "one list must show in recall"


def test_exact_top_k_in_query_chunks_matches_one_product(monkeypatch):
    items, queries = vectors(500, 8), vectors(40, 8, seed=3)
    whole = ann.exact_top_k(items, queries, 10)
    monkeypatch.setattr(ann, "_SCORES_AT_ONCE", 1000)  # two queries at a time
    assert (ann.exact_top_k(items, queries, 10) == whole).all()
