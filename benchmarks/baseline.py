"""The baseline awsrun is measured against: the least a raw-botocore script can do.

Assume the role, then exec the command with the temporary keys. No checks, no settings,
no scrubbing: what a person would write in ten lines.
Usage: python baseline.py ROLE_ARN COMMAND [ARG...]
"""

import os
import sys

import botocore.session

client = botocore.session.get_session().create_client("sts", region_name=os.environ.get("AWS_REGION", "us-east-1"))
issued = client.assume_role(RoleArn=sys.argv[1], RoleSessionName="baseline")["Credentials"]
env = dict(
    os.environ,
    AWS_ACCESS_KEY_ID=issued["AccessKeyId"],
    AWS_SECRET_ACCESS_KEY=issued["SecretAccessKey"],
    AWS_SESSION_TOKEN=issued["SessionToken"],
)
os.execvpe(sys.argv[2], sys.argv[2:], env)
