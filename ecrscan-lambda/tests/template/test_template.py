"""The SAM template's checks, as a test module (run by the README's test
command): cfn-lint on the template as written and on the CloudFormation the
offline SAM transform makes of it; each Lambda function's build, runtime and
environment; IAM least privilege, proven by probing what each function must
and must not be able to do with a small IAM evaluator and linted by
parliament; the API's routes, invoke permissions and gateway responses; and
the EventBridge rules against the same recorded events as the Rust tests and
the events AWS documents; the throttling of the API, the created bucket, and
the event bus policy that lets member accounts forward their scans. Then the
member account's template (member-account.yaml): its reader role's trust
and grants, and the rules that forward its scan events, probed alike.

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
MEMBER_TEMPLATE = ROOT / "ecrscan-lambda" / "member-account.yaml"
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
    # The suppression rules: written through the API, so ConfigsFunc's.
    ("/suppressions", "get"): "ConfigsFunc",
    ("/suppressions", "post"): "ConfigsFunc",
    ("/suppressions", ANY): "ConfigsFunc",
    ("/suppressions/{id}", "get"): "ConfigsFunc",
    ("/suppressions/{id}", "delete"): "ConfigsFunc",
    ("/suppressions/{id}", ANY): "ConfigsFunc",
    ("/summary", "get"): "SummaryFunc",
    ("/summary", ANY): "SummaryFunc",
    ("/findings/{id}", "get"): "FindingsFunc",
    ("/findings/{id}", ANY): "FindingsFunc",
    ("/", ANY): "SummaryFunc",
    ("/{proxy+}", ANY): "SummaryFunc",
}
# Paths with a CORS preflight (mock OPTIONS, no auth) when CorsAllowOrigin is set.
CORS_PATHS = {"/configs", "/configs/{id}", "/suppressions", "/suppressions/{id}", "/summary", "/findings/{id}"}
# Lambda invoke permissions, as the "<method>/<path>" part of the execute-api
# source ARN (any stage of EcrScanApi): exactly these, per function.
PERMISSIONS = {
    "ConfigsFunc": {"*/configs", "*/configs/*", "*/suppressions", "*/suppressions/*"},
    "SummaryFunc": {"*/summary", "*/", "*/*"},
    "FindingsFunc": {"*/findings/*"},
}
INTEGRATION_URI = re.compile(
    r"arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2015-03-31"
    r"/functions/\$\{(\w+)\.Arn\}/invocations")
# Actions that support no resource-level permissions and so need Resource "*".
STAR_RESOURCE_OK = {"ecr:GetRegistryScanningConfiguration", "inspector2:ListFindings", "organizations:ListAccounts"}
BASIC_EXECUTION = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
BASIC_EXECUTION_ARNS = [BASIC_EXECUTION, "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]

# The account and bucket name probes are evaluated for.
ACCOUNT = "111122223333"
BUCKET_NAME = "ecrscan-config-example"
BUCKET = f"arn:aws:s3:::{BUCKET_NAME}"
GET, PUT, DELETE, LIST = "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"
ALLOW, DENY = "Allow", "Deny"


def with_context(resource, context):
    """A probe's resource with the request's condition keys, written
    "ARN?key=value&key=value" (see `split_request`)."""
    return resource + "?" + "&".join(f"{k}={v}" for k, v in context.items()) if context else resource


def split_request(request):
    """A probe's resource and the condition keys its request carries."""
    resource, _, query = request.partition("?")
    return resource, dict(item.partition("=")[::2] for item in query.split("&")) if query else {}


def listing(prefix, delimiter="/", bucket=BUCKET):
    """A ListObjectsV2 request: s3:prefix, and s3:delimiter unless None."""
    context = {"s3:prefix": prefix}
    if delimiter is not None:
        context["s3:delimiter"] = delimiter
    return with_context(bucket, context)


def existence_check(key):
    """What S3 authorizes when a GET or HEAD finds no object at `key`: it
    answers 404 only if the caller may s3:ListBucket with s3:prefix = the
    key (no delimiter), 403 otherwise (as Ceph's s3-tests
    test_head_object_404_with_policy_prefix checks)."""
    bucket, _, path = key.partition(":::")[2].partition("/")
    return listing(path, None, f"arn:aws:s3:::{bucket}")


# What each function may do, checked by evaluating its policy (an explicit
# Deny wins) for every (action, resource) pair of PROBES: exactly the pairs of
# allowed(function, params) are allowed. The sample keys follow ecrscan's layout.
CONFIG_KEY = f"{BUCKET}/0f8fad5b-d9cb-469f-a165-70867728950e.json"
SUPPRESSION_KEY = f"{BUCKET}/suppressions/7c9e6679-7425-40de-944b-e07fc1f90ae7.json"
SCAN_KEY = f"{BUCKET}/results/us-east-1/{ACCOUNT}/team/app/@digests/sha256-ab12cd34.json"
IMAGES_KEY = f"{BUCKET}/results/eu-west-1/{ACCOUNT}/team/app/@images/all.json"
TAGS_KEY = f"{BUCKET}/results/eu-west-1/{ACCOUNT}/team/app/@tags.json"
OTHER_BUCKET_KEY = "arn:aws:s3:::other-bucket/results/x.json"
REPOSITORY = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team/app"
OTHER_ACCOUNT_REPOSITORY = "arn:aws:ecr:eu-west-1:444455556666:repository/team/app"
CHANGE_KEY = f"{BUCKET}/changes/5b0f2c1e-8a4d-5c3b-9e7f-1a2b3c4d5e6f.json"
CHANNEL_KEY = f"{BUCKET}/channels/0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59.json"
DELIVERY_KEY = f"{BUCKET}/deliveries/0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59/5b0f2c1e-8a4d-5c3b-9e7f-1a2b3c4d5e6f.json"
OBJECT_KEYS = (CONFIG_KEY, SUPPRESSION_KEY, SCAN_KEY, IMAGES_KEY, TAGS_KEY, CHANGE_KEY, CHANNEL_KEY,
               DELIVERY_KEY, OTHER_BUCKET_KEY)
