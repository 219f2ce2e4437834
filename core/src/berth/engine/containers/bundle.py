"""What the engine prepares for each start of a container: the checks at create, and at start
the OCI bundle — the working directory in the root file system, the user resolved from the
image's passwd and group files, the container's hostname/hosts/resolv.conf, namespaces joined
from other containers (``container:<name>`` modes), then ``config.json``
(:func:`berth.engine.containers.spec.build_spec`) in ``<exec-root>/containers/<id>/``, which is
the monitor's state directory too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.engine.containers import hostconfig, resolv, spec, users
from berth.engine.containers.exec import ExecConfig
from berth.engine.containers.hostconfig import HostFacts
from berth.engine.containers.model import Container
from berth.engine.errors import BadParameter

#: Where an ``--init`` binary is looked for (Docker's name first).
INIT_BINARIES = ("docker-init", "tini", "tini-static", "catatonit")
INIT_DIRS = ("/usr/libexec/docker", "/usr/local/libexec/berth", "/usr/libexec/berth")
#: Files of a state directory that belong to a previous run and go before a new one.
STALE = ("exit.json", "monitor.sock", "monitor.pid", "config.json")

#: A container reference -> the host PID of its running init (BadParameter if it does not run).
InitPidOf = Callable[[str], int]


def find_init_binary() -> str:
    for name in INIT_BINARIES:
        found = shutil.which(name)
        if found:
            return found
        for directory in INIT_DIRS:
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK):
                return candidate
    return ""


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Write a file that is made again at every start: atomically (a reader sees the old or
    the new one) but without fsync, which costs milliseconds per file for nothing here."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(temp, path)


class BundleMaker:
    def __init__(
        self,
        state_root: Path,
        container_dir: Callable[[str], Path],
        init_pid_of: InitPidOf,
        host: HostFacts | None = None,
    ) -> None:
        self.state_root = state_root
        self.container_dir = container_dir
        self.init_pid_of = init_pid_of
        self.host = host or HostFacts.detect()
        self.init_path = find_init_binary()
        #: The address ``--add-host name:host-gateway`` stands for (the engine sets it once
        #: the default bridge network is known).
        self.host_gateway_ip: Callable[[], str] = lambda: ""
        #: The hostname/hosts/resolv.conf of a container by name or ID (``container:<ref>``
        #: network mode shares them); None: keep the image's.
        self.etc_files_of: Callable[[str], resolv.EtcFiles | None] = lambda ref: None
        #: The daemon's ``dns``/``dns-search``/``dns-opts`` (for containers without their own).
        self.dns_defaults = resolv.DnsDefaults()

    def state_dir(self, container_id: str) -> Path:
        return self.state_root / container_id

    # --- create ----------------------------------------------------------------------------

    def check(
        self, container_id: str, config: dict[str, Any], host_config: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """Docker's create-time checks and defaults (the complete HostConfig, warnings)."""
        hc, warnings = hostconfig.prepare_create(
            container_id, config, host_config, self.host, self.host_gateway_ip()
        )
        if hc.get("Init") and not self.init_path:
            raise BadParameter(
                "--init needs an init binary (docker-init or tini) on the host; none was found"
            )
        return hc, warnings

    # --- start -----------------------------------------------------------------------------

    def _namespace_paths(self, container: Container) -> dict[str, str]:
        hc = container.host_config
        paths: dict[str, str] = {}
        for kind, key, name in (
            ("network", "NetworkMode", "net"),
            ("pid", "PidMode", "pid"),
            ("ipc", "IpcMode", "ipc"),
        ):
            mode = str(hc.get(key) or "")
            if mode.startswith("container:"):
                pid = self.init_pid_of(mode.partition(":")[2])
                paths[kind] = f"/proc/{pid}/ns/{name}"
        return paths

    def _etc_files(self, container: Container) -> resolv.EtcFiles | None:
        hc = container.host_config
        if hostconfig.is_container_network(hc):  # the other container's files, as Docker
            return self.etc_files_of(str(hc.get("NetworkMode")).partition(":")[2])
        contents = resolv.etc_contents(
            container.short_id,
            container.config,
            hc,
            container.network_settings,
            self.host_gateway_ip(),
            self.dns_defaults,
        )
        hostname, hosts, resolv_conf = contents.hostname, contents.hosts, contents.resolv_conf
        directory = self.container_dir(container.id)
        files = resolv.EtcFiles(
            str(directory / "hostname"), str(directory / "hosts"), str(directory / "resolv.conf")
        )
        for path, text in (
            (files.hostname, hostname + "\n"),
            (files.hosts, hosts),
            (files.resolv_conf, resolv_conf),
        ):
            replace_file(Path(path), text.encode(), 0o644)
        container.hostname_path = files.hostname
        container.hosts_path = files.hosts
        container.resolv_conf_path = files.resolv_conf
        return files

    def refresh_etc_files(self, container: Container) -> None:
        """Rewrite a running container's hosts and resolv.conf in place after its networks
        changed (connect/disconnect); its hostname stays. Nothing to do when it has none."""
        if hostconfig.is_container_network(container.host_config):
            return
        contents = resolv.etc_contents(
            container.short_id,
            container.config,
            container.host_config,
            container.network_settings,
            self.host_gateway_ip(),
            self.dns_defaults,
        )
        for path, text in (
            (container.hosts_path, contents.hosts),
            (container.resolv_conf_path, contents.resolv_conf),
        ):
            if path and Path(path).is_file():
                resolv.rewrite_in_place(path, text)

    def prepare(
        self,
        container: Container,
        rootfs: Path,
        mounts: Sequence[Mapping[str, Any]] = (),
        netns: str | None = None,
    ) -> Path:
        """Blocking: write the bundle for one start; its directory. ``mounts``: the OCI
        mounts of the container's volumes, binds and tmpfs (:mod:`.mounts`); ``netns``: the
        network namespace made for the container (bridge networks), else None."""
        config = container.config
        spec.ensure_working_dir(rootfs, str(config.get("WorkingDir") or ""))
        user = users.resolve_user(
            rootfs,
            str(config.get("User") or ""),
            [str(g) for g in container.host_config.get("GroupAdd") or ()],
        )
        document = spec.build_spec(
            container,
            rootfs=str(rootfs),
            user=user,
            files=self._etc_files(container),
            host=self.host,
            namespace_paths=self._namespace_paths(container),
            init_path=self.init_path,
            mounts=mounts,
            netns=netns,
        )
        directory = self.state_dir(container.id)
        directory.mkdir(parents=True, exist_ok=True, mode=0o711)
        for name in STALE:
            with contextlib.suppress(FileNotFoundError):
                (directory / name).unlink()
        replace_file(
            directory / "config.json",
            json.dumps(document, separators=(",", ":")).encode(),
            0o600,  # it holds the environment
        )
        return directory

    def exec_process(self, container: Container, config: ExecConfig) -> dict[str, Any]:
        """Blocking: the OCI process of an exec, its user resolved in the running container's
        root file system (the bundle's ``root.path``)."""
        bundle = self.state_dir(container.id) / "config.json"
        try:
            rootfs = str(json.loads(bundle.read_bytes())["root"]["path"])
        except (OSError, ValueError, KeyError, TypeError):
            raise BadParameter(
                f"container {container.short_id} has no bundle: is it running?"
            ) from None
        user_text = config.user or str(container.config.get("User") or "")
        user = users.resolve_user(
            rootfs, user_text, [str(g) for g in container.host_config.get("GroupAdd") or ()]
        )
        return spec.exec_process(
            container,
            config.cmd,
            user,
            self.host,
            env=config.env,
            working_dir=config.working_dir,
            tty=config.tty,
            privileged=config.privileged,
            console_size=config.console_size,
        )
