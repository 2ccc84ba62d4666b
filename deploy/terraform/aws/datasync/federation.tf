# SAML federation through the identity provider OCI also trusts: its users assume one role
# that can run and watch the batch sync, and nothing else.

resource "aws_iam_saml_provider" "idp" {
  name                   = "${var.name}-idp"
  saml_metadata_document = var.saml_metadata_xml
  tags                   = var.tags
}

data "aws_iam_policy_document" "saml_trust" {
  statement {
    actions = ["sts:AssumeRoleWithSAML"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_saml_provider.idp.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "SAML:aud"
      values   = ["https://signin.aws.amazon.com/saml"]
    }
  }
}

resource "aws_iam_role" "operators" {
  name                 = "${var.name}-operators"
  assume_role_policy   = data.aws_iam_policy_document.saml_trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "operators" {
  statement {
    sid       = "RunBatchSync"
    actions   = ["states:StartExecution", "states:DescribeStateMachine", "states:ListExecutions"]
    resources = [aws_sfn_state_machine.batch.arn]
  }
  statement {
    sid       = "WatchExecutions"
    actions   = ["states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"]
    resources = ["arn:aws:states:*:*:execution:${aws_sfn_state_machine.batch.name}:*"]
  }
  statement {
    sid       = "ReadStaging"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.staging.arn}/*"]
  }
}

resource "aws_iam_role_policy" "operators" {
  name   = "${var.name}-operators"
  role   = aws_iam_role.operators.id
  policy = data.aws_iam_policy_document.operators.json
}
