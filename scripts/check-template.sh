#!/usr/bin/env bash
# Lint the SAM template, transform it offline to plain CloudFormation with
# aws-sam-translator, lint the result, and assert the properties cfn-lint
# cannot see (Lambda runtime/architecture, least-privilege IAM, API auth).
#
# Usage: scripts/check-template.sh            (PYTHON=python3.12 to pick another interpreter)
set -euo pipefail

PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEMPLATE="ecrscan-lambda/template.yaml"
cd "$ROOT"

if ! "$PYTHON" -c 'import cfnlint, samtranslator' >/dev/null 2>&1; then
    echo "installing cfn-lint and aws-sam-translator for $PYTHON" >&2
    "$PYTHON" -m pip install -q cfn-lint aws-sam-translator
fi

# cfn-lint 1.x has no `python -m cfnlint` entry point; call its console-script
# function so the interpreter chosen by $PYTHON is the one that runs it.
cfn_lint() {
    "$PYTHON" -c 'import sys; from cfnlint.runner import main; sys.exit(main())' "$@"
}

# 1. The SAM template as written (cfn-lint transforms it internally).
cfn_lint "$TEMPLATE"

# 2. Transform offline and check the generated CloudFormation.
TMPDIR_CHECK="$(mktemp -d)"
trap 'rm -rf "$TMPDIR_CHECK"' EXIT

# The translator needs a region for ARNs; it never calls AWS here.
AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
    "$PYTHON" - "$TEMPLATE" "$TMPDIR_CHECK" <<'PY'
import copy
import json
import logging
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template_path, out_dir = sys.argv[1], sys.argv[2]
# The translator logs chatter (feature toggles, metrics) as warnings; real
# problems are raised as exceptions.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


class ManagedPolicies:
    """Stand-in for samtranslator's ManagedPolicyLoader (which asks IAM)."""

    def load(self):
        names = {
            "AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaExecute": "AWSLambdaExecute",
            "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
        }
        return {name: f"arn:aws:iam::aws:policy/{path}" for name, path in names.items()}


with open(template_path, encoding="utf-8") as f:
    sam = yaml_parse(f.read())

# What `sam build` + `sam package` do before CloudFormation sees the template:
# local CodeUri paths become S3 locations.
for resource in sam["Resources"].values():
    if resource.get("Type") == "AWS::Serverless::Function":
        props = resource.setdefault("Properties", {})
        props["CodeUri"] = "s3://ecrscan-artifacts/ecrscan-lambda.zip"

