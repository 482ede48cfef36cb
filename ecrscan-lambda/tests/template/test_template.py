"""The SAM template's checks, as a test module (run by the README's test
command): cfn-lint on the template as written and on the CloudFormation the
offline SAM transform makes of it; each Lambda function's build, runtime and
environment; IAM least privilege, proven by probing what each function must
and must not be able to do with a small IAM evaluator and linted by
parliament; the API's routes, invoke permissions and gateway responses; and
the EventBridge rules against the same recorded events as the Rust tests and
the events AWS documents.

Run alone: .venv/bin/python -m pytest ecrscan-lambda/tests/template
"""

import copy
import fnmatch
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "ecrscan-lambda" / "template.yaml"
EVENTS = ROOT / "ecrscan-lambda" / "tests" / "events"
# The translator logs chatter (feature toggles, metrics) as warnings; real
# problems are raised as exceptions. It needs a region for ARNs and never
# calls AWS here.
logging.getLogger("samtranslator").setLevel(logging.ERROR)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class Problems(list):
    """Every problem a test finds, reported together."""

    def check(self, cond, msg):
        if not cond:
            self.append(msg)

    def assert_none(self):
        assert not self, "\n".join(self)


class ManagedPolicies:
    """Stand-in for samtranslator's ManagedPolicyLoader (which asks IAM)."""

    def load(self):
        names = {
            "AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaExecute": "AWSLambdaExecute",
            "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
        }
        return {name: f"arn:aws:iam::aws:policy/{path}" for name, path in names.items()}


API_FUNCTIONS = {"ConfigsFunc", "SummaryFunc", "FindingsFunc"}
# Invoked by the work queue's event source, not by a rule or a route.
QUEUE_FUNCTIONS = {"ScanWorkerFunc"}
ALL_FUNCTIONS = API_FUNCTIONS | QUEUE_FUNCTIONS | {"StartScanFunc", "RecordResultFunc"}
# How `sam build` builds each function (cargo-lambda binary) and its timeout.
BINARIES = {
    "ConfigsFunc": "ecrscan-api",
    "SummaryFunc": "ecrscan-api",
    "FindingsFunc": "ecrscan-api",
    "StartScanFunc": "ecrscan-start-scan",
    "ScanWorkerFunc": "ecrscan-scan-worker",
    "RecordResultFunc": "ecrscan-record-result",
}
TIMEOUTS = {"ConfigsFunc": 60, "SummaryFunc": 60, "FindingsFunc": 60,
            "StartScanFunc": 300, "ScanWorkerFunc": 120, "RecordResultFunc": 60}
ANY = "x-amazon-apigateway-any-method"
# The work queue's redrive limit, which the worker is told too.
MAX_RECEIVES = 5
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

# The account and bucket name probes are evaluated for.
ACCOUNT = "111122223333"
BUCKET_NAME = "ecrscan-config-example"
BUCKET = f"arn:aws:s3:::{BUCKET_NAME}"
GET, PUT, DELETE, LIST = "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"
ALLOW, DENY = "Allow", "Deny"

# What each function may do, checked by evaluating its policy (an explicit
# Deny wins) for every (action, resource) pair of PROBES: exactly the pairs of
# ALLOWED[function] are allowed. The sample keys follow ecrscan's layout.
CONFIG_KEY = f"{BUCKET}/0f8fad5b-d9cb-469f-a165-70867728950e.json"
SCAN_KEY = f"{BUCKET}/results/us-east-1/{ACCOUNT}/team/app/@digests/sha256-ab12cd34.json"
IMAGES_KEY = f"{BUCKET}/results/eu-west-1/{ACCOUNT}/team/app/@images/all.json"
TAGS_KEY = f"{BUCKET}/results/eu-west-1/{ACCOUNT}/team/app/@tags.json"
OTHER_BUCKET_KEY = "arn:aws:s3:::other-bucket/results/x.json"
REPOSITORY = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team/app"
OTHER_ACCOUNT_REPOSITORY = "arn:aws:ecr:eu-west-1:444455556666:repository/team/app"
CHANGE_KEY = f"{BUCKET}/changes/5b0f2c1e-8a4d-5c3b-9e7f-1a2b3c4d5e6f.json"
CHANNEL_KEY = f"{BUCKET}/channels/0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59.json"
DELIVERY_KEY = f"{BUCKET}/deliveries/0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59/5b0f2c1e-8a4d-5c3b-9e7f-1a2b3c4d5e6f.json"
OBJECT_KEYS = (CONFIG_KEY, SCAN_KEY, IMAGES_KEY, TAGS_KEY, CHANGE_KEY, CHANNEL_KEY, DELIVERY_KEY, OTHER_BUCKET_KEY)
# ListBucket probes carry the listing's prefix (the s3:prefix condition key)
# after "?prefix=": the config listing (the bucket root), the channels, one
# channel's deliveries, the changes.
LIST_ROOT = f"{BUCKET}?prefix="
LIST_CHANNELS = f"{BUCKET}?prefix=channels/"
LIST_DELIVERIES = f"{BUCKET}?prefix=deliveries/0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59/"
LIST_CHANGES = f"{BUCKET}?prefix=changes/"
LISTINGS = (LIST_ROOT, LIST_CHANNELS, LIST_DELIVERIES, LIST_CHANGES)
S3_PROBES = [(a, r) for a in (GET, PUT, DELETE) for r in OBJECT_KEYS]
S3_PROBES += [(LIST, r) for r in LISTINGS] + [(LIST, "arn:aws:s3:::other-bucket?prefix=")]
ECR_ACTIONS = ("ecr:DescribeImages", "ecr:ListImages", "ecr:DescribeImageScanFindings", "ecr:StartImageScan",
               "ecr:BatchGetImage", "ecr:PutImage", "ecr:BatchDeleteImage")
PROBES = S3_PROBES + [(a, r) for a in ECR_ACTIONS for r in (REPOSITORY, OTHER_ACCOUNT_REPOSITORY)]
PROBES += [("ecr:GetRegistryScanningConfiguration", "*"), ("inspector2:ListFindings", "*"),
           ("ecr:PutRegistryScanningConfiguration", "*")]
