#!/usr/bin/env bash
# install.sh — install berth on this machine (Debian 12, as root), then run its main job.
#
#   sudo ./install.sh            install (or bring up to date), make the busybox:latest seed
#                                image from the host's busybox, then run berth's main job
#   sudo ./install.sh --no-run   install only (what CI does before ./run-tests.sh)
# Safe to run again: every step checks first and changes only what is missing.
# Needs only Debian's apt and PyPI; works from any current directory.
set -euo pipefail

usage() {
    sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

RUN_MAIN_JOB=1
for arg in "$@"; do
    case "$arg" in
        --no-run) RUN_MAIN_JOB=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$arg'; see ./install.sh --help" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$REPO/.venv"
BIN_DIR=/usr/local/bin
CONF_DIR=/etc/berth
DATA_ROOT=/var/lib/berth
EXEC_ROOT=/run/berth
LOG_DIR=/var/log/berth   # berthd's log when the client starts it on demand
GROUP=berth
UNIT_SRC="$REPO/packaging/berthd.service"
UNIT_DST=/etc/systemd/system/berthd.service

# apt packages berth and its tests use (now or with the next issues). Never docker.io or podman:
# those are references for bench/ only, installed by hand (see bench/README.md).
APT_PACKAGES=(
    python3 iproute2 iptables nftables btrfs-progs busybox-static docker-registry skopeo runc crun
    debootstrap util-linux ca-certificates curl hyperfine tini openssl
)

step() { printf '\n==> %s\n' "$*"; }

# Retry a network step: a package index that is briefly unreachable (DNS included) must not
# fail a whole install. Tries 4 times, waiting 5, 15 and 30 s between tries.
with_retries() {
    local attempt status waits=(5 15 30)
    for attempt in 0 1 2 3; do
        "$@" && return 0
        status=$?
        [[ "$attempt" -eq 3 ]] && break
        note "'$*' failed (exit $status); trying again in ${waits[$attempt]} s"
        sleep "${waits[$attempt]}"
    done
    return "$status"
}
note() { printf '    %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" -eq 0 ]] || die "must run as root; try: sudo $0 $*"
command -v apt-get >/dev/null || die "needs a Debian-like system with apt-get (Debian 12 is supported)"
export PATH="$BIN_DIR:/usr/local/sbin:/usr/sbin:/sbin:$PATH"

# --- 1. apt packages --------------------------------------------------------------------------
missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || echo "$pkg"
    done
}

