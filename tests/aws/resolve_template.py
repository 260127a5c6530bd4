#!/usr/bin/env python3
"""The deployed shape of template.yaml, for tests: what each function and the state machine
would be given by CloudFormation, with every intrinsic resolved.

    resolve_template.py TEMPLATE [--stack NAME] [--account ID] [--region REGION]
                        [--param NAME=VALUE ...]

SAM's own translator (samtranslator, PyPI `aws-sam-translator`) expands the SAM resources as
`sam deploy` does (Globals merged, each function's role and inline policies generated); its YAML
loader reads the short forms (`!Ref`, `!Sub`, ...). This script then resolves Ref, Fn::Sub,
Fn::GetAtt, Fn::If (with the template's Conditions), Fn::Join, Fn::Select, Fn::Split,
Fn::Equals/Not/And/Or, and the pseudo parameters AWS::Partition, AWS::Region, AWS::AccountId,
AWS::StackName, AWS::URLSuffix and AWS::NoValue, for the given parameters (defaults for the
others; a parameter without default that is not given is an error). List parameters
(`List<...>`, `CommaDelimitedList`) take comma-separated values.

Physical names are CloudFormation's when the template names the resource, else
`{stack}-{LogicalId}` (CloudFormation adds a random suffix to those; tests need stable names).

Output (JSON on stdout):

    {
      "stack": "snapex", "account": "123456789012", "region": "us-east-1", "partition": "aws",
      "parameters": {NAME: VALUE, ...},          # every parameter, defaults included
      "functions": {                              # each AWS::Serverless::Function, by the
        "snapex-restore": {                       # Binary of its BuildProperties
          "logical_id": "RestoreFunction",
          "name": "snapex-RestoreFunction",
          "arn": "arn:aws:lambda:us-east-1:123456789012:function:snapex-RestoreFunction",
          "timeout": 60, "memory_size": 128,      # seconds, MB (Globals included)
          "environment": {NAME: VALUE, ...},      # Globals included
          "role_arn": "arn:aws:iam::123456789012:role/snapex-RestoreFunctionRole",
          "policies": [POLICY DOCUMENT, ...],     # the role's inline policies
          "managed_policy_arns": [ARN, ...]       # AWS managed policies SAM attaches (logs, VPC)
        }, ...
      },
      "state_machine": {                          # the one AWS::Serverless::StateMachine
        "logical_id": "ExportStateMachine", "name": "snapex-export", "arn": "...",
        "role_arn": "...", "policies": [...], "managed_policy_arns": [...],
        "definition_substitutions": {NAME: VALUE, ...}
      }
    }

Managed policies are listed, not expanded: their documents are not in the template.
"""

import argparse
import copy
import json
import re
import sys

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

NO_VALUE = object()


class ResolveError(Exception):
    pass


def sam_expand(template, stack, account, region, params):
    """The CloudFormation template `sam deploy` would submit: SAM resources expanded."""
    template = copy.deepcopy(template)
    # `sam package` replaces local code locations by S3 ones before the transform, which
    # refuses local paths; the location plays no part in what this script reports.
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://local-build/{logical_id}"
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=region))
    values = dict(params)
    values.update({"AWS::AccountId": account, "AWS::StackName": stack, "AWS::Region": region})
    return translator.translate(template, parameter_values=values, get_managed_policy_map=lambda: {})


