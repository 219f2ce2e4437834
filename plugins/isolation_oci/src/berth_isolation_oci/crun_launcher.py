"""The launcher of the ``crun`` backend: :mod:`berth_isolation_oci.launcher` with crun as the
binary when the state directory names none."""

from __future__ import annotations

from berth_isolation_oci.launcher import OciLauncher

__all__ = ["create", "delete", "exec", "oom_killed", "start"]

_CRUN = OciLauncher("crun")
create = _CRUN.create
start = _CRUN.start
exec = _CRUN.exec  # the protocol's name
oom_killed = _CRUN.oom_killed
delete = _CRUN.delete
