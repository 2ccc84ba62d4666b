# ---------------------------------------------------------------- function
resource "aws_cloudwatch_log_group" "fn" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "sync" {
  function_name    = var.name
  role             = aws_iam_role.fn.arn
  runtime          = var.lambda_runtime
  handler          = "skybridge.apps.secretsync.handlers.lambda_handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  timeout          = var.lambda_timeout_seconds
  memory_size      = 512
  # One writer per mapping is also enforced by a lease in the state table; keeping the
  # concurrency small bounds the write rate against both services' quotas.
  reserved_concurrent_executions = 5

  environment {
    variables = {
      SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE = var.mapping_table
      SKYBRIDGE__SECRETSYNC__STATE           = local.state_url
      # No event stream here (SQS carries the events): dead letters go to the state table.
      SKYBRIDGE__SECRETSYNC__DEAD_LETTERS = "kv"
      SKYBRIDGE__LOG__LEVEL               = "INFO"
    }
  }

  depends_on = [aws_cloudwatch_log_group.fn, aws_iam_role_policy.fn]
  tags       = var.tags
}

resource "aws_lambda_event_source_mapping" "events" {
  event_source_arn                   = aws_sqs_queue.events.arn
  function_name                      = aws_lambda_function.sync.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 1
  function_response_types            = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = 5
  }
}

# ---------------------------------------------------------------- hourly reconcile
resource "aws_scheduler_schedule" "reconcile" {
  name                         = "${var.name}-reconcile"
  schedule_expression          = var.reconcile_schedule
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 5
  }

  target {
    arn      = aws_lambda_function.sync.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ action = "reconcile" })

    retry_policy {
      maximum_event_age_in_seconds = 1800
      maximum_retry_attempts       = 3
    }
    dead_letter_config {
      arn = aws_sqs_queue.dlq.arn
    }
  }
}

# ---------------------------------------------------------------- alarm on dead letters
resource "aws_cloudwatch_metric_alarm" "dlq" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "secretsync events reached the SQS dead-letter queue; fix the cause, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  tags                = var.tags
}
