"""Load a real event log (CSV or Parquet, gzipped or not) through a column mapping.

Presets cover the shop data in ``shared/data`` (UCI Online Retail) and the two
MovieLens layouts; any other log loads with an explicit ``ColumnMap``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from training.dataset import DataError, Interactions

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ONLINE_RETAIL = SHARED_DATA / "online-retail" / "online-retail.csv.gz"


@dataclass(frozen=True)
class ColumnMap:
    """Which source column plays which part; ``None`` means the source has none."""

    user: str
    item: str
    timestamp: str
    event: str | None = None
    quantity: str | None = None
    rating: str | None = None
    category: str | None = None
    brand: str | None = None
    header: bool = True
    separator: str = ","
    names: tuple[str, ...] | None = None  # column names for files without a header
    timestamp_unit: str | None = None  # "s" for epoch seconds; None = parse dates


PRESETS: dict[str, ColumnMap] = {
    "online-retail": ColumnMap(
        user="CustomerID", item="StockCode", timestamp="InvoiceDate", quantity="Quantity"
    ),
    "movielens-100k": ColumnMap(
        user="user_id",
        item="item_id",
        timestamp="timestamp",
        rating="rating",
        header=False,
        separator="\t",
        names=("user_id", "item_id", "rating", "timestamp"),
        timestamp_unit="s",
    ),
    "movielens": ColumnMap(
        user="userId", item="movieId", timestamp="timestamp", rating="rating", timestamp_unit="s"
    ),
}


def preset_for(path: Path) -> str | None:
    """Guess a preset from the file name (u.data, ratings.csv, online-retail*)."""
    name = path.name.lower()
    if name.startswith("u.data"):
        return "movielens-100k"
    if name.startswith("ratings.csv"):
        return "movielens"
    if name.startswith("online-retail"):
        return "online-retail"
    return None


def _read_table(path: Path, columns: ColumnMap) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            return pd.read_parquet(path)
        return pd.read_csv(
            path,
            sep=columns.separator,
            header=0 if columns.header else None,
            names=list(columns.names) if columns.names else None,
            dtype=str,
            compression="infer",
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file is empty") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc


def _timestamps(values: pd.Series, path: Path, columns: ColumnMap) -> np.ndarray:
    name = columns.timestamp
    if columns.timestamp_unit:
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():
            raise DataError(f"{path}: column {name!r} has non-numeric timestamps")
        return numeric.to_numpy(dtype=np.int64)
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    if parsed.isna().any():
        raise DataError(f"{path}: column {name!r} has unparseable timestamps")
    return (parsed.astype("datetime64[s]").astype(np.int64)).to_numpy()


def _online_retail_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Drop guest checkouts, cancellations and returns; derive category and brand.

    Category: the first three characters of StockCode (its numeric product-family
    prefix, e.g. ``851`` for ``85123A``). Brand: the last word of Description, the
    product type (``HOLDER``, ``BAG``…), standing in for a brand the data lacks.
    """
    quantity = pd.to_numeric(raw["Quantity"], errors="coerce")
    keep = (
        raw["CustomerID"].notna()
        & (quantity > 0)
        & ~raw["InvoiceNo"].astype(str).str.startswith("C")
    )
    rows = raw[keep].copy()
    rows["CustomerID"] = rows["CustomerID"].str.replace(r"\.0$", "", regex=True)
    codes = rows["StockCode"].astype(str)
    rows["category"] = codes.map({c: c[:3] for c in codes.unique()})
    description = rows.get("Description", pd.Series("", index=rows.index)).fillna("")
    rows["brand"] = description.map(
        {d: (str(d).split() or ["UNKNOWN"])[-1] for d in description.unique()}
    )
    return rows


def load_event_log(path: str | Path, columns: ColumnMap | str | None = None) -> Interactions:
    """Read ``path`` into Interactions. ``columns`` is a ColumnMap or a preset name.

    Raises DataError naming the file and the column when something is missing.
    """
    path = Path(path)
    if not path.exists():  # before the layout: a missing file has none to guess
        raise DataError(f"{path}: no such file")
    if columns is None:
        preset = preset_for(path)
        if preset is None:
            raise DataError(f"{path}: unknown layout; pass a column mapping or a preset")
        columns = preset
    if isinstance(columns, str):
        if columns not in PRESETS:
            raise DataError(f"unknown data preset {columns!r} (known: {', '.join(PRESETS)})")
        preset_name, columns = columns, PRESETS[columns]
    else:
        preset_name = None
    if columns.names is None and not columns.header:
        columns = replace(columns, header=True)
    raw = _read_table(path, columns)
    if raw.empty:
        raise DataError(f"{path}: file has no rows")
    wanted = [columns.user, columns.item, columns.timestamp]
    wanted += [c for c in (columns.event, columns.quantity, columns.rating) if c]
    wanted += [c for c in (columns.category, columns.brand) if c]
    for name in wanted:
        if name not in raw.columns:
            raise DataError(
                f"{path}: missing column {name!r} (found: {', '.join(map(str, raw.columns))})"
            )
    if preset_name == "online-retail":
        raw = _online_retail_rows(raw)
    elif columns.quantity:
        raw = raw[pd.to_numeric(raw[columns.quantity], errors="coerce") > 0]
    for name in (columns.user, columns.item):
        raw = raw[raw[name].notna() & (raw[name].astype(str).str.strip() != "")]
    if raw.empty:
        raise DataError(f"{path}: no usable events after dropping empty ids")
    frame = pd.DataFrame(
        {
            "user_id": raw[columns.user].astype(str).str.strip().to_numpy(),
            "item_id": raw[columns.item].astype(str).str.strip().to_numpy(),
            "timestamp": _timestamps(raw[columns.timestamp], path, columns),
        }
    )
    for part, name in (("category", columns.category), ("brand", columns.brand)):
        if name:
            frame[part] = raw[name].fillna("").to_numpy()
        elif part in raw:
            frame[part] = raw[part].to_numpy()
    return Interactions.from_frame(frame, source=str(path))
