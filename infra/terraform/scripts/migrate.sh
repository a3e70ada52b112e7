#!/usr/bin/env bash
# Run `streamstack db upgrade` as a one-off Fargate task with the image about to be deployed,
# before the services roll to it. Usage: migrate.sh <environment dir> (initialised, credentials set).
set -euo pipefail
env_dir=$1
mod=module.streamstack.module.api_service

# Only the migration task definition (and what it needs to run) moves to the new image first.
terraform -chdir="$env_dir" apply -input=false -auto-approve \
  -target="$mod.aws_ecs_task_definition.this[\"migrate\"]" \
  -target="$mod.aws_ecs_cluster.this" \
  -target="$mod.aws_security_group.tasks" \
  -target="$mod.aws_vpc_security_group_egress_rule.tasks_web" \
  -target="$mod.aws_vpc_security_group_egress_rule.tasks_postgres" \
  -target="module.streamstack.module.database"

out() { terraform -chdir="$env_dir" output -raw "$1"; }
cluster=$(out cluster_name)
family=$(out migrate_task_definition)
subnets=$(terraform -chdir="$env_dir" output -json private_subnet_ids | tr -d '[] "\n')
security_group=$(out tasks_security_group_id)

task=$(aws ecs run-task --cluster "$cluster" --task-definition "$family" --launch-type FARGATE \
  --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$security_group],assignPublicIp=DISABLED}" \
  --started-by "migrate-${GITHUB_SHA:-manual}" --query 'tasks[0].taskArn' --output text)
echo "migration task: $task"
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"
code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].containers[0].exitCode' --output text)
echo "migration exit code: $code"
[ "$code" = "0" ]
