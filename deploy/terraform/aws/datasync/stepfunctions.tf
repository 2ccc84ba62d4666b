# The batch workflow: the state machine exported by `skybridge datasync export-asl`, whose
# Task states invoke the step Lambda (skybridge.apps.datasync.handlers.step_handler).

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "states_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "step" {
  name               = "${var.name}-step"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "step" {
  statement {
    sid       = "BatchFiles"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.staging.arn}/*"]
  }
  statement {
    sid       = "ListBatchFiles"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.staging.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.step.arn}:*"]
  }
  statement {
    sid = "VpcNetworking"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DeleteNetworkInterface",
    ]
    # These EC2 calls take no resource-level permission for the describe; the Lambda service
    # makes them for its own interfaces in var.lambda_subnet_ids.
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "step" {
  name   = "${var.name}-step"
  role   = aws_iam_role.step.id
  policy = data.aws_iam_policy_document.step.json
}

resource "aws_cloudwatch_log_group" "step" {
  name              = "/aws/lambda/${var.name}-step"
  retention_in_days = 30
  tags              = var.tags
}

resource "aws_security_group" "step" {
  name        = "${var.name}-step"
  description = "Step Lambda: no inbound; outbound only to OCI (database TLS, streaming) and AWS APIs"
  vpc_id      = var.vpc_id
  tags        = var.tags

  egress {
    description = "Autonomous Database (TLS) over the VPN or Direct Connect"
    from_port   = 1522
    to_port     = 1522
    protocol    = "tcp"
    cidr_blocks = [var.oci_vcn_cidr]
  }

  egress {
    description = "HTTPS to AWS and OCI Object Storage endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_lambda_function" "step" {
  function_name = "${var.name}-step"
  role          = aws_iam_role.step.arn
  runtime       = "python3.12"
  handler       = "skybridge.apps.datasync.handlers.step_handler"
  filename      = var.lambda_package
  timeout       = 900
  memory_size   = 1024
  tags          = var.tags

  environment {
    variables = var.lambda_environment
  }

  vpc_config {
    subnet_ids         = var.lambda_subnet_ids
    security_group_ids = [aws_security_group.step.id]
  }

  depends_on = [aws_cloudwatch_log_group.step]
}

resource "aws_iam_role" "states" {
  name               = "${var.name}-states"
  assume_role_policy = data.aws_iam_policy_document.states_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "states" {
  statement {
    sid       = "InvokeStep"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.step.arn]
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "${var.name}-states"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}

locals {
  exported_definition = jsondecode(file(var.state_machine_file))
  # Every Task of the exported machine invokes this deployment's step function.
  definition = merge(local.exported_definition, {
    States = {
      for state_name, state in local.exported_definition.States :
      state_name => state.Type == "Task" ? merge(state, { Resource = aws_lambda_function.step.arn }) : state
    }
  })
}

resource "aws_sfn_state_machine" "batch" {
  name       = "${var.name}-${var.batch_name}"
  role_arn   = aws_iam_role.states.arn
  definition = jsonencode(local.definition)
  tags       = var.tags
}

resource "aws_cloudwatch_event_rule" "nightly" {
  name                = "${var.name}-${var.batch_name}"
  description         = "Start the batch sync every day"
  schedule_expression = "cron(15 0 * * ? *)"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "nightly" {
  rule     = aws_cloudwatch_event_rule.nightly.name
  arn      = aws_sfn_state_machine.batch.arn
  role_arn = aws_iam_role.events.arn
  input    = jsonencode({ batch = var.batch_name, batch_id = null })
}

data "aws_iam_policy_document" "events_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${var.name}-events"
  assume_role_policy = data.aws_iam_policy_document.events_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "events" {
  name = "${var.name}-events"
  role = aws_iam_role.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = [aws_sfn_state_machine.batch.arn]
    }]
  })
}
