"""Volumes: the engine's records of them (driver, labels, options, creation time), which
containers use each one, and Docker's volume operations on top of the volume drivers.

:mod:`.records` keeps the records on disk, :mod:`.filters` reads Docker's list and prune
filters, :mod:`.service` is what the API and the container mounts use.
"""
