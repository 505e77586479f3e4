#!/usr/bin/env bash
# awsrun end to end against a local STS (moto on 127.0.0.1): no AWS account, no real keys.
# Run from anywhere: bash examples/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

echo "== installing awsrun and moto's server (pip install -e '.[test]')"
python3 -m pip install -q -e "$repo[test]"

# Start the local STS and stop it whatever happens.
url_file=$(mktemp)
python3 "$repo/examples/local_sts.py" >"$url_file" 2>/dev/null &
sts_pid=$!
trap 'kill "$sts_pid" 2>/dev/null || true; rm -f "$url_file"' EXIT
for _ in $(seq 50); do [ -s "$url_file" ] && break; sleep 0.1; done
export AWS_ENDPOINT_URL_STS=$(head -n1 "$url_file")
echo "== local STS at $AWS_ENDPOINT_URL_STS"

# A clean slate: nothing from this machine's own AWS setup takes part.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_REGION=eu-west-1
# Fake long-lived keys: in real life, keys whose only permission is sts:AssumeRole.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
role=arn:aws:iam::123456789012:role/Deploy
cd "$(mktemp -d)"   # no stray .env

echo
echo "== 1. what would happen (--dry-run: no STS call, secrets masked)"
awsrun --role "$role" --dry-run -- terraform plan

echo
echo "== 2. the command sees only the role's temporary credentials"
awsrun --role "$role" --session-name demo -- sh -c '
  echo "   AWS_ACCESS_KEY_ID       = $AWS_ACCESS_KEY_ID  (temporary: ASIA..., not the AKIA... source key)"
  echo "   AWSRUN_ASSUMED_ROLE_ARN = $AWSRUN_ASSUMED_ROLE_ARN"
  echo "   expires                 = $AWS_CREDENTIAL_EXPIRATION"
  env | grep -q "wJalrXUtnFEMI" && echo "   LEAK: the source secret reached the child" || echo "   the source secret is nowhere in the environment"'

if command -v aws >/dev/null; then
  echo
  echo "== 3. the AWS CLI as the command: who am I?"
  awsrun -q --role "$role" -- aws sts get-caller-identity --query Arn --output text
fi

echo
echo "== 4. exit codes pass through (terraform plan -detailed-exitcode's 2 stays 2)"
set +e
awsrun -q --role "$role" -- sh -c 'exit 2'; echo "   command exited 2 -> awsrun exited $?"
awsrun -q --role "arn:aws:iam::123:role/typo" -- true; echo "   bad role ARN -> awsrun exited $? (checked before any STS call)"
awsrun -q --role "$role" -- no-such-command; echo "   command not found -> awsrun exited $? (no STS call spent)"
set -e

echo
echo "== 5. a ./.env is read only once you trust it (a cloned repository's .env could pick the role)"
export XDG_CONFIG_HOME="$PWD/config"   # the demo's own list of trusted files, not yours
printf 'GREETING=hello from .env\n' > .env
show_greeting='echo "   GREETING = ${GREETING:-(not set: the .env was not read)}"'
awsrun -q --role "$role" -- sh -c "$show_greeting"
awsrun --trust-env-file | sed 's/^/   /'
awsrun -q --role "$role" -- sh -c "$show_greeting"
echo
echo "== done"