# Notification targets: the ones the "notifications" variant names, and others.
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:ecrscan-changes"
OTHER_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:billing"
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/ecrscan"
DEFAULT_BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
SECRETS = (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecrscan/hook-AbCdEf",
           f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecrscan/other-GhIjKl")
OTHER_SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/database-MnOpQr"
PROBES += [("sns:Publish", TOPIC), ("sns:Publish", OTHER_TOPIC), ("events:PutEvents", BUS),
           ("events:PutEvents", DEFAULT_BUS)]
PROBES += [("secretsmanager:GetSecretValue", r) for r in SECRETS + (OTHER_SECRET,)]
# The work queue and its dead-letter queue (template resources, by their
# logical ids as `concrete` names them), and another queue of the account.
WORK_QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:WorkQueue"
DEAD_LETTER_QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:WorkDeadLetterQueue"
OTHER_QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:billing-jobs"
SQS_ACTIONS = ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
               "sqs:ChangeMessageVisibility", "sqs:PurgeQueue", "sqs:DeleteQueue")
PROBES += [(a, q) for a in SQS_ACTIONS for q in (WORK_QUEUE, DEAD_LETTER_QUEUE, OTHER_QUEUE)]
READ_IMAGES_AND_FINDINGS = {("ecr:DescribeImages", REPOSITORY), ("ecr:ListImages", REPOSITORY),
                            ("ecr:DescribeImageScanFindings", REPOSITORY), ("inspector2:ListFindings", "*")}
LIST_ANYTHING = {(LIST, r) for r in LISTINGS}
# The record step reads a record before it writes it back (compare-and-swap),
# writes each change once, and queues its deliveries (create-only).
RECORD = {(GET, SCAN_KEY), (GET, IMAGES_KEY), (GET, TAGS_KEY), (PUT, SCAN_KEY), (PUT, IMAGES_KEY),
          (PUT, TAGS_KEY), (PUT, CHANGE_KEY), (GET, CHANNEL_KEY), (PUT, DELIVERY_KEY)}
# The senders read, claim, settle and prune deliveries.
SEND = {(GET, DELIVERY_KEY), (PUT, DELIVERY_KEY), (DELETE, DELIVERY_KEY), (LIST, LIST_CHANNELS),
        (LIST, LIST_DELIVERIES)}
ALLOWED = {
    "ConfigsFunc": {(GET, CONFIG_KEY), (PUT, CONFIG_KEY), (DELETE, CONFIG_KEY)} | LIST_ANYTHING,
    # GET /changes and GET /channels read those.
    "SummaryFunc": {(GET, CONFIG_KEY), (GET, CHANGE_KEY)} | LIST_ANYTHING | RECORD | READ_IMAGES_AND_FINDINGS,
    # Plans: resolves the selections and queues the scans; starts none.
    "StartScanFunc": {(GET, CONFIG_KEY), (GET, CHANGE_KEY), ("ecr:DescribeImages", REPOSITORY),
                      ("ecr:ListImages", REPOSITORY), ("sqs:SendMessage", WORK_QUEUE)}
                     | LIST_ANYTHING | RECORD | SEND,
    # Starts the queued scans: consumes the work queue, queues the scans of
    # the selections it resolves and dead-letters with a reason; never reads
    # configs or changes, never sends notifications.
    "ScanWorkerFunc": {("ecr:DescribeImages", REPOSITORY), ("ecr:ListImages", REPOSITORY),
                       ("ecr:StartImageScan", REPOSITORY), ("ecr:GetRegistryScanningConfiguration", "*"),
                       ("sqs:ReceiveMessage", WORK_QUEUE), ("sqs:DeleteMessage", WORK_QUEUE),
                       ("sqs:GetQueueAttributes", WORK_QUEUE), ("sqs:SendMessage", WORK_QUEUE),
                       ("sqs:SendMessage", DEAD_LETTER_QUEUE)} | LIST_ANYTHING | RECORD,
    # Configs for the links in Slack messages; listing, so that S3 answers
    # a key not written yet with 404 rather than 403.
    "RecordResultFunc": {("ecr:DescribeImageScanFindings", REPOSITORY), ("inspector2:ListFindings", "*"),
                         (GET, CONFIG_KEY), (GET, CHANGE_KEY)} | LIST_ANYTHING | RECORD | SEND,
}
ALLOWED["FindingsFunc"] = ALLOWED["SummaryFunc"]
SENDERS = {"StartScanFunc", "RecordResultFunc"}


def allowed(function, params):
    """ALLOWED[function], plus the notification targets the parameters name
    for the functions that send."""
    out = set(ALLOWED[function])
    if function in SENDERS:
        if params.get("NotificationTopicArn"):
            out.add(("sns:Publish", params["NotificationTopicArn"]))
        if params.get("NotificationEventBusArn"):
            out.add(("events:PutEvents", params["NotificationEventBusArn"]))
        for secret in filter(None, params.get("WebhookSecretArns", "").split(",")):
            out.add(("secretsmanager:GetSecretValue", secret))
    return out


