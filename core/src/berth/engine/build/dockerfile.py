"""The Dockerfile parser: text in, a typed model the builder consumes out.

The model follows Docker's classic builder: a Dockerfile is parser directives, the ARGs before
the first FROM (``global_args``) and a list of stages, each a FROM line and its instructions.
Nothing is expanded here: words keep their quotes and ``$variables`` so the builder can expand
them per instruction with :func:`expand` / :func:`expand_words`, against the environment and
build args in force at that step (Docker expands ADD, COPY, ENV, EXPOSE, FROM, LABEL,
STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults and the flags of COPY/ADD; never RUN, CMD,
ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD triggers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth.engine.build.substitution import SubstitutionError, expand, expand_words

__all__ = [
    "EXPANDED_KEYWORDS",
    "PREDEFINED_ARGS",
    "BuildfileError",
    "Directives",
    "Dockerfile",
    "Healthcheck",
    "Instruction",
    "Stage",
    "SubstitutionError",
    "expand",
    "expand_words",
    "parse_dockerfile",
]

#: Instructions whose words Docker expands (``$var``) before running them.
EXPANDED_KEYWORDS = frozenset(
    {
        "ADD",
        "ARG",
        "COPY",
        "ENV",
        "EXPOSE",
        "FROM",
        "LABEL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)

#: Build args usable without an ARG line; kept out of the image history unless declared.
PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


class BuildfileError(ValueError):
    """A Dockerfile that cannot be parsed; ``str()`` is ``Dockerfile:<line>: <message>``."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Directives:
    """Parser directives from the top of the file (``# escape=`` and ``# syntax=``)."""

    escape: str = "\\"
    syntax: str | None = None


@dataclass(frozen=True)
class Healthcheck:
    """A parsed HEALTHCHECK in image-config units (durations in nanoseconds, 0 = the default).

    ``test`` is ``["NONE"]``, ``["CMD", ...]`` (exec form) or ``["CMD-SHELL", "<command>"]``.
    """

    test: list[str]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Instruction:
    """One instruction, unexpanded.

    ``args``: for the JSON (exec) form the JSON list (``json_form`` is True); for the shell form
    of RUN/CMD/ENTRYPOINT/SHELL/MAINTAINER a one-element list holding the raw rest of the line;
    for the other instructions the whitespace-separated words (quotes kept: expansion strips them).
    ``flags``: the ``--name=value`` flags before the arguments, keyed by name without the dashes
    (``COPY --from=builder --link`` gives ``{"from": "builder", "link": "true"}``); values are
    unexpanded, with quotes removed.
    ``pairs``: for ENV/LABEL the (key, raw value) pairs; for ARG (name, raw default or None).
    ``healthcheck``: for HEALTHCHECK, the parsed check. ``trigger``: for ONBUILD, the parsed
    trigger instruction (``args`` then holds the trigger text as written, as images store it).
    ``line``: the line the instruction starts on (1-based); ``original``: its text with the line
    continuations joined and comment lines dropped, as ``Step N/M : <original>`` shows it.
    """

    keyword: str
    args: list[str]
    line: int
    original: str
    json_form: bool = False
    flags: dict[str, str] = field(default_factory=dict)
    pairs: list[tuple[str, str | None]] = field(default_factory=list)
    healthcheck: Healthcheck | None = None
    trigger: Instruction | None = None
    end_line: int = 0


@dataclass(frozen=True)
class Stage:
    """A build stage: its FROM line and the instructions after it.

    ``name`` is the lower-cased ``AS`` name or None; ``base`` the image text as written (may hold
    ``$ARG`` references to global args; expand it with the global args only); ``platform`` the
    ``--platform`` flag or None.
    """

    index: int
    name: str | None
    base: str
    platform: str | None
    line: int
    original: str
    instructions: list[Instruction] = field(default_factory=list)


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile. ``global_args`` are the ARG instructions before the first FROM."""

    filename: str
    directives: Directives
    global_args: list[Instruction]
    stages: list[Stage]
    warnings: list[str] = field(default_factory=list)

    def stage(self, ref: str) -> Stage | None:
        """The stage named ``ref`` (case-insensitive) or with index ``ref``; None if neither."""
        lowered = ref.lower()
        for stage in self.stages:
            if stage.name == lowered:
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


def parse_dockerfile(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile; raises :class:`BuildfileError` naming the file and line.

    A Dockerfile the client added to the context under a random name (``-f -``, or a file
    outside the context: ``.dockerfile.<hex>``) is called ``Dockerfile`` in messages.
    """
    from berth.engine.build.dockerfile_parser import parse

    if filename.startswith(".dockerfile.") and "/" not in filename:
        filename = "Dockerfile"
    return parse(text, filename)
