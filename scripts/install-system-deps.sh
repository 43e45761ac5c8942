#!/usr/bin/env bash
# The Debian/Ubuntu packages that `make demo` and `make test` need (the Makefile runs this before it creates
# a virtual environment; .ci/run is `make test`). Installs only what is missing, and is quick when nothing
# is: a few file tests, no apt. `apt-get update` runs only when something is installed. As root it calls
# apt-get, otherwise sudo apt-get; without either it prints the apt-get command to run and exits 1.
#
#   scripts/install-system-deps.sh [PYTHON...]    the interpreters that will create virtual environments
#   scripts/install-system-deps.sh --list         print the packages it would install, and exit
set -euo pipefail

# One line per package: name, how to tell it is present, and who needs it. Checks: cmd:NAME (on PATH),
# file:PATH, lib:SONAME (in the dynamic linker's cache). A leading `?` marks a package that some releases
# do not carry (Ubuntu ships Chromium only as a snap): where apt has no such package it is left out with a
# note, and the tests that need it skip.
read -r -d '' PACKAGES <<'END' || true
libusb-1.0-0        lib:libusb-1.0.so.0         # pyrealsense2 (realsense extra, requirements.txt): live camera, .bag playback; tests/runtime/test_sources.py, test_record.py
chromium            ?file:/usr/bin/chromium     # tests/runtime/test_sinks.py shows the http sink preview page in headless Chromium
cmake               cmd:cmake                   # make native: configures the C++ part (CMakeLists.txt, native/)
ninja-build         cmd:ninja                   # make native: the build tool CMake is given where it is installed
g++                 cmd:g++                     # make native: a C++17 compiler
nlohmann-json3-dev  file:/usr/include/nlohmann/json.hpp   # make native: JSON for sidecars, frames and reports
libgtest-dev        file:/usr/include/gtest/gtest.h       # make native: GoogleTest, the unit tests ctest runs
xvfb                cmd:Xvfb                    # the --sink window test opens a real OpenCV window on an Xvfb display
xauth               cmd:xauth                   # xvfb-run needs it to give the X display a cookie
x11-utils           cmd:xwininfo                # the window test reads the window's title (FPS) with xwininfo
libgl1              lib:libGL.so.1              # the GUI OpenCV wheel (opencv-python, gui/all extras) imports libGL.so.1
libglib2.0-0        lib:libgthread-2.0.so.0     # the GUI OpenCV wheel imports libgthread-2.0.so.0
libsm6              lib:libSM.so.6              # the GUI OpenCV wheel's Qt xcb plugin (a window) loads libSM and libICE
libxext6            lib:libXext.so.6            # ... and libXext
END
# python3-venv (python3.X-venv for another Debian-packaged Python): Debian's Python has no ensurepip
# without it, so `python3 -m venv` fails. Checked per interpreter given on the command line.

missing=()   # packages to install
absent=()    # optional packages apt does not have

have() {  # have CHECK: whether the check passes
    local check=${1#\?}
    case $check in
        cmd:*) command -v "${check#cmd:}" >/dev/null 2>&1 ;;
        file:*) [ -e "${check#file:}" ] ;;
        lib:*)
            if [ -z "${LDCACHE+x}" ]; then
                LDCACHE=$( { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null || true)
            fi
            grep -qF "${check#lib:} " <<<"$LDCACHE" ;;
        *) echo "install-system-deps.sh: unknown check $check" >&2; exit 2 ;;
    esac
}

venv_package() {  # venv_package PYTHON: the package that gives PYTHON `-m venv`, or nothing when it has it
    local python=$1 version default
    command -v "$python" >/dev/null 2>&1 || return 0
    # only a Debian-packaged Python (prefix /usr) lacks ensurepip; pyenv's, conda's and others' have it
    version=$("$python" -c 'import sys
try:
    import ensurepip, venv
except ImportError:
    if sys.base_prefix == "/usr":
        print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 0
    [ -n "$version" ] || return 0
    default=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
    if [ "$version" = "$default" ]; then echo python3-venv; else echo "python$version-venv"; fi
}

list=0
pythons=()
for arg in "$@"; do
    case $arg in
        --list) list=1 ;;
        -h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) pythons+=("$arg") ;;
    esac
done

optional=()
while read -r package check _; do
    [ -n "$package" ] || continue
    if [ "$list" = 1 ] || ! have "$check"; then
        missing+=("$package")
        [ "${check#\?}" = "$check" ] || optional+=("$package")
    fi
done <<<"$PACKAGES"
[ "$list" = 0 ] || { printf '%s\n' "${missing[@]}" python3-venv; exit 0; }
for python in "${pythons[@]}"; do
    package=$(venv_package "$python")
    if [ -n "$package" ] && [[ " ${missing[*]} " != *" $package "* ]]; then missing+=("$package"); fi
done

[ "${#missing[@]}" -gt 0 ] || exit 0

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "amf-edge needs these Debian packages, and installing them needs root (sudo is not available):" >&2
    echo "    apt-get update && $command" >&2
    echo "Run that as root, then run make again." >&2
    exit 1
fi

echo "install-system-deps.sh: installing ${missing[*]}" >&2
if ! "${sudo[@]}" apt-get update -qq; then
    echo "install-system-deps.sh: apt-get update failed; install the packages yourself:" >&2
    echo "    sudo apt-get update && sudo $command" >&2
    exit 1
fi
# an optional package this release does not carry (no installation candidate) is left out
for package in "${optional[@]}"; do
    # the policy is read whole first: `apt-cache … | grep -q` under pipefail fails when grep stops reading early
    # (SIGPIPE, exit 141), which left Chromium out on machines whose apt has it
    policy=$(apt-cache policy "$package" 2>/dev/null || true)
    if ! grep -q 'Candidate: [^(]' <<<"$policy"; then
        absent+=("$package")
        for i in "${!missing[@]}"; do [ "${missing[$i]}" != "$package" ] || unset 'missing[i]'; done
    fi
done
if [ "${#missing[@]}" -gt 0 ] \
        && ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install-system-deps.sh: apt-get install failed; install the packages yourself:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
for package in "${absent[@]}"; do
    echo "install-system-deps.sh: apt has no $package package here; the tests that need it skip" >&2
done