API_FUNCTIONS = {"ConfigsFunc", "SummaryFunc", "FindingsFunc"}
ALL_FUNCTIONS = API_FUNCTIONS | {"StartScanFunc"}
ROUTES = {
    ("/configs", "get"), ("/configs", "post"),
    ("/configs/{id}", "get"), ("/configs/{id}", "delete"),
    ("/summary", "get"), ("/findings/{id}", "get"),
}
# Actions that support no resource-level permissions and so need Resource "*".
STAR_RESOURCE_OK = {"ecr:GetRegistryScanningConfiguration", "inspector2:ListFindings"}
BASIC_EXECUTION = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
BASIC_EXECUTION_ARNS = [BASIC_EXECUTION, "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]

variants = {
    "defaults": {},
    "open-cors-bucket": {
        "ApiAuth": "NONE",
        "CorsAllowOrigin": "https://dashboard.example.com",
        "CreateConfigBucket": "true",
    },
}

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def as_list(value):
    return value if isinstance(value, list) else [value]


def iter_statements(doc):
    for st in as_list(doc.get("Statement", [])):
        yield st


for variant, params in variants.items():
    params = dict(params, ConfigBucketName="ecrscan-config-example")
    cfn = transform(copy.deepcopy(sam), params, ManagedPolicies())
    resources = cfn["Resources"]
    tag = f"[{variant}]"

    # Lambda functions: runtime, architecture, handler, environment.
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    check(set(functions) == ALL_FUNCTIONS, f"{tag} Lambda functions are {sorted(functions)}")
    for name, fn in functions.items():
        p = fn["Properties"]
        check(p.get("Runtime") == "provided.al2023", f"{tag} {name}: Runtime {p.get('Runtime')!r}")
        check(p.get("Architectures") == ["arm64"], f"{tag} {name}: Architectures {p.get('Architectures')!r}")
        check(p.get("Handler") == "bootstrap", f"{tag} {name}: Handler {p.get('Handler')!r}")
        env = p.get("Environment", {}).get("Variables", {})
        check(env.get("ECR_SCAN_CONFIG_BUCKET") == {"Ref": "ConfigBucketName"},
              f"{tag} {name}: ECR_SCAN_CONFIG_BUCKET {env.get('ECR_SCAN_CONFIG_BUCKET')!r}")
        check(env.get("RUST_LOG") == "info", f"{tag} {name}: RUST_LOG {env.get('RUST_LOG')!r}")
        if name in API_FUNCTIONS:
            check(env.get("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH") == "true",
                  f"{tag} {name}: AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH missing")

    # IAM: inline statements only, no service wildcards, "*" only where unavoidable.
    for name, res in resources.items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        p = res["Properties"]
        for arn in p.get("ManagedPolicyArns", []):
            check(arn in BASIC_EXECUTION_ARNS, f"{tag} {name}: unexpected managed policy {arn!r}")
        for policy in p.get("Policies", []):
            for st in iter_statements(policy["PolicyDocument"]):
                actions = as_list(st.get("Action", []))
                for action in actions:
                    check(isinstance(action, str) and "*" not in action,
                          f"{tag} {name}: wildcard action {action!r}")
                    check(action not in ("s3:*", "ecr:*"), f"{tag} {name}: action {action!r}")
                check("NotAction" not in st and "NotResource" not in st,
                      f"{tag} {name}: NotAction/NotResource used")
                if "*" in as_list(st.get("Resource", [])):
                    bad = [a for a in actions if a not in STAR_RESOURCE_OK]
                    check(not bad, f"{tag} {name}: Resource '*' for {bad}")

    # Any s3:* / ecr:* anywhere (e.g. a bucket policy) may only ever deny.
    def walk(node):
        if isinstance(node, dict):
            if "Action" in node and "Effect" in node:
                acts = as_list(node["Action"])
                if any(a in ("s3:*", "ecr:*", "*") for a in acts if isinstance(a, str)):
                    check(node["Effect"] == "Deny", f"{tag} Allow statement with {acts}")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(resources)

    # API: every route integrated with Lambda and guarded by the ApiAuth parameter.
    apis = [v for v in resources.values() if v["Type"] == "AWS::ApiGateway::RestApi"]
    check(len(apis) == 1, f"{tag} expected one RestApi, found {len(apis)}")
    paths = apis[0]["Properties"]["Body"]["paths"] if apis else {}
    seen = set()
    for path, item in paths.items():
        for method, op in item.items():
            if method == "options":
                continue
            seen.add((path, method))
            check(op.get("x-amazon-apigateway-auth") == {"type": {"Ref": "ApiAuth"}},
                  f"{tag} {method.upper()} {path}: auth is {op.get('x-amazon-apigateway-auth')!r}")
            check(op.get("x-amazon-apigateway-integration", {}).get("type") == "aws_proxy",
                  f"{tag} {method.upper()} {path}: no Lambda proxy integration")
    check(seen == ROUTES, f"{tag} API routes {sorted(seen)}")
    stages = [v for v in resources.values() if v["Type"] == "AWS::ApiGateway::Stage"]
    check([s["Properties"].get("StageName") for s in stages] == ["Prod"], f"{tag} stage is not Prod")

    # Schedule.
    rules = [v for v in resources.values() if v["Type"] == "AWS::Events::Rule"]
    check(len(rules) == 1 and rules[0]["Properties"].get("ScheduleExpression") == {"Ref": "ScanSchedule"},
          f"{tag} schedule rule missing or not driven by ScanSchedule")

    with open(f"{out_dir}/{variant}.json", "w", encoding="utf-8") as f:
        json.dump(cfn, f, indent=2, sort_keys=True)

if failures:
    print("template assertions failed:", file=sys.stderr)
    for msg in failures:
        print(f"  - {msg}", file=sys.stderr)
    sys.exit(1)
PY

# 3. Lint the generated CloudFormation.
for generated in "$TMPDIR_CHECK"/*.json; do
    cfn_lint "$generated"
done

echo "template checks: passed"
