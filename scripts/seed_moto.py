#!/usr/bin/env python3
"""Seed a moto_server with the ECR repositories of the AWS sample walkthrough.

Creates (region us-west-2 by default, moto's default account 123456789012):

    amazonlinux   tag 2018.03
    test/centos   tag 7
    test/ubuntu   tags 16.04 and latest  (ONE image: both tags share a digest,
                                          so ecrscan's digest dedupe is exercised)

pushes one image per distinct digest with PutImage, and registers per-image
scan findings through moto's `POST /moto-api/static/ecr/scan-finding-results`
so that a later StartImageScan + DescribeImageScanFindings (done by ecrscan,
not by this script) returns them instead of moto's fake CVE-9999-9999.

How moto delivers these results (moto 5.x, see docs/moto-emulator.md):
  * a registered result is returned *verbatim* (moto computes nothing, so
    findingSeverityCounts is computed here);
  * it is matched to an image by repositoryName + imageDigest (we never match
    by tag: moto only compares against the image's *last pushed* tag);
  * each result is consumed by the first DescribeImageScanFindings call whose
    imageId JSON is new for that image ({"imageTag": "16.04"}, {"imageDigest":
    ...}, ... are different keys) and then cached for that key. So each result
    is registered several times (--copies) to cover the different imageId forms
    a client may use. Unused copies are harmless.

Idempotent-ish: existing repositories / identical images are reported and
skipped. Re-running registers the findings again (moto has no API to list or
clear pending results short of POST /moto-api/reset).

Usage:
    moto_server -H 127.0.0.1 -p 5000 &
    python3 scripts/seed_moto.py --endpoint-url http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_REGION = "us-west-2"

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_TGZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"

SEVERITY_ORDER = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"]


def finding(cve, severity, package, version, score, vector, description, uri):
    return {
        "name": cve,
        "description": description,
        "uri": uri,
        "severity": severity,
        "attributes": [
            {"key": "package_version", "value": version},
            {"key": "package_name", "value": package},
            {"key": "CVSS2_VECTOR", "value": vector},
            {"key": "CVSS2_SCORE", "value": score},
        ],
    }


def ubuntu_uri(cve):
    return f"https://people.canonical.com/~ubuntu-security/cve/{cve.split('-')[1]}/{cve}.html"


def redhat_uri(cve):
    return f"https://access.redhat.com/security/cve/{cve}"


def mitre_uri(cve):
    return f"https://cve.mitre.org/cgi-bin/cvename.cgi?name={cve}"


# Descriptions are (abridged) NVD texts; versions are the ones shipped in the
# 2019-era public images of these tags.
AMAZONLINUX_FINDINGS = [
    finding(
        "CVE-2019-5188", "MEDIUM", "e2fsprogs", "1.43.5-2.43.amzn1", "4.6",
        "AV:L/AC:L/Au:N/C:P/I:P/A:P",
        "A code execution vulnerability exists in the directory rehashing functionality of "
        "E2fsprogs e2fsck 1.45.4. A specially crafted ext4 directory can cause an out-of-bounds "
        "write on the stack, resulting in code execution. An attacker can corrupt a partition "
        "to trigger this vulnerability.",
        mitre_uri("CVE-2019-5188"),
    ),
    finding(
        "CVE-2019-13627", "MEDIUM", "libgcrypt", "1.5.3-12.19.amzn1", "2.6",
        "AV:N/AC:H/Au:N/C:P/I:N/A:N",
        "It was discovered that there was a ECDSA timing attack in the libgcrypt20 "
        "cryptographic library.",
        mitre_uri("CVE-2019-13627"),
    ),
    finding(
        "CVE-2018-20482", "LOW", "tar", "1.26-31.22.amzn1", "1.9",
        "AV:L/AC:M/Au:N/C:N/I:N/A:P",
        "GNU Tar through 1.30, when --sparse is used, mishandles file shrinkage during read "
        "access, which allows local users to cause a denial of service (infinite read loop in "
        "sparse_dump_region in sparse.c) by modifying a file that is supposed to be archived "
        "by a different user's process (e.g., a system backup running as root).",
        mitre_uri("CVE-2018-20482"),
    ),
    finding(
        "CVE-2019-18276", "LOW", "bash", "4.2.46-34.43.amzn1", "7.2",
        "AV:L/AC:L/Au:N/C:C/I:C/A:C",
        "An issue was discovered in disable_priv_mode in shell.c in GNU Bash through 5.0 patch "
        "11. By default, if Bash is run with its effective UID not equal to its real UID, it "
        "will drop privileges by setting its effective UID to its real UID. However, it does so "
        "incorrectly. On Linux and other systems that support \"saved UID\" functionality, the "
        "saved UID is not dropped.",
        mitre_uri("CVE-2019-18276"),
    ),
]

CENTOS_FINDINGS = [
    finding(
        "CVE-2018-1000001", "HIGH", "glibc", "2.17-222.el7", "7.2",
        "AV:L/AC:L/Au:N/C:C/I:C/A:C",
        "In glibc 2.26 and earlier there is confusion in the usage of getcwd() by realpath() "
        "which can be used to write before the destination buffer leading to a buffer "
        "underflow and potential code execution.",
        redhat_uri("CVE-2018-1000001"),
    ),
    finding(
        "CVE-2019-5482", "HIGH", "curl", "7.29.0-51.el7", "7.5",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "Heap buffer overflow in the TFTP protocol handler in cURL 7.19.4 to 7.65.3.",
        redhat_uri("CVE-2019-5482"),
    ),
    finding(
        "CVE-2018-20843", "MEDIUM", "expat", "2.1.0-10.el7_3", "7.8",
        "AV:N/AC:L/Au:N/C:N/I:N/A:C",
        "In libexpat in Expat before 2.2.7, XML input including XML names that contain a large "
        "number of colons could make the XML parser consume a high amount of RAM and CPU "
        "resources while processing (enough to cause a denial of service).",
        redhat_uri("CVE-2018-20843"),
    ),
    finding(
        "CVE-2019-12749", "MEDIUM", "dbus", "1.10.24-12.el7", "3.6",
        "AV:L/AC:L/Au:N/C:P/I:P/A:N",
        "dbus before 1.10.28, 1.12.x before 1.12.16, and 1.13.x before 1.13.12 allows cookie "
        "spoofing because of symlink mishandling in the reference implementation of "
        "DBUS_COOKIE_SHA1 in the libdbus library.",
        redhat_uri("CVE-2019-12749"),
    ),
    finding(
        "CVE-2018-20482", "LOW", "tar", "1.26-34.el7", "1.9",
        "AV:L/AC:M/Au:N/C:N/I:N/A:P",
        "GNU Tar through 1.30, when --sparse is used, mishandles file shrinkage during read "
        "access, which allows local users to cause a denial of service (infinite read loop in "
        "sparse_dump_region in sparse.c).",
        redhat_uri("CVE-2018-20482"),
    ),
    finding(
        "CVE-2016-10739", "LOW", "glibc", "2.17-222.el7", "4.3",
        "AV:N/AC:M/Au:N/C:N/I:P/A:N",
        "In the GNU C Library (aka glibc or libc6) through 2.28, the getaddrinfo function would "
        "successfully parse a string that contained an IPv4 address followed by whitespace and "
        "arbitrary characters, which could lead applications to incorrectly assume that it had "
        "parsed a valid string.",
        redhat_uri("CVE-2016-10739"),
    ),
]

UBUNTU_FINDINGS = [
    finding(
        "CVE-2019-3462", "CRITICAL", "apt", "1.2.27", "9.3",
        "AV:N/AC:M/Au:N/C:C/I:C/A:C",
        "Incorrect sanitation of the 302 redirect field in HTTP transport method of apt "
        "versions 1.4.8 and earlier can lead to content injection by a MITM attacker, "
        "potentially leading to remote code execution on the target machine.",
        ubuntu_uri("CVE-2019-3462"),
    ),
    finding(
        "CVE-2016-2779", "HIGH", "util-linux", "2.27.1-6ubuntu3.6", "7.2",
        "AV:L/AC:L/Au:N/C:C/I:C/A:C",
        "runuser in util-linux allows local users to escape to the parent session via a "
        "crafted TIOCSTI ioctl call, which pushes characters to the terminal's input buffer.",
        ubuntu_uri("CVE-2016-2779"),
    ),
    finding(
        "CVE-2017-12424", "HIGH", "shadow", "1:4.2-3.1ubuntu5.3", "10.0",
        "AV:N/AC:L/Au:N/C:C/I:C/A:C",
        "In shadow before 4.5, the newusers tool could be made to manipulate internal data "
        "structures in ways unintended by the authors. Malformed input may lead to crashes "
        "(with a buffer overflow or other memory corruption) or other unspecified behaviors.",
        ubuntu_uri("CVE-2017-12424"),
    ),
    finding(
        "CVE-2019-5188", "MEDIUM", "e2fsprogs", "1.42.13-1ubuntu1", "4.6",
        "AV:L/AC:L/Au:N/C:P/I:P/A:P",
        "A code execution vulnerability exists in the directory rehashing functionality of "
        "E2fsprogs e2fsck 1.45.4. A specially crafted ext4 directory can cause an out-of-bounds "
        "write on the stack, resulting in code execution. An attacker can corrupt a partition "
        "to trigger this vulnerability.",
        ubuntu_uri("CVE-2019-5188"),
    ),
    finding(
        "CVE-2018-20482", "LOW", "tar", "1.28-2.1ubuntu0.1", "1.9",
        "AV:L/AC:M/Au:N/C:N/I:N/A:P",
        "GNU Tar through 1.30, when --sparse is used, mishandles file shrinkage during read "
        "access, which allows local users to cause a denial of service (infinite read loop in "
        "sparse_dump_region in sparse.c) by modifying a file that is supposed to be archived "
        "by a different user's process (e.g., a system backup running as root).",
        ubuntu_uri("CVE-2018-20482"),
    ),
    finding(
        "CVE-2019-13627", "LOW", "libgcrypt20", "1.6.5-2ubuntu0.5", "2.6",
        "AV:N/AC:H/Au:N/C:P/I:N/A:N",
        "It was discovered that there was a ECDSA timing attack in the libgcrypt20 "
        "cryptographic library. Version affected: 1.8.4-5, 1.7.6-2+deb9u3, and "
        "1.6.3-2+deb8u4. Versions fixed: 1.8.5-2 and 1.6.3-2+deb8u7.",
        ubuntu_uri("CVE-2019-13627"),
    ),
    finding(
        "CVE-2016-2781", "LOW", "coreutils", "8.25-2ubuntu3~16.04", "2.1",
        "AV:L/AC:L/Au:N/C:N/I:P/A:N",
        "chroot in GNU coreutils, when used with --userspec, allows local users to escape to "
        "the parent session via a crafted TIOCSTI ioctl call, which pushes characters to the "
        "terminal's input buffer.",
        ubuntu_uri("CVE-2016-2781"),
    ),
    finding(
        "CVE-2016-10228", "INFORMATIONAL", "glibc", "2.23-0ubuntu11", "4.3",
        "AV:N/AC:M/Au:N/C:N/I:N/A:P",
        "The iconv program in the GNU C Library (aka glibc or libc6) 2.31 and earlier, when "
        "invoked with multiple suffixes in the destination encoding (TRANSLATE or IGNORE) along "
        "with the -c option, enters an infinite loop when processing invalid multi-byte input "
        "sequences, leading to a denial of service.",
        ubuntu_uri("CVE-2016-10228"),
    ),
    finding(
        "CVE-2017-11164", "INFORMATIONAL", "pcre3", "2:8.38-3.1", "7.8",
        "AV:N/AC:L/Au:N/C:N/I:N/A:C",
        "In PCRE 8.41, the OP_KETRMAX feature in the match function in pcre_exec.c allows "
        "stack exhaustion (uncontrolled recursion) when processing a crafted regular "
        "expression.",
        ubuntu_uri("CVE-2017-11164"),
    ),
]

# (repository, tags sharing ONE digest, approx. image size in bytes, findings)
IMAGES = [
    ("amazonlinux", ["2018.03"], 62_047_516, AMAZONLINUX_FINDINGS),
    ("test/centos", ["7"], 75_156_281, CENTOS_FINDINGS),
    ("test/ubuntu", ["16.04", "latest"], 46_491_628, UBUNTU_FINDINGS),
]


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def make_manifest(repo: str, tags: list[str], size: int) -> str:
    """Deterministic Docker schema-2 manifest; the same input gives the same
    bytes, so re-running hits ImageAlreadyExistsException instead of
    creating a new image.

    moto derives the image digest from sha256("".join(layer digests)), so the
    layer digests must be unique per image.  moto also reports
    config.size as imageSizeInBytes, hence the whole image size goes there.
    """
    seed = f"ecrscan-seed:{repo}:{tags[0]}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_V1, "size": size, "digest": sha256(seed + ":config")},
            "layers": [
                {"mediaType": LAYER_TGZ, "size": size * 2 // 3, "digest": sha256(seed + ":layer1")},
                {"mediaType": LAYER_TGZ, "size": size - size * 2 // 3, "digest": sha256(seed + ":layer2")},
            ],
        },
        separators=(",", ":"),
    )


def ensure_repository(ecr, repo: str) -> str:
    try:
        resp = ecr.create_repository(repositoryName=repo)
        registry_id = resp["repository"]["registryId"]
        print(f"repository {repo}: created")
    except ClientError as err:
        if err.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
            raise
        resp = ecr.describe_repositories(repositoryNames=[repo])
        registry_id = resp["repositories"][0]["registryId"]
        print(f"repository {repo}: already exists")
    return registry_id


def put_tag(ecr, repo: str, manifest: str, tag: str) -> str:
    try:
        resp = ecr.put_image(
            repositoryName=repo,
            imageManifest=manifest,
            imageManifestMediaType=MANIFEST_V2,
            imageTag=tag,
        )
        digest = resp["image"]["imageId"]["imageDigest"]
        print(f"  image {repo}:{tag} -> {digest} pushed")
    except ClientError as err:
        if err.response["Error"]["Code"] != "ImageAlreadyExistsException":
            raise
        resp = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])
        digest = resp["imageDetails"][0]["imageDigest"]
        print(f"  image {repo}:{tag} -> {digest} already present")
    return digest


def scan_result(registry_id, repo, digest, tag, findings):
    counts = Counter(f["severity"] for f in findings)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "registryId": registry_id,
        "repositoryName": repo,
        # matched by digest (see module docstring); the tag only shows up in
        # the response, which moto returns verbatim.
        "imageId": {"imageDigest": digest, "imageTag": tag},
        "imageScanStatus": {
            "status": "COMPLETE",
            "description": "The scan was completed successfully.",
        },
        "imageScanFindings": {
            "imageScanCompletedAt": now,
            "vulnerabilitySourceUpdatedAt": "2020-02-11T08:30:41Z",
            "findings": findings,
            "findingSeverityCounts": {s: counts[s] for s in SEVERITY_ORDER if counts[s]},
        },
    }


def post_results(endpoint: str, body: dict) -> None:
    url = endpoint.rstrip("/") + "/moto-api/static/ecr/scan-finding-results"
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        if resp.status != 201:
            raise RuntimeError(f"POST {url} returned HTTP {resp.status}")


# The rebuilt test/ubuntu:latest: apt upgraded (CVE-2019-3462 fixed), a new
# openssl CVE, and the rest as before.
NEW_UBUNTU_FINDINGS = [f for f in UBUNTU_FINDINGS if f["name"] != "CVE-2019-3462"] + [
    finding(
        "CVE-2026-1234", "CRITICAL", "openssl", "1.0.2g-1ubuntu4.20", "9.8",
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "A buffer overflow in the X.509 certificate verification of OpenSSL allows remote code "
        "execution through a crafted certificate.",
        ubuntu_uri("CVE-2026-1234"),
    ),
]


def push_new_ubuntu_latest(ecr, args) -> int:
    repo = "test/ubuntu"
    registry_id = ensure_repository(ecr, repo)
    manifest = make_manifest(repo, ["latest-rebuilt"], 46_512_003)
    digest = put_tag(ecr, repo, manifest, "latest")
    result = scan_result(registry_id, repo, digest, "latest", NEW_UBUNTU_FINDINGS)
    post_results(
        args.endpoint_url,
        {"results": [result] * args.copies, "region": args.region, "account_id": registry_id},
    )
    print(f"  findings for {repo}@{digest[:19]}... registered")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="moto_server URL, e.g. http://127.0.0.1:5000 (default: $AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or DEFAULT_REGION,
        help=f"region (default: $AWS_REGION or {DEFAULT_REGION})",
    )
    parser.add_argument(
        "--push-new-ubuntu-latest",
        action="store_true",
        help="instead of seeding, push a rebuilt test/ubuntu:latest (a new digest: the apt "
        "fix is in, a new openssl CVE is not) with its findings, as a day later",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=6,
        help="how many copies of each image's result to register; each distinct imageId "
        "form used in DescribeImageScanFindings consumes one (default: 6)",
    )
    args = parser.parse_args()

    if not args.endpoint_url:
        parser.error("no endpoint: pass --endpoint-url or set AWS_ENDPOINT_URL (refusing to touch real AWS)")

    ecr = boto3.client(
        "ecr",
        endpoint_url=args.endpoint_url,
        region_name=args.region,
        # moto accepts any credentials; don't require a configured profile
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        config=Config(retries={"max_attempts": 2}),
    )

    try:
        if args.push_new_ubuntu_latest:
            return push_new_ubuntu_latest(ecr, args)
        for repo, tags, size, findings in IMAGES:
            registry_id = ensure_repository(ecr, repo)
            manifest = make_manifest(repo, tags, size)
            digests = {put_tag(ecr, repo, manifest, tag) for tag in tags}
            if len(digests) != 1:
                raise RuntimeError(f"{repo}: tags {tags} ended up on different digests {digests}")
            digest = digests.pop()

            result = scan_result(registry_id, repo, digest, tags[0], findings)
            post_results(
                args.endpoint_url,
                {
                    "results": [result] * args.copies,
                    "region": args.region,
                    "account_id": registry_id,
                },
            )
            counts = result["imageScanFindings"]["findingSeverityCounts"]
            summary = ", ".join(f"{k}={v}" for k, v in counts.items())
            print(f"  findings for {repo}@{digest[:19]}... registered: {summary}")
    except (BotoCoreError, ClientError, urllib.error.URLError, OSError, RuntimeError) as err:
        print(f"seed_moto: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
