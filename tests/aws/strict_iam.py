"""IAM as AWS enforces it, inside moto's process: a hook for strict_moto.py.

    strict_moto.py --port PORT --hook strict_iam.py=CONFIG.json

moto allows every call. With this hook, a request signed with one of the access keys that
CONFIG.json names is authorized, before moto serves it, against that principal's identity
policies (from template.yaml, resolved by resolve_template.py), and refused as AWS refuses it
when they deny it. Requests signed with any other key (the tests' own "testing" key) and
unsigned ones are served as before.

CONFIG.json:

    {
      "denials_log": "/path/denials.jsonl",     # one JSON line per denial (see below)
      "calls_log": "/path/calls.jsonl",         # optional: one line {principal, operation,
                                                # allowed} per checked call
      "principals": {
        ACCESS_KEY_ID: {
          "name": "snapex-restore",              # for messages and the check endpoint
          "role_arn": "arn:aws:iam::123456789012:role/...",
          "session": "snapex-RestoreFunction",   # the assumed-role session (the function)
          "policies": [POLICY DOCUMENT, ...]
        }, ...
      }
    }

For each request the hook names the IAM action(s), the resource ARN(s) and the condition
context of the call with its own table of the operations Snapex makes (OPERATIONS below, listed
from the code: the SDK calls of functions/ and the S3 calls of object_store). An operation of a
checked principal that the table does not know is a denial too, so nothing slips through
unchecked. The context holds aws:RequestTag/* and aws:TagKeys from the request's tags,
aws:ResourceTag/* from the resource's tags in moto's backends (RDS instances and clusters,
Secrets Manager secrets), aws:SecureTransport = true (the deployed functions call AWS over TLS),
aws:RequestedRegion, aws:PrincipalArn and aws:PrincipalAccount. A call is allowed when every
(action, resource) pair it needs is; a call that creates a tagged RDS resource or secret also
needs rds:AddTagsToResource / secretsmanager:TagResource on it, as AWS requires.

The policies are evaluated by Principal Mapper (PyPI `principalmapper`, NCC Group), an existing
local evaluator of IAM identity policies: Allow and explicit Deny, NotAction/NotResource,
wildcards, and the condition operators (String*, ForAllValues:/ForAnyValue:, Bool, Null, ...)
with IfExists. Its resource and action matching ignores case (AWS matches resources case-
sensitively). moto's own evaluator (moto/iam/access_control.py) is not used: it ignores
every condition operator but StringEquals and treats a statement whose condition does not
match as an explicit deny.

A denial is answered with the service's AccessDenied error: S3 and RDS (XML protocols) with
HTTP 403 and code AccessDenied; Secrets Manager, Step Functions and Glue (JSON protocols) with
HTTP 400 and AccessDeniedException, as AWS's common errors list it. Each denial appends one JSON
line {principal, action, resource, context, operation, message} to the denials log.

Callers that are not moto clients (a test's state machine runner invoking the functions) ask
POST /_strict_iam/check {"principal": NAME or ACCESS_KEY_ID, "action": ..., "resource": ...,
"context": {...}} and get {"allowed": true} or {"allowed": false, "message": ...} (denials are
logged the same way).
"""

import collections
import collections.abc
import io
import json
import re
import sys
import threading
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

CHECK_PATH = "/_strict_iam/check"

# Principal Mapper 1.1.5 (its last release) imports Mapping and MutableMapping from
# `collections`, which Python 3.10 removed; they live in `collections.abc`.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

try:
    from principalmapper.common import Node, Policy
    from principalmapper.querying.local_policy_simulation import has_matching_statement
    from principalmapper.querying.query_interface import local_check_authorization
except ImportError as e:
    raise SystemExit(f"strict_iam.py: {e}: pip install principalmapper==1.1.5 "
                     "(scripts/services.sh does)") from e

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}


class Unmapped(Exception):
    """An operation the table does not know: refused, since it cannot be checked."""


