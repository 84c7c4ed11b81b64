"""Writing recommendation lists to CSV, TSV or Parquet, streamed batch by batch and atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..atomic import publish
from ..data.errors import DataError
from .topk import TopK

FORMATS = {".csv": ",", ".tsv": "\t", ".parquet": None}


def write_recommendations(batches: Iterable[TopK], path: str | Path) -> int:
    """Write every batch's (user, rank, item, score) rows to ``path``; returns the number of rows.

    The format follows the suffix. The file appears only when complete (written beside it, then renamed).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"unknown output format {suffix or '(no suffix)'!r}; expected one of {sorted(FORMATS)}",
                        path=str(path))
    writer = None
    if suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError("writing Parquet needs pyarrow: pip install 'gtcrec[parquet]'", path=str(path)) from None
    if not path.parent.exists():
        raise DataError("the output folder does not exist", path=str(path.parent))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    rows = 0
    try:
        first = True
        for batch in batches:
            frame = batch.to_frame()
            frame["user"] = frame["user"].astype(str)
            frame["item"] = frame["item"].astype(str)
            rows += len(frame)
            if suffix == ".parquet":
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            else:
                frame.to_csv(tmp, sep=FORMATS[suffix], index=False, header=first, mode="w" if first else "a",
                             float_format="%.6g")
            first = False
        if writer is not None:
            writer.close()
            writer = None
        elif first:  # no batch: still a file with its columns
            if suffix == ".parquet":
                pq.write_table(pa.Table.from_pandas(TopK.empty_frame(), preserve_index=False), tmp)
            else:
                TopK.empty_frame().to_csv(tmp, sep=FORMATS[suffix], index=False)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        publish(tmp, path)  # the mode a plain open() gives, not mkstemp's 0600
    except BaseException:
        if writer is not None:
            writer.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows
