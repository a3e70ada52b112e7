provider "aws" {
  region = var.region
}

data "aws_partition" "current" {}

module "state" {
  source = "../modules/state"

  name              = var.name
  create_lock_table = var.create_lock_table
  tags              = var.tags
}

################################################################################
# GitHub Actions OIDC: no long-lived keys in CI
################################################################################

resource "aws_iam_openid_connect_provider" "github" {
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]

  tags = var.tags
}

locals {
  # Who may assume each CI role (OIDC subjects): plans run for pull requests and for main; images are
  # pushed only from main; an environment is deployed only by a job running in that GitHub environment,
  # whose deployment branches are limited to main (docs/deploy.md).
  main_branch = "repo:${var.github_repository}:ref:refs/heads/main"
  ci_subjects = merge(
    { plan = ["repo:${var.github_repository}:pull_request", local.main_branch] },
    { image = [local.main_branch] },
    { for env in var.environments : "deploy-${env}" => ["repo:${var.github_repository}:environment:${env}"] },
  )
  images = { service = var.name, lambda = "${var.name}-lambda" }

  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  # AWS managed policies the stack attaches (modules/event_processor, modules/database).
  stack_managed_policies = [
    "service-role/AWSLambdaVPCAccessExecutionRole",
    "AWSXRayDaemonWriteAccess",
    "service-role/AmazonRDSEnhancedMonitoringRole",
  ]
  service_linked_roles = [
    "ecs.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
  ]
}

data "aws_iam_policy_document" "ci_assume" {
  for_each = local.ci_subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = each.value
    }
  }
}

# Plans (pull requests, and the saved plan of a release) read everything and write nothing: they run with
# -lock=false, so they only read the state.
resource "aws_iam_role" "plan" {
  name               = "${var.name}-terraform-plan"
  assume_role_policy = data.aws_iam_policy_document.ci_assume["plan"].json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "state_read" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [module.state.bucket_arn]
  }

  statement {
    sid       = "ReadState"
    actions   = ["s3:GetObject"]
    resources = ["${module.state.bucket_arn}/*"]
  }

  statement {
    sid       = "DecryptState"
    actions   = ["kms:Decrypt"]
    resources = [module.state.kms_key_arn]
  }
}

# Deploy roles: what plans read, plus writing state and its lock files.
data "aws_iam_policy_document" "state_access" {
  source_policy_documents = [data.aws_iam_policy_document.state_read.json]

  statement {
    sid       = "WriteStateAndLocks"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${module.state.bucket_arn}/*"]
  }

  statement {
    sid       = "EncryptState"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [module.state.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "terraform-state-read"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.state_read.json
}

# One deploy role per GitHub environment: only a job running in that environment can assume it.
resource "aws_iam_role" "deploy" {
  for_each = toset(var.environments)

  name               = "${var.name}-terraform-deploy-${each.value}"
  assume_role_policy = data.aws_iam_policy_document.ci_assume["deploy-${each.value}"].json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = { for pair in setproduct(var.environments, var.deploy_policy_arns) : "${pair[0]}|${pair[1]}" => pair }

  role       = aws_iam_role.deploy[each.value[0]].name
  policy_arn = each.value[1]
}

# PowerUserAccess (or the owner's narrower policy) has no IAM. A deploy role manages only the roles of its
# own environment's stack, attaches only the AWS managed policies the stack uses, and creates only the
# service-linked roles of the services the stack runs on.
data "aws_iam_policy_document" "deploy_iam" {
  for_each = toset(var.environments)

  statement {
    sid = "ManageOwnRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies",
      "iam:PassRole",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${each.value}-${var.project}-*"]
  }

  statement {
    sid       = "AttachStackManagedPolicies"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${each.value}-${var.project}-*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [for p in local.stack_managed_policies : "arn:${local.partition}:iam::aws:policy/${p}"]
    }
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = local.service_linked_roles
    }
  }
}

resource "aws_iam_role_policy" "deploy_iam" {
  for_each = toset(var.environments)

  name   = "manage-stack-roles"
  role   = aws_iam_role.deploy[each.value].id
  policy = data.aws_iam_policy_document.deploy_iam[each.value].json
}

resource "aws_iam_role_policy" "deploy_state" {
  for_each = toset(var.environments)

  name   = "terraform-state"
  role   = aws_iam_role.deploy[each.value].id
  policy = data.aws_iam_policy_document.state_access.json
}

################################################################################
# Image repositories: the service image and its Lambda variant, tagged with the commit and promoted
# unchanged from dev to staging and prod (one account-wide pair, in this region)
################################################################################

module "images_key" {
  source = "../modules/kms_key"

  name        = "${var.name}-images"
  description = "${var.name} container images"
  tags        = var.tags
}

resource "aws_ecr_repository" "image" {
  for_each = local.images

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.images_key.arn
  }

  tags = var.tags
}

# Untagged layers of interrupted pushes go after a day; the newest images stay for rollbacks.
resource "aws_ecr_lifecycle_policy" "image" {
  for_each = local.images

  repository = aws_ecr_repository.image[each.key].name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "untagged layers of interrupted pushes"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 1 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "keep the newest images (rollbacks and promotions)"
        selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = var.images_kept }
        action       = { type = "expire" }
      },
    ]
  })
}

data "aws_caller_identity" "current" {}

# The Lambda service pulls the Lambda variant for this account's functions.
data "aws_iam_policy_document" "lambda_pulls" {
  statement {
    sid     = "LambdaPullsForThisAccount"
    actions = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "aws:sourceArn"
      values   = ["arn:${local.partition}:lambda:*:${local.account_id}:function:*"]
    }
  }
}

resource "aws_ecr_repository_policy" "lambda" {
  repository = aws_ecr_repository.image["lambda"].name
  policy     = data.aws_iam_policy_document.lambda_pulls.json
}

# CI pushes the images of main with a role that can do nothing else.
resource "aws_iam_role" "image" {
  name               = "${var.name}-image-push"
  assume_role_policy = data.aws_iam_policy_document.ci_assume["image"].json

  tags = var.tags
}

data "aws_iam_policy_document" "image_push" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }

  statement {
    sid = "PushImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [for r in aws_ecr_repository.image : r.arn]
  }
}

resource "aws_iam_role_policy" "image_push" {
  name   = "push-images"
  role   = aws_iam_role.image.id
  policy = data.aws_iam_policy_document.image_push.json
}
