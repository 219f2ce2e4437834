"""The builder: a parsed Dockerfile and a context in, an image out, with Docker's classic
builder output (``Step N/M : …``, `` ---> Using cache``, `` ---> <id>``).

Only the stages the target needs are built (the target, the stages it starts FROM and those
its ``COPY --from`` name). Each step makes an image whose parent is the previous step's; a step
whose key (parent image and what the step does) is in the build cache is not run again. RUN
runs in a real container (:mod:`.runner`); COPY/ADD write their layer straight from the
context (:mod:`.copier`); the other instructions change only the config (:mod:`.stepconfig`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from berth.engine.build import addsources, cachefrom, copier, stepconfig
from berth.engine.build import cache as build_cache
from berth.engine.build.context import BuildContext
from berth.engine.build.difffilter import filtered_diff
from berth.engine.build.dockerfile import (
    PREDEFINED_ARGS,
    BuildfileError,
    Dockerfile,
    Instruction,
    Stage,
    SubstitutionError,
    expand,
    parse_dockerfile,
)
from berth.engine.build.mounts import RootfsMounts
from berth.engine.build.paths import absolute
from berth.engine.build.runner import RunRequest, create_container, run_container
from berth.engine.build.state import (
    StageState,
    encode,
    known_state_of,
    layer_blobs_of,
    new_image_doc,
    scratch_state,
    state_of,
)
from berth.engine.containers.service import ContainerService
from berth.engine.errors import BerthError
from berth.engine.images import digests
from berth.engine.images.errors import ImageNotFound
from berth.engine.images.importer import TeeReader
from berth.engine.images.layers import Layer
from berth.engine.images.platforms import Platform
from berth.engine.images.reference import Reference
from berth.engine.images.service import ImageService
from berth.engine.images.store import Image
from berth.plugins.layers import LayerError

Emit = Callable[[dict[str, Any]], Awaitable[None]]
#: Pulls an image (name, platform, a callback for Docker's progress messages); blocking.
Puller = Callable[[str, Platform | None, Callable[[dict[str, Any]], None]], None]
CONFIG_ONLY = frozenset(
    {
        "ENV",
        "LABEL",
        "CMD",
        "ENTRYPOINT",
        "EXPOSE",
        "USER",
        "WORKDIR",
        "VOLUME",
        "STOPSIGNAL",
        "SHELL",
        "HEALTHCHECK",
        "ONBUILD",
        "MAINTAINER",
    }
)


class BuildFailed(BerthError):
    """A build that stopped: the message goes in-band to the client; ``code`` is a failing
    RUN's exit status (Docker's ``errorDetail.code``, which the client exits with)."""

    status = 400

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class BuildOptions:
    tags: list[Reference] = field(default_factory=list)
    dockerfile: str = ""
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    no_cache: bool = False
    pull: bool = False
    network_mode: str = ""
    platform: Platform | None = None
    cache_from: list[str] = field(default_factory=list)
    remove: bool = True
    force_remove: bool = False
    #: HostConfig settings for RUN containers (memory, CPU, shm size, extra hosts, ulimits).
    host_config: dict[str, Any] = field(default_factory=dict)


def short(image_id: str) -> str:
    return digests.short_id(image_id)


class Build:
    """One build run: holds the context, the options, the leases and the cache keys made."""

    def __init__(
        self,
        images: ImageService,
        containers: ContainerService,
        cache: build_cache.BuildCache,
        mounts: RootfsMounts,
        context: BuildContext,
        options: BuildOptions,
        platform: Platform,
        emit: Emit,
        log: Any,
        puller: Puller | None = None,
    ) -> None:
        self.images = images
        self.puller = puller
        self.containers = containers
        self.cache = cache
        self.mounts = mounts
        self.context = context
        self.options = options
        self.platform = platform
        self._emit = emit
        self.log = log
        self.step = 0
        self.total = 0
        self.escape = "\\"
        self.results: dict[int, str] = {}
        self.new_keys: list[tuple[str, str]] = []
        self.lease = images.layers.new_lease()
        self.held: list[str] = []
        self.used_args: set[str] = set()
        self.cache_sources: list[Image] = []

    async def say(self, text: str) -> None:
        if not self.options.quiet:
            await self._emit({"stream": text})

    # --- the whole build ------------------------------------------------------------------

    async def run(self) -> str:
        try:
            return await self._run()
        finally:
            if self.new_keys or self.held:  # nothing to do after a fully cached build
                await asyncio.to_thread(self._finish)

    def _finish(self) -> None:
        if self.new_keys:
            self.cache.put_many(self.new_keys)
        for chain in reversed(self.held):
            with contextlib.suppress(Exception):
                self.images.layers.release(chain, self.lease)

    async def _run(self) -> str:
        text, name = await asyncio.to_thread(self._read_dockerfile)
        try:
            dockerfile = parse_dockerfile(text, name)
        except BuildfileError as exc:
            raise BuildFailed(str(exc)) from None
        self.escape = dockerfile.directives.escape
        for name in self.options.cache_from:
            try:
                self.cache_sources.append(await asyncio.to_thread(self.images.resolve, name))
            except BerthError:
                await self.say(f"[Warning] --cache-from image {name} is not here: not used\n")
        global_args = self._global_args(dockerfile)
        target = self._target(dockerfile)
        needed = self._needed(dockerfile, target, global_args)
        self.total = sum(1 + len(s.instructions) for s in needed) + (
            1 if self.options.labels else 0
        )
        image_id = ""
        for stage in needed:
            image_id = await self._stage(dockerfile, stage, global_args, stage is target)
            self.results[stage.index] = image_id
        unused = sorted(
            k
            for k in self.options.build_args
            if k not in self.used_args and k not in PREDEFINED_ARGS
        )
        if unused:
            await self.say(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        await self._emit({"aux": {"ID": image_id}})
        await self.say(f"Successfully built {short(image_id)}\n")
        for ref in self.options.tags:
            await asyncio.to_thread(self.images.tag, image_id, ref.name, ref.tag or "latest")
            await self.say(f"Successfully tagged {ref.familiar}\n")
        if self.options.quiet:
            await self._emit({"stream": image_id + "\n"})
        return image_id

    def _read_dockerfile(self) -> tuple[str, str]:
        """The Dockerfile (its text and name), then the build files hidden from COPY."""
        text, name = self.context.read_dockerfile(self.options.dockerfile)
        self.context.hide_build_files()
        return text, name

    def _global_args(self, dockerfile: Dockerfile) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in dockerfile.global_args:
            for key, default in instruction.pairs:
                value = self._arg_value(key, default, values)
                if value is not None:
                    values[key] = value
        return values

    def _arg_value(self, key: str, default: str | None, env: dict[str, str]) -> str | None:
        if key in self.options.build_args:
            self.used_args.add(key)
            given = self.options.build_args[key]
            if given is not None:
                return given
            from_env = os.environ.get(key)  # Docker: a build arg with no value
            return from_env if from_env is not None else self._expand(default, env)
        return self._expand(default, env)

    def _expand(self, word: str | None, env: dict[str, str]) -> str | None:
        if word is None:
            return None
        try:
            return expand(word, env, self.escape)
        except SubstitutionError as exc:
            raise BuildFailed(f"failed to process {word!r}: {exc}") from None

    def _target(self, dockerfile: Dockerfile) -> Stage:
        if not dockerfile.stages:
            raise BuildFailed(f"{dockerfile.filename}: no FROM instruction: nothing to build")
        if not self.options.target:
            return dockerfile.stages[-1]
        found = dockerfile.stage(self.options.target)
        if found is None:
            raise BuildFailed(f"failed to reach build target {self.options.target} in Dockerfile")
        return found

    def _stage_ref(self, dockerfile: Dockerfile, text: str, before: int) -> Stage | None:
        found = dockerfile.stage(text)
        if found is not None and found.index < before:
            return found
        return None

    def _needed(
        self, dockerfile: Dockerfile, target: Stage, global_args: dict[str, str]
    ) -> list[Stage]:
        wanted: set[int] = set()
        todo = [target]
        while todo:
            stage = todo.pop()
            if stage.index in wanted:
                continue
            wanted.add(stage.index)
            base = self._expand(stage.base, global_args) or ""
            ref = self._stage_ref(dockerfile, base, stage.index)
            if ref is not None:
                todo.append(ref)
            for instruction in stage.instructions:
                source = instruction.flags.get("from")
                if instruction.keyword == "COPY" and source:
                    ref = self._stage_ref(dockerfile, source, stage.index)
                    if ref is not None:
                        todo.append(ref)
        return [s for s in dockerfile.stages if s.index in wanted]

    # --- one stage ------------------------------------------------------------------------

    async def _stage(
        self, dockerfile: Dockerfile, stage: Stage, global_args: dict[str, str], last: bool
    ) -> str:
        self.step += 1
        await self.say(f"Step {self.step}/{self.total} : {stage.original}\n")
        base = self._expand(stage.base, global_args) or ""
        state = await self._from(dockerfile, stage, base)
        # FROM scratch has no image yet: Docker prints the arrow alone
        await self.say(f" ---> {short(state.image_id) if state.image_id else ''}\n")
        triggers = list(state.config.get("OnBuild") or [])
        if triggers:
            state.config["OnBuild"] = None
            await self.say(
                f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n"
            )
            for text in triggers:
                trigger = self._parse_trigger(text)
                await self._instruction(dockerfile, stage, state, trigger, global_args)
        for instruction in stage.instructions:
            self.step += 1
            await self.say(f"Step {self.step}/{self.total} : {instruction.original}\n")
            await self._instruction(dockerfile, stage, state, instruction, global_args)
        if last and self.options.labels:
            self.step += 1
            text = "LABEL " + " ".join(
                f"{json.dumps(k)}={json.dumps(v)}" for k, v in sorted(self.options.labels.items())
            )
            await self.say(f"Step {self.step}/{self.total} : {text}\n")
            labels = dict(state.config.get("Labels") or {})
            labels.update(self.options.labels)
            config = dict(state.config, Labels=labels)
            created_by = stepconfig.nop(config, text)
            await self._config_step(state, config, created_by)
        if not state.image_id:
            await self._commit(state, None, None)
        return state.image_id

    def _parse_trigger(self, text: str) -> Instruction:
        try:
            parsed = parse_dockerfile(f"FROM scratch\n{text}\n", "ONBUILD trigger")
        except BuildfileError as exc:
            raise BuildFailed(str(exc)) from None
        return parsed.stages[0].instructions[0]

    async def _from(self, dockerfile: Dockerfile, stage: Stage, base: str) -> StageState:
        if stage.platform:
            self._check_platform(stage.platform)
        ref = self._stage_ref(dockerfile, base, stage.index)
        if ref is not None:
            image = self.images.images.get(self.results[ref.index])
            assert image is not None
            return await asyncio.to_thread(state_of, self.images, image)
        if base.lower() == "scratch":
            return scratch_state(self.platform)
        if not self.options.pull:
            with contextlib.suppress(ImageNotFound):  # not here: pulled below
                return await asyncio.to_thread(self._local_state, base)
        image = await self._image(base)
        return await asyncio.to_thread(state_of, self.images, image)

    def _local_state(self, name: str) -> StageState:
        """A local base image's state, found and read in one trip to a worker thread."""
        return state_of(self.images, self.images.resolve(name))

    def _check_platform(self, text: str) -> None:
        if not text.startswith("linux") and not text.startswith("$"):
            raise BuildFailed(f"platform {text!r} is not supported: berth builds linux images")

    async def _image(self, name: str) -> Image:
        """A base (or ``COPY --from``) image: local, else pulled; ``--pull`` pulls it anyway."""
        if not self.options.pull or self.puller is None:
            try:
                return await asyncio.to_thread(self.images.resolve, name)
            except ImageNotFound:
                if self.puller is None:
                    raise BuildFailed(
                        f"pull access denied for {name}: the image is not here and this berthd "
                        "has no registry client (load or import it first)"
                    ) from None
        await self._pull(name)
        try:
            return await asyncio.to_thread(self.images.resolve, name)
        except ImageNotFound:
            raise BuildFailed(f"No such image: {name} (the pull did not store it)") from None

    async def _pull(self, name: str) -> None:
        assert self.puller is not None
        puller = self.puller
        loop = asyncio.get_running_loop()
        quiet = self.options.quiet

        async def send(message: dict[str, Any]) -> None:
            await self._emit(message)

        def progress(message: dict[str, Any]) -> None:
            if not quiet and "error" not in message:
                asyncio.run_coroutine_threadsafe(send(message), loop).result()

        try:
            await asyncio.to_thread(puller, name, self.platform, progress)
        except BerthError as exc:
            raise BuildFailed(str(exc)) from None

    # --- steps ----------------------------------------------------------------------------

    async def _instruction(
        self,
        dockerfile: Dockerfile,
        stage: Stage,
        state: StageState,
        instruction: Instruction,
        global_args: dict[str, str],
    ) -> None:
        keyword = instruction.keyword
        if keyword == "ARG":
            await self._arg(state, instruction, global_args)
        elif keyword == "RUN":
            await self._run_step(state, instruction)
        elif keyword in ("COPY", "ADD"):
            await self._copy_step(dockerfile, stage, state, instruction)
        elif keyword in CONFIG_ONLY:
            config = json.loads(json.dumps(state.config))
            env = state.expansion_env()
            created_by = self._at_line(
                instruction,
                lambda: stepconfig.apply(
                    config,
                    state.doc,
                    instruction,
                    lambda w: self._expand(w, env) or "",
                    state.flags,
                ),
            )
            if keyword == "WORKDIR":
                await self._workdir_step(state, config, created_by)
            else:
                await self._config_step(state, config, created_by)
        else:
            raise BuildFailed(f"unknown instruction: {keyword}")

    def _at_line(self, instruction: Instruction, action: Callable[[], str]) -> str:
        try:
            return action()
        except BerthError as exc:
            raise BuildFailed(f"Dockerfile:{instruction.line}: {exc}") from None

    async def _arg(
        self, state: StageState, instruction: Instruction, global_args: dict[str, str]
    ) -> None:
        texts = []
        env = state.expansion_env()
        for key, default in instruction.pairs:
            value = self._arg_value(key, default, env)
            if value is None and key in global_args and key not in self.options.build_args:
                value = global_args[key]
            state.args[key] = value
            texts.append(key if default is None else f"{key}={default}")
        created_by = stepconfig.nop(state.config, "ARG " + " ".join(texts))
        await self._config_step(state, dict(state.config), created_by)

    async def _cached(
        self, state: StageState, key: str, created_by: str, config: dict[str, Any]
    ) -> bool:
        """Use the cached image of the step when there is one; say so."""
        if self.options.no_cache:
            return False
        found = self.cache.get(key, lambda i: self.images.images.get(i) is not None)
        image = self.images.images.get(found) if found is not None else None
        if image is None and self.cache_sources:
            image = await self._from_cache_source(state, created_by, config)
            if image is not None:
                self.new_keys.append((key, image.id))
        if image is None:
            return False
        await self.say(" ---> Using cache\n")
        new = known_state_of(image)
        if new is None:
            new = await asyncio.to_thread(state_of, self.images, image)
        state.image_id, state.doc = new.image_id, new.doc
        state.layer_blobs, state.top_chain = new.layer_blobs, new.top_chain
        await self.say(f" ---> {short(state.image_id)}\n")
        return True

    async def _from_cache_source(
        self, state: StageState, created_by: str, config: dict[str, Any]
    ) -> Image | None:
        """The step's image made from a ``--cache-from`` image whose next step it is."""
        diff_ids = list((state.doc.get("rootfs") or {}).get("diff_ids") or [])
        history = [h for h in state.doc.get("history") or [] if isinstance(h, dict)]
        match = cachefrom.find(self.cache_sources, history, diff_ids, created_by)
        if match is None:
            return None
        source = match.source
        step = StageState(state.image_id, dict(state.doc), list(state.layer_blobs), state.top_chain)
        step.doc["config"] = source.config.container_config if match.last else config
        blobs = list(state.layer_blobs)
        diff_id = None
        if match.layer_index is not None:
            diff_id = source.config.diff_ids[match.layer_index]
            blobs.append(
                (await asyncio.to_thread(layer_blobs_of, self.images, source))[match.layer_index]
            )
        doc = new_image_doc(step, created_by, diff_id)
        doc["history"][-1] = dict(match.entry)
        doc["created"] = str(match.entry.get("created") or doc["created"])
        image = await asyncio.to_thread(
            self.images.add_built_image, encode(doc), blobs, state.image_id
        )
        return image

    def _key(self, state: StageState, created_by: str, extra: Any = None) -> str:
        return build_cache.step_key(
            state.image_id or "scratch:" + self.platform.architecture, created_by, extra
        )

    async def _config_step(
        self, state: StageState, config: dict[str, Any], created_by: str
    ) -> None:
        key = self._key(state, created_by, config)
        if await self._cached(state, key, created_by, config):
            return
        state.doc["config"] = config
        await self._commit(state, created_by, None)
        self.new_keys.append((key, state.image_id))
        await self.say(f" ---> {short(state.image_id)}\n")

    async def _workdir_step(
        self, state: StageState, config: dict[str, Any], created_by: str
    ) -> None:
        """WORKDIR: as Docker's classic builder, the directory is made in the image (a layer
        with it and its missing parents) when the image does not have it."""
        key = self._key(state, created_by, config)
        if await self._cached(state, key, created_by, config):
            return
        path = str(config.get("WorkingDir") or "/")
        layer = await asyncio.to_thread(self._workdir_layer, state, path)
        state.doc["config"] = config
        await self._commit(state, created_by, layer)
        self.new_keys.append((key, state.image_id))
        await self.say(f" ---> {short(state.image_id)}\n")

    def _workdir_layer(self, state: StageState, path: str) -> tuple[Layer, str] | None:
        with contextlib.ExitStack() as stack:
            rootfs: Path | None = None
            image = self.images.images.get(state.image_id) if state.image_id else None
            if image is not None:
                rootfs = self._mount_image(image, stack)
            stream = copier.directory_tar(path, rootfs)
            if stream is None:
                return None
            with stream:
                return self._store_layer(stream, state.top_chain, "the WORKDIR directory")

    async def _commit(
        self, state: StageState, created_by: str | None, layer: tuple[Layer, str] | None
    ) -> None:
        diff_id = layer[0].diff_id if layer else None
        doc = new_image_doc(state, created_by, diff_id)
        blobs = [*state.layer_blobs, layer[1]] if layer else list(state.layer_blobs)
        image = await asyncio.to_thread(
            self.images.add_built_image, encode(doc), blobs, state.image_id
        )
        state.image_id = image.id
        state.doc = json.loads(image.config.raw)
        state.layer_blobs = blobs
        state.top_chain = image.config.top_chain_id

    # --- RUN ------------------------------------------------------------------------------

    async def _run_step(self, state: StageState, instruction: Instruction) -> None:
        config = state.config
        if instruction.json_form:
            cmd = list(instruction.args)
        else:
            cmd = [*stepconfig.shell_of(config), instruction.args[0]]
        arg_env = state.arg_env()
        for item in arg_env:
            self.used_args.add(item.partition("=")[0])
        shown = " ".join(cmd)
        created_by = f"|{len(arg_env)} {' '.join(arg_env)} {shown}" if arg_env else shown
        key = self._key(state, created_by)
        if await self._cached(state, key, created_by, state.config):
            return
        if not state.image_id:
            await self._commit(state, None, None)
        request = RunRequest(
            state.image_id,
            cmd,
            [*arg_env, *self._proxy_env(state)],
            self.options.network_mode,
            self.options.host_config,
        )
        container_id = await create_container(self.containers, request)
        await self.say(f" ---> Running in {container_id[:12]}\n")
        keep = False
        try:
            code = await run_container(self.containers, container_id, self.say)
            if code != 0:
                keep = not self.options.force_remove
                raise BuildFailed(f"The command '{shown}' returned a non-zero code: {code}", code)
            layer = await asyncio.to_thread(self._diff_layer, state, container_id)
        except asyncio.CancelledError:
            keep = False
            raise
        finally:
            if not keep and (self.options.remove or self.options.force_remove):
                await self._remove_container(container_id)
        if self.options.remove:
            await self.say(f" ---> Removed intermediate container {container_id[:12]}\n")
        await self._commit(state, created_by, layer)
        self.new_keys.append((key, state.image_id))
        await self.say(f" ---> {short(state.image_id)}\n")

    def _proxy_env(self, state: StageState) -> list[str]:
        """The predefined proxy args given with --build-arg: in RUN's environment without an
        ARG line, but neither in the history nor in the cache key (as Docker)."""
        env = []
        for key in sorted(PREDEFINED_ARGS):
            value = self.options.build_args.get(key)
            if value is not None and key not in state.args:
                env.append(f"{key}={value}")
                self.used_args.add(key)
        return env

    async def _remove_container(self, container_id: str) -> None:
        try:
            await asyncio.shield(self.containers.remove(container_id, force=True))
        except Exception as exc:
            self.log.warning("build.container_remove_failed", id=container_id, error=str(exc))

    def _diff_layer(self, state: StageState, container_id: str) -> tuple[Layer, str]:
        parent = self.images.layers.get(state.top_chain)
        raw = self.images.driver.diff(container_id, parent.cache_id if parent else None)
        with filtered_diff(raw) as stream:
            return self._store_layer(stream, state.top_chain, "the RUN step's changes")

    def _store_layer(self, stream: BinaryIO, parent: str | None, what: str) -> tuple[Layer, str]:
        with self.images.blobs.writer(what=what) as writer:
            tee = TeeReader(stream, writer)
            layer = self.images.layers.register(cast(BinaryIO, tee), parent, None, self.lease, what)
            self.held.append(layer.chain_id)
            tee.drain()
            blob = writer.commit()
        return layer, blob

    # --- COPY and ADD ---------------------------------------------------------------------

    async def _copy_step(
        self, dockerfile: Dockerfile, stage: Stage, state: StageState, instruction: Instruction
    ) -> None:
        env = state.expansion_env()
        words = [self._expand(w, env) or "" for w in instruction.args]
        flags = {k: self._expand(v, env) or "" for k, v in instruction.flags.items()}
        is_add = instruction.keyword == "ADD"
        sources_text, dest_text = words[:-1], words[-1]
        dest = absolute(dest_text, str(state.config.get("WorkingDir") or "/"))
        chmod = addsources.chmod(flags.get("chmod", ""), instruction)
        chown = flags.get("chown", "")
        with contextlib.ExitStack() as stack:
            root, what = await self._source_root(dockerfile, stage, flags.get("from", ""), stack)
            scratch: Path | None = None
            if is_add and root == self.context.root:  # where ADD downloads and unpacks
                scratch = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(dir=self.context.root.parent))
                )
            try:
                sources, digest = await asyncio.to_thread(
                    self._checked_sources, root, what, sources_text, scratch
                )
            except (BerthError, LayerError, OSError) as exc:
                raise _copy_failed(instruction, exc) from None
            kind = "multi" if len(sources) > 1 else ("dir" if sources[0].is_dir else "file")
            created_by = stepconfig.nop(
                state.config, f"{instruction.keyword} {kind}:{digest} in {dest} "
            )
            key = self._key(state, created_by, {"chown": chown, "chmod": chmod})
            if await self._cached(state, key, created_by, state.config):
                return
            try:
                layer = await asyncio.to_thread(
                    self._copy_layer, state, sources, dest, chown, chmod
                )
            except (BerthError, LayerError, OSError) as exc:
                raise _copy_failed(instruction, exc) from None
        await self._commit(state, created_by, layer)
        self.new_keys.append((key, state.image_id))
        await self.say(f" ---> {short(state.image_id)}\n")

    async def _source_root(
        self, dockerfile: Dockerfile, stage: Stage, source: str, stack: contextlib.ExitStack
    ) -> tuple[Path, str]:
        if not source:
            return self.context.root, "build context"
        ref = self._stage_ref(dockerfile, source, stage.index)
        if ref is not None:
            image = self.images.images.get(self.results[ref.index])
            assert image is not None
        else:
            image = await self._image(source)
        root = await asyncio.to_thread(self._mount_image, image, stack)
        return root, f"stage {source}" if ref is not None else f"image {source}"

    def _mount_image(self, image: Image, stack: contextlib.ExitStack) -> Path:
        """The image's root file system while the stack is open (an empty directory for an
        image without layers)."""
        root = stack.enter_context(self.mounts.rootfs(image))
        if root is None:
            return Path(
                stack.enter_context(tempfile.TemporaryDirectory(dir=self.context.root.parent))
            )
        return root

    def _checked_sources(
        self, root: Path, what: str, patterns: list[str], scratch: Path | None
    ) -> tuple[list[copier.Source], str]:
        """The sources and their checksum (one trip to a worker thread: a cached step's
        cost is mostly such trips)."""
        sources = self._sources(root, what, patterns, scratch)
        return sources, copier.checksum(sources)

    def _sources(
        self, root: Path, what: str, patterns: list[str], scratch: Path | None
    ) -> list[copier.Source]:
        """What the patterns name; ``scratch`` is given for a local ADD (its URLs and
        archives are fetched and unpacked there)."""
        found: list[copier.Source] = []
        for pattern in patterns:
            if scratch is not None and addsources.is_url(pattern):
                found.append(addsources.download(pattern, scratch))
                continue
            for source in copier.find_sources(root, pattern, what):
                if scratch is not None and not source.is_dir:
                    extracted = addsources.extract_archive(source, scratch)
                    if extracted is not None:
                        found.append(extracted)
                        continue
                found.append(source)
        return found

    def _copy_layer(
        self,
        state: StageState,
        sources: list[copier.Source],
        dest: str,
        chown: str,
        chmod: int | None,
    ) -> tuple[Layer, str]:
        with contextlib.ExitStack() as stack:
            rootfs: Path | None = None
            if state.top_chain is not None:
                image = self.images.images.get(state.image_id)
                assert image is not None
                rootfs = self._mount_image(image, stack)
            owner = addsources.owner(chown, rootfs) if chown else None
            plan = copier.CopyPlan(sources, dest, owner, chmod)
            with copier.layer_tar(plan, rootfs) as stream:
                return self._store_layer(stream, state.top_chain, "the copied files")


def _copy_failed(instruction: Instruction, exc: BaseException) -> BuildFailed:
    reason = addsources.reason(exc)
    return BuildFailed(f"{instruction.keyword} failed: {reason} (Dockerfile:{instruction.line})")
