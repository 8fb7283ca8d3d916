"""The floor: read every source file the plainest way and write it as Parquet, nothing else.

    python -m benchmarks.floor SOURCE_DIR OUTPUT_DIR

JSON Lines files go through `pyarrow.json`, JSON documents through `json`; a file either cannot read
(a damaged line) is skipped. No anonymization, no validation, no Dagster: what any export must at least
spend on this machine, run as its own process like `learning export`.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq


def records(doc) -> list:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        return lists[0] if lists else [doc]
    return [doc]


def main(source: Path, output: Path) -> int:
    output.mkdir(parents=True, exist_ok=True)
    written = 0
    for i, path in enumerate(sorted(p for p in source.rglob("*") if p.is_file())):
        name = path.name.removesuffix(".gz")
        try:
            if name.endswith(".jsonl"):
                table = pj.read_json(path)
            elif name.endswith(".json"):
                data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
                table = pa.table({"record": [json.dumps(r) for r in records(json.loads(data))]})
            else:
                continue
        except (pa.ArrowInvalid, ValueError, OSError, EOFError):
            continue
        pq.write_table(table, output / f"{i}.parquet", compression="zstd")
        written += table.num_rows
    return written


if __name__ == "__main__":
    print(main(Path(sys.argv[1]), Path(sys.argv[2])))
