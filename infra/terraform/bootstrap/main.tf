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
  # Who may assume each CI role: the OIDC subject of pull requests, or of a job in one GitHub environment.
  ci_subjects = merge(
    { plan = "repo:${var.github_repository}:pull_request" },
    { for env in var.environments : "deploy-${env}" => "repo:${var.github_repository}:environment:${env}" },
  )
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
      values   = [each.value]
    }
  }
}

# Pull requests plan with read-only access plus the state bucket (locks are objects in it).
resource "aws_iam_role" "plan" {
  name               = "${var.name}-terraform-plan"
  assume_role_policy = data.aws_iam_policy_document.ci_assume["plan"].json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "state_access" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [module.state.bucket_arn]
  }

  statement {
    sid       = "ReadWriteStateAndLocks"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${module.state.bucket_arn}/*"]
  }

  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [module.state.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "terraform-state"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.state_access.json
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

resource "aws_iam_role_policy" "deploy_state" {
  for_each = toset(var.environments)

  name   = "terraform-state"
  role   = aws_iam_role.deploy[each.value].id
  policy = data.aws_iam_policy_document.state_access.json
}
