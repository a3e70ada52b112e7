# terraform init -reconfigure -backend-config=environments/prod/backend.hcl \
#   -backend-config=bucket=<state_bucket> -backend-config=region=<region> -backend-config=kms_key_id=<key>
key = "streamstack/prod/terraform.tfstate"