class Principal:
    def __init__(self, access_key, spec):
        self.access_key = access_key
        self.name = spec["name"]
        self.role_arn = spec["role_arn"]
        self.account = self.role_arn.split(":")[4]
        role_name = self.role_arn.rsplit("/", 1)[1]
        partition = self.role_arn.split(":")[1]
        session = spec.get("session", self.name)
        self.session_arn = f"arn:{partition}:sts::{self.account}:assumed-role/{role_name}/{session}"
        policies = [
            Policy(self.role_arn, f"{self.name}-{i}", doc)
            for i, doc in enumerate(spec["policies"])
        ]
        self.node = Node(self.role_arn, f"AROA{self.name}", policies, [], LAMBDA_TRUST, None, 0,
                         False, False, None, False, None)

    def authorize(self, action, resource, context):
        """None when allowed, else AWS's reason."""
        if local_check_authorization(self.node, action, resource, context):
            return None
        why = ("with an explicit deny in an identity-based policy"
               if has_matching_statement(self.node, "Deny", action, resource, _ci(context))
               else f"because no identity-based policy allows the {action} action")
        return (f"User: {self.session_arn} is not authorized to perform: {action} on resource: "
                f"{resource} {why}")


def _ci(context):
    from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict
    return CaseInsensitiveDict(context)


class Request:
    """What the hook needs of one WSGI request; reading the body puts it back for moto."""

    def __init__(self, environ):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        # WSGI gives the decoded path as latin-1 text; S3 keys are UTF-8.
        self.path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        self.query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.host = environ.get("HTTP_HOST", "")
        self.target = environ.get("HTTP_X_AMZ_TARGET", "")
        self._body = None

    def header(self, name):
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    def body(self):
        if self._body is None:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
            self._body = self.environ["wsgi.input"].read(length) if length else b""
            self.environ["wsgi.input"] = io.BytesIO(self._body)
        return self._body

    def json(self):
        return json.loads(self.body() or b"{}")

    def form(self):
        params = urllib.parse.parse_qs(self.body().decode("utf-8"), keep_blank_values=True)
        params.update(self.query)
        return {k: v[0] for k, v in params.items()}


