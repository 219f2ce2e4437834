"""Entry point of the 'hub' driver: registers its spec with berth's plugin host."""

from collections.abc import Iterable

from berth.plugins import RegistryClientSpec, hookimpl, not_implemented_probe


def _factory(ctx: object) -> object:
    raise NotImplementedError("the hub client arrives with the registries issue")


@hookimpl
def berth_registry_clients() -> Iterable[RegistryClientSpec]:
    return [
        RegistryClientSpec(
            name="hub",
            factory=_factory,  # type: ignore[arg-type]
            probe=not_implemented_probe("the hub client arrives with the registries issue"),
        )
    ]
