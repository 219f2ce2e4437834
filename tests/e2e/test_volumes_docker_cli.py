"""Volumes and mounts with the real docker CLI against berthd: `docker volume create/ls/
inspect/rm/prune`, `docker run -v/--mount/--tmpfs/--volumes-from/--read-only`, `docker rm -v`,
`docker system df -v` — data that outlives containers, volumes shared by running containers,
read-only mounts that refuse writes, binds of host directories, tmpfs, the image's content
copied into a new volume, anonymous volumes from the image's VOLUME, and the bad inputs (one
clear line, docker's exit status, nothing stored lost). Nothing is left mounted at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.mounts import mounts_under

from tests.e2e.archives import busybox_rootfs
from tests.e2e.conftest import berth_ok, needs_busybox, needs_docker_cli
from tests.e2e.containers import container_daemon, docker, remove_all_containers
from tests.integration.daemon import Daemon

pytestmark = [needs_docker_cli, needs_busybox]
WITH_VOLUME = "withvolume:latest"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("volumes-docker-cli")
    with container_daemon(tmp) as started:
        rootfs = busybox_rootfs(tmp / "rootfs-vol.tar")
        berth_ok(started, "import", "-c", "VOLUME /data", "-c", 'CMD ["sh"]', str(rootfs),
                 WITH_VOLUME)  # fmt: skip
        yield started
        remove_all_containers(started)
        for name in docker_ok(started, "volume", "ls", "-q").split():
            docker_ok(started, "volume", "rm", name)
        left = mounts_under(started.root)
        assert not left, f"mounts left under the daemon's roots: {left}"


def docker_ok(daemon: Daemon, *args: str, stdin: bytes | None = None) -> str:
    done = docker(daemon, *args, stdin=stdin)
    assert done.returncode == 0, (
        f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}\n"
        f"daemon log tail:\n{daemon.log()[-3000:]}"
    )
    return done.stdout


def volume_names(daemon: Daemon) -> list[str]:
    return sorted(docker_ok(daemon, "volume", "ls", "-q").split())


def run(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return docker(daemon, "run", "--rm", *args)


# --- data lives in volumes -------------------------------------------------------------------


def test_named_volume_survives_the_container(daemon: Daemon) -> None:
    assert docker_ok(daemon, "volume", "create", "cli-keep") == "cli-keep\n"
    docker_ok(daemon, "run", "--name", "cli-writer", "-v", "cli-keep:/data", "busybox",
              "sh", "-c", "echo persisted > /data/file")  # fmt: skip
    docker_ok(daemon, "rm", "cli-writer")
    assert "cli-keep" in volume_names(daemon), "rm without -v keeps a named volume"
    done = run(daemon, "-v", "cli-keep:/again", "busybox", "cat", "/again/file")
    assert (done.returncode, done.stdout) == (0, "persisted\n"), done.stderr
    docker_ok(daemon, "volume", "rm", "cli-keep")


def test_two_running_containers_share_a_volume(daemon: Daemon) -> None:
    for name in ("cli-share-1", "cli-share-2"):
        docker_ok(daemon, "run", "-d", "--name", name, "-v", "cli-shared:/s", "busybox",
                  "sleep", "300")  # fmt: skip
    docker_ok(daemon, "exec", "cli-share-1", "sh", "-c", "echo one > /s/a")
    assert docker_ok(daemon, "exec", "cli-share-2", "cat", "/s/a") == "one\n"
    docker_ok(daemon, "exec", "cli-share-2", "sh", "-c", "echo two > /s/b")
    assert docker_ok(daemon, "exec", "cli-share-1", "cat", "/s/b") == "two\n"
    busy = docker(daemon, "volume", "rm", "cli-shared")
    assert busy.returncode == 1
    assert busy.stderr.startswith("Error response from daemon: remove cli-shared: volume is in use")
    docker_ok(daemon, "rm", "-f", "cli-share-1", "cli-share-2")
    docker_ok(daemon, "volume", "rm", "cli-shared")


@pytest.mark.parametrize(
    "mount",
    [
        ["-v", "cli-ro:/ro:ro"],
        ["--mount", "type=volume,source=cli-ro,target=/ro,readonly"],
    ],
    ids=["v-ro", "mount-readonly"],
)
def test_read_only_volume_refuses_writes(daemon: Daemon, mount: list[str]) -> None:
    docker_ok(daemon, "run", "--rm", "-v", "cli-ro:/ro", "busybox", "sh", "-c", "echo x > /ro/f")
    done = run(daemon, *mount, "busybox", "sh", "-c", "cat /ro/f; echo y > /ro/f")
    assert done.returncode == 1
    assert done.stdout == "x\n"
    assert "Read-only file system" in done.stderr
    inspect = docker_ok(daemon, "volume", "inspect", "cli-ro")
    assert json.loads(inspect)[0]["Name"] == "cli-ro"
    docker_ok(daemon, "volume", "rm", "cli-ro")


def test_read_only_root_with_a_writable_volume(daemon: Daemon) -> None:
    done = run(daemon, "--read-only", "-v", "cli-rw:/w", "busybox", "sh", "-c",
               "echo ok > /w/f && cat /w/f; touch /not-here")  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == "ok\n"
    assert "Read-only file system" in done.stderr
    docker_ok(daemon, "volume", "rm", "cli-rw")


def test_volume_from_runc_runtime(daemon: Daemon) -> None:
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    docker_ok(daemon, "run", "--rm", "--runtime", "runc", "-v", "cli-runc:/d", "busybox",
              "sh", "-c", "echo via-runc > /d/f")  # fmt: skip
    done = run(daemon, "-v", "cli-runc:/d:ro", "busybox", "cat", "/d/f")
    assert done.stdout == "via-runc\n", done.stderr
    docker_ok(daemon, "volume", "rm", "cli-runc")


# --- binds and tmpfs ---------------------------------------------------------------------------


def test_bind_mount_of_a_host_directory(daemon: Daemon, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "from-host").write_text("host says hi\n")
    done = run(daemon, "-v", f"{host}:/h", "busybox", "sh", "-c",
               "cat /h/from-host; echo back > /h/from-container")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "host says hi\n"), done.stderr
    assert (host / "from-container").read_text() == "back\n"
    done = run(daemon, "--mount", f"type=bind,source={host},target=/h,readonly", "busybox",
               "touch", "/h/nope")  # fmt: skip
    assert done.returncode == 1 and "Read-only file system" in done.stderr
    assert not (host / "nope").exists()


def test_v_makes_a_missing_host_directory(daemon: Daemon, tmp_path: Path) -> None:
    missing = tmp_path / "made" / "by-v"
    docker_ok(daemon, "run", "--rm", "-v", f"{missing}:/m", "busybox", "touch", "/m/f")
    assert (missing / "f").is_file()


def test_bind_mount_shows_in_inspect(daemon: Daemon, tmp_path: Path) -> None:
    docker_ok(daemon, "create", "--name", "cli-inspect", "-v", f"{tmp_path}:/h:ro",
              "-v", "cli-insp:/v", "busybox", "true")  # fmt: skip
    mounts = json.loads(docker_ok(daemon, "inspect", "-f", "{{json .Mounts}}", "cli-inspect"))
    by_destination = {m["Destination"]: m for m in mounts}
    bind, volume = by_destination["/h"], by_destination["/v"]
    assert bind == {
        "Type": "bind",
        "Source": str(tmp_path),
        "Destination": "/h",
        "Mode": "ro",
        "RW": False,
        "Propagation": "rprivate",
    }
    assert volume["Type"] == "volume" and volume["Name"] == "cli-insp"
    assert volume["Driver"] == "local" and volume["RW"] is True
    assert volume["Source"].endswith("/volume/local/cli-insp/_data")
    docker_ok(daemon, "rm", "cli-inspect")
    docker_ok(daemon, "volume", "rm", "cli-insp")


def test_tmpfs_mounts(daemon: Daemon) -> None:
    done = run(daemon, "--tmpfs", "/t:size=1m", "busybox", "sh", "-c", "df -k /t | tail -1")
    assert done.stdout.split()[:2] == ["tmpfs", "1024"], done.stdout + done.stderr
    done = run(daemon, "--mount", "type=tmpfs,target=/t,tmpfs-size=2m,tmpfs-mode=1770",
               "busybox", "sh", "-c", "df -k /t | tail -1; stat -c %a /t")  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["tmpfs", "2048"] and lines[1] == "1770", done.stderr


def test_tmpfs_volume_from_driver_options(daemon: Daemon) -> None:
    docker_ok(daemon, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
              "--opt", "o=size=3m", "cli-tmpfs")  # fmt: skip
    done = run(daemon, "-v", "cli-tmpfs:/t", "busybox", "sh", "-c", "df -k /t | tail -1")
    assert done.stdout.split()[:2] == ["tmpfs", "3072"], done.stdout + done.stderr
    options = json.loads(docker_ok(daemon, "volume", "inspect", "cli-tmpfs"))[0]["Options"]
    assert options == {"type": "tmpfs", "device": "tmpfs", "o": "size=3m"}
    docker_ok(daemon, "volume", "rm", "cli-tmpfs")


# --- the image's content and anonymous volumes ----------------------------------------------


def test_new_volume_is_filled_from_the_image(daemon: Daemon) -> None:
    done = run(daemon, "-v", "cli-copyup:/etc", "busybox", "cat", "/etc/passwd")
    assert done.returncode == 0 and "root:x:0:0" in done.stdout, done.stderr
    mountpoint = json.loads(docker_ok(daemon, "volume", "inspect", "cli-copyup"))[0]["Mountpoint"]
    assert "root:x:0:0" in (Path(mountpoint) / "passwd").read_text()
    # once filled, it is the volume's content that counts, not the image's
    docker_ok(daemon, "run", "--rm", "-v", "cli-copyup:/etc", "busybox", "rm", "/etc/group")
    done = run(daemon, "-v", "cli-copyup:/etc", "busybox", "ls", "/etc")
    assert "group" not in done.stdout.split() and "passwd" in done.stdout.split()
    docker_ok(daemon, "volume", "rm", "cli-copyup")


def test_nocopy_leaves_a_new_volume_empty(daemon: Daemon) -> None:
    done = run(daemon, "-v", "cli-nocopy:/etc:nocopy", "busybox", "sh", "-c",
               "test -e /etc/passwd && echo copied || echo empty")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "empty\n"), done.stderr
    docker_ok(daemon, "volume", "rm", "cli-nocopy")


def test_image_volume_is_anonymous_and_rm_v_removes_it(daemon: Daemon) -> None:
    before = set(volume_names(daemon))
    docker_ok(daemon, "run", "--name", "cli-anon", "-v", "cli-named:/named", WITH_VOLUME,
              "sh", "-c", "echo x > /data/f")  # fmt: skip
    mounts = json.loads(docker_ok(daemon, "inspect", "-f", "{{json .Mounts}}", "cli-anon"))
    anonymous = next(m["Name"] for m in mounts if m["Destination"] == "/data")
    assert len(anonymous) == 64
    labels = json.loads(docker_ok(daemon, "volume", "inspect", anonymous))[0]["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    docker_ok(daemon, "rm", "-v", "cli-anon")
    after = set(volume_names(daemon))
    assert anonymous not in after, "rm -v removes the anonymous volume"
    assert after - before == {"cli-named"}, "rm -v keeps named volumes"
    docker_ok(daemon, "volume", "rm", "cli-named")


def test_run_rm_removes_anonymous_volumes(daemon: Daemon) -> None:
    before = volume_names(daemon)
    docker_ok(daemon, "run", "--rm", WITH_VOLUME, "touch", "/data/f")
    assert volume_names(daemon) == before


def test_volumes_from_another_container(daemon: Daemon) -> None:
    docker_ok(daemon, "run", "--name", "cli-source", "-v", "cli-vf:/shared", WITH_VOLUME,
              "sh", "-c", "echo a > /shared/a; echo d > /data/d")  # fmt: skip
    done = run(daemon, "--volumes-from", "cli-source", "busybox", "cat", "/shared/a", "/data/d")
    assert (done.returncode, done.stdout) == (0, "a\nd\n"), done.stderr
    done = run(daemon, "--volumes-from", "cli-source:ro", "busybox", "touch", "/shared/x")
    assert done.returncode == 1 and "Read-only file system" in done.stderr
    docker_ok(daemon, "rm", "-v", "cli-source")
    docker_ok(daemon, "volume", "rm", "cli-vf")


# --- commands ----------------------------------------------------------------------------------


def test_volume_ls_filters_and_formats(daemon: Daemon) -> None:
    docker_ok(daemon, "volume", "create", "--label", "team=blue", "cli-ls-blue")
    docker_ok(daemon, "volume", "create", "--label", "team=red", "cli-ls-red")
    docker_ok(daemon, "create", "--name", "cli-ls-user", "-v", "cli-ls-red:/r", "busybox")
    try:
        listed = docker_ok(daemon, "volume", "ls", "-f", "label=team=blue", "-q")
        assert listed.split() == ["cli-ls-blue"]
        assert docker_ok(daemon, "volume", "ls", "-q", "-f", "label=team").split() == [
            "cli-ls-blue",
            "cli-ls-red",
        ]
        dangling = docker_ok(daemon, "volume", "ls", "-q", "-f", "dangling=true").split()
        assert "cli-ls-blue" in dangling and "cli-ls-red" not in dangling
        assert docker_ok(daemon, "volume", "ls", "-q", "-f", "name=ls-bl").split() == [
            "cli-ls-blue"
        ]
        assert "cli-ls-red" in docker_ok(daemon, "volume", "ls", "-q", "-f", "driver=local")
        table = docker_ok(daemon, "volume", "ls", "-f", "name=cli-ls").splitlines()
        assert table[0].split() == ["DRIVER", "VOLUME", "NAME"]
        assert table[1].split() == ["local", "cli-ls-blue"]
        formatted = docker_ok(daemon, "volume", "ls", "-f", "name=cli-ls-blue", "--format",
                              "{{.Name}} {{.Labels}} {{.Scope}}")  # fmt: skip
        assert formatted == "cli-ls-blue team=blue local\n"
        bad = docker(daemon, "volume", "ls", "-f", "colour=blue")
        assert bad.returncode == 1
        assert bad.stderr.strip() == "Error response from daemon: invalid filter 'colour'"
    finally:
        docker_ok(daemon, "rm", "cli-ls-user")
        docker_ok(daemon, "volume", "rm", "cli-ls-blue", "cli-ls-red")


def test_volume_inspect_shape(daemon: Daemon) -> None:
    docker_ok(daemon, "volume", "create", "--label", "a=b", "cli-shape")
    data = json.loads(docker_ok(daemon, "volume", "inspect", "cli-shape"))
    assert len(data) == 1
    volume = data[0]
    assert set(volume) >= {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                           "Scope"}  # fmt: skip
    assert (volume["Driver"], volume["Labels"], volume["Scope"]) == ("local", {"a": "b"}, "local")
    assert volume["CreatedAt"].endswith("Z")
    again = docker_ok(daemon, "volume", "create", "cli-shape")
    assert again == "cli-shape\n", "creating an existing volume returns it"
    assert docker_ok(daemon, "volume", "inspect", "-f", "{{.Name}}", "cli-shape") == "cli-shape\n"
    docker_ok(daemon, "volume", "rm", "cli-shape")


def test_volume_prune(daemon: Daemon) -> None:
    docker_ok(daemon, "volume", "create", "cli-prune-named")
    docker_ok(daemon, "create", "--name", "cli-prune-anon", WITH_VOLUME)
    mounts = json.loads(docker_ok(daemon, "inspect", "-f", "{{json .Mounts}}", "cli-prune-anon"))
    anonymous = mounts[0]["Name"]
    docker_ok(daemon, "rm", "cli-prune-anon")  # without -v: the anonymous volume stays
    docker_ok(daemon, "volume", "create", "cli-prune-used")
    docker_ok(daemon, "create", "--name", "cli-prune-user", "-v", "cli-prune-used:/u", "busybox")
    out = docker_ok(daemon, "volume", "prune", "-f")
    assert anonymous in out.split() and "cli-prune-named" not in out
    names = volume_names(daemon)
    assert anonymous not in names and "cli-prune-named" in names
    out = docker_ok(daemon, "volume", "prune", "-a", "-f")
    assert "cli-prune-named" in out.split() and "Total reclaimed space:" in out
    names = volume_names(daemon)
    assert "cli-prune-named" not in names and "cli-prune-used" in names, "in use: kept"
    docker_ok(daemon, "rm", "cli-prune-user")
    docker_ok(daemon, "volume", "rm", "cli-prune-used")


def test_system_df_v_lists_volumes(daemon: Daemon) -> None:
    docker_ok(daemon, "run", "--rm", "-v", "cli-df:/d", "busybox", "sh", "-c",
              "head -c 5000 /dev/zero > /d/blob")  # fmt: skip
    out = docker_ok(daemon, "system", "df", "-v")
    section = out.split("Local Volumes space usage:")[1].split("Build cache")[0]
    row = next(line.split() for line in section.splitlines() if line.startswith("cli-df "))
    assert row == ["cli-df", "0", "5kB"]
    summary = docker_ok(daemon, "system", "df", "--format", "{{.Type}} {{.TotalCount}}")
    assert any(line.startswith("Local Volumes ") for line in summary.splitlines())
    docker_ok(daemon, "volume", "rm", "cli-df")


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-v", "a:b:c:d"], "invalid volume specification: 'a:b:c:d'"),
        (["-v", "cli-bad:relative"], "invalid mount path: 'relative' mount path must be absolute"),
        (["-v", "cli-bad:/x:bogus"], "invalid mode: bogus"),
        (["-v", "bad@name:/x"], '"bad@name" includes invalid characters for a local volume'),
        (["--mount", "type=bind,source=/no/such/dir,target=/x"],
         "bind source path does not exist: /no/such/dir"),
        (["--mount", "type=tmpfs,source=/x,target=/t"], "field Source must not be specified"),
        (["-v", "cli-dup:/x", "-v", "cli-dup2:/x"], "Duplicate mount point: /x"),
        (["-v", "cli-dup:/x", "--tmpfs", "/x"], "Duplicate mount point: /x"),
        (["--volumes-from", "no-such-container"], "No such container: no-such-container"),
        (["--volume-driver", "nope", "-v", "cli-vd:/x"], "error looking up volume plugin nope"),
    ],
    ids=["too-many-colons", "relative-target", "bad-mode", "bad-name", "missing-bind-source",
         "tmpfs-source", "duplicate", "duplicate-tmpfs", "volumes-from-missing", "unknown-driver"],
)  # fmt: skip
def test_bad_mount_specs(daemon: Daemon, args: list[str], message: str) -> None:
    before = volume_names(daemon)
    done = run(daemon, *args, "busybox", "true")
    assert done.returncode == 125, done.stderr
    assert message in done.stderr.splitlines()[0], done.stderr
    assert "Traceback" not in done.stderr
    assert volume_names(daemon) == before, "a refused create leaves no volume behind"


def test_volume_command_errors(daemon: Daemon) -> None:
    done = docker(daemon, "volume", "create", "-d", "no-such-driver", "cli-x")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error response from daemon: error looking up volume plugin no-such-driver: "
        'plugin "no-such-driver" not found'
    )
    done = docker(daemon, "volume", "rm", "cli-no-such")
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "Error response from daemon: get cli-no-such: no such volume",
    )
    assert docker(daemon, "volume", "rm", "-f", "cli-no-such").returncode == 0
    done = docker(daemon, "volume", "inspect", "cli-no-such")
    assert done.returncode == 1 and "no such volume" in done.stderr
    done = docker(daemon, "volume", "create", "--opt", "colour=blue", "cli-opt")
    assert done.returncode == 1 and 'invalid option: "colour"' in done.stderr
    assert "cli-x" not in volume_names(daemon) and "cli-opt" not in volume_names(daemon)


def test_bind_propagation_is_kept(daemon: Daemon, tmp_path: Path) -> None:
    spec = f"type=bind,source={tmp_path},target=/b,bind-propagation=rslave"
    docker_ok(daemon, "create", "--name", "cli-prop", "--mount", spec, "busybox", "true")
    mounts = json.loads(docker_ok(daemon, "inspect", "-f", "{{json .Mounts}}", "cli-prop"))
    assert [(m["Destination"], m["Propagation"]) for m in mounts] == [("/b", "rslave")]
    docker_ok(daemon, "start", "-a", "cli-prop")
    docker_ok(daemon, "rm", "cli-prop")


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None, reason="needs mkfs.ext4")
@pytest.mark.skipif(not Path("/dev/loop-control").exists(), reason="needs loop devices")
def test_device_volume_on_an_image_file_leaves_no_loop_device(
    daemon: Daemon, tmp_path: Path
) -> None:
    image = tmp_path / "disk.img"
    with image.open("wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    docker_ok(daemon, "volume", "create", "--opt", "type=ext4", "--opt", f"device={image}",
              "cli-disk")  # fmt: skip
    docker_ok(daemon, "run", "--rm", "-v", "cli-disk:/disk", "busybox", "sh", "-c",
              "echo on-ext4 > /disk/f")  # fmt: skip
    done = run(daemon, "-v", "cli-disk:/disk", "busybox", "sh", "-c",
               "cat /disk/f; ls /disk")  # fmt: skip
    assert done.stdout.split() == ["on-ext4", "f", "lost+found"], done.stderr
    attached = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True)
    assert attached.stdout.strip() == "", "no loop device is left once no container uses it"
    docker_ok(daemon, "volume", "rm", "cli-disk")
    assert not mounts_under(daemon.data_root / "volume")
