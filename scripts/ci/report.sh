#!/usr/bin/env bash
# Report a CI result to Capstan as a GitLab "Pipeline Hook" delivery.
#
#   scripts/ci/report.sh success|failure
#
# Environment:
#   DEKSDENFLOW_API_BASE          API base URL (default http://localhost:8000)
#   DEKSDENFLOW_WEBHOOK_TOKEN     webhook secret, sent as X-Gitlab-Token (needed when the API has one)
#   DEKSDENFLOW_API_TOKEN         API bearer token, sent too (webhooks do not need it)
#   DEKSDENFLOW_PROTOCOL_RUN_ID   protocol run to report to; without it the run is found by branch
#   DEKSDENFLOW_DELIVERY_ID       delivery id (X-Gitlab-Event-UUID); default derived from the CI job
#   DEKSDENFLOW_CI_RETRIES        curl retries on timeouts and 408/429/5xx answers (default 3)
#   DEKSDENFLOW_CI_TIMEOUT        seconds per attempt (default 30)
# The branch is the first set of CI_COMMIT_REF_NAME, GITHUB_HEAD_REF, GITHUB_REF_NAME.
#
# Exit status: 0 when the API answered 2xx, 1 when it answered otherwise or could not be reached,
# 2 on a usage error.

set -eu

me="report.sh"

usage() {
    echo "usage: $me success|failure" >&2
    echo "  env: DEKSDENFLOW_API_BASE, DEKSDENFLOW_WEBHOOK_TOKEN, DEKSDENFLOW_API_TOKEN," >&2
    echo "       DEKSDENFLOW_PROTOCOL_RUN_ID (see the top of this script)" >&2
}

if [ $# -ne 1 ]; then
    usage
    exit 2
fi
case "$1" in
    success) status="success" ;;
    failure) status="failed" ;;   # GitLab's word for a failed pipeline
    -h|--help) usage; exit 0 ;;
    *) echo "$me: unknown result '$1'" >&2; usage; exit 2 ;;
esac

base="${DEKSDENFLOW_API_BASE:-http://localhost:8000}"
base="${base%/}"
url="$base/webhooks/gitlab"
run_id="${DEKSDENFLOW_PROTOCOL_RUN_ID:-}"
if [ -n "$run_id" ]; then
    case "$run_id" in
        *[!0-9]*) echo "$me: DEKSDENFLOW_PROTOCOL_RUN_ID must be a number, got '$run_id'" >&2; exit 2 ;;
    esac
    url="$url?protocol_run_id=$run_id"
fi
retries="${DEKSDENFLOW_CI_RETRIES:-3}"
timeout="${DEKSDENFLOW_CI_TIMEOUT:-30}"
branch="${CI_COMMIT_REF_NAME:-${GITHUB_HEAD_REF:-${GITHUB_REF_NAME:-}}}"

# A delivery id per CI job and result: a retried report is recorded and acted on once.
delivery="${DEKSDENFLOW_DELIVERY_ID:-}"
if [ -z "$delivery" ]; then
    if [ -n "${CI_JOB_ID:-}" ]; then
        delivery="ci-gitlab-${CI_PROJECT_ID:-0}-${CI_JOB_ID}-$1"
    elif [ -n "${GITHUB_RUN_ID:-}" ]; then
        delivery="ci-github-${GITHUB_REPOSITORY:-repo}-${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT:-1}-${GITHUB_JOB:-job}-$1"
    else
        delivery="ci-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    fi
fi

json_string() {  # a JSON string literal, or null for an empty value
    if [ -z "$1" ]; then
        printf 'null'
    else
        printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037')"
    fi
}

body=$(printf '{"object_kind":"pipeline","object_attributes":{"status":"%s","ref":%s,"source":"capstan-ci-report"}}' \
    "$status" "$(json_string "$branch")")

# Secrets go to curl on stdin, not on its command line (where `ps` would show them).
headers() {
    printf 'Content-Type: application/json\n'
    printf 'X-Gitlab-Event: Pipeline Hook\n'
    printf 'X-Gitlab-Event-UUID: %s\n' "$delivery"
    if [ -n "${DEKSDENFLOW_WEBHOOK_TOKEN:-}" ]; then
        printf 'X-Gitlab-Token: %s\n' "$DEKSDENFLOW_WEBHOOK_TOKEN"
    fi
    if [ -n "${DEKSDENFLOW_API_TOKEN:-}" ]; then
        printf 'Authorization: Bearer %s\n' "$DEKSDENFLOW_API_TOKEN"
    fi
}

answer_file=$(mktemp)
trap 'rm -f "$answer_file"' EXIT

if ! code=$(headers | curl --silent --show-error --request POST --header @- --data-binary "$body" \
        --output "$answer_file" --write-out '%{http_code}' \
        --retry "$retries" --max-time "$timeout" "$url"); then
    echo "$me: could not reach $url (is DEKSDENFLOW_API_BASE right?)" >&2
    exit 1
fi

answer=$(cat "$answer_file")
if [ -n "$run_id" ]; then target="protocol run $run_id"; else target="branch '$branch'"; fi
case "$code" in
    2??)
        echo "$me: reported $1 for $target (delivery $delivery): HTTP $code $answer"
        ;;
    401)
        echo "$me: HTTP 401 from $url: the webhook token was refused (check DEKSDENFLOW_WEBHOOK_TOKEN): $answer" >&2
        exit 1
        ;;
    404)
        echo "$me: HTTP 404 from $url: no $target is known to Capstan: $answer" >&2
        exit 1
        ;;
    *)
        echo "$me: HTTP $code from $url: $answer" >&2
        exit 1
        ;;
esac