class Stack:
    """Resolves intrinsics against one stack's parameters, conditions and resources."""

    def __init__(self, template, stack, account, region, given):
        self.template = template
        self.stack = stack
        self.account = account
        self.region = region
        self.partition = "aws-cn" if region.startswith("cn-") else (
            "aws-us-gov" if region.startswith("us-gov-") else "aws")
        self.resources = template.get("Resources", {})
        self.params = self._parameters(template.get("Parameters", {}), given)
        self.pseudo = {
            "AWS::Partition": self.partition,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        self._conditions = {}

    @staticmethod
    def _parameters(declared, given):
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ResolveError(f"parameters not in the template: {', '.join(unknown)}")
        out = {}
        missing = []
        for name, spec in declared.items():
            if name in given:
                value = given[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                missing.append(name)
                continue
            kind = spec.get("Type", "String")
            if kind.startswith("List<") or kind == "CommaDelimitedList":
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                out[name] = [str(v) for v in value]
            else:
                out[name] = str(value)
        if missing:
            raise ResolveError(f"parameters without a default need a value: {', '.join(missing)}")
        return out

    def condition(self, name):
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise ResolveError(f"no condition {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def physical_name(self, logical_id):
        resource = self._resource(logical_id)
        kind = resource["Type"]
        props = resource.get("Properties", {})
        named_by = {
            "AWS::Lambda::Function": "FunctionName",
            "AWS::IAM::Role": "RoleName",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::CloudWatch::Dashboard": "DashboardName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Events::Rule": "Name",
            "AWS::Scheduler::Schedule": "Name",
        }.get(kind)
        if kind == "AWS::Glue::Database":
            return self.resolve(props["DatabaseInput"]["Name"])
        if named_by and named_by in props:
            return self.resolve(props[named_by])
        name = f"{self.stack}-{logical_id}"
        return name.lower() if kind == "AWS::S3::Bucket" else name

    def _resource(self, logical_id):
        resource = self.resources.get(logical_id)
        if resource is None:
            raise ResolveError(f"no resource {logical_id}")
        if "Condition" in resource and not self.condition(resource["Condition"]):
            raise ResolveError(f"{logical_id} is not created (condition {resource['Condition']})")
        return resource

    def arn(self, logical_id):
        kind = self._resource(logical_id)["Type"]
        name = self.physical_name(logical_id)
        p, r, a = self.partition, self.region, self.account
        arns = {
            "AWS::Lambda::Function": f"arn:{p}:lambda:{r}:{a}:function:{name}",
            "AWS::IAM::Role": f"arn:{p}:iam::{a}:role/{name}",
            "AWS::StepFunctions::StateMachine": f"arn:{p}:states:{r}:{a}:stateMachine:{name}",
            "AWS::S3::Bucket": f"arn:{p}:s3:::{name}",
            "AWS::SQS::Queue": f"arn:{p}:sqs:{r}:{a}:{name}",
            "AWS::Logs::LogGroup": f"arn:{p}:logs:{r}:{a}:log-group:{name}:*",
            "AWS::CloudWatch::Alarm": f"arn:{p}:cloudwatch:{r}:{a}:alarm:{name}",
            "AWS::DynamoDB::Table": f"arn:{p}:dynamodb:{r}:{a}:table/{name}",
            "AWS::SNS::Topic": f"arn:{p}:sns:{r}:{a}:{name}",
            "AWS::Events::Rule": f"arn:{p}:events:{r}:{a}:rule/{name}",
            "AWS::Scheduler::Schedule": f"arn:{p}:scheduler:{r}:{a}:schedule/default/{name}",
        }
        if kind not in arns:
            raise ResolveError(f"no ARN known for {logical_id} ({kind})")
        return arns[kind]

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        kind = self._resource(name)["Type"]
        if kind in ("AWS::StepFunctions::StateMachine", "AWS::SNS::Topic"):
            return self.arn(name)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.physical_name(name)}"
        return self.physical_name(name)

    def get_att(self, logical_id, attribute):
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("Name", "QueueName"):
            return self.physical_name(logical_id)
        kind = self._resource(logical_id)["Type"]
        raise ResolveError(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) is not supported")

    def sub(self, text, variables):
        def one(match):
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                value = variables[expr]
            elif "." in expr and expr.split(".", 1)[0] in self.resources:
                value = self.get_att(*expr.split(".", 1))
            else:
                value = self.ref(expr)
            if not isinstance(value, str):
                raise ResolveError(f"Fn::Sub ${{{expr}}} is not a string: {value!r}")
            return value

        return re.sub(r"\$\{([^}]*)\}", one, text)

    def resolve(self, value):
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                sep, text = self.resolve(arg)
                return text.split(sep)
            if key == "Fn::Equals":
                a, b = self.resolve(arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key.startswith("Fn::"):
                raise ResolveError(f"{key} is not supported")
        out = {}
        for k, v in value.items():
            v = self.resolve(v)
            if v is not NO_VALUE:
                out[k] = v
        return out

    def role(self, role_value):
        """The role a resource's Role/RoleArn names, as {role_arn, policies, managed_policy_arns}."""
        if not (isinstance(role_value, dict) and "Fn::GetAtt" in role_value):
            raise ResolveError(f"the role {role_value!r} is not one of this template's roles")
        logical_id = role_value["Fn::GetAtt"][0]
        props = self.resolve(self._resource(logical_id).get("Properties", {}))
        return {
            "role_arn": self.arn(logical_id),
            "policies": [p["PolicyDocument"] for p in props.get("Policies", [])],
            "managed_policy_arns": props.get("ManagedPolicyArns", []),
        }


def describe(source, stack_name, account, region, given):
    sam = yaml_parse(source)
    cfn = sam_expand(sam, stack_name, account, region, given)
    stack = Stack(cfn, stack_name, account, region, given)
    functions = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical_id)
        props = stack.resolve(cfn["Resources"][logical_id]["Properties"])
        functions[binary] = {
            "logical_id": logical_id,
            "name": stack.physical_name(logical_id),
            "arn": stack.arn(logical_id),
            # Lambda's defaults when neither the function nor Globals set them.
            "timeout": int(props.get("Timeout", 3)),
            "memory_size": int(props.get("MemorySize", 128)),
            "environment": {
                k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()
            },
            **stack.role(cfn["Resources"][logical_id]["Properties"]["Role"]),
        }
    machines = [
        logical_id
        for logical_id, r in sam.get("Resources", {}).items()
        if r.get("Type") == "AWS::Serverless::StateMachine"
    ]
    if len(machines) != 1:
        raise ResolveError(f"expected one AWS::Serverless::StateMachine, found {machines}")
    (machine,) = machines
    raw = cfn["Resources"][machine]["Properties"]
    state_machine = {
        "logical_id": machine,
        "name": stack.physical_name(machine),
        "arn": stack.arn(machine),
        **stack.role(raw["RoleArn"]),
        "definition_substitutions": {
            k: str(v) for k, v in stack.resolve(raw.get("DefinitionSubstitutions", {})).items()
        },
    }
    return {
        "stack": stack_name,
        "account": account,
        "region": region,
        "partition": stack.partition,
        "parameters": stack.params,
        "functions": functions,
        "state_machine": state_machine,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--stack", default="snapex")
    parser.add_argument("--account", default="123456789012")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    given = {}
    for p in args.param:
        name, sep, value = p.partition("=")
        if not sep:
            parser.error(f"--param {p!r} is not NAME=VALUE")
        given[name] = value
    with open(args.template, encoding="utf-8") as f:
        source = f.read()
    try:
        out = describe(source, args.stack, args.account, args.region, given)
    except ResolveError as e:
        print(f"resolve_template.py: {args.template}: {e}", file=sys.stderr)
        sys.exit(2)
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
