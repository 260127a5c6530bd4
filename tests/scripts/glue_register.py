"""Registers an export's catalog files with a Glue API and prints what Glue then holds, as JSON.

The tests point it at moto's Glue: botocore validates every request against the Glue API
model before sending it (unknown or misspelt keys, wrong types and missing required fields
fail), and moto stores what it was given, so what comes back is what Athena would see.

Partitions files (<table>.partitions-NNNN.json) are sent as they are, each one whole
BatchCreatePartition request (as `aws glue batch-create-partition --cli-input-json` would);
any partition Glue refuses fails the script.

Usage: python3 glue_register.py <folder holding database.json, *.table.json, *.partitions-*.json>
Environment: SNAPEX_GLUE_ENDPOINT (the Glue endpoint URL), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_REGION (any values for moto).
"""
import glob
import json
import os
import sys

import boto3

folder = sys.argv[1]
glue = boto3.client("glue", endpoint_url=os.environ["SNAPEX_GLUE_ENDPOINT"])

with open(os.path.join(folder, "database.json"), encoding="utf-8") as f:
    database = json.load(f)
glue.create_database(DatabaseInput=database)

tables = {}
for path in sorted(glob.glob(os.path.join(folder, "*.table.json"))):
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    glue.create_table(DatabaseName=database["Name"], TableInput=table)
    got = glue.get_table(DatabaseName=database["Name"], Name=table["Name"])["Table"]
    tables[table["Name"]] = got

partitions = {}
for path in sorted(glob.glob(os.path.join(folder, "*.partitions-*.json"))):
    with open(path, encoding="utf-8") as f:
        request = json.load(f)
    if len(request["PartitionInputList"]) > 100:
        sys.exit(f"{path}: more than BatchCreatePartition's 100 partitions")
    errors = glue.batch_create_partition(**request).get("Errors")
    if errors:
        sys.exit(f"{path}: Glue refused partitions: {errors}")
    partitions[request["TableName"]] = []
for name in partitions:
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=database["Name"], TableName=name
    )
    for page in pages:
        partitions[name].extend(page["Partitions"])

out = {
    "Database": glue.get_database(Name=database["Name"])["Database"],
    "Tables": tables,
    "Partitions": partitions,
}
print(json.dumps(out, default=str, ensure_ascii=False))
