#!/usr/bin/env bash
# BusHail's two commands, on a fresh Debian/Ubuntu machine with only Python 3.11+:
#   ./dev.sh demo   set everything up and run the demo city
#   ./dev.sh test   set everything up and run ruff, mypy --strict and the whole test suite
# Set-up: a virtualenv in .venv with the project installed (editable, with dev extras),
# and the system programs we need (mosquitto, espeak-ng; chromium for the browser tests),
# installed with apt-get when run as root, or named exactly when they are missing.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv

die() { echo "error: $*" >&2; exit 1; }

check_python() {
    command -v "$PY" >/dev/null || die "python3 is not installed: install Python 3.11 or newer"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "BusHail needs Python 3.11 or newer; found $("$PY" --version)"
}

apt_get() {
    # apt_get WHAT PACKAGE...: install PACKAGEs as root, or name them and stop.
    local what=$1; shift
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing $* (for $what) with apt-get"
        if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        die "$what is missing: run 'sudo apt-get install $*' and try again"
    fi
}

apt_install() {
    # apt_install PROGRAM PACKAGE...: make sure PROGRAM exists.
    local program=$1; shift
    if command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || [ -x "/usr/bin/$program" ]; then
        return 0
    fi
    apt_get "$program" "$@"
}

apt_library() {
    # apt_library SONAME PACKAGE: make sure the shared library SONAME is installed.
    if { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q "$1"; then
        return 0
    fi
    apt_get "$1" "$2"
}

setup() {
    check_python
    if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
        apt_install __never__ python3-venv
    fi
    apt_install mosquitto mosquitto
    apt_install espeak-ng espeak-ng
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[dev]'
        touch "$stamp"
    fi
}

case "${1:-}" in
    demo)
        shift
        setup
        exec "$VENV/bin/bushail-sim" demo "$@"
        ;;
    test)
        shift
        setup
        apt_install chromium chromium
        # Playwright's bundled node driver links libatomic, which chromium does not pull in.
        apt_library libatomic.so.1 libatomic1
        export BUSHAIL_CHROMIUM=${BUSHAIL_CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}
        echo "== ruff"
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        echo "== mypy --strict"
        "$VENV/bin/mypy" broker_config rider_api stop_gateway driver_display simulators tests bench
        echo "== pytest"
        # Two workers: most tests wait on a broker, a browser or a database, so two
        # processes halve the wall time even on two cores (BUSHAIL_TEST_WORKERS=0: one).
        exec "$VENV/bin/pytest" -n "${BUSHAIL_TEST_WORKERS:-2}" "$@"
        ;;
    setup)
        setup
        ;;
    *)
        echo "usage: ./dev.sh demo [options of bushail-sim demo] | ./dev.sh test [pytest options]" >&2
        exit 2
        ;;
esac
