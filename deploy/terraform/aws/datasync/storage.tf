# The AWS side of batch syncs: private, encrypted, batch files expire after 30 days.

resource "aws_s3_bucket" "staging" {
  bucket = var.staging_bucket
  tags   = var.tags
}

resource "aws_s3_bucket_public_access_block" "staging" {
  bucket                  = aws_s3_bucket.staging.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "staging" {
  bucket = aws_s3_bucket.staging.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "staging" {
  bucket = aws_s3_bucket.staging.id
  rule {
    id     = "expire-batches"
    status = "Enabled"
    filter {
      prefix = "batches/"
    }
    expiration {
      days = 30
    }
  }
}