# ListBucket probes carry the listing's s3:prefix and s3:delimiter, as the
# S3 store lists (always with delimiter "/"): the configs (the bucket root),
# the suppression rules, the channels, one channel's deliveries, the
# changes; and listings nobody's code makes: recorded results, the whole
# bucket at once (no delimiter), the rules without a delimiter. Then the
# existence checks S3 makes for a GET of a missing key.
LIST_CONFIGS = listing("")
LIST_SUPPRESSIONS = listing("suppressions/")
LIST_CHANNELS = listing("channels/")
LIST_DELIVERIES = listing("deliveries/0b6f0c0e-3d0a-4c61-9f3e-6a1d2c3b4a59/")
LIST_CHANGES = listing("changes/")
LIST_RESULTS = listing("results/")
LIST_DIGESTS = listing(f"results/us-east-1/{ACCOUNT}/team/app/@digests/")
LIST_EVERYTHING = listing("", None)
LIST_SUPPRESSIONS_DEEP = listing("suppressions/", None)
LISTINGS = (LIST_CONFIGS, LIST_SUPPRESSIONS, LIST_CHANNELS, LIST_DELIVERIES, LIST_CHANGES, LIST_RESULTS,
            LIST_DIGESTS, LIST_EVERYTHING, LIST_SUPPRESSIONS_DEEP)
LISTINGS += tuple(existence_check(k) for k in (CONFIG_KEY, SUPPRESSION_KEY, SCAN_KEY, CHANNEL_KEY))
S3_PROBES = [(a, r) for a in (GET, PUT, DELETE) for r in OBJECT_KEYS]
S3_PROBES += [(LIST, r) for r in LISTINGS] + [(LIST, listing("", bucket="arn:aws:s3:::other-bucket"))]
ECR_ACTIONS = ("ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListImages", "ecr:DescribeImageScanFindings",
               "ecr:BatchGetRepositoryScanningConfiguration", "ecr:StartImageScan", "ecr:BatchGetImage",
               "ecr:PutImage", "ecr:BatchDeleteImage", "ecr:SetRepositoryPolicy",
               "ecr:PutImageScanningConfiguration")
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
# logical ids as `evaluate` names them), and another queue of the account.
WORK_QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:WorkQueue"
DEAD_LETTER_QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:WorkDeadLetterQueue"
OTHER_QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:billing-jobs"
SQS_ACTIONS = ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
               "sqs:ChangeMessageVisibility", "sqs:PurgeQueue", "sqs:DeleteQueue")
PROBES += [(a, q) for a in SQS_ACTIONS for q in (WORK_QUEUE, DEAD_LETTER_QUEUE, OTHER_QUEUE)]
# An SSE-KMS config bucket's key (the one the "org-kms" variant names) and
# another: used through S3 (as S3 calls KMS for a read or a write), directly
# (no kms:ViaService), or through another service.
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"


def via_s3(key):
    return with_context(key, {"kms:ViaService": "s3.us-east-1.amazonaws.com"})


KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant")
PROBES += [(a, k) for a in KMS_ACTIONS for k in (via_s3(KEY), via_s3(OTHER_KEY))]
PROBES += [(a, k) for a in ("kms:Decrypt", "kms:GenerateDataKey")
           for k in (KEY, with_context(KEY, {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}))]
# Many accounts: reader roles (the variants' templates name
# role/ecrscan-reader and role/ecrscan/reader) in a member account, in this
# account and in another partition, and roles of other names; the
# organization's accounts.
MEMBER = "444455556666"
LISTED = "555566667777"
STRANGER = "999988887777"
ORG_ID = "o-a1b2c3d4e5"
ROLES = (f"arn:aws:iam::{MEMBER}:role/ecrscan-reader", f"arn:aws:iam::{ACCOUNT}:role/ecrscan-reader",
         f"arn:aws:iam::{MEMBER}:role/ecrscan/reader", f"arn:aws-cn:iam::{MEMBER}:role/ecrscan-reader",
         f"arn:aws:iam::{MEMBER}:role/admin", f"arn:aws:iam::{MEMBER}:role/ecrscan-reader-admin",
         f"arn:aws:iam::{MEMBER}:role/team/ecrscan-reader")
PROBES += [("sts:AssumeRole", r) for r in ROLES]
PROBES += [("organizations:ListAccounts", "*"), ("organizations:DescribeOrganization", "*"),
           ("organizations:ListAccountsForParent", "*")]
READ_IMAGES_AND_FINDINGS = {("ecr:DescribeRepositories", REPOSITORY), ("ecr:DescribeImages", REPOSITORY),
                            ("ecr:DescribeImageScanFindings", REPOSITORY),
                            ("inspector2:ListFindings", "*")}
# Resolving a config: its repositories, their images and tags.
RESOLVE = {("ecr:DescribeRepositories", REPOSITORY), ("ecr:DescribeImages", REPOSITORY)}
LIST_ANYTHING = {(LIST, r) for r in LISTINGS}
# Summaries, feeds and the record step judge findings by the suppression
# rules: they read them, only ConfigsFunc writes them.
READ_RULES = {(GET, SUPPRESSION_KEY)}
# The record step reads a record before it writes it back (compare-and-swap),
# writes each change once, and queues its deliveries (create-only).
RECORD = {(GET, SCAN_KEY), (GET, IMAGES_KEY), (GET, TAGS_KEY), (PUT, SCAN_KEY), (PUT, IMAGES_KEY),
          (PUT, TAGS_KEY), (PUT, CHANGE_KEY), (GET, CHANNEL_KEY), (PUT, DELIVERY_KEY)} | READ_RULES
# The senders read, claim, settle and prune deliveries.
SEND = {(GET, DELIVERY_KEY), (PUT, DELIVERY_KEY), (DELETE, DELIVERY_KEY), (LIST, LIST_CHANNELS),
        (LIST, LIST_DELIVERIES)}
