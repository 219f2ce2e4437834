"""Pull and push against a real docker-registry: the berth CLI, the docker CLI and docker-py
against berthd, skopeo on the other side, digests identical all the way."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.registry import LocalRegistry

from tests.e2e.archives import layer_tar, oci_layout
from tests.e2e.conftest import (
    berth,
    berth_ok,
    docker_env,
    image_listing,
    needs_busybox,
    needs_docker_cli,
    needs_skopeo,
)
from tests.e2e.registries import (
    daemon_with,
    fails,
    import_busybox,
    inspect,
    needs_registry,
    registry,
    skopeo,
    stop,
    upload_image,
)
from tests.integration.daemon import Daemon

pytestmark = [needs_registry, needs_busybox]
__all__ = ["registry"]


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    daemon = daemon_with({})
    yield daemon
    stop(daemon)


def test_push_rmi_pull_run_keeps_the_digest(
    berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path
) -> None:
    ref = f"{registry.host}/roundtrip/busybox:1"
    image_id = import_busybox(berthd, rootfs_tar, ref)
    out = berth_ok(berthd, "push", ref)
    assert f"The push refers to repository [{registry.host}/roundtrip/busybox]" in out
    assert "Pushed" in out
    pushed = out.strip().splitlines()[-1]
    assert pushed.startswith("1: digest: sha256:") and " size: " in pushed
    digest = pushed.split()[2]
    assert inspect(berthd, ref)["RepoDigests"] == [f"{registry.host}/roundtrip/busybox@{digest}"]
    # pushing again: the registry has every blob
    assert "Layer already exists" in berth_ok(berthd, "push", ref)

    berth_ok(berthd, "rmi", ref)
    out = berth_ok(berthd, "pull", ref)
    assert out.startswith("1: Pulling from roundtrip/busybox\n")
    assert f"Digest: {digest}\n" in out
    assert f"Status: Downloaded newer image for {ref}\n" in out
    assert out.endswith(f"{ref}\n")
    pulled = inspect(berthd, ref)
    assert pulled["Id"] == image_id
    assert pulled["RepoDigests"] == [f"{registry.host}/roundtrip/busybox@{digest}"]
    assert berth_ok(berthd, "run", "--rm", ref, "echo", "pulled") == "pulled\n"

    again = berth_ok(berthd, "pull", ref)
    assert "Already exists" in again
    assert f"Status: Image is up to date for {ref}" in again
    assert berth_ok(berthd, "pull", "-q", ref) == f"{ref}\n"
    # by digest
    by_digest = f"{registry.host}/roundtrip/busybox@{digest}"
    assert berth_ok(berthd, "pull", by_digest).endswith(f"{by_digest}\n")


def test_pull_all_tags(berthd: Daemon, registry: LocalRegistry) -> None:
    for tag in ("a", "b"):
        upload_image(registry.url, "alltags/img", tag, [layer_tar({"t": tag.encode()})])
    out = berth_ok(berthd, "pull", "--all-tags", f"{registry.host}/alltags/img")
    assert "Status: Downloaded newer image for" in out
    names = berth_ok(berthd, "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert {f"{registry.host}/alltags/img:a", f"{registry.host}/alltags/img:b"} <= set(names)
    line = fails(berthd, "pull", "-a", f"{registry.host}/alltags/img:a")
    assert "can't be used with --all-tags" in line


def test_push_all_tags(berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path) -> None:
    repo = f"{registry.host}/pushall/busybox"
    import_busybox(berthd, rootfs_tar, f"{repo}:one")
    berth_ok(berthd, "tag", f"{repo}:one", f"{repo}:two")
    out = berth_ok(berthd, "push", "--all-tags", repo)
    assert "one: digest: sha256:" in out and "two: digest: sha256:" in out
    tags = json.loads(registry_tags(registry, "pushall/busybox"))["tags"]
    assert sorted(tags) == ["one", "two"]


def registry_tags(registry: LocalRegistry, repo: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{registry.url}/v2/{repo}/tags/list", timeout=10) as answer:
        return str(answer.read().decode())


def test_unknown_manifest_is_one_clear_line(berthd: Daemon, registry: LocalRegistry) -> None:
    before = image_listing(berthd)
    line = fails(berthd, "pull", f"{registry.host}/nothing/here:nope")
    assert line == (
        f"Error response from daemon: manifest for {registry.host}/nothing/here:nope "
        "not found: manifest unknown: manifest unknown"
    )
    assert image_listing(berthd) == before


def test_distribution_inspect(berthd: Daemon, registry: LocalRegistry) -> None:
    digest, _ = upload_image(registry.url, "inspect/img", "1", [layer_tar({"x": b"1"})])
    import docker

    client = docker.DockerClient(base_url=berthd.host)
    try:
        found = client.images.get_registry_data(f"{registry.host}/inspect/img:1")
        assert found.id == digest
    finally:
        client.close()


@needs_skopeo
def test_skopeo_reads_what_berth_pushes(
    berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path, tmp_path: Path
) -> None:
    ref = f"{registry.host}/toskopeo/busybox:2"
    import_busybox(berthd, rootfs_tar, ref)
    out = berth_ok(berthd, "push", ref)
    digest = out.strip().splitlines()[-1].split()[2]
    seen = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert seen["Digest"] == digest
    assert seen["Layers"] == inspect(berthd, ref)["RootFS"]["Layers"]
    # skopeo pulls it whole (dir: keeps blobs as they are): the same manifest, byte for byte
    copied = tmp_path / "copied"
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{copied}")
    manifest = (copied / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest


@needs_skopeo
def test_berth_pulls_and_runs_what_skopeo_pushes(
    berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path, tmp_path: Path
) -> None:
    layout = tmp_path / "oci"
    image = oci_layout(
        layout, [rootfs_tar.read_bytes(), layer_tar({"etc/motd": b"from skopeo\n"})], "s:1"
    )
    oci_ref = f"{registry.host}/fromskopeo/oci:1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:s:1", f"docker://{oci_ref}")
    digest = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{oci_ref}"))["Digest"]
    out = berth_ok(berthd, "pull", oci_ref)
    assert f"Digest: {digest}" in out
    pulled = inspect(berthd, oci_ref)
    assert pulled["Id"] == image.config_digest
    assert pulled["RepoDigests"] == [f"{registry.host}/fromskopeo/oci@{digest}"]
    assert berth_ok(berthd, "run", "--rm", oci_ref, "cat", "/etc/motd") == "from skopeo\n"

    # a docker-archive (Docker schema 2 manifest once in the registry)
    archive = tmp_path / "image.tar"
    skopeo("copy", f"oci:{layout}:s:1", f"docker-archive:{archive}:fromskopeo/archive:1")
    archive_ref = f"{registry.host}/fromskopeo/archive:1"
    skopeo(
        "copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{archive_ref}"
    )
    berth_ok(berthd, "pull", archive_ref)
    assert inspect(berthd, archive_ref)["Id"] == image.config_digest
    assert berth_ok(berthd, "run", "--rm", archive_ref, "cat", "/etc/motd") == "from skopeo\n"


def _docker(
    daemon: Daemon, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args],
        env=docker_env(daemon),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_docker_cli
def test_docker_cli_push_and_pull(
    berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path
) -> None:
    ref = f"{registry.host}/dockercli/busybox:1"
    import_busybox(berthd, rootfs_tar, ref)
    pushed = _docker(berthd, "push", ref)
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.strip().splitlines()[-1].split()[2]
    assert _docker(berthd, "rmi", ref).returncode == 0
    pulled = _docker(berthd, "pull", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert f"Digest: {digest}" in pulled.stdout
    assert pulled.stdout.strip().endswith(ref)
    missing = _docker(berthd, "pull", f"{registry.host}/dockercli/none:1")
    assert missing.returncode == 1
    assert "manifest unknown" in missing.stderr


def test_docker_py_push_and_pull(berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path) -> None:
    import docker

    repo = f"{registry.host}/dockerpy/busybox"
    import_busybox(berthd, rootfs_tar, f"{repo}:3")
    client = docker.DockerClient(base_url=berthd.host)
    try:
        lines = list(client.images.push(repo, tag="3", stream=True, decode=True))
        aux = [line["aux"] for line in lines if "aux" in line]
        assert aux and aux[0]["Tag"] == "3" and aux[0]["Digest"].startswith("sha256:")
        client.images.remove(f"{repo}:3")
        image = client.images.pull(repo, tag="3")
        assert f"{repo}:3" in image.tags
        assert image.attrs["RepoDigests"] == [f"{repo}@{aux[0]['Digest']}"]
        with pytest.raises(docker.errors.NotFound):
            client.images.pull(f"{registry.host}/dockerpy/none", tag="x")
    finally:
        client.close()


def test_run_pulls_what_is_missing(
    berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path
) -> None:
    ref = f"{registry.host}/runpull/busybox:1"
    import_busybox(berthd, rootfs_tar, ref)
    berth_ok(berthd, "push", ref)
    berth_ok(berthd, "rmi", ref)
    never = berth(berthd, "run", "--rm", "--pull", "never", ref, "true")
    assert never.returncode == 125
    assert never.stderr.decode().startswith(
        f"berth: Error response from daemon: No such image: {ref}\n"
    )
    done = berth(berthd, "run", "--rm", ref, "echo", "ran")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == "ran\n"
    err = done.stderr.decode()
    assert f"Unable to find image '{ref}' locally" in err
    assert f"Status: Downloaded newer image for {ref}" in err
    always = berth(berthd, "run", "--rm", "--pull", "always", "-q", ref, "echo", "again")
    assert always.returncode == 0 and always.stdout.decode() == "again\n"
    assert always.stderr.decode() == ""


def test_concurrent_pulls_of_shared_layers(berthd: Daemon, registry: LocalRegistry) -> None:
    """Two pulls at once of the same tag, and a third of an image sharing its base layer:
    all succeed, each layer is stored once."""
    import concurrent.futures

    base = layer_tar({"base/file": b"shared " * 50_000})
    upload_image(registry.url, "concurrent/a", "1", [base, layer_tar({"a": b"a"})])
    upload_image(registry.url, "concurrent/b", "1", [base, layer_tar({"b": b"b"})])
    refs = [f"{registry.host}/concurrent/a:1"] * 2 + [f"{registry.host}/concurrent/b:1"]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(lambda ref: berth(berthd, "pull", ref), refs))
    for done in outputs:
        assert done.returncode == 0, done.stderr.decode()
    a, b = inspect(berthd, refs[0]), inspect(berthd, refs[2])
    assert a["RootFS"]["Layers"][0] == b["RootFS"]["Layers"][0]
    assert berth_ok(berthd, "images", "-q", f"{registry.host}/concurrent/a").count("\n") == 1


def test_upload_slots_are_the_daemons(registry: LocalRegistry, rootfs_tar: Path) -> None:
    """max-concurrent-uploads bounds the daemon's uploads, as in Docker: with one slot, two
    pushes at once both finish, and the registry has both tags."""
    daemon = daemon_with({"max-concurrent-uploads": 1})
    try:
        repo = f"{registry.host}/slots/busybox"
        import_busybox(daemon, rootfs_tar, f"{repo}:a")
        berth_ok(daemon, "tag", f"{repo}:a", f"{registry.host}/slots/other:b")
        pushes = [
            subprocess.Popen(
                [sys.executable, "-m", "berth.cli.main", "push", ref],
                env={**daemon.env, "BERTH_HOST": daemon.host},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for ref in (f"{repo}:a", f"{registry.host}/slots/other:b")
        ]
        for push in pushes:
            _, err = push.communicate(timeout=120)
            assert push.returncode == 0, err.decode()
        assert json.loads(registry_tags(registry, "slots/busybox"))["tags"] == ["a"]
        assert json.loads(registry_tags(registry, "slots/other"))["tags"] == ["b"]
    finally:
        stop(daemon)
