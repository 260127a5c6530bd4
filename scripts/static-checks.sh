#!/usr/bin/env bash
# Static checks of the serverless deployment, without AWS:
#   1. cfn-lint template.yaml, and `sam validate --lint` (SAM's own transform and samconfig.toml);
#   2. asl-validator on every statemachine/*.asl.json, as written and with placeholder ARNs;
#   3. every ${Substitution} in the state machine definition is bound by template.yaml's
#      DefinitionSubstitutions, and every binding is used;
#   4. the EventBridge rule's pattern matches the snapshot-created events of
#      tests/fixtures/events/ (*created*.json) and no other event there; only the functions
#      that connect to the database (Plan, ExportChunk) have a VpcConfig;
#   5. the deliberately broken copies in tests/fixtures/broken/ are rejected by checks 1-4,
#      for the defects they were written with (so a checker that passes everything fails here);
#   6. `sam build` of every function, through scripts/sam-build.sh, which checks that each
#      function's bootstrap is where SAM packages it (skip with SNAPEX_SKIP_LAMBDA_BUILD=1; CI
#      runs it). It builds for x86_64: the arm64 standard library cannot be installed on the
#      build machines;
#   7. scripts/check-docs.sh: every flag the README and docs/ name is in a --help, and every
#      page of docs/ is linked from the README.
# Every check runs; the script exits non-zero if any failed.
#
# The tools are pinned and installed on first use under ~/.cache/snapex-tools
# (SNAPEX_TOOLS_DIR), nothing globally: a Python venv with the SAM CLI (and the cfn-lint it
# requires), cargo-lambda (which brings Zig) and moto (for its EventBridge pattern matcher);
# a second venv with cfn-lint 1.51, the last release that lints SAM templates by expanding
# them with SAM's own translator (from 1.54 on, cfn-lint checks SAM resources against schemas
# instead, and 1.58 misses a Ref to a missing resource in a function's environment, which
# tests/fixtures/broken/template.yaml has); and asl-validator from npm.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${SNAPEX_TOOLS_DIR:-$HOME/.cache/snapex-tools}
PY_PINS="aws-sam-cli==1.170.0 cfn-lint==1.58.0 cargo-lambda==1.9.2 moto==5.2.1"
LINT_PINS="cfn-lint==1.51.0"
NPM_PINS="asl-validator@4.0.0"
VENV=$TOOLS/venv
LINT_VENV=$TOOLS/cfn-lint-venv
CFN_LINT=$LINT_VENV/bin/cfn-lint
ASL_VALIDATOR=$TOOLS/npm/node_modules/.bin/asl-validator
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/snapex-target}
export SAM_CLI_TELEMETRY=0

failures=()
ok() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*" >&2
    failures+=("$*")
}

# --- tools -------------------------------------------------------------------------------
# venv DIR PINS: a venv at DIR holding exactly PINS, made again when PINS change.
venv() {
    local dir=$1 pins=$2
    if [[ "$(cat "$dir/.pins" 2>/dev/null)" != "$pins" ]]; then
        echo "installing $pins into $dir"
        rm -rf "$dir"
        python3 -m venv "$dir"
        # shellcheck disable=SC2086 # the pins are separate words
        "$dir/bin/pip" install --quiet --disable-pip-version-check $pins
        echo "$pins" >"$dir/.pins"
    fi
}
venv "$VENV" "$PY_PINS"
venv "$LINT_VENV" "$LINT_PINS"
if [[ "$(cat "$TOOLS/npm/.pins" 2>/dev/null)" != "$NPM_PINS" ]]; then
    echo "installing $NPM_PINS into $TOOLS/npm"
    mkdir -p "$TOOLS/npm"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/npm" "$NPM_PINS"
    echo "$NPM_PINS" >"$TOOLS/npm/.pins"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The checks that need a program of their own. It reads templates with cfn-lint's decoder,
# which understands the short forms (!Ref, !Sub, ...).
cat >"$work/helper.py" <<'PY'
import glob
import json
import os
import re
import sys

from cfnlint.decode import decode

SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def load_template(path):
    template, errors = decode(path)
    if errors:
        sys.exit(f"{path}: cannot be read: {errors}")
    return template


def state_machines(template):
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") == "AWS::Serverless::StateMachine":
            yield name, res.get("Properties", {})


