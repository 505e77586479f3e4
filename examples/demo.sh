#!/usr/bin/env bash
# awsrun end to end against a local STS (moto on 127.0.0.1): no AWS account, no real keys.
# Needs only python3 with its venv module; everything else goes into .venv in the checkout.
# Run from anywhere: bash examples/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

echo "== installing awsrun, moto's server and the AWS CLI into $repo/.venv"
[ -x "$repo/.venv/bin/python" ] || python3 -m venv "$repo/.venv"
"$repo/.venv/bin/python" -m pip install -q -e "$repo[test]"
# The venv's tools first: its `aws` wins over any other (Debian's awscli in /usr/bin); the
# system folders stay for sh, env and the like. No other tool on this machine takes part.
export PATH="$repo/.venv/bin:/usr/bin:/bin"

# Start the local STS and stop it whatever happens.
url_file=$(mktemp)
python "$repo/examples/local_sts.py" >"$url_file" 2>/dev/null &
sts_pid=$!
scratch=$(mktemp -d)
trap 'kill "$sts_pid" 2>/dev/null || true; rm -rf "$url_file" "$scratch"' EXIT
for _ in $(seq 100); do [ -s "$url_file" ] && break; sleep 0.1; done
[ -s "$url_file" ] || { echo "the local STS did not start" >&2; exit 1; }
url=$(head -n1 "$url_file")
# Every endpoint variable the tools read points at the local server: nothing can reach AWS.
export AWS_ENDPOINT_URL_STS="$url" AWS_ENDPOINT_URL="$url"
echo "== local STS at $AWS_ENDPOINT_URL_STS"

# A clean slate: nothing from this machine's own AWS setup takes part.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_REGION=eu-west-1
export XDG_CACHE_HOME="$scratch/cache" XDG_CONFIG_HOME="$scratch/config" HOME="$scratch/home"
mkdir -p "$HOME"
# Fake long-lived keys: in real life, keys whose only permission is sts:AssumeRole.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
role=arn:aws:iam::123456789012:role/Deploy
mkdir "$scratch/work" && cd "$scratch/work"   # no stray .env

echo
echo "== 1. what would happen (--dry-run: no STS call, secrets masked)"
awsrun --role "$role" --dry-run -- aws sts get-caller-identity

echo
echo "== 2. the command sees only the role's temporary credentials"
awsrun --role "$role" --session-name demo -- sh -c '
  echo "   AWS_ACCESS_KEY_ID       = $AWS_ACCESS_KEY_ID  (temporary: ASIA..., not the AKIA... source key)"
  echo "   AWSRUN_ASSUMED_ROLE_ARN = $AWSRUN_ASSUMED_ROLE_ARN"
  echo "   expires                 = $AWS_CREDENTIAL_EXPIRATION"
  env | grep -q "wJalrXUtnFEMI" && echo "   LEAK: the source secret reached the child" || echo "   the source secret is nowhere in the environment"'

echo
echo "== 3. the AWS CLI (installed in .venv) as the command: who am I?"
awsrun -q --role "$role" -- aws sts get-caller-identity --query Arn --output text

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
