"""Small things the launcher's modules share without importing heavier standard modules
(``contextlib`` brings ``collections`` and ``functools`` into the monitor)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


class suppress:
    """``with suppress(OSError): ...``, as ``contextlib.suppress``."""

    __slots__ = ("kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self.kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return kind is not None and issubclass(kind, self.kinds)
