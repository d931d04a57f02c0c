#!/usr/bin/env bash
# Gather, here, what the GPU machine lacks, into the git-ignored folder .gpu-kit/ (about a minute):
#   .gpu-kit/wheels/   cp312 manylinux x86-64 wheels of the [grader] extra's closure (nbgrader,
#                      nbclient, nbconvert, nbformat, ipykernel, jupyter_client, nh3, ...) minus what
#                      the GPU image already holds (gpu/image-packages.txt) and minus formgrader's
#                      web UI (jupyterlab & co., never imported when grading)
#   .gpu-kit/root/     bubblewrap (and libcap2, libselinux1, libpcre2-8-0 in case the image lacks
#                      them) unpacked with `dpkg -x`; gpu/run.sh puts its bwrap on PATH
#   .gpu-kit/requirements.txt, MANIFEST.txt
# The project itself does not travel as a wheel: gpu/run.sh runs it from the working tree (always
# the code being tested).
#   .gpu-ray/a/, .gpu-ray/b/  Ray's cp312 wheel (the dev venv's version; 75.6 MiB for 2.60.0, more
#                      than one call's 64 MiB with the kit) less ray/jars (31 MiB of Java, used by Java
#                      workers only), cut in two byte ranges, and
#                      .gpu-ray/b/RAY.sha256 (its name and checksum). A warm device machine keeps
#                      ignored files between calls, so part a travels in a first, short call and
#                      part b with the kit in the run; gpu/kit.py joins them, checks the sum and
#                      installs Ray offline (RAY=0 skips this).
#
#   bash gpu/gather.sh      # then, on the device, the two calls it prints at the end
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${KIT:-.gpu-kit}
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
MAX_KIT_MB=${MAX_KIT_MB:-60}     # the kit
MAX_TREE_MB=${MAX_TREE_MB:-63}   # the kit + the working tree that travels with it (the limit is 64 MiB)
# Needed only by formgrader's web UI (jupyter lab/notebook front ends), never imported when grading.
UI_ONLY=$("$PY" -c "import sys; sys.path.insert(0, 'gpu'); import kit; print(' '.join(kit.UI_ONLY))")
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_24_x86_64
        --platform manylinux_2_26_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64
        --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64)
PIP=("$PY" -m pip --disable-pip-version-check)

start=$SECONDS
rm -rf "$KIT.new"
mkdir -p "$KIT.new/wheels" "$KIT.new/root" "$KIT.new/debs"

# 1. What to install: the [grader] extra (from pyproject.toml) plus the execution stack by name.
mapfile -t WANT < <("$PY" - <<'EOF'
import tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["grader"]
for req in extra + ["nbformat", "nbclient", "ipykernel", "jupyter_client", "nh3"]:
    print(req)
EOF
)
echo "== resolving for cp312 manylinux x86-64: ${WANT[*]}"
"${PIP[@]}" install -q --dry-run --ignore-installed --target "$KIT.new/resolve" --report "$KIT.new/resolve.json" \
    "${TARGET[@]}" "${WANT[@]}" 2> >(grep -v "is ignored: it is neither" >&2)

# 2. Drop what the image has and formgrader's UI; pin the rest.
"$PY" - "$KIT.new" "$UI_ONLY" <<'EOF'
import json, re, sys
from pathlib import Path
kit, ui_only = Path(sys.argv[1]), set(sys.argv[2].split())
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
image = {norm(w) for line in Path("gpu/image-packages.txt").read_text().splitlines()
         if not line.startswith("#") for w in line.split()}
