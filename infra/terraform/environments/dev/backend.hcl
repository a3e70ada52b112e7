# terraform init -reconfigure -backend-config=environments/dev/backend.hcl \
#   -backend-config=bucket=<state_bucket> -backend-config=region=<region> -backend-config=kms_key_id=<key>
key = "streamstack/dev/terraform.tfstate"