ALLOWED = {
    # The configs and the suppression rules; it lists exactly those (not
    # results/ nor the whole bucket), and may tell an unknown id (404) from
    # a forbidden one.
    "ConfigsFunc": {(a, k) for a in (GET, PUT, DELETE) for k in (CONFIG_KEY, SUPPRESSION_KEY)}
                   | {(LIST, LIST_CONFIGS), (LIST, LIST_SUPPRESSIONS), (LIST, existence_check(CONFIG_KEY)),
                      (LIST, existence_check(SUPPRESSION_KEY))},
    # GET /changes and GET /channels read those.
    "SummaryFunc": {(GET, CONFIG_KEY), (GET, CHANGE_KEY)} | LIST_ANYTHING | RECORD | READ_IMAGES_AND_FINDINGS,
    # Plans: resolves the selections and queues the scans; starts none.
    "StartScanFunc": {(GET, CONFIG_KEY), (GET, CHANGE_KEY), ("sqs:SendMessage", WORK_QUEUE)}
                     | RESOLVE | LIST_ANYTHING | RECORD | SEND,
    # Starts the queued scans: consumes the work queue, queues the scans of
    # the selections it resolves and dead-letters with a reason; never reads
    # configs or changes, never sends notifications.
    "ScanWorkerFunc": {("ecr:StartImageScan", REPOSITORY), ("ecr:GetRegistryScanningConfiguration", "*"),
                       ("sqs:ReceiveMessage", WORK_QUEUE), ("sqs:DeleteMessage", WORK_QUEUE),
                       ("sqs:GetQueueAttributes", WORK_QUEUE), ("sqs:SendMessage", WORK_QUEUE),
                       ("sqs:ChangeMessageVisibility", WORK_QUEUE),
                       ("sqs:SendMessage", DEAD_LETTER_QUEUE)} | RESOLVE | LIST_ANYTHING | RECORD,
    # Configs for the links in Slack messages; listing, so that S3 answers
    # a key not written yet with 404 rather than 403.
    "RecordResultFunc": {("ecr:DescribeImageScanFindings", REPOSITORY), ("inspector2:ListFindings", "*"),
                         (GET, CONFIG_KEY), (GET, CHANGE_KEY)} | LIST_ANYTHING | RECORD | SEND,
}
ALLOWED["FindingsFunc"] = ALLOWED["SummaryFunc"]
SENDERS = {"StartScanFunc", "RecordResultFunc"}
# Many accounts: the functions that call ECR assume the reader roles (and
# get their env vars); those that resolve configs may list the
# organization's accounts.
ECR_FUNCTIONS = ALL_FUNCTIONS - {"ConfigsFunc"}
RESOLVERS = {"SummaryFunc", "FindingsFunc", "StartScanFunc", "ScanWorkerFunc"}


def allowed(function, params):
    """ALLOWED[function], plus what the parameters grant: the notification
    targets for the functions that send; the config bucket's KMS key,
    through S3, to decrypt for each function that reads the bucket and to
    make data keys for each that writes it; the reader roles the
    AssumeRoleTemplate names (in any account of this partition) for the
    functions that call ECR, and the organization's account list for those
    that resolve configs."""
    out = set(ALLOWED[function])
    if function in SENDERS:
        if params.get("NotificationTopicArn"):
            out.add(("sns:Publish", params["NotificationTopicArn"]))
        if params.get("NotificationEventBusArn"):
            out.add(("events:PutEvents", params["NotificationEventBusArn"]))
        for secret in filter(None, params.get("WebhookSecretArns", "").split(",")):
            out.add(("secretsmanager:GetSecretValue", secret))
    key = params.get("ConfigBucketKmsKeyArn")
    if key:
        in_bucket = {(action, resource) for action, resource in out if resource.startswith(BUCKET + "/")}
        if any(action == GET for action, _ in in_bucket):
            out.add(("kms:Decrypt", via_s3(key)))
        if any(action == PUT for action, _ in in_bucket):
            out.add(("kms:GenerateDataKey", via_s3(key)))
    template = params.get("AssumeRoleTemplate")
    if template and function in ECR_FUNCTIONS:
        role = re.escape(template).replace(r"\{account\}", "[0-9]{12}").replace(r"\{partition\}", "aws")
        out |= {("sts:AssumeRole", r) for r in ROLES if re.fullmatch(role, r)}
        if function in RESOLVERS:
            out.add(("organizations:ListAccounts", "*"))
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
    # Many accounts, an organization's; an SSE-KMS bucket the stack creates;
    # no reserved concurrency.
    "org-kms": {
        "AssumeRoleTemplate": "arn:{partition}:iam::{account}:role/ecrscan-reader",
        "AssumeRoleExternalId": "ecrscan-7f3a9c2e",
        "EventSourceOrganizationId": ORG_ID,
        "ConfigBucketKmsKeyArn": KEY,
        "CreateConfigBucket": "true",
        "NoncurrentVersionDays": "7",
        "ApiReservedConcurrency": "0",
    },
    # Many accounts, listed; a role with a path, its partition written out.
    "accounts": {
        "AssumeRoleTemplate": "arn:aws:iam::{account}:role/ecrscan/reader",
        "EventSourceAccounts": f"{MEMBER},{LISTED}",
        "ApiReservedConcurrency": "",
        "ApiThrottlingRateLimit": "5",
        "ApiThrottlingBurstLimit": "10",
    },
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


class Unresolved(Exception):
    """An intrinsic function `evaluate` does not model."""


# The pseudo parameters probes are evaluated for (the account is ACCOUNT
# unless said otherwise).
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com"}
# Template resources whose ARN `evaluate` knows: the queues, by logical id.
QUEUES = ("WorkQueue", "WorkDeadLetterQueue")
INTRINSICS = {"Ref", "Fn::Sub", "Fn::Join", "Fn::Split", "Fn::Select", "Fn::GetAtt"}


def template_parameters(template, params):
    """Every parameter's value as CloudFormation passes it: `params` over
    the template's defaults, a CommaDelimitedList as a list."""
    out = {}
    for name, spec in template.get("Parameters", {}).items():
        value = params.get(name, spec.get("Default"))
        if value is None:
            continue
        out[name] = str(value).split(",") if spec.get("Type") == "CommaDelimitedList" else str(value)
    return out