report = json.loads((kit / "resolve.json").read_text())
pins, dropped_image, dropped_ui = [], [], []
for item in report["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    if norm(name) in image:
        dropped_image.append(name)
    elif norm(name) in ui_only:
        dropped_ui.append(name)
    else:
        pins.append(f"{name}=={version}")
(kit / "requirements.txt").write_text("\n".join(sorted(pins, key=str.lower)) + "\n")
print(f"   {len(report['install'])} resolved; {len(pins)} to carry; already in the image: {len(dropped_image)} "
      f"({', '.join(sorted(dropped_image, key=str.lower))}); formgrader UI only, left out: {', '.join(sorted(dropped_ui))}")
EOF

# 3. Download exactly those, no dependencies.
echo "== downloading wheels"
"${PIP[@]}" download -q --no-deps "${TARGET[@]}" -d "$KIT.new/wheels" -r "$KIT.new/requirements.txt" \
    2> >(grep -v "is ignored: it is neither" >&2)

# 4. Check the set is closed: every requirement of a carried wheel (markers evaluated for CPython
#    3.12 on Linux x86-64) is carried, or in the image, or formgrader UI; one version of each.
"$PY" gpu/kit.py --check-kit "$KIT.new"

# 5. bubblewrap, unpacked (not installed) so it runs from the kit.
echo "== bubblewrap"
(cd "$KIT.new/debs" && { apt-get download -q bubblewrap libcap2 libselinux1 libpcre2-8-0 >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get download -q bubblewrap libcap2 libselinux1 libpcre2-8-0 >/dev/null; }; })
for deb in "$KIT.new"/debs/*.deb; do dpkg -x "$deb" "$KIT.new/root"; echo "   $(basename "$deb")"; done
rm -rf "$KIT.new/debs" "$KIT.new/resolve" "$KIT.new/root/usr/share/doc" "$KIT.new/root/usr/share/man" \
    "$KIT.new/root/usr/share/bash-completion" "$KIT.new/root/usr/share/zsh" "$KIT.new/root/usr/share/lintian"
BWRAP=$(find "$KIT.new/root" -name bwrap -type f | head -1)
[ -n "$BWRAP" ] || { echo "gather: no bwrap in the bubblewrap package" >&2; exit 1; }
"$BWRAP" --version

# 6. Manifest and sizes.
{
  echo "gathered $(date -u +%FT%TZ) by gpu/gather.sh from $(git rev-parse --short HEAD)"
  echo "bwrap: ${BWRAP#"$KIT.new/"}"
  (cd "$KIT.new/wheels" && ls -l *.whl | awk '{printf "%8.1f KiB  %s\n", $5/1024, $9}')
} > "$KIT.new/MANIFEST.txt"
rm -rf "$KIT" && mv "$KIT.new" "$KIT"

kit_mb=$(du -sm "$KIT" | cut -f1)
tree_bytes=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total_mb=$(( kit_mb + tree_bytes / 1048576 + 1 ))
echo "== kit: $(ls "$KIT/wheels" | wc -l) wheels + bubblewrap = ${kit_mb} MiB; with the working tree that travels: ~${total_mb} MiB (limit 64); $((SECONDS - start)) s"
if [ "$kit_mb" -gt "$MAX_KIT_MB" ] || [ "$total_mb" -gt "$MAX_TREE_MB" ]; then
  echo "gather: TOO LARGE: the kit is ${kit_mb} MiB (max ${MAX_KIT_MB}), kit + tree ~${total_mb} MiB (max ${MAX_TREE_MB})" >&2
  exit 1
fi

# 7. Ray, in two parts: part b rides with the kit (what is left of the call's limit), part a alone.
[ "${RAY:-1}" = 1 ] || exit 0
RAY_VERSION=$("$PY" -c "import importlib.metadata as m; print(m.version('ray'))")
echo "== ray $RAY_VERSION (cp312 wheel, in two parts)"
rm -rf .gpu-ray.new && mkdir -p .gpu-ray.new/wheel .gpu-ray.new/a .gpu-ray.new/b
"${PIP[@]}" download -q --no-deps "${TARGET[@]}" -d .gpu-ray.new/wheel "ray==$RAY_VERSION" \
    2> >(grep -v "is ignored: it is neither" >&2)
WHEEL=$(ls .gpu-ray.new/wheel/ray-*.whl)
# Without ray/jars (Java workers only): 45 MiB instead of 75, so two calls carry it.
"$PY" - "$WHEEL" <<'EOF'
import os, sys, zipfile
wheel = sys.argv[1]
with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(wheel + ".new", "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        if info.filename.startswith("ray/jars/"):
            continue
        data = src.read(info)
        if info.filename.endswith(".dist-info/RECORD"):
            data = b"".join(line for line in data.splitlines(keepends=True) if not line.startswith(b"ray/jars/"))
        dst.writestr(info, data, compress_type=info.compress_type)
os.replace(wheel + ".new", wheel)
EOF
# Every requirement of Ray itself (no extras) must be in the image or the kit: it installs --no-deps.
"$PY" gpu/kit.py --check-ray "$WHEEL" --check-kit "$KIT"
size=$(stat -c %s "$WHEEL")
room_b=$(( (MAX_TREE_MB - kit_mb) * 1048576 - tree_bytes - 1048576 ))   # what the run's call has left
room_a=$(( MAX_TREE_MB * 1048576 - tree_bytes - 1048576 ))              # the first call: the tree and part a
part_b=$(( size < room_b ? size : room_b ))
part_a=$(( size - part_b ))
if [ "$part_b" -le 0 ] || [ "$part_a" -gt "$room_a" ]; then
  echo "gather: Ray does not fit two calls: wheel $((size / 1048576)) MiB, room $((room_a / 1048576)) + $((room_b / 1048576)) MiB" >&2
  exit 1
fi
name=$(basename "$WHEEL")
head -c "$part_a" "$WHEEL" > ".gpu-ray.new/a/$name.part1"
tail -c "$part_b" "$WHEEL" > ".gpu-ray.new/b/$name.part2"
echo "$(sha256sum "$WHEEL" | cut -d' ' -f1)  $name" > .gpu-ray.new/b/RAY.sha256
rm -rf .gpu-ray.new/wheel .gpu-ray && mv .gpu-ray.new .gpu-ray
echo "== ray: $name, $((size / 1048576)) MiB: part a $((part_a / 1048576)) MiB, part b $((part_b / 1048576)) MiB"
echo "   on the device (a warm machine keeps part a for the second call):"
echo "     run(command=\"ls -l .gpu-ray/a\", carry=[\".gpu-ray/a\"], timeout_s=60)"
echo "     run(command=\"bash gpu/run.sh --steps install,facts,grading,ray\", carry=[\".gpu-kit\", \".gpu-ray/b\"], timeout_s=540)"
