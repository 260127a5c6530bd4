"""Runs one SQL query with DuckDB and prints the single result row as JSON strings.

An independent Parquet reader for the tests: DuckDB shares no code with arrow-rs.
Usage: python3 duckdb_query.py "<sql>"
"""
import json
import sys

import duckdb

row = duckdb.connect().execute(sys.argv[1]).fetchall()[0]
print(json.dumps([None if v is None else str(v) for v in row]))