def evaluate(node, params, template, account=ACCOUNT):
    """`node` with CloudFormation's intrinsic functions (Ref, Fn::Sub,
    Fn::Join, Fn::Split, Fn::Select; Fn::GetAtt of the queues' Arn)
    evaluated as at deploy time, for partition aws, region us-east-1,
    `account` and the parameters (over `template`'s defaults). Fn::If must
    be resolved first. Raises Unresolved for anything else."""
    known = {**PSEUDO, "AWS::AccountId": account, **template_parameters(template, params)}

    def ev(n):
        if isinstance(n, list):
            return [ev(v) for v in n]
        if not isinstance(n, dict):
            return n
        if len(n) != 1 or next(iter(n)) not in INTRINSICS:
            if any(k.startswith("Fn::") for k in n):
                raise Unresolved(n)
            return {k: ev(v) for k, v in n.items()}
        (fn, arg), = n.items()
        if fn == "Ref":
            if arg not in known:
                raise Unresolved(n)
            return known[arg]
        if fn == "Fn::GetAtt":
            name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            if name not in QUEUES or attribute != "Arn":
                raise Unresolved(n)
            return f"arn:aws:sqs:us-east-1:{account}:{name}"
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], {k: ev(v) for k, v in arg[1].items()})

            def value(m):
                got = names.get(m.group(1), known.get(m.group(1)))
                if not isinstance(got, str):
                    raise Unresolved(n)
                return got
            return re.sub(r"\$\{([\w:.]+)\}", value, text)
        if fn == "Fn::Join":
            delimiter, items = arg
            assert isinstance(delimiter, str), "Fn::Join's delimiter must be a plain string"
            return delimiter.join(v for item in ev(items) for v in as_list(item))
        if fn == "Fn::Split":
            delimiter, text = arg
            return ev(text).split(delimiter)
        if fn == "Fn::Select":
            index, items = arg
            return ev(items)[int(ev(index))]
        raise Unresolved(n)
    return ev(node)


def evaluate_conditions(template, params):
    """The template's Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or,
    Condition) as CloudFormation evaluates them for these parameters."""
    conditions = template.get("Conditions", {})
    done = {}

    def ev(node):
        (fn, arg), = node.items()
        if fn == "Condition":
            return one(arg)
        if fn == "Fn::Equals":
            a, b = (evaluate(v, params, template) for v in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not ev(arg[0])
        if fn == "Fn::And":
            return all(ev(c) for c in arg)
        if fn == "Fn::Or":
            return any(ev(c) for c in arg)
        raise Unresolved(node)

    def one(name):
        if name not in done:
            done[name] = ev(conditions[name])
        return done[name]
    return {name: one(name) for name in conditions}


def load_template(path):
    with open(path, encoding="utf-8") as f:
        return yaml_parse(f.read())


SAM_TEMPLATE = load_template(TEMPLATE)


def conditions_of(params):
    """The template's conditions for these parameters, as CloudFormation
    evaluates them."""
    return evaluate_conditions(SAM_TEMPLATE, params)


def iam_matches(pattern, value):
    """IAM's wildcards: * any run of characters (also /), ? one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


# The condition operators and keys the probes model: a statement with any
# other is refused (the evaluator could not probe it).
CONDITION_OPERATORS = {"StringEquals", "StringLike"}
CONDITION_KEYS = {"s3:prefix", "s3:delimiter", "kms:ViaService", "aws:PrincipalOrgID", "sts:ExternalId",
                  "aws:SourceAccount"}


def check_condition(condition, where):
    assert condition is None or (isinstance(condition, dict) and set(condition) <= CONDITION_OPERATORS and all(
        isinstance(keys, dict) and set(keys) <= CONDITION_KEYS for keys in condition.values())), \
        f"condition not modelled by the probes: {where!r}"


def condition_holds(condition, context):
    """IAM: every operator's every key holds (a key the request lacks never
    does); a key holds when its request value matches any of its values."""
    for operator, keys in (condition or {}).items():
        for key, values in keys.items():
            if key not in context:
                return False
            value = context[key]
            if operator == "StringEquals" and value not in as_list(values):
                return False
            if operator == "StringLike" and not any(iam_matches(v, value) for v in as_list(values)):
                return False
    return True


def flat(values):
    return [v for value in values for v in as_list(value)]


def policy_statements(role, params, template=SAM_TEMPLATE, account=ACCOUNT):
    """A role's inline statements as (effect, actions, resources, condition),
    the template's conditions resolved and its intrinsic functions evaluated
    (see `evaluate`; a Ref to a CommaDelimitedList is its items)."""
    out = []
    for policy in role["Properties"].get("Policies", []):
        doc = resolve_conditions(policy["PolicyDocument"], evaluate_conditions(template, params))
        for st in iter_statements(evaluate(doc, params, template, account)):
            check_condition(st.get("Condition"), st)
            assert "NotAction" not in st and "NotResource" not in st, f"NotAction/NotResource: {st!r}"
            out.append((st["Effect"], as_list(st.get("Action", [])), flat(as_list(st.get("Resource", []))),
                        st.get("Condition")))
    return out


def is_allowed(statements, action, request):
    """IAM evaluation of (effect, actions, resources, condition) statements:
    allowed by a matching Allow and not denied by a matching Deny. The
    request is "ARN?key=value&..." with the condition keys it carries (see
    `split_request`)."""
    resource, context = split_request(request)
    hits = {effect for effect, actions, resources, condition in statements
            if any(iam_matches(a, action) for a in actions)
            and any(iam_matches(r, resource) for r in resources)
            and condition_holds(condition, context)}
    return ALLOW in hits and DENY not in hits


def principal_matches(principal, caller):
    """A resource policy's Principal against a caller: {"account", "arn"}
    for an AWS principal (an account id or its root ARN names every
    principal of the account), {"service"} for a service."""
    if principal == "*":
        return True
    for kind, values in principal.items():
        for value in as_list(values):
            if kind == "AWS" and "account" in caller and value in (
                    "*", caller["account"], f"arn:aws:iam::{caller['account']}:root", caller.get("arn")):
                return True
            if kind == "Service" and value == caller.get("service"):
                return True
    return False


def resource_policy_allows(statements, caller, action, request):
    """A resource policy (a trust policy, an event bus policy) for a caller
    of another account or a service: allowed by a matching Allow, not denied
    by a matching Deny. The caller's own condition keys (aws:PrincipalOrgID,
    sts:ExternalId, aws:SourceAccount) come with it."""
    resource, context = split_request(request)
    context = {**context, **{k: v for k, v in caller.items() if ":" in k}}
    hits = set()
    for st in statements:
        check_condition(st.get("Condition"), st)
        if (principal_matches(st.get("Principal"), caller)
                and any(iam_matches(a, action) for a in as_list(st.get("Action", [])))
                and any(iam_matches(r, resource) for r in flat(as_list(st.get("Resource", "*"))))
                and condition_holds(st.get("Condition"), context)):
            hits.add(st["Effect"])
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


def from_member_account(event):
    """The same event, from the member account MEMBER."""
    return json.loads(json.dumps(event).replace(event["account"], MEMBER))


def deployed(resources, conditions):
    """The resources CloudFormation creates for these condition values,
    their Fn::If resolved."""
    return {name: resolve_conditions(res, conditions) for name, res in resources.items()
            if res.get("Condition") is None or conditions[res["Condition"]]}


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
        # Many accounts: the role template as given ({account} and all) and
        # its external id, for every function that calls ECR.
        if name in ECR_FUNCTIONS:
            expected_env.update({"ECRSCAN_ASSUME_ROLE": {"Ref": "AssumeRoleTemplate"},
                                 "ECRSCAN_EXTERNAL_ID": {"Ref": "AssumeRoleExternalId"}})
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
            # Each variant's statements, those of its conditions included.
            doc = resolve_conditions(policy["PolicyDocument"], conditions_of(params))
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
# event bus, secret, key or role is granted on that resource (a template
# resource or a parameter), never on "*" or a whole account.
NARROW_SERVICES = ("sqs:", "sns:", "events:", "secretsmanager:", "kms:", "sts:")


def test_queues_topics_buses_secrets_and_keys_are_granted_narrowly(variant):
    tag, params, cfn = variant
    problems = Problems()
    for name, res in cfn["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for policy in res["Properties"].get("Policies", []):
            for st in iter_statements(resolve_conditions(policy["PolicyDocument"], conditions_of(params))):
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
    it is in allowed(function, params), by evaluating the function's
    policies (an explicit Deny wins; conditions on the request's s3:prefix,
    s3:delimiter and kms:ViaService evaluated). What a function must do and
    must not do, not a copy of its statements."""
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
            doc = evaluate(resolve_conditions(policy["PolicyDocument"], conditions_of(params)), params, SAM_TEMPLATE)
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
    # Member accounts forward their scan events to this account's default
    # bus: the rules name no account, so those match as well.
    events.update({f"{label} (member account)": (kind, from_member_account(event))
                   for label, (kind, event) in events.items()})
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


