"""Prints what a Glue API holds for one database, as JSON: the database, every table and
every table's partitions (all pages), or {"Database": null} when there is no such database.
An independent reader (boto3) for the registration tests.

Usage: python3 glue_dump.py <database>
Environment: SNAPEX_GLUE_ENDPOINT (the Glue endpoint URL), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION (any values for moto).
"""
import json
import os
import sys

import boto3

database = sys.argv[1]
glue = boto3.client("glue", endpoint_url=os.environ["SNAPEX_GLUE_ENDPOINT"])

try:
    found = glue.get_database(Name=database)["Database"]
except glue.exceptions.EntityNotFoundException:
    print(json.dumps({"Database": None}))
    sys.exit(0)

tables = {}
for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
    for table in page["TableList"]:
        partitions = []
        pages = glue.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName=table["Name"]
        )
        for p in pages:
            partitions.extend(p["Partitions"])
        table["Partitions"] = sorted(partitions, key=lambda p: p["Values"])
        tables[table["Name"]] = table

out = {"Database": found, "Tables": tables}
print(json.dumps(out, default=str, ensure_ascii=False, sort_keys=True))