def signer(environ):
    """(access key id, region, service) of a SigV4-signed request, or None."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
    if not match:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        credential = query.get("X-Amz-Credential", [""])[0]
        match = re.match(r"([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", credential)
    return match.groups() if match else None


# ----------------------------------------------------------------------------------------
# The operations Snapex makes: (action, resource, extra context) per operation.
# ----------------------------------------------------------------------------------------

class Call:
    """One request as IAM sees it: an operation name and the authorizations it needs."""

    def __init__(self, operation, tags=None):
        self.operation = operation
        self.tags = tags or {}
        self.needs = []  # (action, resource)

    def need(self, action, resource):
        self.needs.append((action, resource))
        return self


def s3_call(req, region, account, partition):
    host = req.host.split(":")[0]
    path = req.path.lstrip("/")
    if re.fullmatch(r"[\d.]+|localhost|\[[0-9a-f:]+\]", host):
        bucket, _, key = path.partition("/")
    else:
        bucket = re.split(r"\.s3[.-]|\.localhost$", host)[0]
        key = path
    q, m = req.query, req.method
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{key}"
    if not bucket:
        raise Unmapped(f"S3 {m} {req.path} (no bucket)")
    if not key:
        if m == "GET" and "uploads" in q:
            return Call("ListMultipartUploads").need("s3:ListBucketMultipartUploads", bucket_arn)
        if m == "GET" and not (set(q) - {"list-type", "prefix", "delimiter", "continuation-token",
                                           "start-after", "max-keys", "encoding-type",
                                           "fetch-owner", "marker"}):
            name = "ListObjectsV2" if q.get("list-type") == ["2"] else "ListObjects"
            return Call(name).need("s3:ListBucket", bucket_arn)
        if m == "HEAD" and not q:
            return Call("HeadBucket").need("s3:ListBucket", bucket_arn)
        if m == "POST" and "delete" in q:
            call = Call("DeleteObjects")
            root = ET.fromstring(req.body())
            for el in root.iter():
                if el.tag.endswith("Key") and el.text is not None:
                    call.need("s3:DeleteObject", f"{bucket_arn}/{el.text}")
            return call
        raise Unmapped(f"S3 {m} bucket {bucket} ?{'&'.join(sorted(q))}")
    if m == "GET" and "uploadId" in q:
        return Call("ListParts").need("s3:ListMultipartUploadParts", object_arn)
    if m == "GET" and not (set(q) - {"partNumber", "versionId"}):
        return Call("GetObject").need("s3:GetObject", object_arn)
    if m == "HEAD" and not (set(q) - {"partNumber", "versionId"}):
        return Call("HeadObject").need("s3:GetObject", object_arn)
    if m == "PUT" and not (set(q) - {"partNumber", "uploadId"}):
        name = "UploadPart" if "uploadId" in q else "PutObject"
        call = Call(name).need("s3:PutObject", object_arn)
        source = req.header("x-amz-copy-source")
        if source:
            source = urllib.parse.unquote(source.split("?")[0]).lstrip("/")
            call.operation = "UploadPartCopy" if "uploadId" in q else "CopyObject"
            call.need("s3:GetObject", f"arn:{partition}:s3:::{source}")
        return call
    if m == "POST" and "uploads" in q:
        return Call("CreateMultipartUpload").need("s3:PutObject", object_arn)
    if m == "POST" and "uploadId" in q:
        return Call("CompleteMultipartUpload").need("s3:PutObject", object_arn)
    if m == "DELETE" and "uploadId" in q:
        return Call("AbortMultipartUpload").need("s3:AbortMultipartUpload", object_arn)
    if m == "DELETE" and not (set(q) - {"versionId"}):
        return Call("DeleteObject").need("s3:DeleteObject", object_arn)
    raise Unmapped(f"S3 {m} object {bucket}/{key} ?{'&'.join(sorted(q))}")


def query_tags(params):
    """Tags of an AWS Query request (Tags.Tag.N.Key / Tags.member.N.Key)."""
    keys, values = {}, {}
    for name, value in params.items():
        m = re.fullmatch(r"Tags\.(?:Tag|member)\.(\d+)\.(Key|Value)", name)
        if m:
            (keys if m.group(2) == "Key" else values)[m.group(1)] = value
    return {keys[n]: values.get(n, "") for n in keys}


def rds_call(req, region, account, partition):
    p = req.form()
    op = p.get("Action", "")
    base = f"arn:{partition}:rds:{region}:{account}"

    def arn(kind, name):
        return name if name.startswith("arn:") else f"{base}:{kind}:{name}"

    def optional(call, kind, param, action):
        if p.get(param):
            call.need(action, arn(kind, p[param]))

    tags = query_tags(p)
    call = Call(op, tags)
    action = f"rds:{op}"
    if op in ("DescribeDBInstances", "DescribeDBClusters", "DescribeDBSnapshots",
              "DescribeDBClusterSnapshots"):
        kind, param = {
            "DescribeDBInstances": ("db", "DBInstanceIdentifier"),
            "DescribeDBClusters": ("cluster", "DBClusterIdentifier"),
            "DescribeDBSnapshots": ("snapshot", "DBSnapshotIdentifier"),
            "DescribeDBClusterSnapshots": ("cluster-snapshot", "DBClusterSnapshotIdentifier"),
        }[op]
        return call.need(action, arn(kind, p[param]) if p.get(param) else "*")
    if op == "RestoreDBInstanceFromDBSnapshot":
        target = arn("db", p["DBInstanceIdentifier"])
        call.need(action, target)
        call.need(action, arn("snapshot", p["DBSnapshotIdentifier"]))
    elif op == "RestoreDBClusterFromSnapshot":
        target = arn("cluster", p["DBClusterIdentifier"])
        call.need(action, target)
        call.need(action, arn("cluster-snapshot", p["SnapshotIdentifier"]))
        optional(call, "cluster-pg", "DBClusterParameterGroupName", action)
    elif op == "CreateDBInstance":
        target = arn("db", p["DBInstanceIdentifier"])
        call.need(action, target)
        optional(call, "cluster", "DBClusterIdentifier", action)
    elif op in ("ModifyDBInstance", "DeleteDBInstance"):
        return call.need(action, arn("db", p["DBInstanceIdentifier"]))
    elif op in ("ModifyDBCluster", "DeleteDBCluster"):
        return call.need(action, arn("cluster", p["DBClusterIdentifier"]))
    elif op in ("AddTagsToResource", "ListTagsForResource"):
        return call.need(action, p["ResourceName"])
    else:
        raise Unmapped(f"RDS {op}")
    # The creating calls: the other resources they name, and tag-on-create.
    optional(call, "subgrp", "DBSubnetGroupName", action)
    optional(call, "og", "OptionGroupName", action)
    optional(call, "pg", "DBParameterGroupName", action)
    if tags:
        call.need("rds:AddTagsToResource", target)
    return call


def json_tags(tags):
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {t["Key"]: t.get("Value", "") for t in tags or []}


def secret_arn(secret_id, region, account, partition):
    if secret_id.startswith("arn:"):
        return secret_id
    from moto.secretsmanager.models import secretsmanager_backends
    found = secretsmanager_backends[account][region].secrets.get(secret_id)
    if found is not None:
        return found.arn
    # A secret that does not exist yet: its ARN ends in six random characters.
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_id}-??????"


def secretsmanager_call(req, region, account, partition):
    op = req.target.split(".", 1)[-1]
    body = req.json()
    action = f"secretsmanager:{op}"
    if op == "GetRandomPassword":
        return Call(op).need(action, "*")
    if op == "CreateSecret":
        tags = json_tags(body.get("Tags"))
        call = Call(op, tags).need(action, secret_arn(body["Name"], region, account, partition))
        if tags:
            call.need("secretsmanager:TagResource", call.needs[0][1])
        return call
    if op in ("DescribeSecret", "GetSecretValue", "DeleteSecret", "TagResource"):
        tags = json_tags(body.get("Tags")) if op == "TagResource" else {}
        return Call(op, tags).need(action, secret_arn(body["SecretId"], region, account,
                                                      partition))
    raise Unmapped(f"Secrets Manager {op}")


def states_call(req, region, account, partition):
    op = req.target.split(".", 1)[-1]
    body = req.json()
    if op == "StartExecution":
        return Call(op).need("states:StartExecution", body["stateMachineArn"])
    if op in ("DescribeExecution", "StopExecution"):
        return Call(op).need(f"states:{op}", body["executionArn"])
    raise Unmapped(f"Step Functions {op}")


def glue_call(req, region, account, partition):
    op = req.target.split(".", 1)[-1]
    body = req.json()
    base = f"arn:{partition}:glue:{region}:{account}"
    catalog = f"{base}:catalog"
    action = f"glue:{op}"
    if op in ("GetDatabase", "CreateDatabase"):
        name = body["Name"] if op == "GetDatabase" else body["DatabaseInput"]["Name"]
        return (Call(op, json_tags(body.get("Tags"))).need(action, catalog)
                .need(action, f"{base}:database/{name}"))
    if op in ("GetTable", "CreateTable", "UpdateTable", "GetPartitions", "BatchCreatePartition",
              "BatchUpdatePartition", "BatchDeletePartition"):
        db = body["DatabaseName"]
        table = {"GetTable": lambda: body["Name"],
                 "CreateTable": lambda: body["TableInput"]["Name"],
                 "UpdateTable": lambda: body["TableInput"]["Name"]}.get(op, lambda: body["TableName"])()
        return (Call(op).need(action, catalog).need(action, f"{base}:database/{db}")
                .need(action, f"{base}:table/{db}/{table}"))
    raise Unmapped(f"Glue {op}")


OPERATIONS = {
    "s3": s3_call,
    "rds": rds_call,
    "secretsmanager": secretsmanager_call,
    "states": states_call,
    "glue": glue_call,
}


def resource_tags(resource, region, account):
    """The tags moto holds for `resource` (aws:ResourceTag/*); empty for what has none."""
    parts = resource.split(":")
    if len(parts) < 6:
        return {}
    service = parts[2]
    if service == "rds" and len(parts) >= 7 and parts[5] in ("db", "cluster"):
        from moto.rds.models import rds_backends
        backend = rds_backends[parts[4]][parts[3]]
        found = (backend.databases if parts[5] == "db" else backend.clusters).get(parts[6])
        return {t["Key"]: t["Value"] for t in (found.tags if found else [])}
    if service == "secretsmanager":
        from moto.secretsmanager.models import secretsmanager_backends
        found = secretsmanager_backends[parts[4]][parts[3]].secrets.get(resource)
        return {t["Key"]: t["Value"] for t in (getattr(found, "tags", None) or [])}
    return {}


class StrictIam:
    def __init__(self, config):
        self.principals = {k: Principal(k, v) for k, v in config["principals"].items()}
        self.by_name = {p.name: p for p in self.principals.values()}
        self.log_path = config["denials_log"]
        self.calls_path = config.get("calls_log")
        self.lock = threading.Lock()

    def context(self, principal, region, tags, resource):
        ctx = {
            "aws:SecureTransport": "true",
            "aws:RequestedRegion": region,
            "aws:PrincipalArn": principal.role_arn,
            "aws:PrincipalAccount": principal.account,
        }
        for k, v in tags.items():
            ctx[f"aws:RequestTag/{k}"] = v
        if tags:
            ctx["aws:TagKeys"] = sorted(tags)
        if resource != "*":
            for k, v in resource_tags(resource, region, principal.account).items():
                ctx[f"aws:ResourceTag/{k}"] = v
        return ctx

    def deny(self, principal, operation, action, resource, context, message):
        line = json.dumps({
            "principal": principal.name, "operation": operation, "action": action,
            "resource": resource, "context": context, "message": message,
        }, sort_keys=True)
        print(f"strict_iam: DENIED {line}", file=sys.stderr, flush=True)
        with self.lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def record(self, principal, operation, allowed):
        if not self.calls_path:
            return
        line = json.dumps({"principal": principal.name, "operation": operation,
                           "allowed": allowed}, sort_keys=True)
        with self.lock, open(self.calls_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def authorize(self, principal, call, region):
        """None when every authorization the call needs is granted, else the first refusal."""
        for action, resource in call.needs:
            ctx = self.context(principal, region, call.tags, resource)
            message = principal.authorize(action, resource, ctx)
            if message:
                self.deny(principal, call.operation, action, resource, ctx, message)
                self.record(principal, call.operation, False)
                return message
        self.record(principal, call.operation, True)
        return None

    def check_endpoint(self, environ, start_response):
        req = Request(environ)
        try:
            ask = req.json()
            who = ask["principal"]
            principal = self.principals.get(who) or self.by_name[who]
            resources = ask.get("resources") or [ask["resource"]]
            call = Call(ask.get("operation", ask["action"]))
            for r in resources:
                call.need(ask["action"], r)
        except (KeyError, ValueError, TypeError) as e:
            return respond(start_response, "400 Bad Request", {"error": f"bad check: {e!r}"})
        region = ask.get("region", "us-east-1")
        extra = ask.get("context", {})
        for action, resource in call.needs:
            ctx = self.context(principal, region, {}, resource)
            ctx.update(extra)
            message = principal.authorize(action, resource, ctx)
            if message:
                self.deny(principal, call.operation, action, resource, ctx, message)
                self.record(principal, call.operation, False)
                return respond(start_response, "200 OK", {"allowed": False, "message": message})
        self.record(principal, call.operation, True)
        return respond(start_response, "200 OK", {"allowed": True})

    def __call__(self, app, environ, start_response):
        if environ.get("PATH_INFO") == CHECK_PATH and environ["REQUEST_METHOD"] == "POST":
            return self.check_endpoint(environ, start_response)
        signed = signer(environ)
        if not signed or signed[0] not in self.principals:
            return app(environ, start_response)
        access_key, region, service = signed
        principal = self.principals[access_key]
        req = Request(environ)
        mapper = OPERATIONS.get(service)
        try:
            if mapper is None:
                raise Unmapped(f"service {service}")
            call = mapper(req, region, principal.account, principal.role_arn.split(":")[1])
        except Unmapped as e:
            message = (f"strict_iam: {principal.name} made a call the hook does not know ({e}): "
                       "add it to OPERATIONS in tests/aws/strict_iam.py")
            self.deny(principal, str(e), "?", "?", {}, message)
            self.record(principal, str(e), False)
            return access_denied(service, req, start_response, message)
        message = self.authorize(principal, call, region)
        if message:
            return access_denied(service, req, start_response, message)
        return app(environ, start_response)


def respond(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def access_denied(service, req, start_response, message):
    request_id = str(uuid.uuid4())
    esc = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if service == "s3":
        status = "403 Forbidden"
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
                f"<Message>{esc}</Message><RequestId>{request_id}</RequestId>"
                "<HostId>strict-iam</HostId></Error>")
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        if req.method == "HEAD":
            body = ""
    elif not req.target:
        # AWS Query protocol (RDS).
        status = "403 Forbidden"
        body = ("<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error>"
                f"<Type>Sender</Type><Code>AccessDenied</Code><Message>{esc}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    else:
        status = "400 Bad Request"
        body = json.dumps({"__type": "AccessDeniedException", "Message": message})
        headers = [("Content-Type", "application/x-amz-json-1.1"),
                   ("x-amzn-ErrorType", "AccessDeniedException"),
                   ("x-amzn-RequestId", request_id)]
    data = body.encode()
    start_response(status, headers + [("Content-Length", str(len(data)))])
    return [data]


def install(argument):
    if not argument:
        raise SystemExit("strict_iam.py needs its configuration: --hook strict_iam.py=CONFIG.json")
    with open(argument, encoding="utf-8") as f:
        strict = StrictIam(json.load(f))
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    served = DomainDispatcherApplication.__call__

    def checked(self, environ, start_response):
        return strict(lambda e, s: served(self, e, s), environ, start_response)

    DomainDispatcherApplication.__call__ = checked
