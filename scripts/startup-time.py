#!/usr/bin/env python3
"""Time from process start to the first answered request of ecrscan-api.

Starts the binary 20 times with the memory store and dummy AWS settings
(no network beyond 127.0.0.1), each time on a free port, and polls
`GET /configs` until it answers 200.

    cargo build --release -p ecrscan-lambda
    python3 scripts/startup-time.py target/release/ecrscan-api
"""
import os
import socket
import statistics
import subprocess
import sys
import time

RUNS = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answered(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
            c.sendall(b"GET /configs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return c.recv(100).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PATH/TO/ecrscan-api")
    binary = sys.argv[1]
    env = dict(
        os.environ,
        ECRSCAN_STORE="memory://",
        AWS_REGION="us-west-2",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        RUST_LOG="error",
    )
    times = []
    for _ in range(RUNS):
        port = free_port()
        start = time.perf_counter()
        process = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = start + 10
            while not answered(port):
                if process.poll() is not None or time.perf_counter() > deadline:
                    sys.exit(f"{binary} did not answer on port {port}")
                time.sleep(0.0005)
            times.append((time.perf_counter() - start) * 1000)
        finally:
            process.kill()
            process.wait()
    print(
        f"{binary}: start to first answered GET /configs over {RUNS} runs: "
        f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms"
    )


if __name__ == "__main__":
    main()
