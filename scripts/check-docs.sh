#!/usr/bin/env bash
# Checks that the documentation names only what exists:
#   1. every `--flag` in README.md and docs/*.md is in the `--help` of a snapex subcommand (or of
#      `snapex-glue register`, when that binary is built), or is one of the other tools' flags
#      listed below (the AWS CLI, SAM, cargo, the mariadb client), which the docs show in
#      commands to run;
#   2. every page of docs/ is linked from README.md, and every relative link to a .md page
#      points at a file that exists and, with a #fragment, at one of its headings;
#   3. every path of this repository the docs name in backquotes (`shared/src/plan/mod.rs`) exists.
# Builds snapex-glue (for `register --help`) and needs the snapex binary: ${CARGO_TARGET_DIR:-target}/debug/snapex if it is there and newer
# than every source of it, else `cargo run -q -p snapex --` (which builds it first). Exits non-zero, naming each problem, if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
if [[ -x "$target/debug/snapex" && -z "$(find shared/src shared/Cargo.toml -newer "$target/debug/snapex" -print -quit)" ]]; then
    snapex=("$target/debug/snapex")
else
    snapex=(cargo run -q -p snapex --)
fi

# The flags of other tools that the docs use in commands: the AWS CLI's, SAM's, cargo's
# (and cargo-lambda's), the mariadb client's.
other_flags="
--cli-input-json --database-input --database-name --db-cluster-identifier
--db-cluster-snapshot-identifier --db-instance-identifier --db-snapshot-identifier
--execution-arn --follow --format --input --map-run-arn --max-results --name --output
--profile --query --queue-url --region --stack-name --state-machine-arn --table-input
--guided --lint --parameter-overrides
--arm64 --bin --check --release
--quick
"

# A flag is `--` and a lowercase name, not preceded by a word character or `-` (so `a--b` and
# `---` are not flags).
flags_in() { grep -ohE '(^|[^A-Za-z0-9_-])--[a-z][a-z0-9-]*' "$@" | grep -oE -- '--[a-z0-9-]+' | sort -u; }

help_text=$(
    "${snapex[@]}" --help
    for sub in $("${snapex[@]}" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} /^$/{on=0}'); do
        [[ "$sub" == help ]] || "${snapex[@]}" "$sub" --help
    done
    # Built here, not taken as found: a stale binary lacks the flags the docs describe.
    cargo run -q -p snapex-glue --bin snapex-glue -- register --help
)
known=$( (printf '%s\n' "$help_text" | flags_in -; tr ' ' '\n' <<<"$other_flags") | grep . | sort -u)

failed=0
docs=(README.md docs/*.md)
for flag in $(flags_in "${docs[@]}"); do
    if ! grep -qxF -- "$flag" <<<"$known"; then
        echo "FAIL: $flag is in no --help:" >&2
        grep -nE -- "(^|[^A-Za-z0-9_-])$flag([^a-z0-9-]|$)" "${docs[@]}" | sed 's/^/  /' >&2
        failed=1
    fi
done

for page in docs/*.md; do
    if ! grep -qF "]($page" README.md; then
        echo "FAIL: README.md does not link $page" >&2
        failed=1
    fi
done
# anchors FILE: the anchors of FILE's headings, as GitHub makes them (outside code blocks).
anchors() {
    awk '/^```/{code=!code} !code && /^#+ /' "$1" | sed -E 's/^#+ //' | tr 'A-Z' 'a-z' |
        sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}
for file in "${docs[@]}"; do
    dir=$(dirname "$file")
    for link in $(grep -oE '\]\([^):# ]*(\.md)?(#[^) ]*)?\)' "$file" | sed 's/^](//; s/)$//'); do
        page=${link%%#*}
        [[ "$page" == *.md || -z "$page" ]] || continue
        [[ -n "$page" ]] && target=$dir/$page || target=$file
        if [[ ! -f "$target" ]]; then
            echo "FAIL: $file links $link, and $target does not exist" >&2
            failed=1
        elif [[ "$link" == *#* ]] && ! anchors "$target" | grep -qxF -- "${link#*#}"; then
            echo "FAIL: $file links $link, and $target has no such heading" >&2
            failed=1
        fi
    done
done

# Every file of this repository the docs name in backquotes exists.
for path in $(grep -ohE '`(shared|tests|functions|scripts|bench|statemachine|docs|\.ci)/[A-Za-z0-9_./-]+`' "${docs[@]}" | tr -d '`' | sort -u); do
    if [[ ! -e "$path" ]]; then
        echo "FAIL: the docs name $path, which does not exist:" >&2
        grep -nF -- "\`$path\`" "${docs[@]}" | sed 's/^/  /' >&2
        failed=1
    fi
done

if ((failed)); then
    exit 1
fi
echo "check-docs: every flag is in a --help, every page is linked, every named file exists"