def substitutions(template_path, definitions):
    """Every ${X} of each definition is bound, and every binding is used."""
    template = load_template(template_path)
    problems = []
    machines = list(state_machines(template))
    if not machines:
        problems.append(f"{template_path}: no AWS::Serverless::StateMachine")
    for name, props in machines:
        uri = props.get("DefinitionUri")
        asl = definitions.get(uri, uri) if definitions else uri
        if not isinstance(asl, str) or not os.path.isfile(asl):
            problems.append(f"{name}: DefinitionUri {uri!r} is not a file in this repository")
            continue
        with open(asl) as f:
            used = set(SUBSTITUTION.findall(f.read()))
        bound = set(props.get("DefinitionSubstitutions", {}) or {})
        for missing in sorted(used - bound):
            problems.append(f"{asl}: ${{{missing}}} is not in {name}'s DefinitionSubstitutions")
        for unused in sorted(bound - used):
            problems.append(f"{name}: DefinitionSubstitutions binds {unused}, which {asl} does not use")
    for p in problems:
        print(p)
    return 1 if problems else 0


def placeholders(asl, out):
    """A copy of the definition with each ${X} replaced by a Lambda ARN, as after deployment."""
    with open(asl) as f:
        text = f.read()
    text = SUBSTITUTION.sub(
        lambda m: f"arn:aws:lambda:us-east-1:123456789012:function:placeholder-{m.group(1)}", text
    )
    with open(out, "w") as f:
        f.write(text)
    return 0


def event_pattern(template_path, fixtures):
    """The trigger's EventBridge rule matches exactly the snapshot-created fixtures."""
    from moto.events.models import EventPattern

    template = load_template(template_path)
    patterns = []
    for name, res in template.get("Resources", {}).items():
        for ev_name, ev in (res.get("Properties", {}).get("Events") or {}).items():
            if ev.get("Type") == "EventBridgeRule":
                patterns.append((f"{name}.{ev_name}", ev["Properties"]["Pattern"]))
    if len(patterns) != 1:
        print(f"expected one EventBridgeRule event in {template_path}, found {len(patterns)}")
        return 1
    rule, pattern = patterns[0]
    matcher = EventPattern.load(json.dumps(pattern))
    files = sorted(glob.glob(os.path.join(fixtures, "*.json")))
    if not files:
        print(f"no event fixtures in {fixtures}")
        return 1
    bad = 0
    for path in files:
        with open(path) as f:
            event = json.load(f)
        want = "created" in os.path.basename(path)
        got = matcher.matches_event(event)
        verdict = "matches" if got else "does not match"
        if got != want:
            bad += 1
            print(f"{rule} {verdict} {os.path.basename(path)}, but should {'' if want else 'not '}match it")
        else:
            print(f"{rule} {verdict} {os.path.basename(path)}")
    return 1 if bad else 0


def binaries(template_path):
    """The Binary of every function SAM builds with cargo-lambda, one a line."""
    template = load_template(template_path)
    for res in template.get("Resources", {}).values():
        meta = res.get("Metadata") or {}
        if res.get("Type") == "AWS::Serverless::Function" and meta.get("BuildMethod") == "rust-cargolambda":
            print(meta["BuildProperties"]["Binary"])
    return 0


# The functions that connect to the temporary instance, by binary: only they run in the VPC.
# The others call only AWS APIs (Finalize: S3 and Glue), which they reach from outside it,
# without the VPC endpoints or NAT gateway a function inside would need.
DATABASE_CLIENTS = {"snapex-plan", "snapex-export-chunk"}