# EventBridge rules: the schedule starts scans; ECR's "ECR Image Scan" (basic
# scanning) and Amazon Inspector's "Inspector2 Scan" (enhanced scanning)
# events are recorded. Patterns exactly; the default event bus.
ECR_SCAN_PATTERN = {
    "source": ["aws.ecr"],
    "detail-type": ["ECR Image Scan"],
    "detail": {"scan-status": ["COMPLETE"]},
}
INSPECTOR_SCAN_PATTERN = {
    "source": ["aws.inspector2"],
    "detail-type": ["Inspector2 Scan"],
    "detail": {"scan-status": ["INITIAL_SCAN_COMPLETE"],
               "repository-name": [{"exists": True}], "image-digest": [{"exists": True}]},
}
# Sample events as documented (ECR user guide "Amazon ECR events and
# EventBridge" and "EventBridge events sent for enhanced scanning", Inspector
# user guide "EventBridge integration"), each with the rule that must match it
# (None: no rule may).
DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
SAMPLE_EVENTS = {
    "ECR basic scan complete": ("ecr", {
        "version": "0", "id": "85fc3613-e913-7fc4-a80c-a3753e4aa9ae", "detail-type": "ECR Image Scan",
        "source": "aws.ecr", "account": ACCOUNT, "time": "2019-10-29T02:36:48Z", "region": "us-east-1",
        "resources": [f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/my-repo"],
        "detail": {"scan-status": "COMPLETE", "repository-name": "my-repo",
                   "finding-severity-counts": {"CRITICAL": 10, "MEDIUM": 9},
                   "image-digest": DIGEST, "image-tags": []}}),
    "Inspector ECR image initial scan": ("inspector", {
        "version": "0", "id": "739c0d3c-4f02-85c7-5a88-94a9EXAMPLE", "detail-type": "Inspector2 Scan",
        "source": "aws.inspector2", "account": ACCOUNT, "time": "2021-12-03T18:03:16Z", "region": "us-east-2",
        "resources": [f"arn:aws:ecr:us-east-2:{ACCOUNT}:repository/amazon/amazon-ecs-sample"],
        "detail": {"scan-status": "INITIAL_SCAN_COMPLETE",
                   "repository-name": f"arn:aws:ecr:us-east-2:{ACCOUNT}:repository/amazon/amazon-ecs-sample",
                   "finding-severity-counts": {"CRITICAL": 7, "HIGH": 61, "MEDIUM": 62, "TOTAL": 158},
                   "image-digest": DIGEST, "image-tags": ["latest"], "version": "1.0"}}),
    "Inspector EC2 instance initial scan": (None, {
        "version": "0", "id": "28a46762-6ac8-6cc4-4f55-bc9ab99af928", "detail-type": "Inspector2 Scan",
        "source": "aws.inspector2", "account": ACCOUNT, "time": "2023-01-20T22:52:35Z", "region": "us-east-1",
        "resources": ["i-087d63509b8c97098"],
        "detail": {"scan-status": "INITIAL_SCAN_COMPLETE",
                   "finding-severity-counts": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "TOTAL": 0},
                   "instance-id": "i-087d63509b8c97098", "version": "1.0"}}),
    "Inspector Lambda function initial scan": (None, {
        "version": "0", "id": "4f290a7c-361b-c442-03c8-a629f6f20d6c", "detail-type": "Inspector2 Scan",
        "source": "aws.inspector2", "account": ACCOUNT, "time": "2023-02-23T18:06:03Z", "region": "us-west-2",
        "resources": [f"arn:aws:lambda:us-west-2:{ACCOUNT}:function:lambda-example:$LATEST"],
        "detail": {"scan-status": "INITIAL_SCAN_COMPLETE",
                   "finding-severity-counts": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "TOTAL": 0},
                   "version": "1.0"}}),
    "ECR image push": (None, {
        "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482", "detail-type": "ECR Image Action",
        "source": "aws.ecr", "account": ACCOUNT, "time": "2019-11-16T01:54:34Z", "region": "us-west-2",
        "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "my-repository-name", "image-digest": DIGEST,
                   "action-type": "PUSH", "image-tag": "latest"}}),
    "ECR scan resource change": (None, {
        "version": "0", "id": "0c18352a-a4d4-6853-ef53-0abEXAMPLE", "detail-type": "ECR Scan Resource Change",
        "source": "aws.ecr", "account": ACCOUNT, "time": "2021-10-14T20:53:46Z", "region": "us-east-1",
        "resources": [],
        "detail": {"action-type": "SCAN_FREQUENCY_CHANGE", "repositories": [],
                   "resource-type": "REPOSITORY", "scan-type": "ENHANCED"}}),
    "Inspector finding (abbreviated)": (None, {
        "version": "0", "id": "42c1e6f1-2bd1-0a2a-7d80-bd5cEXAMPLE", "detail-type": "Inspector2 Finding",
        "source": "aws.inspector2", "account": ACCOUNT, "time": "2021-12-03T18:02:30Z", "region": "us-east-2",
        "resources": [f"arn:aws:ecr:us-east-2:{ACCOUNT}:repository/amazon/amazon-ecs-sample/{DIGEST}"],
        "detail": {"awsAccountId": ACCOUNT, "severity": "HIGH", "status": "ACTIVE",
                   "type": "PACKAGE_VULNERABILITY"}}),
}


VARIANTS = {
    "defaults": {},
    "open-cors-bucket": {
        "ApiAuth": "NONE",
        "CorsAllowOrigin": "https://dashboard.example.com",
        "CreateConfigBucket": "true",
    },
    "notifications": {
        "NotificationTopicArn": TOPIC,
        "NotificationEventBusArn": BUS,
        "WebhookSecretArns": ",".join(SECRETS),
    },
}


def conditions_of(params):
    """The template's conditions for these parameters, as CloudFormation
    evaluates them."""
    return {
        "CreateBucket": params.get("CreateConfigBucket") == "true",
        "HasCors": params.get("CorsAllowOrigin", "") != "",
        "HasNotificationTopic": params.get("NotificationTopicArn", "") != "",
        "HasNotificationEventBus": params.get("NotificationEventBusArn", "") != "",
        "HasWebhookSecrets": params.get("WebhookSecretArns", "").replace(",", "") != "",
    }

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


def concrete(resource, params):
    """An IAM resource as a plain string: the template's ${...} and string
    parameters' Ref resolved for partition aws, account ACCOUNT and the
    parameters (None if it can't be)."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and set(resource) == {"Ref"} and isinstance(params.get(resource["Ref"]), str):
        return params[resource["Ref"]]
    if (isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}
            and as_list(resource["Fn::GetAtt"])[1:] == ["Arn"]
            and resource["Fn::GetAtt"][0] in ("WorkQueue", "WorkDeadLetterQueue")):
        return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{resource['Fn::GetAtt'][0]}"
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"} and isinstance(resource["Fn::Sub"], str):
        known = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, **params}
        out = re.sub(r"\$\{([\w:]+)\}", lambda m: known.get(m.group(1), m.group(0)), resource["Fn::Sub"])
        return None if "${" in out else out
    return None


def iam_matches(pattern, value):
    """IAM's wildcards: * any run of characters (also /), ? one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


