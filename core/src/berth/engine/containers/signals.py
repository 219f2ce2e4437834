"""Signal names as Docker takes them: ``9``, ``KILL``, ``SIGKILL``, ``sigterm``, ``RTMIN+3``."""

from __future__ import annotations

import signal

from berth.engine.errors import BadParameter

_NAMES: dict[str, int] = {
    s.name.removeprefix("SIG"): int(s)
    for s in signal.Signals
    if s.name.startswith("SIG") and not s.name.startswith("SIG_")
}
_NAMES.setdefault("CLD", int(signal.SIGCHLD))
_NAMES.setdefault("POLL", int(signal.SIGIO))
_NAMES.setdefault("IOT", int(signal.SIGABRT))
RTMIN = int(signal.SIGRTMIN)
RTMAX = int(signal.SIGRTMAX)
MAX_SIGNAL = RTMAX


def parse_signal(text: str) -> int:
    """The signal number ``text`` names; 400 ``Invalid signal: X`` when it names none."""
    raw = text.strip()
    if raw.lstrip("-").isdigit():
        number = int(raw)
        if not 0 < number <= MAX_SIGNAL:
            raise BadParameter(f"Invalid signal: {text}")
        return number
    name = raw.upper().removeprefix("SIG")
    if name in _NAMES:
        return _NAMES[name]
    for base, sign in (("RTMIN+", 1), ("RTMAX-", -1)):
        if name.startswith(base) and name[len(base) :].isdigit():
            number = (RTMIN if sign > 0 else RTMAX) + sign * int(name[len(base) :])
            if RTMIN <= number <= RTMAX:
                return number
    if name in ("RTMIN", "RTMAX"):
        return RTMIN if name == "RTMIN" else RTMAX
    raise BadParameter(f"Invalid signal: {text}")


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15 (a number Python does not name comes back as its digits)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
