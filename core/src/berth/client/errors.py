"""Errors the client raises; the CLI turns each into one line on stderr and exit status 1."""

from __future__ import annotations


class ClientError(Exception):
    """Base class of everything the client reports to the user."""


class HostError(ClientError):
    """The daemon address (-H, BERTH_HOST, DOCKER_HOST) cannot be used."""


class CannotConnect(ClientError):
    """No daemon answers at the address."""

    def __init__(self, host_url: str, detail: str = "") -> None:
        self.host_url = host_url
        self.detail = detail
        message = f"Cannot connect to the berth daemon at {host_url}. Is berthd running?"
        if detail:
            message = f"{message}\n{detail}"
        super().__init__(message)


class DaemonError(ClientError):
    """The daemon answered with an error status; `message` is its Docker-style message."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"Error response from daemon: {message}")


class ProtocolError(ClientError):
    """The daemon's answer is not what the API promises (bad JSON, cut stream)."""


class UploadError(ClientError):
    """Reading the stream to send (an archive file, stdin) failed while it was being sent."""

    def __init__(self, cause: OSError) -> None:
        self.cause = cause
        what = cause.strerror or str(cause) or type(cause).__name__
        what = what[:1].lower() + what[1:]
        if cause.filename:
            super().__init__(f"read {cause.filename}: {what}")
        else:
            super().__init__(f"cannot read the input to send to the daemon: {what}")
