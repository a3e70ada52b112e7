#!/usr/bin/env bash
# Run `streamstack db upgrade` as a one-off Fargate task with the image about to be deployed.
#
# Usage: migrate.sh <environment> <image>
#   (the root initialised with that environment's backend, AWS credentials of its deploy role set)
#
# The task runs a new revision of the migrate task definition that Terraform manages, with only the image
# changed: the network, roles, secrets and database it needs are the ones the last apply made, complete
# (execution-role policy, NAT and private routes, VPC endpoints), and Terraform's state is not touched, so
# a saved plan reviewed before this step is still the plan that is applied after it.
#
# Before the first apply of an environment nothing exists yet: the script says so, prints
# first_deploy=true (and writes it to $GITHUB_OUTPUT in CI) and exits 0; run it again after that apply.
# The services start on an empty catalog safely: /readyz checks the database answers, not its schema.
set -euo pipefail
env=${1:?usage: migrate.sh <environment> <image>}
image=${2:?usage: migrate.sh <environment> <image>}
root=$(cd "$(dirname "$0")/.." && pwd)

output() { terraform -chdir="$root" output -raw "$1" 2>/dev/null; }

first_deploy() {
  echo "$env has not been applied yet ($1): migrate after the first apply"
  echo "first_deploy=true"
  [ -n "${GITHUB_OUTPUT:-}" ] && echo "first_deploy=true" >>"$GITHUB_OUTPUT"
  exit 0
}

cluster=$(output cluster_name) || first_deploy "no cluster in the state"
family=$(output migrate_task_definition) || first_deploy "no migrate task definition in the state"
subnets=$(terraform -chdir="$root" output -json private_subnet_ids | tr -d '[] "\n')
security_group=$(output tasks_security_group_id)

# The revision Terraform made, with the new image: same roles, environment, secrets, logs and sizes.
aws ecs describe-task-definition --task-definition "$family" --query taskDefinition --output json >/tmp/migrate-task.json
revision=$(python3 - "$image" <<'EOF'
import json, sys
task = json.load(open("/tmp/migrate-task.json"))
task["containerDefinitions"][0]["image"] = sys.argv[1]
keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
        "requiresCompatibilities", "cpu", "memory", "runtimePlatform", "ephemeralStorage")
print(json.dumps({k: task[k] for k in keep if k in task}))
EOF
)
arn=$(aws ecs register-task-definition --cli-input-json "$revision" --query taskDefinition.taskDefinitionArn --output text)
echo "migration task definition: $arn ($image)"

task=$(aws ecs run-task --cluster "$cluster" --task-definition "$arn" --launch-type FARGATE \
  --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$security_group],assignPublicIp=DISABLED}" \
  --started-by "migrate-${GITHUB_SHA:-manual}" --query 'tasks[0].taskArn' --output text)
echo "migration task: $task"
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"
code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].containers[0].exitCode' --output text)
echo "migration exit code: $code"
[ "$code" = "0" ]
