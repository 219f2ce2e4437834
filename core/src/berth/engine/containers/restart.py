"""Restart policies (``no``, ``on-failure[:N]``, ``always``, ``unless-stopped``) and Docker's
restart manager: whether an exit restarts the container, and after how long.

The delay starts at 100 ms and doubles with every restart up to one minute; a run that lasted
10 s or more starts the series again. A stop or kill by the user cancels a pending restart and
marks the container as manually stopped (``unless-stopped`` then stays down, also across
daemon restarts; ``always`` comes back at the next daemon start, as in Docker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berth.engine.errors import BadParameter

NO, ALWAYS, ON_FAILURE, UNLESS_STOPPED = "no", "always", "on-failure", "unless-stopped"
POLICIES = (NO, ALWAYS, ON_FAILURE, UNLESS_STOPPED)

FIRST_DELAY = 0.1
MAX_DELAY = 60.0
MULTIPLIER = 2
RESET_AFTER = 10.0  # seconds of running that reset the back-off


@dataclass(frozen=True)
class RestartPolicy:
    name: str = NO
    maximum_retry_count: int = 0

    @property
    def is_none(self) -> bool:
        return self.name == NO

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}


def parse_policy(data: Mapping[str, Any] | None) -> RestartPolicy:
    """HostConfig.RestartPolicy, validated with Docker's messages (400 on anything wrong)."""
    if not data:
        return RestartPolicy()
    if not isinstance(data, Mapping):
        raise BadParameter("invalid restart policy: expected an object with Name")
    name = data.get("Name") or NO
    count = data.get("MaximumRetryCount") or 0
    if not isinstance(name, str):
        raise BadParameter("invalid restart policy: Name must be a string")
    if isinstance(count, bool) or not isinstance(count, int):
        raise BadParameter("invalid restart policy: MaximumRetryCount must be an integer")
    if name not in POLICIES:
        raise BadParameter(
            f"invalid restart policy: unknown policy '{name}'; use one of "
            "'no', 'always', 'on-failure', or 'unless-stopped'"
        )
    if name == ON_FAILURE and count < 0:
        raise BadParameter("invalid restart policy: maximum retry count cannot be negative")
    if name != ON_FAILURE and count != 0:
        raise BadParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    return RestartPolicy(name, count)


class RestartManager:
    """One container's restart decisions; lives as long as the daemon's view of it.

    ``restart_count`` counts the automatic restarts since the last start by the user; ``delay``
    is the back-off the last positive decision chose.
    """

    def __init__(self, policy: RestartPolicy, restart_count: int = 0) -> None:
        self.policy = policy
        self.restart_count = restart_count
        self.delay = 0.0
        self.canceled = False

    def cancel(self) -> None:
        """A stop, kill or removal: no restart for the exit that follows."""
        self.canceled = True

    def should_restart(self, exit_code: int, manually_stopped: bool, ran_for: float) -> bool:
        """Whether this exit restarts the container; on yes, ``delay`` says when."""
        if self.policy.is_none or self.canceled:
            return False
        if ran_for >= RESET_AFTER:
            self.delay = 0.0
        if self.delay == 0.0:
            self.delay = FIRST_DELAY
        elif self.delay < MAX_DELAY:
            self.delay *= MULTIPLIER
        self.delay = min(self.delay, MAX_DELAY)
        name = self.policy.name
        if name == ALWAYS:
            restart = True
        elif name == UNLESS_STOPPED:
            restart = not manually_stopped
        else:  # on-failure
            limit = self.policy.maximum_retry_count
            restart = exit_code != 0 and (limit == 0 or self.restart_count < limit)
        if restart:
            self.restart_count += 1
        return restart


def restart_at_daemon_start(
    policy: RestartPolicy, manually_stopped: bool, exit_code: int, restart_count: int
) -> bool:
    """Whether a container that ran before and is down when the daemon starts comes back up
    (Docker's ``ShouldRestart`` at restore). A stop by the user is not a failure: on-failure
    containers stopped that way stay down."""
    if policy.name == ALWAYS:
        return True
    if policy.name == UNLESS_STOPPED:
        return not manually_stopped
    if policy.name == ON_FAILURE:
        limit = policy.maximum_retry_count
        return exit_code != 0 and not manually_stopped and (limit == 0 or restart_count < limit)
    return False
