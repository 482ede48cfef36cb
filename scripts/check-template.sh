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
# A relative interpreter path (PYTHON=.venv/bin/python) must survive the cd below.
case "$PYTHON" in
    */*) PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")" ;;
esac
cd "$ROOT"

if ! "$PYTHON" -c 'import cfnlint, samtranslator' >/dev/null 2>&1; then
    echo "installing cfn-lint and aws-sam-translator for $PYTHON" >&2
    pip_args=(-m pip install -q --disable-pip-version-check)
    # scripts/ensure-moto.sh without the venv module makes $venv/bin/python a
    # wrapper that puts $venv/site on PYTHONPATH and runs the system python (no
    # pyvenv.cfg). A plain pip install there hits PEP 668 or lands outside the
    # venv, so install into the same --target directory instead.
    venv_dir=""
    case "$PYTHON" in
        */*) venv_dir="$(dirname "$(dirname "$PYTHON")")" ;;
    esac
    if [ -n "$venv_dir" ] && [ -d "$venv_dir/site" ] && [ ! -e "$venv_dir/pyvenv.cfg" ]; then
        pip_args+=(--target "$venv_dir/site")
    fi
    "$PYTHON" "${pip_args[@]}" cfn-lint aws-sam-translator
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
import fnmatch
import json
import logging
import re
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
ANY = "x-amazon-apigateway-any-method"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# (path, method) -> the function its Lambda proxy integration invokes. API
# Gateway forwards every method on every path to the ecrscan-api router (which
# answers 404/405 itself): each path's documented methods, ANY on each path,
# and / plus the catch-all /{proxy+} on SummaryFunc (read-only permissions).
ROUTES = {
    ("/configs", "get"): "ConfigsFunc",
    ("/configs", "post"): "ConfigsFunc",
    ("/configs", ANY): "ConfigsFunc",
    ("/configs/{id}", "get"): "ConfigsFunc",
    ("/configs/{id}", "delete"): "ConfigsFunc",
    ("/configs/{id}", ANY): "ConfigsFunc",
    ("/summary", "get"): "SummaryFunc",
    ("/summary", ANY): "SummaryFunc",
    ("/findings/{id}", "get"): "FindingsFunc",
    ("/findings/{id}", ANY): "FindingsFunc",
    ("/", ANY): "SummaryFunc",
    ("/{proxy+}", ANY): "SummaryFunc",
}
# Paths with a CORS preflight (mock OPTIONS, no auth) when CorsAllowOrigin is set.
CORS_PATHS = {"/configs", "/configs/{id}", "/summary", "/findings/{id}"}
# Lambda invoke permissions, as the "<method>/<path>" part of the execute-api
# source ARN (any stage of EcrScanApi): exactly these, per function.
PERMISSIONS = {
    "ConfigsFunc": {"*/configs", "*/configs/*"},
    "SummaryFunc": {"*/summary", "*/", "*/*"},
    "FindingsFunc": {"*/findings/*"},
}
INTEGRATION_URI = re.compile(
    r"arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2015-03-31"
    r"/functions/\$\{(\w+)\.Arn\}/invocations")
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


NO_VALUE = object()