def vpc(template_path):
    """Exactly the functions that connect to the database have a VpcConfig."""
    template = load_template(template_path)
    in_vpc_by_default = "VpcConfig" in ((template.get("Globals") or {}).get("Function") or {})
    problems = []
    seen = set()
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary", name)
        seen.add(binary)
        in_vpc = in_vpc_by_default or "VpcConfig" in (res.get("Properties") or {})
        if in_vpc and binary not in DATABASE_CLIENTS:
            problems.append(f"{name} ({binary}) has a VpcConfig, but does not connect to the database")
        if not in_vpc and binary in DATABASE_CLIENTS:
            problems.append(f"{name} ({binary}) connects to the database, but has no VpcConfig")
    for binary in sorted(DATABASE_CLIENTS - seen):
        problems.append(f"no function builds {binary}")
    for p in problems:
        print(p)
    if not problems:
        print(f"in the VPC: {', '.join(sorted(DATABASE_CLIENTS))}; every other function outside it")
    return 1 if problems else 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "substitutions":
        # substitutions TEMPLATE [DEFINITION_URI=FILE ...]: FILE stands in for DEFINITION_URI.
        sys.exit(substitutions(args[0], dict(a.split("=", 1) for a in args[1:])))
    if cmd == "placeholders":
        sys.exit(placeholders(*args))
    if cmd == "event-pattern":
        sys.exit(event_pattern(*args))
    if cmd == "binaries":
        sys.exit(binaries(*args))
    if cmd == "vpc":
        sys.exit(vpc(*args))
    sys.exit(f"unknown command {cmd}")
PY
helper() { "$VENV/bin/python" "$work/helper.py" "$@"; }

# expect_failure NAME PATTERN COMMAND...: COMMAND must fail, and say PATTERN (the defect the
# fixture was written with, not some other error such as a missing file).
expect_failure() {
    local name=$1 pattern=$2
    shift 2
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if [[ $rc -eq 0 ]]; then
        fail "$name: passed, but must fail"
    elif ! grep -qE -- "$pattern" <<<"$out"; then
        printf '%s\n' "$out" >&2
        fail "$name: failed (exit $rc) without reporting /$pattern/"
    else
        ok "$name: rejected as it must be (exit $rc): $(grep -E -- "$pattern" <<<"$out" | head -n 1)"
    fi
}

# --- 1. the template ---------------------------------------------------------------------
echo "== cfn-lint $("$CFN_LINT" --version | cut -d' ' -f2) template.yaml"
if "$CFN_LINT" template.yaml; then ok "cfn-lint template.yaml"; else fail "cfn-lint template.yaml"; fi

# SAM's own validation (its translator, and samconfig.toml), then its cfn-lint (1.58).
# Offline: neither needs credentials; the region only names ARNs.
sam_validate() { "$VENV/bin/sam" validate --lint --region us-east-1 --template-file "$1"; }
echo "== sam validate --lint (cfn-lint $("$VENV/bin/cfn-lint" --version | cut -d' ' -f2))"
if sam_validate template.yaml; then ok "sam validate --lint"; else fail "sam validate --lint"; fi

