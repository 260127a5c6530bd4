#!/usr/bin/env bash
# Builds the functions the way a deploy does, with `sam build` and samconfig.toml, and checks
# that every function of template.yaml has its bootstrap where SAM packages it from:
# .aws-sam/build/<Function>/bootstrap, an ELF executable for the architecture samconfig.toml's
# parameters give `sam build`.
#
#   scripts/sam-build.sh           the Architecture samconfig.toml names (arm64 as shipped)
#   scripts/sam-build.sh x86_64    the same, from a copy of samconfig.toml whose Architecture is
#                                  x86_64 (for machines that cannot build arm64, such as CI)
#
# Where the binaries go. SAM CLI 1.170's rust-cargolambda build (aws-lambda-builders 1.67) runs
# `cargo lambda build --release --bin <Binary>` (`--arm64` for arm64) in the function's CodeUri,
# the workspace root, then copies `<target dir>/lambda/<Binary>/bootstrap`, where the target
# dir is the one `cargo metadata` reports: $CARGO_TARGET_DIR when it is set (the build is left
# to follow it), else the workspace's ./target. So the copy follows cargo-lambda wherever the
# build goes. Older SAM CLIs copied from `<CodeUri>/target/lambda` whatever CARGO_TARGET_DIR
# said, which is why this script uses the SAM CLI pinned by scripts/static-checks.sh (in
# ~/.cache/snapex-tools, installed by its first run) when it is there.
#
# The environment reaches cargo (SAM passes it through): scripts/static-checks.sh sets
# CARGO_PROFILE_RELEASE_LTO=false and CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 to build faster
# than the shipped release profile; a deploy leaves them unset.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${SNAPEX_TOOLS_DIR:-$HOME/.cache/snapex-tools}
python=python3
if [[ -x "$TOOLS/venv/bin/sam" ]]; then
    # cargo-lambda and the Zig it uses come from the same venv, and PyYAML for the check.
    export PATH="$TOOLS/venv/bin:$PATH"
    python=$TOOLS/venv/bin/python
fi
command -v sam >/dev/null || { echo "sam-build: no sam (run scripts/static-checks.sh once, or pip install aws-sam-cli)" >&2; exit 1; }
command -v cargo-lambda >/dev/null || { echo "sam-build: no cargo-lambda (pip install cargo-lambda)" >&2; exit 1; }
export SAM_CLI_TELEMETRY=0

config=samconfig.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if (($# > 0)); then
    arch=$1
    [[ "$arch" == arm64 || "$arch" == x86_64 ]] || { echo "sam-build: $arch: arm64 or x86_64" >&2; exit 2; }
    grep -q '"Architecture=' samconfig.toml || { echo "sam-build: samconfig.toml sets no Architecture" >&2; exit 1; }
    # The parameter stays where samconfig.toml puts it, so this also checks that it reaches
    # `sam build` from there.
    sed -E "s/\"Architecture=[a-z0-9_]+\"/\"Architecture=$arch\"/" samconfig.toml >"$work/samconfig.toml"
    config=$work/samconfig.toml
fi

# A bootstrap left by an earlier build must not pass for this one's.
rm -rf .aws-sam/build
echo "== sam build --config-file $config (CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-unset})"
started=$SECONDS
sam build --config-file "$(realpath "$config")"
echo "sam build took $((SECONDS - started)) s"

# Each function's bootstrap, for the architecture the build was given.
"$python" - template.yaml "$config" <<'PY'
import os
import re
import sys

import yaml

template_path, config_path = sys.argv[1], sys.argv[2]


class Loader(yaml.SafeLoader):
    pass


# The short forms (!Ref, !Sub, ...) as plain values: only names and Metadata are read here.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
with open(template_path) as f:
    template = yaml.load(f, Loader=Loader)
with open(config_path) as f:
    found = re.findall(r'"Architecture=([a-z0-9_]+)"', f.read())
arch = found[0] if found else template["Parameters"]["Architecture"]["Default"]
machine = {"x86_64": 0x3E, "arm64": 0xB7}[arch]

functions = [
    name
    for name, res in template["Resources"].items()
    if res.get("Type") == "AWS::Serverless::Function"
    and (res.get("Metadata") or {}).get("BuildMethod") == "rust-cargolambda"
]
bad = 0 if functions else 1
for name in functions:
    path = os.path.join(".aws-sam", "build", name, "bootstrap")
    if not os.path.isfile(path):
        print(f"FAIL: no {path}")
        bad += 1
        continue
    with open(path, "rb") as f:
        head = f.read(20)
    got = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None
    if got != machine or not os.access(path, os.X_OK):
        print(f"FAIL: {path} is not an {arch} executable (ELF machine {got})")
        bad += 1
    else:
        print(f"ok: {path} ({arch}, {os.path.getsize(path)} bytes)")
sys.exit(1 if bad else 0)
PY
