# secretsync on AWS: Secret Label Updated (AWSCURRENT) -> EventBridge rule -> SQS -> Lambda,
# with an SQS dead-letter queue, an hourly reconcile from EventBridge Scheduler, and IAM
# scoped to the mapped secrets. The Lambda reports partial batch failures, so only the
# messages that failed transiently are redelivered; poison events go to the app's own
# dead letters (in the DynamoDB state table) with their reason.

locals {
  state_url        = "dynamodb://${aws_dynamodb_table.state.name}"
  read_secret_arns = compact(concat(var.source_secret_arns, [var.oci_credentials_secret_arn]))
}

data "aws_region" "current" {}

# ---------------------------------------------------------------- state (kv)
resource "aws_dynamodb_table" "state" {
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "ns"
  range_key    = "k"

  attribute {
    name = "ns"
    type = "S"
  }
  attribute {
    name = "k"
    type = "S"
  }
  ttl {
    attribute_name = "ttl"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  tags = var.tags
}

# ---------------------------------------------------------------- queues
resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = 1209600 # 14 days
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  name                       = "${var.name}-events"
  visibility_timeout_seconds = var.lambda_timeout_seconds * 6
  message_retention_seconds  = 345600 # 4 days
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.events.arn]
  })
}

data "aws_iam_policy_document" "events_to_sqs" {
  for_each = {
    events = aws_sqs_queue.events.arn
    dlq    = aws_sqs_queue.dlq.arn
  }
  statement {
    sid       = "EventBridgeSend"
    actions   = ["sqs:SendMessage"]
    resources = [each.value]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.label_updated.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.events_to_sqs["events"].json
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.events_to_sqs["dlq"].json
}

# ---------------------------------------------------------------- event rule
resource "aws_cloudwatch_event_rule" "label_updated" {
  name        = "${var.name}-label-updated"
  description = "AWSCURRENT moved on a mapped secret (native event, no CloudTrail trail needed)."
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["Secret Label Updated"]
    resources     = var.source_secret_arns
    detail = {
      labelUpdated = ["AWSCURRENT"]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "to_queue" {
  rule      = aws_cloudwatch_event_rule.label_updated.name
  target_id = "secretsync-events"
  arn       = aws_sqs_queue.events.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }
  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}
