"""The thin client of berthd: Docker Engine API calls over a UNIX socket or TCP.

Kept import-light on purpose (only the standard library): the `berth` command's start-up
time is budgeted. Import the submodules you need (`berth.client.api`, `berth.client.system`).
"""
