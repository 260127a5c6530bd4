"""Reads Parquet files with pyarrow and prints their schema and rows as JSON.

A second independent Parquet reader for the tests (pyarrow's C++ reader shares no code with
arrow-rs). Usage: python3 pyarrow_read.py <file or folder of .parquet files>
Prints {"schema": {column: arrow type}, "rows": [{column: value}]}, rows in file order.
Values: decimals as their exact text, bytes as hex, dates and times in ISO form, lists as
lists and structs as objects, NULL as null.
"""
import datetime
import decimal
import json
import pathlib
import sys

import pyarrow.parquet as pq


def plain(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (datetime.date, datetime.time, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return str(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


path = pathlib.Path(sys.argv[1])
files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
schema = None
rows = []
for f in files:
    table = pq.read_table(f)
    if schema is None:
        schema = {field.name: str(field.type) for field in table.schema}
    rows.extend(plain(r) for r in table.to_pylist())
print(json.dumps({"schema": schema, "rows": rows}))
