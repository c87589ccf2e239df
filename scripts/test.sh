#!/usr/bin/env bash
# Install (idempotent), then run
#   1. python -m pytest tests          unit tests, notebook/source consistency, book render
#   2. python -m pytest --nbval ...    strict nbval: re-execute chapters/*.ipynb and compare
#                                      every output with the committed reference, twice: as
#                                      the machine is, and with reduced vector dispatch
# and print a summary.  Exits non-zero if anything failed or if no test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh || { echo "test.sh: install failed"; exit 1; }

PY="${PYTHON:-$(command -v python || command -v python3)}"
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
start=$(date +%s)

# counts <log>: "passed failed" from pytest's closing line (errors count as failed)
counts() {
    local line p f e
    line=$(grep -E '^=+ .* in [0-9.]+s' "$1" | tail -n 1)
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || true)
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || true)
    e=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || true)
    echo "${p:-0} $(( ${f:-0} + ${e:-0} ))"
}

failed_steps=()
total_pass=0
total_fail=0
ran_any=0

run_step() {  # run_step <name> <cmd...>
    local name=$1; shift
    local log="$logdir/$name.log"
    echo
    echo "=== test.sh: $name: $*"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    read -r p f < <(counts "$log")
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$rc" -eq 5 ]; then
        echo "=== test.sh: $name: no tests collected"
    elif [ "$rc" -ne 0 ]; then
        failed_steps+=("$name (exit $rc)")
        ran_any=1
    else
        ran_any=1
    fi
}

# The package's layers (problem -> gaussian -> data -> engines | theory -> analysis -> experiments
# -> io -> sweeps | plotting | report -> cli) are an import-linter contract in pyproject.toml.
echo
echo "=== test.sh: import layers: lint-imports"
if command -v lint-imports >/dev/null; then
    if lint-imports; then
        total_pass=$((total_pass + 1))
    else
        failed_steps+=("lint-imports")
        total_fail=$((total_fail + 1))
    fi
    ran_any=1
else
    failed_steps+=("lint-imports (not installed)")
fi

run_step unit-and-render "$PY" -m pytest tests

shopt -s nullglob
chapters_sorted=(chapters/*.ipynb)
shopt -u nullglob
# Both passes run their chapters last-to-first, roughly heaviest first (06, 05, 04, 03).  Measured:
# the order alone changed nothing (native pass 1212 s alphabetically, 1213 s reversed); what
# shortens the command is less work in the reduced pass (scripts/reduced-dispatch.chapters).
notebooks=()
for ((i = ${#chapters_sorted[@]} - 1; i >= 0; i--)); do notebooks+=("${chapters_sorted[i]}"); done
if [ ${#notebooks[@]} -gt 0 ]; then
    # The chapters write figures; during the tests they go to a scratch directory, so that the
    # test command never modifies tracked files.
    export TWOLAYER_FIGURES="$logdir/figures"
    nbval=("$PY" -m pytest --nbval --nbval-current-env -p no:cacheprovider
           --nbval-sanitize-with tests/nbval_sanitize.cfg "${notebooks[@]}")
    reduced=()
    while IFS= read -r line; do
        [[ -z "$line" || "$line" == \#* ]] && continue
        reduced+=("$line")
    done < scripts/reduced-dispatch.env
    # The two passes run at the same time (each in its own figures directory): a chapter spends
    # much of its time in serial Python between its parallel sweeps, so two passes side by side
    # keep both cores busy.  Their logs are printed one after the other when both are done.
    # 1. as the machine is
    # 2. with reduced vector dispatch (scripts/reduced-dispatch.env): every printed number must
    #    be the same, the references may not depend on the CPU's vector units or BLAS kernel
    ( export TWOLAYER_FIGURES="$logdir/figures-native"
      "${nbval[@]}" > "$logdir/nbval-native.out" 2>&1; echo $? > "$logdir/nbval-native.rc" ) &
    pid_native=$!
    #    The chapters listed in scripts/reduced-dispatch.chapters only (last to first): the others
    #    (01, 03, 05, 06: two thirds of the run time) do not fit the CI budget a second time; they
    #    are checked by the native pass.
    reduced_nb=()
    while IFS= read -r line; do
        [[ -z "$line" || "$line" == \#* ]] && continue
        reduced_nb=("chapters/$line" "${reduced_nb[@]}")
    done < scripts/reduced-dispatch.chapters
    nbval_reduced=("$PY" -m pytest --nbval --nbval-current-env -p no:cacheprovider
                   --nbval-sanitize-with tests/nbval_sanitize.cfg "${reduced_nb[@]}")
    ( export TWOLAYER_FIGURES="$logdir/figures-reduced"
      env "${reduced[@]}" "${nbval_reduced[@]}" > "$logdir/nbval-reduced.out" 2>&1; echo $? > "$logdir/nbval-reduced.rc" ) &
    pid_reduced=$!
    t0=$(date +%s)
    while kill -0 "$pid_native" 2>/dev/null || kill -0 "$pid_reduced" 2>/dev/null; do
        sleep 30
        echo "=== test.sh: nbval (native and reduced dispatch) running, $(( $(date +%s) - t0 )) s"
    done
    wait "$pid_native" "$pid_reduced"
    for name in native reduced; do
        step="nbval-$name"
        [ "$name" = reduced ] && step="nbval-reduced-dispatch"
        run_step "$step" bash -c "cat '$logdir/nbval-$name.out'; exit \$(cat '$logdir/nbval-$name.rc')"
    done
else
    echo "=== test.sh: nbval: no chapters/*.ipynb"
fi

end=$(date +%s)
echo
echo "=== test.sh summary ($((end - start)) s)"
if [ "$ran_any" -eq 0 ]; then
    echo "test.sh: FAILED: no test ran"
    exit 1
fi
if [ ${#failed_steps[@]} -gt 0 ]; then
    echo "failed steps: ${failed_steps[*]}"
    echo "summary: $total_pass passed, $total_fail failed"
    exit 1
fi
echo "summary: $total_pass passed, $total_fail failed"