apt_lists_fresh() {
    # Package lists younger than a day count as fresh enough.
    [[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null \
        | head -n 1)" ]]
}

apt_install() {
    local policy=/usr/sbin/policy-rc.d own_policy=0 status=0
    # No service of a package (docker-registry listens on all interfaces as packaged) may start
    # during the install: tests start their own, with their own config.
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" || status=$?
    [[ "$own_policy" -eq 1 ]] && rm -f "$policy"
    return "$status"
}

step "apt packages"
mapfile -t MISSING < <(missing_packages "${APT_PACKAGES[@]}")
if [[ "${#MISSING[@]}" -eq 0 ]]; then
    note "all present: ${APT_PACKAGES[*]}"
else
    note "installing: ${MISSING[*]}"
    if ! apt_lists_fresh; then
        with_retries apt-get update -q
        with_retries apt_install "${MISSING[@]}"
    elif ! apt_install "${MISSING[@]}"; then
        note "install failed with the current package lists; updating them and trying again"
        with_retries apt-get update -q
        with_retries apt_install "${MISSING[@]}"
    fi
fi

# --- 2. uv --------------------------------------------------------------------------------
step "uv"
UV_HOME=/usr/local/lib/berth-uv   # a private venv holding uv, when the machine has none
if command -v uv >/dev/null; then
    note "found $(command -v uv) ($(uv --version))"
else
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        note "installing python3-venv to make a venv for uv"
        apt_install python3-venv || { apt-get update -q && apt_install python3-venv; }
    fi
    [[ -x "$UV_HOME/bin/uv" ]] || {
        rm -rf "$UV_HOME"
        python3 -m venv "$UV_HOME"
        with_retries "$UV_HOME/bin/python" -m pip install -q --disable-pip-version-check uv
    }
    ln -sfn "$UV_HOME/bin/uv" "$BIN_DIR/uv"
    note "installed $BIN_DIR/uv ($(uv --version))"
fi

# --- 3. berth and its plugins, editable, into .venv ------------------------------------------
step "python packages (uv sync into $VENV)"
cd "$REPO"
export UV_PROJECT_ENVIRONMENT="$VENV"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"  # only PyPI is reachable
export UV_NO_PROGRESS=1
# Byte-compile at install time: start-up is budgeted, and where PYTHONDONTWRITEBYTECODE is set
# Python would otherwise compile every module from source on every start (3x slower here).
export UV_COMPILE_BYTECODE=1
# Trust the system's CA store (where a site's proxy CA lives), whichever name this uv knows.
if uv help sync 2>/dev/null | grep -q -- '--system-certs'; then
    export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"
else
    export UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"
fi
if [[ ! -f uv.lock ]]; then
    note "no uv.lock yet: resolving one"
    uv lock
fi
if uv lock --check >/dev/null 2>&1; then
    with_retries uv sync --all-packages --locked
else
    note "warning: uv.lock is out of date with the pyproject.toml files; re-locking"
    note "(commit the updated uv.lock so that CI installs without resolving)"
    with_retries uv sync --all-packages
fi
# berth's own packages are editable (their sources stay in the checkout): compile those too.
"$VENV/bin/python" -m compileall -q core/src plugins/*/src >/dev/null \
    || note "warning: could not byte-compile core/src and plugins/*/src"
if [[ "$(stat -c %u "$REPO")" != 0 ]]; then  # a user's checkout: leave its tree theirs
    find core/src plugins/*/src -name __pycache__ -user 0 -exec chown -R --reference="$REPO" {} +
fi
for exe in berth berthd; do
    [[ -x "$VENV/bin/$exe" ]] || die "$VENV/bin/$exe is missing after uv sync; check core/pyproject.toml [project.scripts]"
done

# --- 4. commands on PATH --------------------------------------------------------------------
step "commands in $BIN_DIR"
for exe in berth berthd; do
    if [[ -e "$BIN_DIR/$exe" && ! -L "$BIN_DIR/$exe" ]]; then
        note "replacing $BIN_DIR/$exe (a regular file, not ours) with a link"
    fi
    ln -sfn "$VENV/bin/$exe" "$BIN_DIR/$exe"
    note "$BIN_DIR/$exe -> $VENV/bin/$exe"
done

# --- 5. group, directories, config ----------------------------------------------------------
step "group, directories and config"
if getent group "$GROUP" >/dev/null; then
    note "group $GROUP exists"
else
    groupadd --system "$GROUP"
    note "created group $GROUP (members may use the berth socket)"
fi
install -d -m 0755 "$CONF_DIR"
install -d -m 0711 "$DATA_ROOT"
install -d -m 0755 "$EXEC_ROOT"
install -d -m 0750 "$LOG_DIR"
if [[ -e "$CONF_DIR/daemon.json" ]]; then
    note "keeping existing $CONF_DIR/daemon.json"
else
    # Empty: every setting at its default. Keys are Docker's (see README.md, "Configuration").
    printf '{}\n' >"$CONF_DIR/daemon.json"
    chmod 0644 "$CONF_DIR/daemon.json"
    note "wrote $CONF_DIR/daemon.json (defaults)"
fi
note "config $CONF_DIR, data $DATA_ROOT, runtime $EXEC_ROOT, logs $LOG_DIR"

# --- 6. systemd unit (only where systemd runs) ----------------------------------------------
step "service"
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    if ! cmp -s "$UNIT_SRC" "$UNIT_DST"; then
        install -m 0644 "$UNIT_SRC" "$UNIT_DST"
        systemctl daemon-reload
        note "installed $UNIT_DST; start it with: systemctl enable --now berthd"
    else
        note "$UNIT_DST is up to date"
    fi
else
    note "no systemd here: berthd is started on demand by the berth client"
    note "(packagers: $UNIT_SRC)"
fi

# --- 7. the seed image: busybox:latest, made by berth from the host's static busybox --------
if [[ "$RUN_MAIN_JOB" -eq 0 ]]; then
    step "installed (--no-run: seed image and main job skipped)"
    exit 0
fi
SEED_IMAGE=busybox:latest
SEED_BUSYBOX=/bin/busybox   # Debian's busybox-static: one static binary, every applet in it

seed_rootfs_tar() {
    # A rootfs tarball of $SEED_BUSYBOX with its applet links; deterministic (names sorted, the
    # binary's own mtime everywhere, root-owned), so the same busybox gives the same layer.
    local work="$1" root="$1/rootfs" applet mtime
    install -d -m 0755 "$root/bin" "$root/etc"
    install -d -m 0700 "$root/root"
    install -d -m 1777 "$root/tmp"
    install -m 0755 "$SEED_BUSYBOX" "$root/bin/busybox"
    for applet in $("$SEED_BUSYBOX" --list); do
        [[ "$applet" == busybox || "$applet" == */* ]] || ln -sfn busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
    chmod 0644 "$root/etc/passwd" "$root/etc/group"
    mtime="$(stat -c %Y "$SEED_BUSYBOX")"
    tar --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner \
        -C "$root" -cf "$work/rootfs.tar" bin etc root tmp
}

seed_image() {
    # Make $SEED_IMAGE with berth itself unless it exists (the first berth command starts berthd
    # on demand; when that fails, its reason is printed and this stops).
    local existing work image_id version
    [[ -x "$SEED_BUSYBOX" ]] || die "$SEED_BUSYBOX is missing; install Debian's busybox-static"
    existing="$(berth images -q "$SEED_IMAGE")" \
        || die "cannot list images; see the message above and $LOG_DIR/berthd.log"
    if [[ -n "$existing" ]]; then
        note "$SEED_IMAGE exists ($existing): kept"
        return 0
    fi
    work="$(mktemp -d "${TMPDIR:-/tmp}/berth-seed.XXXXXX")"
    seed_rootfs_tar "$work"
    version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
    if ! image_id="$(berth import -c 'CMD ["sh"]' -m "busybox ${version:-?} from $SEED_BUSYBOX" \
        "$work/rootfs.tar" "$SEED_IMAGE")"; then
        rm -rf "$work"
        die "could not import $SEED_IMAGE; see the message above"
    fi
    rm -rf "$work"
    note "made $SEED_IMAGE: $image_id"
}

step "seed image $SEED_IMAGE"
seed_image

# --- 8. berth's main job, end to end --------------------------------------------------------
step "main job"
cd "$REPO"
main_job() {
    # >>> berth's main job: the one line to change as berth grows <<<
    berth run --rm busybox echo hello from berth
}
if main_job; then
    step "berth is installed and works"
else
    status=$?
    die "main job failed (exit $status); see the messages above and $LOG_DIR/berthd.log"
fi
