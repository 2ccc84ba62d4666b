output "function_name" {
  value = aws_lambda_function.sync.function_name
}

output "events_queue_url" {
  value = aws_sqs_queue.events.id
}

output "dead_letter_queue_url" {
  description = "Events that failed max_receive_count times; redrive them after fixing the cause."
  value       = aws_sqs_queue.dlq.id
}

output "state_table" {
  description = "DynamoDB table holding sync state, audit records and the app's dead letters."
  value       = aws_dynamodb_table.state.name
}

output "state_url" {
  value = local.state_url
}
