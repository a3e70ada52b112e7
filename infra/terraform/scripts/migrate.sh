#!/usr/bin/env bash
# Run `streamstack db upgrade` as a one-off Fargate task with the image about to be deployed,
# before the services roll to it. Usage: migrate.sh <environment> (the root initialised with that
# environment's backend, credentials set, TF_VAR_container_image and TF_VAR_lambda_package exported).
set -euo pipefail
env=$1
root=$(cd "$(dirname "$0")/.." && pwd)
tf() { terraform -chdir="$root" "$@"; }
var_files=(-var-file="environments/$env/terraform.tfvars")
[ -f "$root/environments/$env/account.tfvars" ] && var_files+=(-var-file="environments/$env/account.tfvars")

# Only the migration task definition (and what it needs to run) moves to the new image first.
tf apply -input=false -auto-approve "${var_files[@]}" \
  -target='module.api_service.aws_ecs_task_definition.this["migrate"]' \
  -target=module.api_service.aws_ecs_cluster.this \
  -target=module.api_service.aws_security_group.tasks \
  -target=module.api_service.aws_vpc_security_group_egress_rule.tasks_web \
  -target=module.api_service.aws_vpc_security_group_egress_rule.tasks_postgres \
  -target=module.database

out() { tf output -raw "$1"; }
cluster=$(out cluster_name)
family=$(out migrate_task_definition)
subnets=$(tf output -json private_subnet_ids | tr -d '[] "\n')
security_group=$(out tasks_security_group_id)

task=$(aws ecs run-task --cluster "$cluster" --task-definition "$family" --launch-type FARGATE \
  --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$security_group],assignPublicIp=DISABLED}" \
  --started-by "migrate-${GITHUB_SHA:-manual}" --query 'tasks[0].taskArn' --output text)
echo "migration task: $task"
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"
code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].containers[0].exitCode' --output text)
echo "migration exit code: $code"
[ "$code" = "0" ]
