"""berth isolation backend: linux (native namespaces, cgroups, capabilities and seccomp).

Kept empty: the launcher (``berth_isolation_linux.launcher``) is imported by each container's
monitor, which must stay small.
"""
