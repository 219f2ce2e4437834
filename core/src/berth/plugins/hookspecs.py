"""Every hook core calls. A plugin module implements the ones it needs with ``@hookimpl``.

Registration hooks return spec records; core calls them once, when it loads the plugin.
Event hooks are called after the event happened (never before, never to veto it), from the
daemon's worker threads: keep them short and never raise — an exception is logged and ignored.
``berth plugin ls`` and ``docs/plugins/hooks.md`` are generated from these docstrings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from berth.plugins.markers import hookspec
from berth.plugins.specs import (
    IsolationRuntimeSpec,
    NetworkDriverSpec,
    RegistryClientSpec,
    StorageDriverSpec,
    VolumeDriverSpec,
)

# --- registration ------------------------------------------------------------------------


@hookspec
def berth_storage_drivers() -> Iterable[StorageDriverSpec]:  # type: ignore[empty-body]
    """Declare storage drivers. Called once when core loads an entry point of ``berth.storage.v1``.

    Example::

        @hookimpl
        def berth_storage_drivers():
            return [StorageDriverSpec(name="vfs", factory=VfsDriver, probe=probe_vfs)]
    """


@hookspec
def berth_network_drivers() -> Iterable[NetworkDriverSpec]:  # type: ignore[empty-body]
    """Declare network drivers. Called once when core loads an entry point of ``berth.network.v1``.

    Example::

        @hookimpl
        def berth_network_drivers():
            return [NetworkDriverSpec(name="bridge", factory=BridgeDriver, probe=probe_bridge)]
    """


@hookspec
def berth_registry_clients() -> Iterable[RegistryClientSpec]:  # type: ignore[empty-body]
    """Declare registry clients; called once when core loads a ``berth.registry.v1`` plugin.

    Example::

        @hookimpl
        def berth_registry_clients():
            return [RegistryClientSpec(name="hub", factory=HubClient, probe=probe_hub)]
    """


@hookspec
def berth_isolation_runtimes() -> Iterable[IsolationRuntimeSpec]:  # type: ignore[empty-body]
    """Declare isolation backends; called once when core loads a ``berth.isolation.v1`` plugin.

    Example::

        @hookimpl
        def berth_isolation_runtimes():
            return [IsolationRuntimeSpec(name="runc", factory=OciRuntime, probe=probe_runc)]
    """


@hookspec
def berth_volume_drivers() -> Iterable[VolumeDriverSpec]:  # type: ignore[empty-body]
    """Declare volume drivers. Called once when core loads an entry point of ``berth.volume.v1``.

    Example::

        @hookimpl
        def berth_volume_drivers():
            return [VolumeDriverSpec(name="local", factory=LocalVolumes, probe=probe_local)]
    """


# --- daemon lifecycle --------------------------------------------------------------------


@hookspec
def berth_daemon_started(info: Mapping[str, object]) -> None:
    """Called once the daemon listens on its sockets; ``info`` is what ``GET /info`` returns.

    Example::

        @hookimpl
        def berth_daemon_started(info):
            log.info("berthd up", driver=info["Driver"])
    """


@hookspec
def berth_daemon_stopping() -> None:
    """Called when the daemon begins a clean shutdown (SIGTERM/SIGINT), before it stops serving.

    Example::

        @hookimpl
        def berth_daemon_stopping():
            flush_metrics()
    """


# --- containers --------------------------------------------------------------------------


@hookspec
def berth_container_created(container_id: str, attributes: Mapping[str, str]) -> None:
    """Called after a container was created (its writable layer and config exist).

    ``attributes`` carries ``name`` and ``image`` as in Docker's events. Example::

        @hookimpl
        def berth_container_created(container_id, attributes):
            audit("create", container_id, attributes["image"])
    """


@hookspec
def berth_container_started(container_id: str, attributes: Mapping[str, str]) -> None:
    """Called after a container's process started.

    Example::

        @hookimpl
        def berth_container_started(container_id, attributes):
            register_service(attributes["name"])
    """


@hookspec
def berth_container_died(container_id: str, exit_code: int, attributes: Mapping[str, str]) -> None:
    """Called after a container's main process ended, with its exit code (137 when OOM-killed).

    Example::

        @hookimpl
        def berth_container_died(container_id, exit_code, attributes):
            if exit_code:
                alert(attributes["name"], exit_code)
    """


@hookspec
def berth_container_removed(container_id: str, attributes: Mapping[str, str]) -> None:
    """Called after a container and its writable layer were removed.

    Example::

        @hookimpl
        def berth_container_removed(container_id, attributes):
            deregister_service(attributes["name"])
    """


# --- images ------------------------------------------------------------------------------


@hookspec
def berth_image_pulled(reference: str, image_id: str) -> None:
    """Called after an image was pulled and stored, with the reference the user gave.

    Example::

        @hookimpl
        def berth_image_pulled(reference, image_id):
            scan_later(image_id)
    """


@hookspec
def berth_image_built(image_id: str, tags: Iterable[str]) -> None:
    """Called after a build produced an image, with the tags it was given (maybe none).

    Example::

        @hookimpl
        def berth_image_built(image_id, tags):
            notify_ci(image_id, list(tags))
    """


@hookspec
def berth_image_removed(image_id: str) -> None:
    """Called after an image (not only a tag of it) was deleted.

    Example::

        @hookimpl
        def berth_image_removed(image_id):
            forget(image_id)
    """


# --- networks and volumes ----------------------------------------------------------------


@hookspec
def berth_network_created(network_id: str, name: str, driver: str) -> None:
    """Called after a network was created by its driver.

    Example::

        @hookimpl
        def berth_network_created(network_id, name, driver):
            log.info("network", name=name, driver=driver)
    """


@hookspec
def berth_network_removed(network_id: str, name: str, driver: str) -> None:
    """Called after a network was removed.

    Example::

        @hookimpl
        def berth_network_removed(network_id, name, driver):
            log.info("network gone", name=name)
    """


@hookspec
def berth_volume_created(name: str, driver: str) -> None:
    """Called after a volume was created by its driver.

    Example::

        @hookimpl
        def berth_volume_created(name, driver):
            backup.schedule(name)
    """


@hookspec
def berth_volume_removed(name: str, driver: str) -> None:
    """Called after a volume and its data were removed.

    Example::

        @hookimpl
        def berth_volume_removed(name, driver):
            backup.cancel(name)
    """
