"""Reads a folder of Parquet files with pyarrow's datasets and prints its rows and columns.

A second independent Parquet reader for the tests: pyarrow's C++ reader shares no code with
arrow-rs. Usage: python3 pyarrow_dataset.py <folder> [<key>=<arrow type> ...]
With partition keys (e.g. created_at_day=string), the folders are read as Hive partitions of
those types; without, the files alone. Prints {"rows": N, "columns": [[name, type], ...]}.
"""
import json
import sys

import pyarrow as pa
import pyarrow.dataset as ds

folder = sys.argv[1]
keys = [arg.split("=", 1) for arg in sys.argv[2:]]
partitioning = None
if keys:
    schema = pa.schema([(name, pa.type_for_alias(kind)) for name, kind in keys])
    partitioning = ds.partitioning(schema, flavor="hive")
table = ds.dataset(folder, format="parquet", partitioning=partitioning).to_table()
columns = [[field.name, str(field.type)] for field in table.schema]
print(json.dumps({"rows": table.num_rows, "columns": columns}))