COMMA_DELIMITED_LISTS = {"WebhookSecretArns"}


def concrete_resources(statement, params):
    """A statement's resources as plain strings (see `concrete`), a Ref to a
    CommaDelimitedList parameter expanded to its items."""
    resources = []
    for r in as_list(statement.get("Resource", [])):
        if isinstance(r, dict) and set(r) == {"Ref"} and r["Ref"] in COMMA_DELIMITED_LISTS:
            resources += [v for v in params.get(r["Ref"], "").split(",") if v]
        else:
            resources.append(concrete(r, params))
    return resources


def policy_statements(role, params):
    """A role's inline statements as (effect, actions, resources, prefixes),
    the template's conditions and ${...} resolved; `prefixes` are the
    s3:prefix patterns of a StringLike condition (None: no condition). Any
    other Condition is refused: the evaluator does not model it, so it could
    not probe it."""
    out = []
    for policy in role["Properties"].get("Policies", []):
        doc = resolve_conditions(policy["PolicyDocument"], conditions_of(params))
        for st in iter_statements(doc):
            condition = st.get("Condition")
            prefixes = None
            if condition is not None:
                assert set(condition) == {"StringLike"} and set(condition["StringLike"]) == {"s3:prefix"}, \
                    f"condition not modelled by the probes: {st!r}"
                prefixes = as_list(condition["StringLike"]["s3:prefix"])
            assert "NotAction" not in st and "NotResource" not in st, f"NotAction/NotResource: {st!r}"
            resources = concrete_resources(st, params)
            assert None not in resources, f"unresolvable resource in {st!r}"
            out.append((st["Effect"], as_list(st.get("Action", [])), resources, prefixes))
    return out


def is_allowed(statements, action, resource):
    """IAM evaluation of (effect, actions, resources, prefixes) statements:
    allowed by a matching Allow and not denied by a matching Deny. A
    resource "ARN?prefix=P" is a listing with s3:prefix P."""
    resource, _, prefix = resource.partition("?prefix=")
    hits = {effect for effect, actions, resources, prefixes in statements
            if any(iam_matches(a, action) for a in actions)
            and any(iam_matches(r, resource) for r in resources)
            and (prefixes is None or any(iam_matches(p, prefix) for p in prefixes))}
    return ALLOW in hits and DENY not in hits


def pattern_matches(pattern, event):
    """EventBridge pattern matching for the forms used here: exact values,
    {"exists": bool} and {"prefix": str}, nested objects."""
    for key, want in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if present else None
        if isinstance(want, dict):
            if not (present and isinstance(value, dict) and pattern_matches(want, value)):
                return False
            continue
        values = value if isinstance(value, list) else [value]

        def one(matcher):
            if isinstance(matcher, dict) and set(matcher) == {"exists"}:
                return matcher["exists"] == (present and not isinstance(value, (dict, list)))
            if not present:
                return False
            if isinstance(matcher, dict) and set(matcher) == {"prefix"}:
                return any(isinstance(v, str) and v.startswith(matcher["prefix"]) for v in values)
            if isinstance(matcher, dict):
                raise ValueError(f"pattern form not supported here: {matcher!r}")
            return matcher in values
        if not any(one(m) for m in want):
            return False
    return True


def event_image(event):
    """What ecrscan-record-result reads from a scan event (see
    ecrscan-lambda/src/events.rs): region, account, repository, digest."""
    detail = event.get("detail", {})
    repository = detail.get("repository-name")
    if event.get("detail-type") == "Inspector2 Scan":
        # Inspector names the repository by ARN.
        m = re.fullmatch(r"arn:[^:]+:ecr:([^:]+):(\d{12}):repository/(.+)", repository or "")
        if not m or (m.group(1), m.group(2)) != (event.get("region"), event.get("account")):
            return None
        repository = m.group(3)
    if not all(isinstance(v, str) and v for v in
               (event.get("region"), event.get("account"), repository, detail.get("image-digest"))):
        return None
    return event["region"], event["account"], repository, detail["image-digest"]


def target_function(target):
    arn = target.get("Arn")
    if isinstance(arn, dict) and "Fn::GetAtt" in arn and as_list(arn["Fn::GetAtt"])[1:] == ["Arn"]:
        return arn["Fn::GetAtt"][0]
    return None




def api_body(cfn, params):
    """Whether CORS is on, and the RestApi's OpenAPI body with its conditions
    resolved as CloudFormation would ({} without exactly one RestApi)."""
    has_cors = params.get("CorsAllowOrigin", "") != ""
    apis = [v for v in cfn["Resources"].values() if v["Type"] == "AWS::ApiGateway::RestApi"]
    if len(apis) != 1:
        return has_cors, {}
    return has_cors, resolve_conditions(apis[0]["Properties"]["Body"], {"HasCors": has_cors})


def recorded_events():
    """The scan events the Rust tests record (ecrscan-lambda/tests/events):
    what ecrscan-record-result is tested with must reach it."""
    events = {}
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        if event.get("detail-type") in ("ECR Image Scan", "Inspector2 Scan"):
            kind = "ecr" if event["detail-type"] == "ECR Image Scan" else "inspector"
            events[f"recorded {path.name}"] = (kind, event)
    assert len(events) == 2, f"expected the two recorded scan events, found {sorted(events)}"
    return events


@pytest.fixture(scope="module")
def sam():
    with open(TEMPLATE, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # What `sam build` + `sam package` do before CloudFormation sees the
    # template: local CodeUri paths become S3 locations.
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://ecrscan-artifacts/ecrscan-lambda.zip"
    return template


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request, sam):
    params = dict(VARIANTS[request.param], ConfigBucketName=BUCKET_NAME)
    cfn = transform(copy.deepcopy(sam), params, ManagedPolicies())
    return request.param, params, cfn


def cfn_lint(path):
    return subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(path)],
        capture_output=True, text=True, check=False)


