#!/usr/bin/env bash
# Run one scenario as N Kubernetes shards, then merge and report:
#   scripts/k8s/run.sh SCENARIO.toml
# Uses the manifests in this folder (edit image, N, paths, resources there first) and the
# current kubectl context/namespace.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scenario=${1:?usage: run.sh SCENARIO.toml}
timeout=${TIMEOUT:-24h}

kubectl apply -f "$here/pvc.yaml"
kubectl create configmap tokenrisk-scenarios --from-file=scenario.toml="$scenario" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl delete job tokenrisk-shards tokenrisk-merge --ignore-not-found
kubectl apply -f "$here/shards-job.yaml"
# An Indexed Job is complete when every index has succeeded once.
kubectl wait --for=condition=complete job/tokenrisk-shards --timeout="$timeout"
kubectl apply -f "$here/merge-job.yaml"
kubectl wait --for=condition=complete job/tokenrisk-merge --timeout="$timeout"
kubectl logs job/tokenrisk-merge -c merge
