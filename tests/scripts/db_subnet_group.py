"""Creates a DB subnet group in moto from the subnets of moto's default VPC, as a deployment's
DbSubnetGroupName names one that exists, and prints {"name": ..., "subnets": [...]} as JSON.

Usage: python3 db_subnet_group.py <name>
Environment: SNAPEX_GLUE_ENDPOINT (moto's endpoint URL, as S3Server::boto3_script sets it),
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION (any values for moto).
"""
import json
import os
import sys

import boto3

name = sys.argv[1]
endpoint = os.environ["SNAPEX_GLUE_ENDPOINT"]
ec2 = boto3.client("ec2", endpoint_url=endpoint)
rds = boto3.client("rds", endpoint_url=endpoint)
subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
rds.create_db_subnet_group(
    DBSubnetGroupName=name,
    DBSubnetGroupDescription="temporary instances of the tests' exports",
    SubnetIds=subnets,
)
print(json.dumps({"name": name, "subnets": subnets}))
