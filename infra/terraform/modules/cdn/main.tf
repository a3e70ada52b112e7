data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  media_bucket = "${var.name}-media-${data.aws_caller_identity.current.account_id}"
  logs_bucket  = "${var.name}-cdn-logs-${data.aws_caller_identity.current.account_id}"
  s3_origin_id = "media-s3"
  # live_encoder = medialive (var.managed_live): the MediaPackage v2 channel group's egress
  mediapackage_origin = "mediapackage"
  # The origin's own region, unless the operator picks another Origin Shield region (docs/deploy.md).
  origin_shield_region = coalesce(var.origin_shield_region, data.aws_region.current.name)
  edge_origin          = "edge"
  # Query strings and cookies that carry a CloudFront-format signature; only the edge sees them.
  signing_query_strings = ["Policy", "Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"]
  signing_cookies       = ["CloudFront-Policy", "CloudFront-Expires", "CloudFront-Signature", "CloudFront-Key-Pair-Id", "CloudFront-Hash-Algorithm"]
  # The other query strings an edge response depends on: LL-HLS blocking reload and delta updates, and the
  # master's rendition cap. Any other query string is ignored by the edge, so it stays out of the key.
  playback_query_strings = ["_HLS_msn", "_HLS_part", "_HLS_skip", "max_resolution"]
}

################################################################################
# Private media bucket: sources/{asset_id}, assets/{asset_id}/...
################################################################################

# SSE-S3, not SSE-KMS: every CloudFront origin fetch of a segment would be a billed KMS call, and OAC
# over SSE-KMS needs key grants to CloudFront.
module "media_bucket" {
  source = "../private_bucket"

  name       = local.media_bucket
  access_log = { bucket = module.logs_bucket.id }
  # Direct-to-S3 multipart uploads that a client abandoned.
  abort_incomplete_upload_days = 7
  lifecycle_rules = [
    { id = "noncurrent-versions", noncurrent_version_days = var.noncurrent_version_days },
    # Staged tails of tus uploads that were never completed.
    { id = "abandoned-upload-tails", prefix = "uploads/", expiration_days = 7 },
  ]
  policy_documents = concat([data.aws_iam_policy_document.media.json], var.media_bucket_policy_documents)
  tags             = var.tags
}

