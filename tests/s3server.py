"""A local S3-compatible server for the tests: moto's standalone server (`python -m moto.server`, moto[server] in
the test extras), started as a process of its own on a free loopback port, once per test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from workflows.infra import blobs

ACCESS = {"access_key": "test", "secret_key": "test", "region": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """moto's standalone S3 server (`python -m moto.server`, from the test extras) on a free loopback port."""
    pytest.importorskip("moto.server", reason="moto[server] (test extras) provides the local S3-compatible server")
    pytest.importorskip("boto3")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("s3") / "moto.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).close()
                break
            except OSError as e:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the S3 server did not start (exit {proc.poll()}), see {log.name}") from e
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


_buckets = iter(range(1, 10_000))


def new_bucket(endpoint: str) -> str:
    import boto3

    name = f"gc-test-{os.getpid()}-{next(_buckets)}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket=name)
    return name


def s3_store(endpoint: str, prefix: str = "uploads/") -> blobs.S3Store:
    return blobs.S3Store.connect(new_bucket(endpoint), endpoint_url=endpoint, prefix=prefix, **ACCESS)
