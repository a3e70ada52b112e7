#!/usr/bin/env bash
# After an apply: wait until every ECS service is stable, then check that each one runs the task
# definition this apply registered. A deployment the circuit breaker rolled back also ends "stable"
# (on the previous revision), so stability alone would report a failed release as a success.
# Usage: wait-stable.sh (the root initialised with the environment's backend, credentials set).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cluster=$(terraform -chdir="$root" output -raw cluster_name)
terraform -chdir="$root" output -json service_task_definitions >/tmp/service-task-definitions.json
mapfile -t services < <(python3 -c 'import json; print("\n".join(json.load(open("/tmp/service-task-definitions.json"))))')

aws ecs wait services-stable --cluster "$cluster" --services "${services[@]}"

status=0
for service in "${services[@]}"; do
  expected=$(python3 -c 'import json, sys; print(json.load(open("/tmp/service-task-definitions.json"))[sys.argv[1]])' "$service")
  read -r running rollout < <(aws ecs describe-services --cluster "$cluster" --services "$service" \
    --query 'services[0].deployments[?status==`PRIMARY`] | [0].[taskDefinition, rolloutState]' --output text)
  echo "$service: $running ($rollout)"
  if [ "$running" != "$expected" ] || [ "$rollout" != "COMPLETED" ]; then
    echo "::error::$service runs $running ($rollout), not $expected: the deployment failed or was rolled back"
    status=1
  fi
done
exit $status