# Browsers PUT presigned upload parts straight to S3 and read the ETag of each part.
resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = module.media_bucket.id

  cors_rule {
    allowed_methods = ["PUT"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

data "aws_iam_policy_document" "media" {
  statement {
    sid       = "CloudFrontReadsAssets"
    actions   = ["s3:GetObject"]
    resources = ["${module.media_bucket.arn}/assets/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }
}

################################################################################
# Log bucket: CloudFront standard logs (need ACLs) and S3 server access logs
################################################################################

module "logs_bucket" {
  source = "../private_bucket"

  name             = local.logs_bucket
  object_ownership = "BucketOwnerPreferred" # CloudFront standard logging writes through the awslogsdelivery ACL grant
  lifecycle_rules = [
    { id = "expire-logs", expiration_days = var.log_retention_days, noncurrent_version_days = 7 },
  ]
  policy_documents = [data.aws_iam_policy_document.logs.json]
  tags             = var.tags
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${module.logs_bucket.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

################################################################################
# Signing keys, policies, distribution
################################################################################

resource "aws_cloudfront_public_key" "signing" {
  for_each = var.signing_public_keys

  name        = "${var.name}-${each.key}"
  encoded_key = each.value
  comment     = "streamstack playback signing key ${each.key}"
}

resource "aws_cloudfront_key_group" "signing" {
  name    = "${var.name}-playback"
  items   = [for k in aws_cloudfront_public_key.signing : k.id]
  comment = "Keys that sign streamstack playback URLs and cookies"
}

# Managed live (MediaPackage v2 endpoints): each endpoint's policy admits only this distribution (the app puts it).
resource "aws_cloudfront_origin_access_control" "mediapackage" {
  count = var.managed_live ? 1 : 0

  name                              = "${var.name}-mediapackage"
  description                       = "CloudFront reads the managed live streams' MediaPackage v2 endpoints"
  origin_access_control_origin_type = "mediapackagev2"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media"
  description                       = "CloudFront reads the private media bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# fMP4 segments, init segments and images never change under one key: cache for a year.
resource "aws_cloudfront_cache_policy" "segments" {
  name        = "${var.name}-segments"
  comment     = "Immutable VOD segments and images"
  min_ttl     = var.segment_ttl_seconds
  default_ttl = var.segment_ttl_seconds
  max_ttl     = var.segment_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = false
    enable_accept_encoding_gzip   = false

    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# Rendition playlists in S3 (live windows move every segment): seconds at most.
resource "aws_cloudfront_cache_policy" "playlists" {
  name        = "${var.name}-playlists"
  comment     = "Short-lived HLS playlists"
  min_ttl     = 0
  default_ttl = var.playlist_ttl_seconds
  max_ttl     = var.playlist_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# The edge checks CloudFront-format signatures itself, so they are part of the cache key: a response
# cached for a signed request is never served to an unsigned one. So are the LL-HLS _HLS_ parameters: a
# blocking reload for one part is cached (and collapsed) per part, never served for another. TTLs follow
# the edge's Cache-Control (parts and segments a year, blocking reloads a minute, live playlists a second,
# signed responses at most a minute); without one, the playlist TTL applies.
resource "aws_cloudfront_cache_policy" "edge" {
  name        = "${var.name}-edge"
  comment     = "Playback-id URLs from the edge, keyed by their signature"
  min_ttl     = 0
  default_ttl = var.playlist_ttl_seconds
  max_ttl     = var.segment_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "whitelist"
      cookies {
        items = local.signing_cookies
      }
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "whitelist"
      query_strings {
        items = concat(local.signing_query_strings, local.playback_query_strings)
      }
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "playback" {
  name    = "${var.name}-playback"
  comment = "CORS for browser players, HSTS and security headers"

  cors_config {
    access_control_allow_credentials = false
    access_control_max_age_sec       = 3600
    origin_override                  = true

    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }
    access_control_allow_origins {
      items = var.cors_allowed_origins
    }
    access_control_expose_headers {
      items = ["Content-Length", "Content-Range"]
    }
  }

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    content_type_options {
      override = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    frame_options {
      frame_option = "SAMEORIGIN"
      override     = true
    }
  }
}

data "aws_cloudfront_origin_request_policy" "all_viewer_except_host" {
  name = "Managed-AllViewerExceptHostHeader"
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_305:No default root object: "/" belongs to the edge app, which answers it itself.
  #checkov:skip=CKV_AWS_310:Each path has one origin (S3 for /assets/*, the edge for playback ids); the media bucket is not replicated, so there is no second origin to fail over to.
  #checkov:skip=CKV_AWS_374:Geo restriction is a per-deployment rights decision (geo_restriction_type); the default is none.
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = var.price_class
  comment         = "${var.name} playback"
  aliases         = var.aliases
  web_acl_id      = module.waf.arn

  origin {
    origin_id                = local.s3_origin_id
    domain_name              = module.media_bucket.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id

    origin_shield {
      enabled              = true
      origin_shield_region = local.origin_shield_region
    }
  }

  dynamic "origin" {
    for_each = var.edge_origin_host == null ? [] : [var.edge_origin_host]
    content {
      origin_id   = local.edge_origin
      domain_name = origin.value

      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
      }

      custom_header {
        name  = var.origin_verify_header.name
        value = var.origin_verify_header.value
      }

      # One regional cache in front of the edge: a live event's playlist reloads and parts from every
      # CloudFront location collapse into one request per object (docs/deploy.md, Origin Shield).
      origin_shield {
        enabled              = true
        origin_shield_region = local.origin_shield_region
      }
    }
  }

  dynamic "origin" {
    for_each = var.managed_live ? [var.mediapackage_egress_domain] : []
    content {
      origin_id                = local.mediapackage_origin
      domain_name              = origin.value
      origin_access_control_id = aws_cloudfront_origin_access_control.mediapackage[0].id

      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
      }

      # MediaPackage limits manifest requests per endpoint: AWS requires a shield in front of it.
      origin_shield {
        enabled              = true
        origin_shield_region = local.origin_shield_region
      }
    }
  }

  # Default: playback ids (/{playback_id}.m3u8, thumbnails, storyboards) are answered by the edge app.
  default_cache_behavior {
    target_origin_id           = var.edge_origin_host == null ? local.s3_origin_id : local.edge_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD", "OPTIONS"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.edge.id
    origin_request_policy_id   = var.edge_origin_host == null ? null : data.aws_cloudfront_origin_request_policy.all_viewer_except_host.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.playback.id
  }

  # Rendition playlists straight from S3, short-lived.
  ordered_cache_behavior {
    path_pattern               = "/assets/*.m3u8"
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.playlists.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.playback.id
    trusted_key_groups         = var.require_signed_assets ? [aws_cloudfront_key_group.signing.id] : []
  }

  # Segments, init segments, images: immutable, straight from S3.
  ordered_cache_behavior {
    path_pattern               = "/assets/*"
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = aws_cloudfront_cache_policy.segments.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.playback.id
    trusted_key_groups         = var.require_signed_assets ? [aws_cloudfront_key_group.signing.id] : []
  }

  # Managed live streams (live_encoder = medialive): LL-HLS and HLS from their endpoints, always signed (a
  # custom policy on /out/v1/<group>/<group>-<stream id>/*), keyed like the edge's blocking reloads.
  dynamic "ordered_cache_behavior" {
    for_each = var.managed_live ? [local.mediapackage_origin] : []
    content {
      path_pattern               = "/out/v1/*"
      target_origin_id           = ordered_cache_behavior.value
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = aws_cloudfront_cache_policy.edge.id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.playback.id
      trusted_key_groups         = [aws_cloudfront_key_group.signing.id]
    }
  }

  # A blocking reload that timed out (503) or a part asked for too early (404) must not be replayed to
  # every viewer for CloudFront's default 10 s: the player retries and the part exists a moment later.
  dynamic "custom_error_response" {
    for_each = { 404 = 1, 503 = 0 }
    content {
      error_code            = custom_error_response.key
      error_caching_min_ttl = custom_error_response.value
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = var.geo_restriction_type
      locations        = var.geo_restriction_locations
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == null
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    # CloudFront keeps TLSv1 for its default *.cloudfront.net certificate whatever is asked: asking for more
    # only makes a diff on every plan. With a certificate of our own, TLS 1.2 at least.
    minimum_protocol_version = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  logging_config {
    bucket          = module.logs_bucket.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  tags = var.tags

  depends_on = [module.logs_bucket]
}

# Additional metrics: without this subscription CloudFront publishes no CacheHitRate.
resource "aws_cloudfront_monitoring_subscription" "this" {
  distribution_id = aws_cloudfront_distribution.this.id

  monitoring_subscription {
    realtime_metrics_subscription_config {
      realtime_metrics_subscription_status = "Enabled"
    }
  }
}

################################################################################
# WAFv2 for CloudFront: scope CLOUDFRONT lives in us-east-1
################################################################################

module "waf" {
  source = "../web_acl"
  providers = {
    aws = aws.us_east_1
  }

  name                = "${var.name}-cloudfront"
  scope               = "CLOUDFRONT"
  anonymous_ip_action = var.anonymous_ip_action
  rate_limit          = var.waf_viewers_per_address * var.waf_requests_per_viewer
  log_retention_days  = var.log_retention_days
  kms_key_arn         = module.waf_logs_key.arn
  tags                = var.tags
}

module "waf_logs_key" {
  source = "../kms_key"
  providers = {
    aws = aws.us_east_1
  }

  name              = "${var.name}-cloudfront-waf-logs"
  description       = "${var.name} CloudFront WAF logs"
  log_group_pattern = "aws-waf-logs-${var.name}-*"
  tags              = var.tags
}