def resolve_conditions(node, conditions):
    """Resolve Fn::If for the given condition values and drop AWS::NoValue,
    as CloudFormation does at deploy time (the translator leaves both)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, if_true, if_false = node["Fn::If"]
            return resolve_conditions(if_true if conditions[name] else if_false, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        out = {}
        for k, v in node.items():
            v = resolve_conditions(v, conditions)
            if v is not NO_VALUE:
                out[k] = v
        return out
    if isinstance(node, list):
        return [v for v in (resolve_conditions(v, conditions) for v in node) if v is not NO_VALUE]
    return node


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

    # API: every route integrated with its function's Lambda (proxy) and
    # guarded by the ApiAuth parameter; the CORS preflights only with CORS.
    has_cors = params.get("CorsAllowOrigin", "") != ""
    apis = [v for v in resources.values() if v["Type"] == "AWS::ApiGateway::RestApi"]
    check(len(apis) == 1, f"{tag} expected one RestApi, found {len(apis)}")
    body = resolve_conditions(apis[0]["Properties"]["Body"], {"HasCors": has_cors}) if apis else {}
    seen = set()
    preflights = set()
    for path, item in body.get("paths", {}).items():
        for method, op in item.items():
            verb = "ANY" if method == ANY else method.upper() if method in HTTP_METHODS else repr(method)
            route = f"{verb} {path}"
            if method == "options":
                preflights.add(path)
                check(op.get("x-amazon-apigateway-auth") == {"type": "NONE"},
                      f"{tag} {route}: auth is {op.get('x-amazon-apigateway-auth')!r}")
                check(op.get("x-amazon-apigateway-integration", {}).get("type") == "mock",
                      f"{tag} {route}: not a mock integration")
                continue
            seen.add((path, method))
            check(op.get("x-amazon-apigateway-auth") == {"type": {"Ref": "ApiAuth"}},
                  f"{tag} {route}: auth is {op.get('x-amazon-apigateway-auth')!r}")
            integration = op.get("x-amazon-apigateway-integration", {})
            uri = integration.get("uri")
            match = None
            if isinstance(uri, dict) and set(uri) == {"Fn::Sub"} and isinstance(uri["Fn::Sub"], str):
                match = INTEGRATION_URI.fullmatch(uri["Fn::Sub"])
            check(set(integration) == {"type", "httpMethod", "uri"} and integration.get("type") == "aws_proxy"
                  and integration.get("httpMethod") == "POST" and match is not None,
                  f"{tag} {route}: not a Lambda proxy integration: {integration!r}")
            expected_fn = ROUTES.get((path, method))
            check(expected_fn is None or (match is not None and match.group(1) == expected_fn),
                  f"{tag} {route}: integration {uri!r}, expected function {expected_fn}")
    check(seen == set(ROUTES), f"{tag} API routes {sorted(seen)}")
    check(preflights == (CORS_PATHS if has_cors else set()), f"{tag} CORS preflights on {sorted(preflights)}")

    # Lambda invoke permissions: from EcrScanApi only, per function exactly the
    # routes integrated with it.
    permissions = {}
    for name, res in resources.items():
        if res["Type"] != "AWS::Lambda::Permission":
            continue
        p = res["Properties"]
        fn = p.get("FunctionName")
        fn = fn.get("Ref") if isinstance(fn, dict) else fn
        if fn not in API_FUNCTIONS:
            continue
        check(p.get("Action") == "lambda:InvokeFunction" and p.get("Principal") == "apigateway.amazonaws.com",
              f"{tag} {name}: {p.get('Action')!r} for {p.get('Principal')!r}")
        source = p.get("SourceArn")
        sub = source.get("Fn::Sub") if isinstance(source, dict) else None
        arn, subs = sub if isinstance(sub, list) and len(sub) == 2 else (None, None)
        prefix = "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/${__Stage__}/"
        ok = (isinstance(arn, str) and arn.startswith(prefix)
              and subs == {"__ApiId__": {"Ref": "EcrScanApi"}, "__Stage__": "*"})
        check(ok, f"{tag} {name}: SourceArn {p.get('SourceArn')!r}")
        if ok:
            permissions.setdefault(fn, set()).add(arn[len(prefix):])
    check(permissions == PERMISSIONS, f"{tag} API invoke permissions {permissions!r}")
    # Every route's requests (any method, any value of its path parameters) are allowed to invoke its function.
    for (path, method), fn in ROUTES.items():
        sample = re.sub(r"\{\w+\}", "x", re.sub(r"\{\w+\+\}", "x/y", path))
        for verb in (["GET", "PUT", "PATCH", "HEAD"] if method == ANY else [method.upper()]):
            request = f"{verb}{sample}"
            check(any(fnmatch.fnmatchcase(request, pattern) for pattern in permissions.get(fn, ())),
                  f"{tag} {fn}: no invoke permission for {verb} {sample}")

    # Gateway responses: API Gateway's own errors follow the API's error
    # contract ({"error": ...} JSON), keeping their status codes (every route
    # is forwarded to the router, so MISSING_AUTHENTICATION_TOKEN only means
    # an unsigned request: default 403), with the CORS origin when one is
    # configured. SAM writes GatewayResponses into the RestApi body as
    # x-amazon-apigateway-gateway-responses (no separate resources).
    gw = body.get("x-amazon-apigateway-gateway-responses", {})
    check(not [v for v in resources.values() if v["Type"] == "AWS::ApiGateway::GatewayResponse"],
          f"{tag} unexpected AWS::ApiGateway::GatewayResponse resources (SAM should use the body)")
    expected_gw = {
        "MISSING_AUTHENTICATION_TOKEN": (
            None, '{"error":"the request must be signed with AWS Signature Version 4 (IAM authorization)"}'),
        "DEFAULT_4XX": (None, '{"error":$context.error.messageString}'),
        "DEFAULT_5XX": (None, '{"error":$context.error.messageString}'),
    }
    check(set(gw) == set(expected_gw), f"{tag} gateway responses are {sorted(gw)}")
    for rtype, (status, template) in expected_gw.items():
        resp = gw.get(rtype, {})
        check(resp.get("statusCode") == status, f"{tag} {rtype}: statusCode {resp.get('statusCode')!r}")
        tmpl = resp.get("responseTemplates", {}).get("application/json")
        check(tmpl == template, f"{tag} {rtype}: application/json template {tmpl!r}")
        # With $context.error.messageString substituted (a quoted string) the body is {"error": "..."}.
        try:
            sample = json.loads(tmpl.replace("$context.error.messageString", '"Forbidden"'))
        except (AttributeError, ValueError):
            sample = None
        check(isinstance(sample, dict) and set(sample) == {"error"} and isinstance(sample["error"], str),
              f"{tag} {rtype}: body is not {{\"error\": \"...\"}}: {tmpl!r}")
        headers = resp.get("responseParameters", {})
        expected_headers = {"gatewayresponse.header.Content-Type": "'application/json'"}
        if has_cors:
            expected_headers["gatewayresponse.header.Access-Control-Allow-Origin"] = {
                "Fn::Sub": "'${CorsAllowOrigin}'"}
        check(headers == expected_headers, f"{tag} {rtype}: responseParameters {headers!r}")

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
