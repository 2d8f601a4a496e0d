"""SSM Parameter Store through boto3, from AWS's documented behaviour."""

import pytest
from botocore.exceptions import ClientError


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_put_get_overwrite_and_versions(ssm, prefix):
    name = f"{prefix}/db/url"
    assert ssm.put_parameter(Name=name, Value="v1", Type="String")["Version"] == 1
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert (p["Name"], p["Value"], p["Type"], p["Version"]) == (name, "v1", "String", 1)
    assert p["ARN"] == f"arn:aws:ssm:us-east-1:000000000000:parameter{name}"
    assert p["DataType"] == "text"
    with pytest.raises(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(Name=name, Value="v2", Type="String")
    assert ssm.put_parameter(Name=name, Value="v2", Overwrite=True)["Version"] == 2
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v2"
    assert ssm.get_parameter(Name=f"{name}:1")["Parameter"]["Value"] == "v1"
    with pytest.raises(ssm.exceptions.ParameterVersionNotFound):
        ssm.get_parameter(Name=f"{name}:9")
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [(h["Version"], h["Value"]) for h in history] == [(1, "v1"), (2, "v2")]


def test_missing_parameter(ssm, prefix):
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=f"{prefix}/absent")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.delete_parameter(Name=f"{prefix}/absent")


def test_string_list(ssm, prefix):
    ssm.put_parameter(Name=f"{prefix}/list", Value="a,b,c", Type="StringList")
    p = ssm.get_parameter(Name=f"{prefix}/list")["Parameter"]
    assert (p["Type"], p["Value"]) == ("StringList", "a,b,c")


def test_secure_string_decrypted_only_on_request(ssm, prefix, server):
    name = f"{prefix}/secret"
    ssm.put_parameter(Name=name, Value="hunter2", Type="SecureString")
    hidden = ssm.get_parameter(Name=name)["Parameter"]
    assert hidden["Type"] == "SecureString"
    assert hidden["Value"] != "hunter2" and "hunter2" not in hidden["Value"]
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "hunter2"
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert described[0]["KeyId"] == "alias/aws/ssm"
    # Nothing on disk holds the plain text.
    import pathlib

    files = [f for f in pathlib.Path(server.data_dir).rglob("*") if f.is_file()]
    assert any(f.name.startswith("ssm") for f in files), files
    for f in files:
        assert b"hunter2" not in f.read_bytes(), f


def test_get_parameters_reports_invalid_names(ssm, prefix):
    ssm.put_parameter(Name=f"{prefix}/a", Value="1", Type="String")
    result = ssm.get_parameters(Names=[f"{prefix}/a", f"{prefix}/missing"])
    assert [p["Name"] for p in result["Parameters"]] == [f"{prefix}/a"]
    assert result["InvalidParameters"] == [f"{prefix}/missing"]


def test_get_parameters_by_path_recursive_and_paged(ssm, prefix):
    names = [f"{prefix}/app/one", f"{prefix}/app/two", f"{prefix}/app/deep/three", f"{prefix}/other"]
    for n in names:
        ssm.put_parameter(Name=n, Value="x", Type="String")
    flat = ssm.get_parameters_by_path(Path=f"{prefix}/app")["Parameters"]
    assert sorted(p["Name"] for p in flat) == [f"{prefix}/app/one", f"{prefix}/app/two"]
    seen = []
    kwargs = {"Path": f"{prefix}/app", "Recursive": True, "MaxResults": 1}
    while True:
        page = ssm.get_parameters_by_path(**kwargs)
        assert len(page["Parameters"]) <= 1
        seen += [p["Name"] for p in page["Parameters"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert sorted(seen) == sorted(names[:3])
    with pytest.raises(ClientError) as excinfo:
        ssm.get_parameters_by_path(Path="no-slash")
    assert code(excinfo) == "ValidationException"


def test_delete_parameters(ssm, prefix):
    ssm.put_parameter(Name=f"{prefix}/a", Value="1", Type="String")
    result = ssm.delete_parameters(Names=[f"{prefix}/a", f"{prefix}/b"])
    assert result["DeletedParameters"] == [f"{prefix}/a"]
    assert result["InvalidParameters"] == [f"{prefix}/b"]
    # Created again, it starts over at version 1.
    assert ssm.put_parameter(Name=f"{prefix}/a", Value="1", Type="String")["Version"] == 1


def test_describe_parameters_filters_and_pages(ssm, prefix):
    for i in range(3):
        ssm.put_parameter(Name=f"{prefix}/d{i}", Value="x", Type="String", Description=f"number {i}")
    ssm.put_parameter(Name=f"{prefix}/s", Value="x", Type="SecureString")
    begins = [{"Key": "Name", "Option": "BeginsWith", "Values": [f"{prefix}/d"]}]
    seen = []
    kwargs = {"ParameterFilters": begins, "MaxResults": 2}
    while True:
        page = ssm.describe_parameters(**kwargs)
        seen += page["Parameters"]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert [p["Name"] for p in seen] == [f"{prefix}/d0", f"{prefix}/d1", f"{prefix}/d2"]
    assert seen[1]["Description"] == "number 1"
    secure = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Values": [prefix]}, {"Key": "Type", "Values": ["SecureString"]}]
    )["Parameters"]
    assert [p["Name"] for p in secure] == [f"{prefix}/s"]
    with pytest.raises(ClientError) as excinfo:
        ssm.describe_parameters(ParameterFilters=[{"Key": "Bogus", "Values": ["x"]}])
    assert code(excinfo) == "InvalidFilterKey"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("has space", "ValidationException"),
        ("aws-reserved", "ValidationException"),
        ("/ssm/reserved", "ValidationException"),
        ("not/qualified", "ValidationException"),
        ("/" + "/".join(["l"] * 16), "HierarchyLevelLimitExceededException"),
    ],
)
def test_invalid_names(ssm, name, expected):
    with pytest.raises(ClientError) as excinfo:
        ssm.put_parameter(Name=name, Value="x", Type="String")
    assert code(excinfo) == expected


def test_type_is_required_for_a_new_parameter_and_must_be_known(ssm, prefix):
    with pytest.raises(ClientError) as excinfo:
        ssm.put_parameter(Name=f"{prefix}/t", Value="x")
    assert code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        ssm.put_parameter(Name=f"{prefix}/t", Value="x", Type="Integer")
    assert code(excinfo) == "ValidationException"


def test_allowed_pattern(ssm, prefix):
    ssm.put_parameter(Name=f"{prefix}/n", Value="42", Type="String", AllowedPattern=r"^\d+$")
    with pytest.raises(ssm.exceptions.ParameterPatternMismatchException):
        ssm.put_parameter(Name=f"{prefix}/n", Value="forty-two", Overwrite=True)
