"""Listing keys: ListObjectsV2 and ListObjects with prefix, delimiter,
CommonPrefixes, max-keys, continuation tokens, start-after, markers, the
paginators, and `encoding-type=url` for keys XML cannot carry."""

import pytest
from botocore.exceptions import ClientError

from strata_s3 import error_of, raw

KEYS = [
    "a.txt",
    "photos/2024/feb.jpg",
    "photos/2024/jan.jpg",
    "photos/2025/mar.jpg",
    "photos/index.html",
    "videos/x.mp4",
    "z",
]


@pytest.fixture
def filled(s3, bucket):
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_flat_listing_is_sorted_with_sizes_and_etags(s3, filled):
    listed = s3.list_objects_v2(Bucket=filled)
    assert [o["Key"] for o in listed["Contents"]] == KEYS
    assert listed["KeyCount"] == len(KEYS)
    assert listed["IsTruncated"] is False
    first = listed["Contents"][0]
    assert first["Size"] == len("a.txt") and first["ETag"].startswith('"') and first["StorageClass"] == "STANDARD"


def test_prefix_and_delimiter_give_common_prefixes(s3, filled):
    top = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "z"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["photos/", "videos/"]
    assert top["KeyCount"] == 4
    photos = s3.list_objects_v2(Bucket=filled, Prefix="photos/", Delimiter="/")
    assert [o["Key"] for o in photos["Contents"]] == ["photos/index.html"]
    assert [p["Prefix"] for p in photos["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    nothing = s3.list_objects_v2(Bucket=filled, Prefix="nope/")
    assert nothing["KeyCount"] == 0 and "Contents" not in nothing


def test_max_keys_and_continuation_tokens(s3, filled):
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=filled, MaxKeys=2, **kwargs)
        pages += 1
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == KEYS
    assert pages == 4


def test_paginator_with_delimiter_counts_prefixes_as_entries(s3, filled):
    paginator = s3.get_paginator("list_objects_v2")
    keys, prefixes, pages = [], [], 0
    for page in paginator.paginate(Bucket=filled, Delimiter="/", PaginationConfig={"PageSize": 1}):
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["a.txt", "z"]
    assert prefixes == ["photos/", "videos/"]
    assert pages == 4


def test_start_after(s3, filled):
    listed = s3.list_objects_v2(Bucket=filled, StartAfter="photos/2025/mar.jpg")
    assert [o["Key"] for o in listed["Contents"]] == ["photos/index.html", "videos/x.mp4", "z"]
    assert listed["StartAfter"] == "photos/2025/mar.jpg"


def test_list_objects_v1_with_marker_and_paginator(s3, filled):
    first = s3.list_objects(Bucket=filled, MaxKeys=3)
    assert [o["Key"] for o in first["Contents"]] == KEYS[:3]
    assert first["IsTruncated"] is True
    second = s3.list_objects(Bucket=filled, Marker=first["Contents"][-1]["Key"])
    assert [o["Key"] for o in second["Contents"]] == KEYS[3:]
    keys = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=filled, PaginationConfig={"PageSize": 2}):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert keys == KEYS


def test_many_keys_page_through_the_default_limit(s3, bucket):
    keys = [f"k{i:05d}" for i in range(1100)]
    for start in range(0, len(keys), 100):
        for key in keys[start : start + 100]:
            s3.put_object(Bucket=bucket, Key=key, Body=b"")
    first = s3.list_objects_v2(Bucket=bucket)
    assert first["KeyCount"] == 1000 and first["IsTruncated"] is True
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed += [o["Key"] for o in page["Contents"]]
    assert listed == keys


def test_url_encoding_of_awkward_keys(s3, server, bucket):
    awkward = ["a b", "plus+sign", "ctrl\x01char", "é/ü", "amp&lt"]
    for key in awkward:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    # boto3 asks for encoding-type=url and decodes it back.
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == sorted(awkward)
    status, _, body = raw(server, "GET", f"/{bucket}?list-type=2&encoding-type=url")
    assert status == 200
    assert b"<Key>a%20b</Key>" in body and b"<Key>plus%2Bsign</Key>" in body and b"<Key>ctrl%01char</Key>" in body
    assert b"<EncodingType>url</EncodingType>" in body


def test_invalid_list_arguments(s3, server, bucket):
    status, _, body = raw(server, "GET", f"/{bucket}?list-type=2&max-keys=-1")
    assert status == 400 and b"InvalidArgument" in body
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!not-a-token!!")
    assert error_of(caught) == ("InvalidArgument", 400)