def test_every_function_tells_a_missing_key_from_a_forbidden_one(variant):
    """S3 answers a GET (or HEAD) of a missing key with 404 only to a caller
    allowed s3:ListBucket for it (it checks ListBucket with s3:prefix = the
    key, no delimiter), and with 403 to any other. ecrscan reads keys that
    may not exist (a digest seen for the first time, an unknown config or
    rule id), so each key a function may read it may also list."""
    tag, params, cfn = variant
    problems = Problems()
    for function in sorted(ALL_FUNCTIONS):
        statements = policy_statements(cfn["Resources"][f"{function}Role"], params)
        for key in OBJECT_KEYS:
            if key.startswith(BUCKET + "/") and is_allowed(statements, GET, key):
                problems.check(is_allowed(statements, LIST, existence_check(key)),
                               f"{tag} {function} reads {key} but would get 403 for it missing")
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


def test_parameters_default_to_one_account_and_what_they_promise(sam):
    """The defaults: one account, no key, no member accounts; the stage's
    throttling on and no reserved concurrency (it fails in accounts with a
    low quota); old versions kept 30
    days; the schedule as before. The patterns of the parameters that
    grants are built from accept exactly the forms the grants assume."""
    problems = Problems()
    parameters = sam["Parameters"]
    defaults = {"ScanSchedule": "rate(24 hours)", "NoncurrentVersionDays": 30, "ConfigBucketKmsKeyArn": "",
                "ApiThrottlingRateLimit": 20, "ApiThrottlingBurstLimit": 40, "ApiReservedConcurrency": "",
                "AssumeRoleTemplate": "", "AssumeRoleExternalId": "", "EventSourceOrganizationId": "",
                "EventSourceAccounts": ""}
    for name, default in defaults.items():
        problems.check(name in parameters and parameters[name].get("Default") == default,
                       f"{name}: default {parameters.get(name, {}).get('Default')!r}, expected {default!r}")
    problems.check(parameters.get("AssumeRoleExternalId", {}).get("NoEcho") is True, "AssumeRoleExternalId: not NoEcho")
    problems.check(parameters.get("EventSourceAccounts", {}).get("Type") == "CommaDelimitedList",
                   "EventSourceAccounts: not a CommaDelimitedList")
    # The sts:AssumeRole grant takes the role's name as what follows
    # ":role/" in any account: so the template must name {account} and one
    # role (no second ":role/", nothing else).
    accepted = {
        "AssumeRoleTemplate": ["", "arn:{partition}:iam::{account}:role/ecrscan-reader",
                               "arn:aws:iam::{account}:role/ecrscan/reader",
                               "arn:aws-us-gov:iam::{account}:role/ecrscan-reader"],
        "ConfigBucketKmsKeyArn": ["", KEY, f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"],
        "EventSourceOrganizationId": ["", ORG_ID],
        "EventSourceAccounts": ["", MEMBER],
        "ApiReservedConcurrency": ["", "0", "5", "100"],
    }
    refused = {
        "AssumeRoleTemplate": [f"arn:aws:iam::{MEMBER}:role/ecrscan-reader", "arn:{partition}:iam::{account}:user/x",
                               "arn:{partition}:iam::{account}:role/a:role/b", "arn:{partition}:iam::*:role/x",
                               "arn:{partition}:iam::{account}:role/*", "{account}"],
        "ConfigBucketKmsKeyArn": [f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/ecrscan", "*"],
        "EventSourceOrganizationId": ["*", "o-"],
        "EventSourceAccounts": ["*", "1234"],
        "ApiReservedConcurrency": ["-1", "05", "five"],
    }
    for name, values in accepted.items():
        pattern = parameters.get(name, {}).get("AllowedPattern", "")
        for value in values:
            problems.check(re.fullmatch(pattern, value) is not None, f"{name}: {value!r} refused by {pattern!r}")
        for value in refused[name]:
            problems.check(re.fullmatch(pattern, value) is None, f"{name}: {value!r} accepted by {pattern!r}")
    problems.assert_none()


def test_read_only_callers_cannot_exhaust_the_account(variant):
    """The Prod stage throttles every path and method at
    ApiThrottlingRateLimit (burst ApiThrottlingBurstLimit), and each API
    function has ApiReservedConcurrency reserved ("0" or empty: none), so
    callers of the API cannot spend the account's AWS quotas or Lambda
    concurrency the scheduled scan needs. The other functions reserve none."""
    tag, params, cfn = variant
    resources = deployed(cfn["Resources"], conditions_of(params))
    problems = Problems()
    values = template_parameters(SAM_TEMPLATE, params)
    stages = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::ApiGateway::Stage"]
    problems.check(len(stages) == 1, f"{tag} stages {stages!r}")
    for stage in stages:
        settings = evaluate(stage.get("MethodSettings", []), params, SAM_TEMPLATE)
        problems.check(settings == [{"ResourcePath": "/*", "HttpMethod": "*",
                                     "ThrottlingRateLimit": values["ApiThrottlingRateLimit"],
                                     "ThrottlingBurstLimit": values["ApiThrottlingBurstLimit"]}],
                       f"{tag} stage MethodSettings {settings!r}")
        problems.check(0 < float(values["ApiThrottlingRateLimit"]) <= int(values["ApiThrottlingBurstLimit"]),
                       f"{tag} throttling {values['ApiThrottlingRateLimit']}/{values['ApiThrottlingBurstLimit']}")
    reserve = values["ApiReservedConcurrency"]
    for name, fn in resources.items():
        if fn["Type"] != "AWS::Lambda::Function":
            continue
        got = fn["Properties"].get("ReservedConcurrentExecutions")
        got = None if got is None else int(evaluate(got, params, SAM_TEMPLATE))
        want = int(reserve) if name in API_FUNCTIONS and reserve not in ("", "0") else None
        problems.check(got == want, f"{tag} {name}: reserved concurrency {got!r}, expected {want!r}")
    problems.assert_none()


def test_a_created_bucket_is_private_encrypted_and_expires_only_old_versions(variant):
    """With CreateConfigBucket: versioned, and S3 expires the versions a
    rewrite or a delete leaves behind after NoncurrentVersionDays (then the
    lone delete markers), for every object; current objects never expire.
    Encrypted with the KMS key when ConfigBucketKmsKeyArn names one; no
    public access."""
    tag, params, cfn = variant
    conditions = conditions_of(params)
    resources = deployed(cfn["Resources"], conditions)
    problems = Problems()
    values = template_parameters(SAM_TEMPLATE, params)
    buckets = {k: evaluate(v["Properties"], params, SAM_TEMPLATE)
               for k, v in resources.items() if v["Type"] == "AWS::S3::Bucket"}
    problems.check(set(buckets) == ({"ConfigBucket"} if params.get("CreateConfigBucket") == "true" else set()),
                   f"{tag} buckets {sorted(buckets)}")
    for name, bucket in buckets.items():
        problems.check(bucket.get("BucketName") == BUCKET_NAME, f"{tag} {name}: name {bucket.get('BucketName')!r}")
        problems.check(bucket.get("VersioningConfiguration") == {"Status": "Enabled"},
                       f"{tag} {name}: versioning {bucket.get('VersioningConfiguration')!r}")
        rules = bucket.get("LifecycleConfiguration", {}).get("Rules", [])
        expiring = [r for r in rules if r.get("Status") == "Enabled" and "NoncurrentVersionExpiration" in r]
        problems.check(len(expiring) == 1 and not {"Prefix", "Filter", "TagFilters"} & set(expiring[0])
                       and expiring[0]["NoncurrentVersionExpiration"] == {
                           "NoncurrentDays": values["NoncurrentVersionDays"]}
                       and expiring[0].get("ExpiredObjectDeleteMarker") is True,
                       f"{tag} {name}: lifecycle {rules!r}")
        never = {"ExpirationInDays", "ExpirationDate", "Transitions", "Transition", "NoncurrentVersionTransitions",
                 "NoncurrentVersionTransition"}
        problems.check(not any(never & set(r) for r in rules), f"{tag} {name}: a rule expires current objects: {rules!r}")
        key = params.get("ConfigBucketKmsKeyArn")
        encryption = {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
                      "BucketKeyEnabled": True} if key else {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        got = bucket.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
        problems.check(got == [encryption], f"{tag} {name}: encryption {got!r}")
        block = bucket.get("PublicAccessBlockConfiguration", {})
        problems.check(block == {k: True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                                   "RestrictPublicBuckets")}, f"{tag} {name}: public access {block!r}")
    problems.assert_none()


# Who may put events on the default bus: a member of the organization, an
# account outside it (the "accounts" variant lists it), strangers.
EVENT_CALLERS = {
    "a member of the organization": {"account": MEMBER, "arn": f"arn:aws:iam::{MEMBER}:role/ecrscan-forward",
                                     "aws:PrincipalOrgID": ORG_ID},
    "a listed account of another organization": {"account": LISTED, "arn": f"arn:aws:iam::{LISTED}:role/fwd",
                                                 "aws:PrincipalOrgID": "o-z9y8x7w6v5"},
    "a stranger": {"account": STRANGER, "arn": f"arn:aws:iam::{STRANGER}:role/fwd",
                   "aws:PrincipalOrgID": "o-z9y8x7w6v5"},
    "a stranger in no organization": {"account": STRANGER, "arn": f"arn:aws:iam::{STRANGER}:user/x"},
}


def test_member_accounts_may_put_events_on_the_default_bus_exactly_when_allowed(variant):
    """The default bus's policy lets the accounts of EventSourceOrganizationId
    and those of EventSourceAccounts events:PutEvents on it (so their
    forwarded scan events reach the recorder's rules), nobody else, and
    nothing else; no statement when both are empty."""
    tag, params, cfn = variant
    resources = deployed(cfn["Resources"], conditions_of(params))
    problems = Problems()
    policies = {k: evaluate(v["Properties"], params, SAM_TEMPLATE)
                for k, v in resources.items() if v["Type"] == "AWS::Events::EventBusPolicy"}
    for name, policy in policies.items():
        problems.check(policy.get("EventBusName", "default") == "default", f"{tag} {name}: bus {policy!r}")
        problems.check(set(policy) == {"EventBusName", "StatementId", "Statement"}, f"{tag} {name}: {policy!r}")
    ids = [p.get("StatementId") for p in policies.values()]
    problems.check(len(set(ids)) == len(ids), f"{tag} statement ids {ids!r}")
    statements = [p["Statement"] for p in policies.values()]
    accounts = set(filter(None, params.get("EventSourceAccounts", "").split(",")))
    organization = params.get("EventSourceOrganizationId")
    problems.check(bool(statements) == bool(accounts or organization), f"{tag} bus policies {sorted(policies)}")
    for label, caller in EVENT_CALLERS.items():
        want = caller["account"] in accounts or (organization and caller.get("aws:PrincipalOrgID") == organization)
        got = resource_policy_allows(statements, caller, "events:PutEvents", DEFAULT_BUS)
        problems.check(got == bool(want), f"{tag} {label}: PutEvents on the default bus "
                                          f"{'allowed' if got else 'denied'}, expected {'allowed' if want else 'denied'}")
        for action, bus in (("events:PutEvents", BUS), ("events:PutRule", DEFAULT_BUS),
                            ("events:PutPermission", DEFAULT_BUS)):
            problems.check(not resource_policy_allows(statements, caller, action, bus),
                           f"{tag} {label}: {action} on {bus} allowed")
    problems.assert_none()


# ------------------------------------------------------------ member account --
# What ecrscan's ECR backend calls (ecrscan-core/src/aws/ecr.rs, and the
# repository reads that resolve configs), on a
# member account's repositories; the registry's scanning configuration and
# Inspector's findings (DescribeImageScanFindings of enhanced scans) have
# no narrower resource.
BACKEND_REPOSITORY_ACTIONS = ("ecr:DescribeRepositories", "ecr:DescribeImages",
                              "ecr:DescribeImageScanFindings", "ecr:StartImageScan")
MEMBER_REPOSITORY = f"arn:aws:ecr:eu-west-1:{MEMBER}:repository/team/app"
READER = ({(a, MEMBER_REPOSITORY) for a in BACKEND_REPOSITORY_ACTIONS}
          | {("ecr:GetRegistryScanningConfiguration", "*"), ("inspector2:ListFindings", "*")})
READER_PROBES = [(a, r) for a in ECR_ACTIONS + ("ecr:GetDownloadUrlForLayer", "ecr:DeleteRepository",
                                                "ecr:CreateRepository", "ecr:TagResource")
                 for r in (MEMBER_REPOSITORY, REPOSITORY)]
READER_PROBES += [("ecr:GetRegistryScanningConfiguration", "*"), ("ecr:PutRegistryScanningConfiguration", "*"),
                  ("ecr:GetAuthorizationToken", "*"), ("inspector2:ListFindings", "*"),
                  ("inspector2:CreateFilter", "*"), ("inspector2:Disable", "*"), (GET, CONFIG_KEY),
                  ("sts:AssumeRole", ROLES[0]), ("events:PutEvents", DEFAULT_BUS), ("iam:PassRole", "*")]
# The central account's buses (the default one in this and another region,
# another one), the member's own default bus.
CENTRAL_BUS = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/ecrscan-scans"
BUSES = (DEFAULT_BUS, CENTRAL_BUS, f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/default",
         f"arn:aws:events:us-east-1:{MEMBER}:event-bus/default")
MEMBER_VARIANTS = {
    "defaults": {"CentralAccountId": ACCOUNT},
    "external-id-own-bus": {"CentralAccountId": ACCOUNT, "ExternalId": "ecrscan-7f3a9c2e",
                            "CentralEventBusArn": CENTRAL_BUS, "ReaderRoleName": "scanner"},
    "second-region": {"CentralAccountId": ACCOUNT, "CreateReaderRole": "false"},
    "role-only": {"CentralAccountId": ACCOUNT, "ExternalId": "ecrscan-7f3a9c2e", "ForwardEvents": "false"},
}


@pytest.fixture(scope="module")
def member():
    return load_template(MEMBER_TEMPLATE)


@pytest.fixture(scope="module", params=sorted(MEMBER_VARIANTS))
def member_variant(request, member):
    params = MEMBER_VARIANTS[request.param]
    resources = deployed(member["Resources"], evaluate_conditions(member, params))
    return f"member {request.param}", params, resources


def test_cfn_lint_passes_on_the_member_account_template():
    result = cfn_lint(MEMBER_TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_member_account_has_a_reader_role_and_forwarding_rules_as_asked(member_variant, member):
    tag, params, resources = member_variant
    values = template_parameters(member, params)
    expected = set()
    if values["CreateReaderRole"] == "true":
        expected |= {("ReaderRole", "AWS::IAM::Role")}
    if values["ForwardEvents"] == "true":
        expected |= {("ForwardEventsRole", "AWS::IAM::Role"), ("ForwardEcrImageScans", "AWS::Events::Rule"),
                     ("ForwardInspectorScans", "AWS::Events::Rule")}
    got = {(k, v["Type"]) for k, v in resources.items()}
    assert got == expected, f"{tag} resources {sorted(got)}"
    if "ReaderRole" in resources:
        # The name the central stack's AssumeRoleTemplate names.
        name = evaluate(resources["ReaderRole"]["Properties"].get("RoleName"), params, member, MEMBER)
        assert name == values["ReaderRoleName"], f"{tag} reader role name {name!r}"


def test_the_reader_role_trusts_only_the_central_account_with_the_external_id(member_variant, member):
    tag, params, resources = member_variant
    if "ReaderRole" not in resources:
        return
    problems = Problems()
    trust = evaluate(resources["ReaderRole"]["Properties"]["AssumeRolePolicyDocument"], params, member, MEMBER)
    problems.check(trust.get("Version") == "2012-10-17", f"{tag} trust policy version {trust.get('Version')!r}")
    statements = list(iter_statements(trust))
    external_id = params.get("ExternalId", "")
    central_role = f"arn:aws:iam::{ACCOUNT}:role/ecrscan-ScanWorkerFuncRole-1A2B3C"
    callers = {
        "the central account with the external id": ({"account": ACCOUNT, "arn": central_role,
                                                      "sts:ExternalId": external_id or "anything"}, True),
        "the central account without an external id": ({"account": ACCOUNT, "arn": central_role},
                                                        not external_id),
        "the central account with another external id": ({"account": ACCOUNT, "arn": central_role,
                                                          "sts:ExternalId": "guessed"}, not external_id),
        "another account with the external id": ({"account": STRANGER, "arn": f"arn:aws:iam::{STRANGER}:role/x",
                                                  "sts:ExternalId": external_id or "anything"}, False),
        "the member account itself": ({"account": MEMBER, "arn": f"arn:aws:iam::{MEMBER}:role/x",
                                       "sts:ExternalId": external_id or "anything"}, False),
        "a service": ({"service": "lambda.amazonaws.com"}, False),
    }
    for label, (caller, want) in callers.items():
        got = resource_policy_allows(statements, caller, "sts:AssumeRole", "*")
        problems.check(got == want, f"{tag} {label}: sts:AssumeRole {'allowed' if got else 'denied'}, "
                                    f"expected {'allowed' if want else 'denied'}")
        for action in ("sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"):
            problems.check(not resource_policy_allows(statements, caller, action, "*"), f"{tag} {label}: {action}")
    problems.assert_none()


def test_the_reader_role_may_do_exactly_what_ecrscan_calls(member_variant, member):
    tag, params, resources = member_variant
    if "ReaderRole" not in resources:
        return
    statements = policy_statements(resources["ReaderRole"], params, member, MEMBER)
    problems = Problems()
    for action, resource in READER_PROBES:
        want = (action, resource) in READER
        got = is_allowed(statements, action, resource)
        problems.check(got == want, f"{tag} ReaderRole: {action} on {resource} is "
                                    f"{'allowed' if got else 'denied'}, expected {'allowed' if want else 'denied'}")
    problems.check(not resources["ReaderRole"]["Properties"].get("ManagedPolicyArns"),
                   f"{tag} ReaderRole: managed policies")
    problems.assert_none()


def test_member_rules_forward_exactly_the_scan_events_to_the_central_bus(member_variant, member):
    """The member's rules match what the central recorder's rules match (the
    same patterns, the same recorded and documented events, from the member
    account), nothing else, and send it to CentralEventBusArn (by default
    the central account's default bus in the region) with the forwarding
    role."""
    tag, params, resources = member_variant
    problems = Problems()
    central_bus = params.get("CentralEventBusArn") or DEFAULT_BUS
    rules = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Events::Rule"}
    by_kind = {}
    for name, rule in rules.items():
        pattern = rule.get("EventPattern")
        kind = "ecr" if pattern == ECR_SCAN_PATTERN else "inspector" if pattern == INSPECTOR_SCAN_PATTERN else None
        problems.check(kind is not None and kind not in by_kind, f"{tag} {name}: EventPattern {pattern!r}")
        by_kind[kind] = name
        problems.check(rule.get("State") == "ENABLED", f"{tag} {name}: State {rule.get('State')!r}")
        problems.check(rule.get("EventBusName") in (None, "default"), f"{tag} {name}: bus {rule.get('EventBusName')!r}")
        targets = rule.get("Targets", [])
        problems.check(len(targets) == 1 and all(set(t) == {"Id", "Arn", "RoleArn"} for t in targets),
                       f"{tag} {name}: Targets {targets!r}")
        for target in targets:
            arn = evaluate(target.get("Arn"), params, member, MEMBER)
            problems.check(arn == central_bus, f"{tag} {name}: target {arn!r}, expected {central_bus!r}")
            problems.check(target.get("RoleArn") == {"Fn::GetAtt": ["ForwardEventsRole", "Arn"]},
                           f"{tag} {name}: RoleArn {target.get('RoleArn')!r}")
    if not rules:
        return problems.assert_none()
    problems.check(set(by_kind) == {"ecr", "inspector"}, f"{tag} forwarding rules {by_kind!r}")
    events = dict(SAMPLE_EVENTS, **recorded_events())
    for label, (kind, event) in events.items():
        event = from_member_account(event)
        matched = {name for name, rule in rules.items() if pattern_matches(rule["EventPattern"], event)}
        want = {by_kind[kind]} if kind in by_kind else set()
        problems.check(matched == want, f"{tag} event {label!r} matches {sorted(matched)}, expected {sorted(want)}")
    problems.assert_none()


def test_the_forwarding_role_may_only_put_events_on_the_central_bus(member_variant, member):
    tag, params, resources = member_variant
    if "ForwardEventsRole" not in resources:
        return
    problems = Problems()
    role = resources["ForwardEventsRole"]
    trust = list(iter_statements(evaluate(role["Properties"]["AssumeRolePolicyDocument"], params, member, MEMBER)))
    callers = {
        "EventBridge, for this account's rules": ({"service": "events.amazonaws.com", "aws:SourceAccount": MEMBER}, True),
        "EventBridge, for another account's rules": ({"service": "events.amazonaws.com",
                                                      "aws:SourceAccount": STRANGER}, False),
        "another service": ({"service": "lambda.amazonaws.com", "aws:SourceAccount": MEMBER}, False),
        "the central account": ({"account": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:role/x"}, False),
    }
    for label, (caller, want) in callers.items():
        got = resource_policy_allows(trust, caller, "sts:AssumeRole", "*")
        problems.check(got == want, f"{tag} ForwardEventsRole trust, {label}: {'allowed' if got else 'denied'}")
    statements = policy_statements(role, params, member, MEMBER)
    central_bus = params.get("CentralEventBusArn") or DEFAULT_BUS
    probes = [(a, b) for a in ("events:PutEvents", "events:PutRule", "events:PutTargets", "events:PutPermission")
              for b in BUSES]
    probes += [("sts:AssumeRole", ROLES[0]), ("ecr:DescribeImages", MEMBER_REPOSITORY), ("iam:PassRole", "*")]
    for action, resource in probes:
        want = (action, resource) == ("events:PutEvents", central_bus)
        got = is_allowed(statements, action, resource)
        problems.check(got == want, f"{tag} ForwardEventsRole: {action} on {resource} is "
                                    f"{'allowed' if got else 'denied'}, expected {'allowed' if want else 'denied'}")
    problems.assert_none()


def test_parliament_finds_nothing_in_the_member_accounts_policies(member_variant, member):
    """The roles' policies (parliament lints identity policies; the trust
    policies are probed above)."""
    import parliament

    tag, params, resources = member_variant
    problems = Problems()
    for name, res in resources.items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        docs = [p["PolicyDocument"] for p in res["Properties"].get("Policies", [])]
        for doc in docs:
            doc = evaluate(doc, params, member, MEMBER)
            for finding in parliament.analyze_policy_string(json.dumps(doc)).findings:
                problems.append(f"{tag} {name}: parliament {finding.issue} {finding.detail!r} {finding.location!r}")
    problems.assert_none()