def test_cfn_lint_passes_on_the_template_as_written():
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_passes_on_the_transformed_template(variant, tmp_path):
    name, _, cfn = variant
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfn, indent=2, sort_keys=True), encoding="utf-8")
    result = cfn_lint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_is_built_from_its_own_binary(sam):
    problems = Problems()
    for name, res in sam["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        meta = res.get("Metadata", {})
        problems.check(meta.get("BuildMethod") == "rust-cargolambda", f"{name}: BuildMethod {meta.get('BuildMethod')!r}")
        problems.check(meta.get("BuildProperties") == {"Binary": BINARIES.get(name)},
              f"{name}: BuildProperties {meta.get('BuildProperties')!r}, expected binary {BINARIES.get(name)!r}")
    problems.assert_none()


def test_functions_run_their_binary_with_the_expected_environment(variant):
    tag, params, cfn = variant
    resources = cfn["Resources"]
    problems = Problems()
    # Lambda functions: runtime, architecture, handler, environment.
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    problems.check(set(functions) == ALL_FUNCTIONS, f"{tag} Lambda functions are {sorted(functions)}")
    for name, fn in functions.items():
        p = fn["Properties"]
        problems.check(p.get("Runtime") == "provided.al2023", f"{tag} {name}: Runtime {p.get('Runtime')!r}")
        problems.check(p.get("Architectures") == ["arm64"], f"{tag} {name}: Architectures {p.get('Architectures')!r}")
        problems.check(p.get("Handler") == "bootstrap", f"{tag} {name}: Handler {p.get('Handler')!r}")
        problems.check(p.get("Timeout") == TIMEOUTS.get(name), f"{tag} {name}: Timeout {p.get('Timeout')!r}")
        problems.check(p.get("Role") == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, f"{tag} {name}: Role {p.get('Role')!r}")
        # The deployed package (sam build) is the one of its binary.
        problems.check(fn.get("Metadata", {}).get("BuildProperties") == {"Binary": BINARIES.get(name)},
              f"{tag} {name}: Metadata {fn.get('Metadata')!r}")
        # Asynchronous invocations (EventBridge) keep Lambda's default retries: no DLQ.
        problems.check("DeadLetterConfig" not in p, f"{tag} {name}: DeadLetterConfig {p.get('DeadLetterConfig')!r}")
        env = p.get("Environment", {}).get("Variables", {})
        expected_env = {"ECR_SCAN_CONFIG_BUCKET": {"Ref": "ConfigBucketName"}, "RUST_LOG": "info"}
        if name in API_FUNCTIONS:
            expected_env.update({"AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
                                 "ECRSCAN_CORS_ALLOW_ORIGIN": {"Ref": "CorsAllowOrigin"}})
        if name in SENDERS:
            expected_env["ECRSCAN_API_URL"] = {
                "Fn::Sub": "https://${EcrScanApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/Prod"}
        if name == "StartScanFunc":
            expected_env["ECRSCAN_WORK_QUEUE_URL"] = {"Ref": "WorkQueue"}
        if name == "ScanWorkerFunc":
            expected_env.update({"ECRSCAN_WORK_QUEUE_URL": {"Ref": "WorkQueue"},
                                 "ECRSCAN_DEAD_LETTER_QUEUE_URL": {"Ref": "WorkDeadLetterQueue"},
                                 "ECRSCAN_MAX_RECEIVES": str(MAX_RECEIVES),
                                 "ECRSCAN_CALLS_PER_SECOND": {"Ref": "WorkerCallsPerSecond"}})
        problems.check(env == expected_env, f"{tag} {name}: environment {env!r}")
    problems.assert_none()


def test_iam_policies_use_no_wildcards_and_star_only_where_unavoidable(variant):
    tag, params, cfn = variant
    problems = Problems()
    for name, res in cfn["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        p = res["Properties"]
        problems.check(p.get("ManagedPolicyArns", []) and all(a in BASIC_EXECUTION_ARNS for a in p["ManagedPolicyArns"]),
                       f"{tag} {name}: managed policies {p.get('ManagedPolicyArns')!r}")
        for policy in p.get("Policies", []):
            doc = policy["PolicyDocument"]
            problems.check(doc.get("Version") == "2012-10-17", f"{tag} {name}: policy version {doc.get('Version')!r}")
            for st in iter_statements(doc):
                actions = as_list(st.get("Action", []))
                for action in actions:
                    problems.check(isinstance(action, str) and "*" not in action,
                                   f"{tag} {name}: wildcard action {action!r}")
                problems.check("NotAction" not in st and "NotResource" not in st,
                               f"{tag} {name}: NotAction/NotResource used")
                if "*" in as_list(st.get("Resource", [])):
                    bad = [a for a in actions if a not in STAR_RESOURCE_OK]
                    problems.check(not bad, f"{tag} {name}: Resource '*' for {bad}")
    problems.assert_none()


# Services whose resources a function may only touch by name: a queue, topic,
# event bus, secret or key is granted on that resource (a template resource
# or a parameter), never on "*" or a whole account.
NARROW_SERVICES = ("sqs:", "sns:", "events:", "secretsmanager:", "kms:")


def test_queues_topics_buses_secrets_and_keys_are_granted_narrowly(variant):
    tag, params, cfn = variant
    problems = Problems()
    for name, res in cfn["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for policy in res["Properties"].get("Policies", []):
            for st in iter_statements(policy["PolicyDocument"]):
                if not any(a.startswith(NARROW_SERVICES) for a in as_list(st.get("Action", []))):
                    continue
                for resource in as_list(st.get("Resource", [])):
                    text = json.dumps(resource)
                    named = "Ref" in text or "Fn::GetAtt" in text or re.search(r"\$\{\w+(\.Arn)?\}", text)
                    problems.check(resource != "*" and not text.endswith(':*"') and named,
                                   f"{tag} {name}: {st.get('Action')} on {resource!r} is not one named resource")
    problems.assert_none()


@pytest.mark.parametrize("function", sorted(ALL_FUNCTIONS - {"ConfigsFunc"}) + ["ConfigsFunc"])
def test_each_function_can_do_exactly_what_it_must(variant, function):
    """Probes: every (action, resource) pair of PROBES is allowed exactly when
    it is in ALLOWED[function], by evaluating the function's policies (an
    explicit Deny wins). What a function must do and must not do, not a copy
    of its statements."""
    tag, params, cfn = variant
    role = cfn["Resources"].get(f"{function}Role")
    assert role is not None, f"{tag} {function} has no role"
    statements = policy_statements(role, params)
    problems = Problems()
    expected = allowed(function, params)
    for action, resource in PROBES:
        want = (action, resource) in expected
        got = is_allowed(statements, action, resource)
        problems.check(got == want, f"{tag} {function}: {action} on {resource} is "
                                    f"{'allowed' if got else 'denied'}, expected {'allowed' if want else 'denied'}")
    problems.assert_none()


def test_roles_exist_only_for_the_functions(variant):
    tag, _, cfn = variant
    roles = {k for k, v in cfn["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert roles == {f"{fn}Role" for fn in ALL_FUNCTIONS}, f"{tag} IAM roles are {sorted(roles)}"


def test_parliament_finds_nothing_in_the_policies(variant):
    """parliament (duo-labs) lints each policy against AWS's own action and
    resource definitions: unknown actions, resources of the wrong type,
    mismatched conditions."""
    import parliament

    tag, params, cfn = variant
    problems = Problems()
    for name, res in cfn["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for policy in res["Properties"].get("Policies", []):
            doc = resolve_conditions(policy["PolicyDocument"], conditions_of(params))
            for st in iter_statements(doc):
                st["Resource"] = concrete_resources(st, params)
            analyzed = parliament.analyze_policy_string(json.dumps(doc))
            for finding in analyzed.findings:
                problems.append(f"{tag} {name}: parliament {finding.issue} {finding.detail!r} {finding.location!r}")
    problems.assert_none()


def test_any_service_wide_statement_only_denies(variant):
    tag, _, cfn = variant
    problems = Problems()

    def walk(node):
        if isinstance(node, dict):
            if "Action" in node and "Effect" in node:
                acts = as_list(node["Action"])
                if any(a in ("s3:*", "ecr:*", "*") for a in acts if isinstance(a, str)):
                    problems.check(node["Effect"] == "Deny", f"{tag} Allow statement with {acts}")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(cfn["Resources"])
    problems.assert_none()


def test_api_routes_reach_their_functions_with_the_configured_auth(variant):
    tag, params, cfn = variant
    resources = cfn["Resources"]
    problems = Problems()
    # API: every route integrated with its function's Lambda (proxy) and
    # guarded by the ApiAuth parameter; the CORS preflights only with CORS.
    has_cors = params.get("CorsAllowOrigin", "") != ""
    apis = [v for v in resources.values() if v["Type"] == "AWS::ApiGateway::RestApi"]
    problems.check(len(apis) == 1, f"{tag} expected one RestApi, found {len(apis)}")
    body = resolve_conditions(apis[0]["Properties"]["Body"], {"HasCors": has_cors}) if apis else {}
    seen = set()
    preflights = set()
    for path, item in body.get("paths", {}).items():
        for method, op in item.items():
            verb = "ANY" if method == ANY else method.upper() if method in HTTP_METHODS else repr(method)
            route = f"{verb} {path}"
            if method == "options":
                preflights.add(path)
                problems.check(op.get("x-amazon-apigateway-auth") == {"type": "NONE"},
                      f"{tag} {route}: auth is {op.get('x-amazon-apigateway-auth')!r}")
                problems.check(op.get("x-amazon-apigateway-integration", {}).get("type") == "mock",
                      f"{tag} {route}: not a mock integration")
                continue
            seen.add((path, method))
            problems.check(op.get("x-amazon-apigateway-auth") == {"type": {"Ref": "ApiAuth"}},
                  f"{tag} {route}: auth is {op.get('x-amazon-apigateway-auth')!r}")
            integration = op.get("x-amazon-apigateway-integration", {})
            uri = integration.get("uri")
            match = None
            if isinstance(uri, dict) and set(uri) == {"Fn::Sub"} and isinstance(uri["Fn::Sub"], str):
                match = INTEGRATION_URI.fullmatch(uri["Fn::Sub"])
            problems.check(set(integration) == {"type", "httpMethod", "uri"} and integration.get("type") == "aws_proxy"
                  and integration.get("httpMethod") == "POST" and match is not None,
                  f"{tag} {route}: not a Lambda proxy integration: {integration!r}")
            expected_fn = ROUTES.get((path, method))
            problems.check(expected_fn is None or (match is not None and match.group(1) == expected_fn),
                  f"{tag} {route}: integration {uri!r}, expected function {expected_fn}")
    problems.check(seen == set(ROUTES), f"{tag} API routes {sorted(seen)}")
    problems.check(preflights == (CORS_PATHS if has_cors else set()), f"{tag} CORS preflights on {sorted(preflights)}")

    problems.assert_none()


def test_invoke_permissions_are_exactly_the_routes_and_rules(variant):
    tag, params, cfn = variant
    resources = cfn["Resources"]
    problems = Problems()
    has_cors, body = api_body(cfn, params)
    # Lambda invoke permissions: the API functions from EcrScanApi only, per
    # function exactly the routes integrated with it; the others from their
    # EventBridge rules only (checked with the rules below).
    permissions = {}
    rule_permissions = {}
    for name, res in resources.items():
        if res["Type"] != "AWS::Lambda::Permission":
            continue
        p = res["Properties"]
        fn = p.get("FunctionName")
        fn = fn.get("Ref") if isinstance(fn, dict) else fn
        problems.check(fn in ALL_FUNCTIONS, f"{tag} {name}: permission for {fn!r}")
        if fn not in API_FUNCTIONS:
            source = p.get("SourceArn")
            rule = source.get("Fn::GetAtt") if isinstance(source, dict) else None
            ok = (p.get("Action") == "lambda:InvokeFunction" and p.get("Principal") == "events.amazonaws.com"
                  and set(p) == {"Action", "FunctionName", "Principal", "SourceArn"}
                  and isinstance(rule, list) and len(rule) == 2 and rule[1] == "Arn")
            problems.check(ok, f"{tag} {name}: {p!r}")
            if ok:
                rule_permissions.setdefault(fn, set()).add(rule[0])
            continue
        problems.check(p.get("Action") == "lambda:InvokeFunction" and p.get("Principal") == "apigateway.amazonaws.com",
              f"{tag} {name}: {p.get('Action')!r} for {p.get('Principal')!r}")
        source = p.get("SourceArn")
        sub = source.get("Fn::Sub") if isinstance(source, dict) else None
        arn, subs = sub if isinstance(sub, list) and len(sub) == 2 else (None, None)
        prefix = "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/${__Stage__}/"
        ok = (isinstance(arn, str) and arn.startswith(prefix)
              and subs == {"__ApiId__": {"Ref": "EcrScanApi"}, "__Stage__": "*"})
        problems.check(ok, f"{tag} {name}: SourceArn {p.get('SourceArn')!r}")
        if ok:
            permissions.setdefault(fn, set()).add(arn[len(prefix):])
    problems.check(permissions == PERMISSIONS, f"{tag} API invoke permissions {permissions!r}")
    # Every route's requests (any method, any value of its path parameters) are allowed to invoke its function.
    for (path, method), fn in ROUTES.items():
        sample = re.sub(r"\{\w+\}", "x", re.sub(r"\{\w+\+\}", "x/y", path))
        for verb in (["GET", "PUT", "PATCH", "HEAD"] if method == ANY else [method.upper()]):
            request = f"{verb}{sample}"
            problems.check(any(fnmatch.fnmatchcase(request, pattern) for pattern in permissions.get(fn, ())),
                  f"{tag} {fn}: no invoke permission for {verb} {sample}")

    rules = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Events::Rule"}
    rule_targets = {name: {target_function(t) for t in p.get("Targets", [])} for name, p in rules.items()}
    expected_rule_permissions = {}
    for name, fns in rule_targets.items():
        for fn in fns:
            expected_rule_permissions.setdefault(fn, set()).add(name)
    problems.check(rule_permissions == expected_rule_permissions
                   and set(rule_permissions) == ALL_FUNCTIONS - API_FUNCTIONS - QUEUE_FUNCTIONS,
                   f"{tag} EventBridge invoke permissions {rule_permissions!r}, rules {rule_targets!r}")
    problems.assert_none()


def test_gateway_errors_follow_the_apis_error_contract(variant):
    tag, params, cfn = variant
    resources = cfn["Resources"]
    problems = Problems()
    has_cors, body = api_body(cfn, params)
    # Gateway responses: API Gateway's own errors follow the API's error
    # contract ({"error": ...} JSON), keeping their status codes (every route
    # is forwarded to the router, so MISSING_AUTHENTICATION_TOKEN only means
    # an unsigned request: default 403), with the CORS origin when one is
    # configured. SAM writes GatewayResponses into the RestApi body as
    # x-amazon-apigateway-gateway-responses (no separate resources).
    gw = body.get("x-amazon-apigateway-gateway-responses", {})
    problems.check(not [v for v in resources.values() if v["Type"] == "AWS::ApiGateway::GatewayResponse"],
          f"{tag} unexpected AWS::ApiGateway::GatewayResponse resources (SAM should use the body)")
    expected_gw = {
        "MISSING_AUTHENTICATION_TOKEN": (
            None, '{"error":"the request must be signed with AWS Signature Version 4 (IAM authorization)"}'),
        "DEFAULT_4XX": (None, '{"error":$context.error.messageString}'),
        "DEFAULT_5XX": (None, '{"error":$context.error.messageString}'),
    }
    problems.check(set(gw) == set(expected_gw), f"{tag} gateway responses are {sorted(gw)}")
    for rtype, (status, template) in expected_gw.items():
        resp = gw.get(rtype, {})
        problems.check(resp.get("statusCode") == status, f"{tag} {rtype}: statusCode {resp.get('statusCode')!r}")
        tmpl = resp.get("responseTemplates", {}).get("application/json")
        problems.check(tmpl == template, f"{tag} {rtype}: application/json template {tmpl!r}")
        # With $context.error.messageString substituted (a quoted string) the body is {"error": "..."}.
        try:
            sample = json.loads(tmpl.replace("$context.error.messageString", '"Forbidden"'))
        except (AttributeError, ValueError):
            sample = None
        problems.check(isinstance(sample, dict) and set(sample) == {"error"} and isinstance(sample["error"], str),
              f"{tag} {rtype}: body is not {{\"error\": \"...\"}}: {tmpl!r}")
        headers = resp.get("responseParameters", {})
        expected_headers = {"gatewayresponse.header.Content-Type": "'application/json'"}
        if has_cors:
            expected_headers["gatewayresponse.header.Access-Control-Allow-Origin"] = {
                "Fn::Sub": "'${CorsAllowOrigin}'"}
        problems.check(headers == expected_headers, f"{tag} {rtype}: responseParameters {headers!r}")

    stages = [v for v in resources.values() if v["Type"] == "AWS::ApiGateway::Stage"]
    problems.check([s["Properties"].get("StageName") for s in stages] == ["Prod"], f"{tag} stage is not Prod")

    problems.assert_none()


def test_event_rules_route_exactly_the_scan_events_to_the_recorder(variant):
    tag, params, cfn = variant
    resources = cfn["Resources"]
    problems = Problems()
    events = dict(SAMPLE_EVENTS, **recorded_events())
    # EventBridge rules, on the default bus, each invoking one function
    # (plain targets: no input rewriting, no retry policy, no DLQ): the
    # schedule StartScanFunc, the two scan events RecordResultFunc.
    rules = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Events::Rule"}
    rule_targets = {}
    for name, p in rules.items():
        problems.check(p.get("State") == "ENABLED", f"{tag} {name}: State {p.get('State')!r}")
        problems.check(p.get("EventBusName") in (None, "default"), f"{tag} {name}: EventBusName {p.get('EventBusName')!r}")
        problems.check("RoleArn" not in p, f"{tag} {name}: RoleArn {p.get('RoleArn')!r}")
        targets = p.get("Targets", [])
        problems.check(len(targets) == 1 and all(set(t) == {"Arn", "Id"} for t in targets),
              f"{tag} {name}: Targets {targets!r}")
        rule_targets[name] = {target_function(t) for t in targets}
    schedules = {k for k, p in rules.items() if "ScheduleExpression" in p}
    patterns = {k: p["EventPattern"] for k, p in rules.items() if "EventPattern" in p}
    problems.check(len(rules) == 3 and len(schedules) == 1 and len(patterns) == 2 and not (schedules & set(patterns)),
          f"{tag} EventBridge rules {sorted(rules)}: expected one schedule and two event patterns")
    for name in schedules:
        problems.check(rules[name]["ScheduleExpression"] == {"Ref": "ScanSchedule"},
              f"{tag} {name}: ScheduleExpression {rules[name]['ScheduleExpression']!r}")
        problems.check(rule_targets[name] == {"StartScanFunc"}, f"{tag} {name}: targets {rule_targets[name]}")
    by_kind = {}
    for name, pattern in patterns.items():
        kind = ("ecr" if pattern == ECR_SCAN_PATTERN else "inspector" if pattern == INSPECTOR_SCAN_PATTERN
                else None)
        problems.check(kind is not None, f"{tag} {name}: unexpected EventPattern {pattern!r}")
        problems.check(rule_targets[name] == {"RecordResultFunc"}, f"{tag} {name}: targets {rule_targets[name]}")
        if kind:
            by_kind[kind] = name
    problems.check(set(by_kind) == {"ecr", "inspector"}, f"{tag} scan event rules {by_kind!r}")
    # The documented events: each scan-complete event of an ECR image matches
    # exactly its rule and carries what the function reads; no other event
    # (pushes, EC2/Lambda scans, findings, ...) matches any rule.
    for label, (kind, event) in events.items():
        matched = {name for name, pattern in patterns.items() if pattern_matches(pattern, event)}
        want = {by_kind[kind]} if kind in by_kind else set()
        problems.check(matched == want, f"{tag} event {label!r} matches rules {sorted(matched)}, expected {sorted(want)}")
        if kind:
            problems.check(event_image(event) is not None, f"{tag} event {label!r}: no image for the function")
    problems.assert_none()


def test_every_function_that_reads_keys_may_list_the_bucket(variant):
    """S3 answers a GET of a missing key with 404 only to a caller allowed
    s3:ListBucket (unconditionally: a GetObject carries no s3:prefix), and
    with 403 to any other. ecrscan reads keys that may not exist yet (a
    digest seen for the first time), so each reader must be able to list."""
    tag, params, cfn = variant
    problems = Problems()
    for function in sorted(ALL_FUNCTIONS):
        statements = policy_statements(cfn["Resources"][f"{function}Role"], params)
        unconditional = [st for st in statements if st[3] is None]
        if is_allowed(statements, GET, SCAN_KEY) or is_allowed(statements, GET, CONFIG_KEY):
            problems.check(is_allowed(unconditional, LIST, BUCKET),
                           f"{tag} {function} reads keys but may not list {BUCKET} unconditionally")
    problems.assert_none()


def test_the_work_queue_feeds_the_workers_as_lambda_requires(variant):
    """The scheduled scan's queue: a dead-letter queue after MAX_RECEIVES
    receives; a visibility timeout of at least six times the worker's
    timeout (Lambda's rule for SQS event sources); the event source reports
    partial batch failures, in batches of at most 10, at most
    WorkerMaximumConcurrency at once; encrypted queues."""
    tag, params, cfn = variant
    resources = cfn["Resources"]
    problems = Problems()
    queues = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    problems.check(set(queues) == {"WorkQueue", "WorkDeadLetterQueue"}, f"{tag} queues {sorted(queues)}")
    work = queues.get("WorkQueue", {})
    problems.check(work.get("RedrivePolicy") == {"deadLetterTargetArn": {"Fn::GetAtt": ["WorkDeadLetterQueue", "Arn"]},
                                                 "maxReceiveCount": MAX_RECEIVES},
                   f"{tag} WorkQueue redrive {work.get('RedrivePolicy')!r}")
    problems.check(work.get("VisibilityTimeout", 0) >= 6 * TIMEOUTS["ScanWorkerFunc"],
                   f"{tag} WorkQueue visibility {work.get('VisibilityTimeout')!r}")
    dead = queues.get("WorkDeadLetterQueue", {})
    problems.check(dead.get("MessageRetentionPeriod", 0) >= work.get("MessageRetentionPeriod", 345600),
                   f"{tag} the dead letters outlive the work: {dead.get('MessageRetentionPeriod')!r}")
    for name, queue in queues.items():
        problems.check(queue.get("SqsManagedSseEnabled") is True, f"{tag} {name} not encrypted")
    mappings = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    problems.check(len(mappings) == 1, f"{tag} event source mappings {mappings!r}")
    for mapping in mappings:
        problems.check(mapping.get("EventSourceArn") == {"Fn::GetAtt": ["WorkQueue", "Arn"]},
                       f"{tag} event source {mapping.get('EventSourceArn')!r}")
        problems.check(mapping.get("FunctionName") == {"Ref": "ScanWorkerFunc"},
                       f"{tag} event source feeds {mapping.get('FunctionName')!r}")
        problems.check(mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"],
                       f"{tag} response types {mapping.get('FunctionResponseTypes')!r}")
        problems.check(1 <= mapping.get("BatchSize", 10) <= 10, f"{tag} batch size {mapping.get('BatchSize')!r}")
        problems.check(mapping.get("ScalingConfig") == {"MaximumConcurrency": {"Ref": "WorkerMaximumConcurrency"}},
                       f"{tag} scaling {mapping.get('ScalingConfig')!r}")
    # No managed policy that may receive from every queue of the account.
    for name, res in resources.items():
        if res["Type"] == "AWS::IAM::Role":
            problems.check(all(a in BASIC_EXECUTION_ARNS for a in res["Properties"].get("ManagedPolicyArns", [])),
                           f"{tag} {name}: managed policies {res['Properties'].get('ManagedPolicyArns')!r}")
    problems.assert_none()