# --- 2. and 3. the state machine definitions ----------------------------------------------
for asl in statemachine/*.asl.json; do
    echo "== asl-validator $asl"
    # asl-validator accepts a whole-string "${Name}" as a Task Resource (its schema allows
    # substitutions), so the file is checked as written; then once more with each
    # substitution replaced by a Lambda ARN, as deployed, so its ARN check runs too.
    if "$ASL_VALIDATOR" --json-path "$asl"; then ok "asl-validator $asl"; else fail "asl-validator $asl"; fi
    substituted="$work/$(basename "$asl" .asl.json).substituted.asl.json"
    helper placeholders "$asl" "$substituted"
    if "$ASL_VALIDATOR" --json-path "$substituted"; then
        ok "asl-validator $asl with placeholder ARNs"
    else
        fail "asl-validator $asl with placeholder ARNs"
    fi
done

echo "== DefinitionSubstitutions of template.yaml against the definitions"
if helper substitutions template.yaml; then ok "every substitution is bound and used"; else fail "substitutions"; fi

# --- 4. the EventBridge rule, and which functions run in the VPC -------------------------
echo "== the trigger's EventBridge pattern against tests/fixtures/events"
if helper event-pattern template.yaml tests/fixtures/events; then
    ok "the pattern matches exactly the snapshot-created events"
else
    fail "the EventBridge pattern"
fi

echo "== only the functions that connect to the database run in the VPC"
if helper vpc template.yaml; then ok "VpcConfig only on Plan and ExportChunk"; else fail "VpcConfig"; fi

# --- 5. the checks catch what they are for -----------------------------------------------
echo "== the broken fixtures must be rejected"
broken=tests/fixtures/broken
expect_failure "cfn-lint $broken/template.yaml (Ref to a missing resource)" \
    "E1020 'ExportStateMachin'" "$CFN_LINT" "$broken/template.yaml"
expect_failure "cfn-lint $broken/template.yaml (invalid RetentionInDays)" \
    "E3030 31 is not one of" "$CFN_LINT" "$broken/template.yaml"
expect_failure "sam validate --lint $broken/template.yaml (invalid RetentionInDays)" \
    "E3030.*31 is not one of" sam_validate "$broken/template.yaml"
expect_failure "EventBridge pattern of $broken/template.yaml (no cluster snapshots)" \
    "does not match cluster-snapshot-manual-created.json, but should match" \
    helper event-pattern "$broken/template.yaml" tests/fixtures/events
expect_failure "VpcConfig of $broken/vpc.template.yaml (Finalize in the VPC)" \
    "FinalizeFunction \(snapex-finalize\) has a VpcConfig, but does not connect" \
    helper vpc "$broken/vpc.template.yaml"
expect_failure "VpcConfig of $broken/vpc.template.yaml (ExportChunk outside the VPC)" \
    "ExportChunkFunction \(snapex-export-chunk\) connects to the database, but has no VpcConfig" \
    helper vpc "$broken/vpc.template.yaml"
expect_failure "asl-validator $broken/export.asl.json (Next to a missing state)" \
    "MISSING_TRANSITION_TARGET.*WaitForInstanc" "$ASL_VALIDATOR" --json-path "$broken/export.asl.json"
expect_failure "substitutions of $broken/export.asl.json (unbound \${ExtractFunctionArn})" \
    'ExtractFunctionArn\} is not in' \
    helper substitutions template.yaml "statemachine/export.asl.json=$broken/export.asl.json"

# --- 6. the function binaries, built as a deploy builds them ------------------------------
if [[ "${SNAPEX_SKIP_LAMBDA_BUILD:-}" == 1 ]]; then
    echo "== sam build: skipped (SNAPEX_SKIP_LAMBDA_BUILD=1)"
else
    mapfile -t bins < <(helper binaries template.yaml)
    if ((${#bins[@]} == 0)); then
        fail "template.yaml names no rust-cargolambda binary"
    fi
    # This check proves every function builds for Lambda and lands where SAM packages it; it
    # ships nothing. The release profile's thin LTO re-optimises the whole dependency graph
    # once per binary (19.6 minutes for the seven here, dependencies already built), so the
    # check builds them without LTO and with more codegen units (SAM passes the environment
    # to cargo); a deploy's `sam build` uses Cargo.toml's release profile unchanged.
    # SNAPEX_LAMBDA_CHECK_LTO=thin checks the shipped profile.
    export CARGO_PROFILE_RELEASE_LTO=${SNAPEX_LAMBDA_CHECK_LTO:-false}
    export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=${SNAPEX_LAMBDA_CHECK_CODEGEN_UNITS:-16}
    # `sam build` with samconfig.toml's parameters, its Architecture set to x86_64 (the arm64
    # standard library cannot be installed on the build machines): one `cargo lambda build
    # --release --bin <Binary>` per function into $CARGO_TARGET_DIR, then SAM's copy to
    # .aws-sam/build/<Function>/bootstrap, which the script checks for every function.
    echo "== scripts/sam-build.sh x86_64 (cargo into $CARGO_TARGET_DIR)"
    if SNAPEX_TOOLS_DIR="$TOOLS" scripts/sam-build.sh x86_64; then
        ok "sam build: every function's bootstrap in .aws-sam/build, for x86_64"
        # Where cargo-lambda wrote them (the end-to-end tests run these).
        for bin in "${bins[@]}"; do
            if [[ -f "$CARGO_TARGET_DIR/lambda/$bin/bootstrap" ]]; then
                ok "$CARGO_TARGET_DIR/lambda/$bin/bootstrap"
            else
                fail "no $CARGO_TARGET_DIR/lambda/$bin/bootstrap after the build"
            fi
        done
    else
        fail "sam build (scripts/sam-build.sh x86_64)"
    fi
fi

# --- 7. the docs name only flags that exist, and link every page --------------------------
echo "== scripts/check-docs.sh"
if scripts/check-docs.sh; then ok "docs: flags in --help, every page linked"; else fail "docs (scripts/check-docs.sh)"; fi

if ((${#failures[@]})); then
    echo "static-checks: ${#failures[@]} failed:" >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "static-checks: all passed"
