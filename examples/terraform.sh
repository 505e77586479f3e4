#!/usr/bin/env sh
# A terraform wrapper: every terraform command runs under the Deploy role's short session.
# Put it on PATH before terraform as `tf`:  tf plan -detailed-exitcode; echo $?  -> terraform's own 0/1/2
exec awsrun --role "${DEPLOY_ROLE_ARN:-arn:aws:iam::123456789012:role/Deploy}" \
    --duration "${DEPLOY_SESSION_SECONDS:-3600}" -- terraform "$@"
