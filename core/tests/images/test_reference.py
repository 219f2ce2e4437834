from __future__ import annotations

import pytest
from berth.engine.images import reference
from berth.engine.images.errors import InvalidReference


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("me/app:v1", "docker.io/me/app:v1", "me/app:v1"),
        ("index.docker.io/library/debian", "docker.io/library/debian", "debian"),
        ("localhost/x", "localhost/x", "localhost/x"),
        ("localhost:5000/a/b:c", "localhost:5000/a/b:c", "localhost:5000/a/b:c"),
        ("quay.io/org/app", "quay.io/org/app", "quay.io/org/app"),
        ("a__b-c.d", "docker.io/library/a__b-c.d", "a__b-c.d"),
    ],
)
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = reference.parse(text)
    assert str(ref) == full
    assert ref.familiar == familiar


def test_tag_or_latest_and_digest() -> None:
    assert reference.parse("busybox").tag_or_latest().familiar == "busybox:latest"
    digest = "sha256:" + "a" * 64
    ref = reference.parse(f"busybox@{digest}")
    assert ref.digest == digest and ref.tag is None
    assert ref.tag_or_latest() == ref
    assert ref.familiar == f"busybox@{digest}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "UPPER:case",
            "invalid reference format: repository name (library/UPPER) must be lowercase",
        ),
        ("a::b", "invalid reference format"),
        ("", "invalid reference format"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("-bad", "invalid reference format"),
        ("x/" + "a" * 300, "must not be more than 255 characters"),
    ],
)
def test_bad_references(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        reference.parse(text)
    assert message in str(caught.value)
    assert caught.value.status == 400


def test_repo_tag() -> None:
    assert reference.repo_tag("busybox", "v1").familiar == "busybox:v1"
    assert reference.repo_tag("busybox:v2", "").familiar == "busybox:v2"
    assert reference.repo_tag("me/x", "").familiar == "me/x:latest"
    with pytest.raises(InvalidReference, match="invalid tag format"):
        reference.repo_tag("busybox", "bad tag")
    with pytest.raises(InvalidReference, match="digest"):
        reference.repo_tag("busybox@sha256:" + "b" * 64, "")
