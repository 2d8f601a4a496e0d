"""SPEC S6 for SSM: acknowledged parameters, secure ones included, survive
`kill -9`, and the stage's key file is private."""

import os
import stat

import boto3
from botocore.config import Config


def client_for(server):
    return boto3.client(
        "ssm",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDDEVELOPER",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def test_parameters_survive_kill_9(start_server, tmp_path):
    data = tmp_path / "data"
    first = start_server(data)
    ssm = client_for(first)
    for i in range(30):
        ssm.put_parameter(Name=f"/durable/p{i}", Value=f"v{i}", Type="String")
    ssm.put_parameter(Name="/durable/p0", Value="second", Overwrite=True)
    ssm.put_parameter(Name="/durable/secret", Value="s3cr3t", Type="SecureString")
    first.kill9()

    assert stat.S_IMODE(os.stat(data / "ssm.key").st_mode) == 0o600
    second = start_server(data)
    ssm = client_for(second)
    got = {}
    kwargs = {"Path": "/durable", "WithDecryption": True}
    while True:
        page = ssm.get_parameters_by_path(**kwargs)
        got.update({p["Name"]: (p["Value"], p["Version"]) for p in page["Parameters"]})
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    expected = {f"/durable/p{i}": (f"v{i}", 1) for i in range(1, 30)}
    expected["/durable/p0"] = ("second", 2)
    expected["/durable/secret"] = ("s3cr3t", 1)
    assert got == expected
