#!/usr/bin/env bash
# Submit gzbcat's whole pipeline to Slurm in one command, against one PostgreSQL database.
#
#   1. two job arrays of workers: `aggregate` and `best-individual` (they run side by side);
#   2. two `tune` arrays, one per source model, each starting only when its source stage's
#      array finished with every unit done (--dependency=afterok);
#   3. one `gzbcat export` job once both tune arrays succeeded.
#
# Every array task runs scripts/slurm/workers.sbatch: one gzbcat process with as many worker
# processes as the task has CPUs, all tasks draining the same queue in the database. A stage
# exits 1 when any of its units failed, which fails its array and cancels the jobs that depend
# on it (see `gzbcat status` for the reasons, fix, and submit again). Submitting again is
# always safe: done units are skipped, interrupted ones are done again.
#
# Usage: scripts/slurm/pipeline.sh [OPTIONS] [-- SBATCH_OPTION …]
#   --db URL              the PostgreSQL database (default: $GZBCAT_DATABASE_URL); it must
#                         hold the ingested subjects and classifications (gzbcat ingest …)
#   --array-size N        tasks per job array (default 10)
#   --cpus-per-task C     CPUs of each task = its worker processes (default 4)
#   --method M            corrected (default) or reference
#   --out FILE            the catalogue the export job writes (default gzbcat-catalogue.fits)
#   --logs DIR            folder for the jobs' logs (default slurm-logs)
#   --export-after ok|any export only when every unit of every stage succeeded (ok, default),
#                         or once the tune arrays ended whatever happened (any)
#   -- …                  everything after -- goes to every sbatch call, e.g.
#                         -- --partition=compute --account=myproject --time=02:00:00
# sbatch's own environment variables (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT …)
# apply too. Jobs inherit this shell's environment (GZBCAT_VENV, GZBCAT_COMMAND: see
# workers.sbatch). Prints one line per job: its name and Slurm job id.

set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
JOB_SCRIPT="$HERE/workers.sbatch"

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

fail() {
    echo "error: $*" >&2
    exit 2
}

db="${GZBCAT_DATABASE_URL:-}"
array_size=10
cpus_per_task=4
method=corrected
out=gzbcat-catalogue.fits
logs=slurm-logs
export_after=ok
while [ "$#" -gt 0 ]; do
    case "$1" in
        --db) db="${2:?--db needs a URL}"; shift 2 ;;
        --array-size) array_size="${2:?}"; shift 2 ;;
        --cpus-per-task) cpus_per_task="${2:?}"; shift 2 ;;
        --method) method="${2:?}"; shift 2 ;;
        --out) out="${2:?}"; shift 2 ;;
        --logs) logs="${2:?}"; shift 2 ;;
        --export-after) export_after="${2:?}"; shift 2 ;;
        -h | --help) usage ;;
        --) shift; break ;;
        *) fail "unknown option $1 (see --help)" ;;
    esac
done
sbatch_options=("$@")

case "$db" in
    postgresql*://* | postgres://*) ;;
    "") fail "no database: pass --db URL or set GZBCAT_DATABASE_URL" ;;
    *) fail "workers on many nodes need a PostgreSQL database, not ${db%%:*}" ;;
esac
[[ "$array_size" =~ ^[1-9][0-9]*$ ]] || fail "--array-size must be a positive whole number"
[[ "$cpus_per_task" =~ ^[1-9][0-9]*$ ]] || fail "--cpus-per-task must be a positive whole number"
case "$method" in corrected | reference) ;; *) fail "--method must be corrected or reference" ;; esac
case "$export_after" in
    ok) export_dependency=afterok ;;
    any) export_dependency=afterany ;;
    *) fail "--export-after must be ok or any" ;;
esac
command -v sbatch >/dev/null || fail "sbatch not found: run this where Slurm jobs are submitted"

export GZBCAT_DATABASE_URL="$db"
read -r -a gzbcat <<<"${GZBCAT_COMMAND:-gzbcat}"
# Fail here, not in every job, when the database cannot be reached or has no schema.
"${gzbcat[@]}" status >/dev/null || fail "gzbcat status failed on the database (see above)"
mkdir -p "$logs"
out="$(realpath -m "$out")"

submit() {
    # submit NAME [SBATCH_OPTION …] -- GZBCAT_ARGUMENT …: submit one job (or array), print its
    # name and id, and keep the id in JOB_ID.
    local name="$1" options=()
    shift
    while [ "$1" != "--" ]; do
        options+=("$1")
        shift
    done
    shift
    JOB_ID="$(sbatch --parsable --job-name="gzbcat-$name" "${options[@]}" \
        "${sbatch_options[@]}" "$JOB_SCRIPT" "$@")"
    JOB_ID="${JOB_ID%%;*}" # --parsable prints id[;cluster]
    printf '%-22s %s\n' "$name" "$JOB_ID"
}

array=(--array="0-$((array_size - 1))" --cpus-per-task="$cpus_per_task"
    --output="$logs/%x-%A_%a.log")
# A job whose dependency can no longer be met is cancelled instead of pending for ever.
after=(--kill-on-invalid-dep=yes --dependency)

submit aggregate "${array[@]}" -- aggregate --method "$method"
aggregate=$JOB_ID
submit best-individual "${array[@]}" -- best-individual --method "$method"
best_individual=$JOB_ID
submit tune-aggregate "${array[@]}" "${after[@]}" "afterok:$aggregate" \
    -- tune --source aggregate --method "$method"
tune_aggregate=$JOB_ID
submit tune-best-individual "${array[@]}" "${after[@]}" "afterok:$best_individual" \
    -- tune --source best-individual --method "$method"
tune_best_individual=$JOB_ID
submit export --cpus-per-task=1 --output="$logs/%x-%j.log" \
    "${after[@]}" "$export_dependency:$tune_aggregate:$tune_best_individual" -- export "$out"
