"""berth isolation backends that drive an OCI runtime binary (runc, crun).

Kept empty: a container's monitor imports :mod:`berth_isolation_oci.launcher`, and with it
this package, and must stay small.
"""
