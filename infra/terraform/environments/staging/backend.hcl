# terraform init -reconfigure -backend-config=environments/staging/backend.hcl \
#   -backend-config=bucket=<state_bucket> -backend-config=region=<region> -backend-config=kms_key_id=<key>
key = "streamstack/staging/terraform.tfstate"
