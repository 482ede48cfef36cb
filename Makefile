# Deploying ecrscan's Lambda functions with AWS SAM (needs the SAM CLI and cargo-lambda).
#   make deploy ECRSCAN_CONFIG_BUCKET=my-ecrscan-configs
# The first deploy asks the remaining questions (sam deploy --guided) and
# saves the answers in samconfig.toml; later deploys reuse them.

TEMPLATE := ecrscan-lambda/template.yaml
ECRSCAN_CONFIG_BUCKET ?=
STACK_NAME ?= ecrscan

.PHONY: build deploy test demo

build:
	sam build --template-file $(TEMPLATE) --beta-features

deploy: build
	@test -n "$(ECRSCAN_CONFIG_BUCKET)" || { echo "set ECRSCAN_CONFIG_BUCKET=<bucket holding the scan configs>"; exit 2; }
	sam deploy --guided --stack-name $(STACK_NAME) --capabilities CAPABILITY_IAM \
		--parameter-overrides ConfigBucketName=$(ECRSCAN_CONFIG_BUCKET)

test:
	scripts/test.sh

demo:
	scripts/demo.sh
