"""Row ranges of a Parquet melody table: the rows a features or encode partition reads."""

from __future__ import annotations

import numpy as np
import pandas as pd


def read_rows(path, start: int, stop: int, columns=("events",)) -> pd.DataFrame:
    """Rows ``start:stop`` of a Parquet table, reading only the row groups that hold them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    groups, first, offset = [], None, 0
    for g in range(f.num_row_groups):
        n = f.metadata.row_group(g).num_rows
        if offset + n > start and offset < stop:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    if not groups:
        return f.schema_arrow.empty_table().select(list(columns)).to_pandas()
    t = f.read_row_groups(groups, columns=list(columns))
    return pa.Table.slice(t, start - first, stop - start).to_pandas()


def _events(df: pd.DataFrame) -> np.ndarray:
    ev = df["events"].to_list()
    return np.asarray(ev, dtype=np.int64) if ev else np.zeros((0, 0), np.int64)
