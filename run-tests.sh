#!/usr/bin/env bash
# run-tests.sh — berth's whole test suite, offline, from the repo's .venv (see install.sh):
#   ruff check, ruff format --check, mypy --strict on core, lint-imports (import boundaries),
#   then pytest in parallel over core/tests, plugins/*/tests and tests/.
#
#   ./run-tests.sh                 everything
#   ./run-tests.sh -k plugin -x    everything, with these extra arguments for pytest
#
# Every gate runs even when an earlier one fails; the exit status is non-zero if any failed.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO" || exit 2
VENV="$REPO/.venv"
BIN="$VENV/bin"

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi
for tool in python ruff mypy lint-imports pytest; do
    if [[ ! -x "$BIN/$tool" ]]; then
        echo "run-tests.sh: $BIN/$tool is missing; install first: sudo ./install.sh --no-run" >&2
        exit 2
    fi
done
export PATH="$BIN:$PATH"          # the venv's berth, berthd and tools first
export VIRTUAL_ENV="$VENV"
export PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH

NAMES=()
RESULTS=()
FAILED=0

run_gate() {
    local name="$1" start status elapsed
    shift
    printf '\n==> %s: %s\n' "$name" "$*"
    start=${EPOCHREALTIME/[.,]/}
    "$@"
    status=$?
    elapsed=$(( (${EPOCHREALTIME/[.,]/} - start) / 100000 ))
    elapsed="$((elapsed / 10)).$((elapsed % 10))"
    NAMES+=("$name")
    if [[ "$status" -eq 0 ]]; then
        RESULTS+=("ok      ${elapsed}s")
    else
        RESULTS+=("FAILED  ${elapsed}s  (exit $status)")
        FAILED=1
    fi
    return 0
}

# Test directories that exist (a plugin without tests/ is caught by tests/test_quality.py).
TEST_PATHS=()
for path in core/tests plugins/*/tests tests; do
    [[ -d "$path" ]] && TEST_PATHS+=("$path")
done
REPORT_DIR="$(mktemp -d "${TMPDIR:-/tmp}/berth-run-tests.XXXXXX")"
trap 'rm -rf "$REPORT_DIR"' EXIT
JUNIT="$REPORT_DIR/junit.xml"

run_gate "ruff check" ruff check .
run_gate "ruff format" ruff format --check .
run_gate "mypy --strict" mypy core/src/berth
run_gate "import boundaries" lint-imports --no-cache
run_gate "pytest" pytest -n auto --junitxml="$JUNIT" "${TEST_PATHS[@]}" "$@"

# Counts from pytest's JUnit report, for the summary's last line.
COUNTS="$(python - "$JUNIT" <<'EOF'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("")
    raise SystemExit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
total = failed = skipped = 0
for suite in suites:
    total += int(suite.get("tests", 0))
    failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped += int(suite.get("skipped", 0))
print(f"{total - failed - skipped} passed, {failed} failed, {skipped} skipped")
EOF
)"

printf '\n==> summary\n'
for i in "${!NAMES[@]}"; do
    printf '    %-18s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}"
done
if [[ "$FAILED" -eq 0 ]]; then
    printf '    all gates passed\n'
else
    printf '    SOME GATES FAILED: see the output above each ==> line\n'
fi
[[ -n "$COUNTS" ]] && printf 'pytest: %s\n' "$COUNTS"
exit "$FAILED"
