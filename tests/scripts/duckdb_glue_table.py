"""Queries an exported table with DuckDB through its generated Glue TableInput.

The table is defined from the TableInput alone: its StorageDescriptor.Location (a file:// URL
for a local export), its columns and its PartitionKeys, read as Hive-style partitions with the
keys' Glue types. DuckDB shares no code with snapex, so it is an independent reader.

Usage: python3 duckdb_glue_table.py <table.json> "<sql using the view t>" [explain]
Prints the single result row as JSON strings; with `explain`, prints instead the files
DuckDB's EXPLAIN ANALYZE says it scanned and read, as {"scanning": "1/1098", "read": 1}.
"""
import json
import re
import sys
import urllib.parse

import duckdb

GLUE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER"}

table = json.load(open(sys.argv[1]))
sd = table["StorageDescriptor"]
location = sd["Location"]
assert location.startswith("file://"), location
keys = table.get("PartitionKeys", [])
hive_types = ", ".join(f"'{k['Name']}': {GLUE_TO_DUCKDB[k['Type']]}" for k in keys)
depth = "/".join(["*"] * len(keys) + ["*.parquet"])
con = duckdb.connect()
# The location holds escaped path segments (%XX); glob them literally.
source = f"read_parquet('{location[len('file://'):]}{depth}', hive_partitioning = {bool(keys)}"
if keys:
    source += f", hive_types = {{{hive_types}}}"
source += ")"
con.execute(f"CREATE VIEW t AS SELECT * FROM {source}")
if len(sys.argv) > 3 and sys.argv[3] == "explain":
    plan = "\n".join(str(r[1]) for r in con.execute("EXPLAIN ANALYZE " + sys.argv[2]).fetchall())
    scanning = re.search(r"Scanning Files:\s*(\d+/\d+)", plan)
    read = re.search(r"Total Files Read:\s*(\d+)", plan)
    print(json.dumps({"scanning": scanning and scanning.group(1), "read": read and int(read.group(1))}))
else:
    row = con.execute(sys.argv[2]).fetchall()[0]
    print(json.dumps([None if v is None else str(v) for v in row]))
