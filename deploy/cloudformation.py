"""Starbase on AWS as two CloudFormation templates, built from Python data.

Requires: `deploy.settings`. Guarantees:
- `data_stack(options)`: the S3 bucket of the tables (versioned, encrypted, TLS only, public
  access blocked) with lifecycle tiering by age that never expires current objects; the
  tokens in Secrets Manager (generated at creation); a Kinesis Data Firehose stream whose HTTP
  endpoint is `<RouterUrl>/firehose`, its key read from Secrets Manager, failed deliveries
  backed up to its own prefix; one CloudWatch Logs subscription filter per log group in
  `options.log_groups` into that stream; and the IAM roles, least privilege: the router may
  read, write and delete only below the tables' prefix; `serve` may only read there and run
  Logs Insights on the named log groups; Firehose and CloudWatch Logs may do only their part.
- `services_stack(options)`: ECS on Fargate behind an HTTPS Application Load Balancer —
  the router (one task: its write-ahead log is on an EFS access point, so a replaced task
  replays what the last one acknowledged) with a retention companion sharing its lock files,
  and `starbase serve`; tokens from the data stack's secrets; TLS ends at the load balancer.
- Templates are plain dictionaries; `to_yaml` writes them. Nothing here needs AWS.

Why generated and not written by hand: one subscription filter and one IAM resource per log
group is structure, not a parameter value (CloudFormation has no loop without the
LanguageExtensions transform, which moto and older tooling do not run); the same Python names
the ports, paths and commands the Kubernetes manifests use (`settings`). Why plain data and
not troposphere or the CDK: cfn-lint checks the output against AWS's current resource
schemas, which is strictly more than troposphere's constructors check, and the output stays
readable YAML that needs no Python to deploy; the CDK would add Node.js and jsii.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from deploy import settings

Json = dict[str, Any]

PLATFORMS = ("ecs", "eks")
FIREHOSE_FAILED_PREFIX = "firehose-failed/"  # outside the tables' prefix (`TablePrefix`)


@dataclass(frozen=True)
class Options:
    """What is fixed when a template is rendered (the rest are CloudFormation parameters)."""

    log_groups: Sequence[str] = ()
    platform: str = "ecs"  # who assumes the router's and serve's roles: ECS tasks or EKS pods
    eks_oidc_provider: str = ""  # e.g. oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E5
    namespace: str = "starbase"  # Kubernetes namespace of the service accounts (eks)
    description: str = field(default="")

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}, not {self.platform!r}")
        if self.platform == "eks" and not self.eks_oidc_provider:
            raise ValueError("platform eks needs the cluster's OIDC provider (--eks-oidc-provider)")
        for group in self.log_groups:
            if not group or len(group) > 512 or any(c in group for c in " *\"'"):
                raise ValueError(f"not a log group name: {group!r}")
        if len(set(self.log_groups)) != len(self.log_groups):
            raise ValueError("a log group is named twice")


# ------------------------------------------------------------------ intrinsic functions


def ref(name: str) -> Json:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str, variables: Json | None = None) -> Json:
    return {"Fn::Sub": [text, variables] if variables else text}


def import_value(stack_param: str, name: str) -> Json:
    return {"Fn::ImportValue": sub(f"${{{stack_param}}}-{name}")}


def policy(*statements: Json) -> Json:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: Sequence[str], resources: Any, condition: Json | None = None) -> Json:
    statement: Json = {"Effect": "Allow", "Action": list(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def logical_id(prefix: str, text: str) -> str:
    """A CloudFormation logical id from free text (`/aws/lambda/x` → `PrefixAwsLambdaX`), with
    a short stable hash so two names that differ only in punctuation do not collide."""
    words = "".join(w[:1].upper() + w[1:] for w in _split_words(text))
    digest = f"{sum((i + 1) * ord(c) for i, c in enumerate(text)) % 65536:04X}"
    return f"{prefix}{words[:200]}{digest}"


def _split_words(text: str) -> list[str]:
    word, words = "", []
    for char in text:
        if char.isascii() and char.isalnum():
            word += char
        elif word:
            words.append(word)
            word = ""
    if word:
        words.append(word)
    return words


def checkov_skip(*reasons: tuple[str, str]) -> Json:
    """Metadata that tells checkov why a check does not apply (id, reason)."""
    return {"checkov": {"skip": [{"id": i, "comment": c} for i, c in reasons]}}


# ------------------------------------------------------------------ the data stack

TABLES_ARN = sub("arn:${AWS::Partition}:s3:::${TablesBucket}")
TABLES_OBJECTS = sub("arn:${AWS::Partition}:s3:::${TablesBucket}/${TablePrefix}/*")


def data_stack(options: Options) -> Json:
    parameters: Json = {
        "BucketName": {
            "Type": "String",
            "Description": "Name of the new S3 bucket holding the tables",
            "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        },
        "TablePrefix": {
            "Type": "String",
            "Default": "starbase",
            "Description": "Key prefix of the tables in the bucket (the router's --s3 "
            "s3://BUCKET/PREFIX); the router may write only below it",
            "AllowedPattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        },
        "TierInfrequentAccessDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 30,
            "Description": "Move objects over 128 KiB to S3 Standard-IA after this many days",
        },
        "TierGlacierInstantDays": {
            "Type": "Number",
            "Default": 90,
            "MinValue": 60,
            "Description": "Move them on to Glacier Instant Retrieval after this many days "
            "(at least TierInfrequentAccessDays + 30); both stay readable by queries",
        },
        "KeepDeletedDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 1,
            "Description": "Keep objects that vacuum, retention or an overwrite replaced for "
            "this many days as noncurrent versions (the window to restore from)",
        },
        "RouterUrl": {
            "Type": "String",
            "Description": "HTTPS base URL at which Firehose reaches the router "
            "(the load balancer's name on its certificate), e.g. https://ingest.example.com",
            "AllowedPattern": "^https://[A-Za-z0-9.-]+(:[0-9]+)?$",
        },
        "FirehoseBufferSeconds": {
            "Type": "Number",
            "Default": 60,
            "MinValue": 0,
            "MaxValue": 900,
            "Description": "Firehose delivers at least this often",
        },
        "FirehoseBufferMiB": {
            "Type": "Number",
            "Default": 4,
            "MinValue": 1,
            "MaxValue": 32,
            "Description": "… or when this much is buffered (the router takes up to 32 MiB)",
        },
        "FirehoseRetrySeconds": {
            "Type": "Number",
            "Default": 3600,
            "MinValue": 0,
            "MaxValue": 7200,
            "Description": "How long Firehose retries a refused delivery before backing it up",
        },
        "SubscriptionFilterPattern": {
            "Type": "String",
            "Default": "",
            "Description": "CloudWatch Logs filter pattern of the subscriptions ('' = every event)",
        },
    }
    resources: Json = {}
    resources |= _bucket()
    resources |= _secrets()
    resources |= _firehose()
    resources |= _subscriptions(options)
    resources |= _workload_roles(options)
    outputs = {
        "BucketName": _output(ref("TablesBucket"), "BucketName"),
        "TablePrefix": _output(ref("TablePrefix"), "TablePrefix"),
        "TablesLocation": _output(sub("s3://${TablesBucket}/${TablePrefix}"), "TablesLocation"),
        "RouterRoleArn": _output(get_att("RouterRole", "Arn"), "RouterRoleArn"),
        "RouterRoleName": _output(ref("RouterRole"), "RouterRoleName"),
        "ServeRoleArn": _output(get_att("ServeRole", "Arn"), "ServeRoleArn"),
        "ServeRoleName": _output(ref("ServeRole"), "ServeRoleName"),
        "RouterTokensSecretArn": _output(ref("RouterTokensSecret"), "RouterTokensSecretArn"),
        "FirehoseKeySecretArn": _output(ref("FirehoseKeySecret"), "FirehoseKeySecretArn"),
        "ServeTokensSecretArn": _output(ref("ServeTokensSecret"), "ServeTokensSecretArn"),
        "DeliveryStreamArn": _output(get_att("DeliveryStream", "Arn"), "DeliveryStreamArn"),
        "LogGroups": {"Value": ",".join(options.log_groups) or "-"},
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": options.description
        or "Starbase data: tables bucket, tokens, CloudWatch Logs → Firehose → router, IAM",
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs,
    }


def _output(value: Json, name: str) -> Json:
    return {"Value": value, "Export": {"Name": sub(f"${{AWS::StackName}}-{name}")}}


def _bucket() -> Json:
    lifecycle = {
        "Rules": [
            {
                # Whole-object tiering by age. Objects under 128 KiB (commits of the log,
                # small files not yet compacted) stay in Standard, where they cost least.
                "Id": "tier-by-age",
                "Status": "Enabled",
                "Prefix": sub("${TablePrefix}/"),
                "ObjectSizeGreaterThan": 131072,
                "Transitions": [
                    {
                        "StorageClass": "STANDARD_IA",
                        "TransitionInDays": ref("TierInfrequentAccessDays"),
                    },
                    {
                        "StorageClass": "GLACIER_IR",
                        "TransitionInDays": ref("TierGlacierInstantDays"),
                    },
                ],
            },
            {
                # Current objects never expire here: deleting is `starbase retention`'s and
                # vacuum's job, so the commit log stays the truth. What they delete is kept
                # as a noncurrent version for KeepDeletedDays, then goes.
                "Id": "forget-deleted",
                "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": ref("KeepDeletedDays")},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            },
            {
                "Id": "expire-delete-markers",
                "Status": "Enabled",
                "ExpiredObjectDeleteMarker": True,
            },
        ]
    }
    bucket = {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Metadata": checkov_skip(
            (
                "CKV_AWS_18",
                "access logging is the platform's choice: enable it to a log "
                "bucket of the account (docs/deploy-security.md)",
            ),
            (
                "CKV_AWS_144",
                "cross-region replication is a choice per region (docs/deploy-multi-region.md)",
            ),
        ),
        "Properties": {
            "BucketName": ref("BucketName"),
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": lifecycle,
            "Tags": [{"Key": "starbase:role", "Value": "tables"}],
        },
    }
    tls_only = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref("TablesBucket"),
            "PolicyDocument": policy(
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [TABLES_ARN, sub("arn:${AWS::Partition}:s3:::${TablesBucket}/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
        },
    }
    return {"TablesBucket": bucket, "TablesBucketPolicy": tls_only}


def _secrets() -> Json:
    def secret(name: str, description: str, generate: Json) -> Json:
        return {
            "Type": "AWS::SecretsManager::Secret",
            "Metadata": checkov_skip(
                (
                    "CKV_AWS_149",
                    "encrypted with the account's aws/secretsmanager key; pass "
                    "your own KMS key if policy requires (docs/deploy-security.md)",
                ),
            ),
            "Properties": {
                "Name": sub(f"${{AWS::StackName}}/{name}"),
                "Description": description,
                "GenerateSecretString": generate,
            },
        }

    token = {"PasswordLength": 48, "ExcludePunctuation": True}
    return {
        "RouterTokensSecret": secret(
            "router-tokens",
            "TOKEN[=TENANT],… accepted by the router as bearer tokens",
            token,
        ),
        "FirehoseKeySecret": secret(
            "firehose-key",
            '{"api_key": KEY}, sent by Firehose and accepted by the router',
            {**token, "SecretStringTemplate": "{}", "GenerateStringKey": "api_key"},
        ),
        "ServeTokensSecret": secret(
            "serve-tokens", "TOKEN[=TENANT],… accepted by starbase serve", token
        ),
    }


def _firehose() -> Json:
    failed_objects = sub(
        f"arn:${{AWS::Partition}}:s3:::${{TablesBucket}}/{FIREHOSE_FAILED_PREFIX}*"
    )
    log_group = sub(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        "${FirehoseLogGroup}:*"
    )
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "Kinesis Data Firehose: back up failed deliveries, read its key",
            "AssumeRolePolicyDocument": policy(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "firehose.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": ref("AWS::AccountId")}},
                }
            ),
            "Policies": [
                {
                    "PolicyName": "deliver",
                    "PolicyDocument": policy(
                        allow(
                            ["s3:AbortMultipartUpload", "s3:PutObject"],
                            failed_objects,
                        ),
                        allow(
                            ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                            TABLES_ARN,
                        ),
                        allow(["secretsmanager:GetSecretValue"], ref("FirehoseKeySecret")),
                        allow(["logs:PutLogEvents"], log_group),
                    ),
                }
            ],
        },
    }
    stream = {
        "Type": "AWS::KinesisFirehose::DeliveryStream",
        "Properties": {
            "DeliveryStreamName": sub("${AWS::StackName}-to-router"),
            "DeliveryStreamType": "DirectPut",
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
            "HttpEndpointDestinationConfiguration": {
                "EndpointConfiguration": {
                    "Name": "Starbase router",
                    "Url": sub("${RouterUrl}/firehose"),
                },
                "SecretsManagerConfiguration": {
                    "Enabled": True,
                    "SecretARN": ref("FirehoseKeySecret"),
                    "RoleARN": get_att("FirehoseRole", "Arn"),
                },
                "BufferingHints": {
                    "IntervalInSeconds": ref("FirehoseBufferSeconds"),
                    "SizeInMBs": ref("FirehoseBufferMiB"),
                },
                "RequestConfiguration": {"ContentEncoding": "GZIP"},
                "RetryOptions": {"DurationInSeconds": ref("FirehoseRetrySeconds")},
                "RoleARN": get_att("FirehoseRole", "Arn"),
                "S3BackupMode": "FailedDataOnly",
                "S3Configuration": {
                    "BucketARN": TABLES_ARN,
                    "RoleARN": get_att("FirehoseRole", "Arn"),
                    "Prefix": FIREHOSE_FAILED_PREFIX,
                    "ErrorOutputPrefix": f"{FIREHOSE_FAILED_PREFIX}errors/",
                    "CompressionFormat": "UNCOMPRESSED",
                    "BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 5},
                },
                "CloudWatchLoggingOptions": {
                    "Enabled": True,
                    "LogGroupName": ref("FirehoseLogGroup"),
                    "LogStreamName": ref("FirehoseLogStream"),
                },
            },
        },
    }
    return {
        "FirehoseLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": checkov_skip(
                (
                    "CKV_AWS_158",
                    "delivery errors only, no log content; encrypted by CloudWatch Logs' own key",
                ),
            ),
            "Properties": {
                "LogGroupName": sub("/starbase/${AWS::StackName}/firehose"),
                "RetentionInDays": 365,
            },
        },
        "FirehoseLogStream": {
            "Type": "AWS::Logs::LogStream",
            "Properties": {"LogGroupName": ref("FirehoseLogGroup"), "LogStreamName": "delivery"},
        },
        "FirehoseRole": role,
        "DeliveryStream": stream,
    }


def _subscriptions(options: Options) -> Json:
    if not options.log_groups:
        return {}
    resources: Json = {
        "SubscriptionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "CloudWatch Logs: put subscribed events into the stream",
                "AssumeRolePolicyDocument": policy(
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "logs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {
                            "StringLike": {
                                "aws:SourceArn": sub(
                                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
                                )
                            }
                        },
                    }
                ),
                "Policies": [
                    {
                        "PolicyName": "put-records",
                        "PolicyDocument": policy(
                            allow(
                                ["firehose:PutRecord", "firehose:PutRecordBatch"],
                                get_att("DeliveryStream", "Arn"),
                            )
                        ),
                    }
                ],
            },
        }
    }
    for group in options.log_groups:
        resources[logical_id("Subscription", group)] = {
            "Type": "AWS::Logs::SubscriptionFilter",
            "Properties": {
                "FilterName": "starbase",
                "LogGroupName": group,
                "FilterPattern": ref("SubscriptionFilterPattern"),
                "DestinationArn": get_att("DeliveryStream", "Arn"),
                "RoleArn": get_att("SubscriptionRole", "Arn"),
            },
        }
    return resources


def log_group_arns(groups: Sequence[str]) -> list[Json]:
    """The ARNs that name exactly `groups` (StartQuery is authorized on `log-group:NAME`)."""
    arns: list[Json] = []
    for group in groups:
        base = (
            f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{group}"
        )
        arns += [sub(base), sub(base + ":*")]
    return arns


def _trust(options: Options, service_account: str) -> Json:
    if options.platform == "ecs":
        return policy(
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnLike": {
                        "aws:SourceArn": sub(
                            "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
                },
            }
        )
    provider = options.eks_oidc_provider
    return policy(
        {
            "Effect": "Allow",
            "Principal": {
                "Federated": sub(
                    f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{provider}"
                )
            },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{provider}:sub": f"system:serviceaccount:{options.namespace}:"
                    f"{service_account}",
                    f"{provider}:aud": "sts.amazonaws.com",
                }
            },
        }
    )


def _workload_roles(options: Options) -> Json:
    in_prefix = {"StringLike": {"s3:prefix": [sub("${TablePrefix}/*"), ref("TablePrefix")]}}
    router = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "starbase router: read, write and delete below the tables' prefix",
            "AssumeRolePolicyDocument": _trust(options, "starbase-router"),
            "Policies": [
                {
                    "PolicyName": "tables-read-write",
                    "PolicyDocument": policy(
                        allow(["s3:ListBucket"], TABLES_ARN, in_prefix),
                        allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], TABLES_OBJECTS),
                    ),
                }
            ],
        },
    }
    statements = [
        allow(["s3:ListBucket"], TABLES_ARN, in_prefix),
        allow(["s3:GetObject"], TABLES_OBJECTS),
    ]
    if options.log_groups:
        statements += [
            allow(["logs:StartQuery"], log_group_arns(options.log_groups)),
            # GetQueryResults and StopQuery take a query id, not a resource: AWS authorizes
            # them on "*" only. A query id comes from a StartQuery this role was allowed.
            allow(["logs:GetQueryResults", "logs:StopQuery"], "*"),
        ]
    serve = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "starbase serve: read the tables, run Logs Insights on the named "
            "log groups",
            "AssumeRolePolicyDocument": _trust(options, "starbase-serve"),
            "Policies": [{"PolicyName": "read", "PolicyDocument": policy(*statements)}],
        },
    }
    return {"RouterRole": router, "ServeRole": serve}


# ------------------------------------------------------------------ the services stack (ECS)

# Fargate sizes: workers = vCPUs; memory is Fargate's smallest for that many vCPUs, which is
# above the router's bound (settings.router_memory_mib) for each.
FARGATE = {"1024": "2048", "2048": "4096", "4096": "8192"}


def config_toml(options: Options) -> str:
    """starbase.toml for serve and retention, with CloudFormation `${…}` substitutions."""
    location = "s3://${BucketName}/${TablePrefix}"
    text = (
        "# Written by the Starbase services stack.\n"
        "[sources.otel]\n"
        'format = "otel"\n'
        f'location = "{location}"\n'
        'region = "${AWS::Region}"\n'
        'retention = "${RetentionDays}d"\n\n'
        "[sources.firehose]\n"
        'format = "cloudwatch"\n'
        f'location = "{location}"\n'
        'region = "${AWS::Region}"\n'
        'retention = "${RetentionDays}d"\n'
    )
    if options.log_groups:
        groups = ", ".join(json.dumps(g) for g in options.log_groups)
        text += (
            "\n[sources.cloudwatch]\n"
            'format = "cloudwatch"\n'
            f"log_groups = [{groups}]\n"
            'region = "${AWS::Region}"\n'
            'profile = "aws"\n'
        )
    return text


def _with_files(argv: list[str]) -> str:
    """A shell line that writes the config and tokens files from the environment, then execs
    `starbase ARGV` (ECS has no file mounts for secrets; the process keeps its pid)."""
    quoted = " ".join(argv)
    return (
        "umask 077"
        f' && printf "%s\\n" "$STARBASE_TOML" > {settings.CONFIG_FILE}'
        f' && printf "%s\\n" "$SERVE_TOKENS" | tr , "\\n" > {settings.SERVE_TOKENS_FILE}'
        f" && exec starbase {quoted}"
    )


def _retention_loop() -> str:
    argv = " ".join(settings.retention_args())
    return (
        "umask 077"
        f' && printf "%s\\n" "$STARBASE_TOML" > {settings.CONFIG_FILE}'
        f" && while true; do starbase {argv}; sleep {settings.RETENTION_EVERY_S}; done"
    )


def services_stack(options: Options) -> Json:
    parameters: Json = {
        "DataStackName": {
            "Type": "String",
            "Description": "Name of the Starbase data stack (its exports are imported)",
        },
        "Image": {
            "Type": "String",
            "Description": "The Starbase image (the Dockerfile's `starbase` stage), by digest",
        },
        "VpcId": {"Type": "AWS::EC2::VPC::Id"},
        "PublicSubnets": {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Description": "Two or more public subnets for the load balancer",
        },
        "PrivateSubnets": {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Description": "Two private subnets (two zones) for the tasks and the WAL's file "
            "system; they reach S3, Secrets Manager, ECR and Logs (NAT or VPC endpoints)",
        },
        "CertificateArn": {
            "Type": "String",
            "Description": "ACM certificate for the load balancer's HTTPS listener (the "
            "RouterUrl's name)",
        },
        "IngressCidr": {
            "Type": "String",
            "Default": "0.0.0.0/0",
            "Description": "Who may reach the load balancer (Firehose needs the public "
            "internet or its regional ranges)",
        },
        "RouterCpu": {
            "Type": "String",
            "Default": "2048",
            "AllowedValues": sorted(FARGATE),
            "Description": "Router task vCPU units; one worker per vCPU",
        },
        "ServeCpu": {"Type": "String", "Default": "1024", "AllowedValues": sorted(FARGATE)},
        "ServeCount": {"Type": "Number", "Default": 2, "MinValue": 1},
        "RetentionDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 1,
            "Description": "Stored data older than this disappears from queries (starbase "
            "retention, applied hourly); its files go at the next vacuum",
        },
    }
    imported = {
        "BucketName": import_value("DataStackName", "BucketName"),
        "TablePrefix": import_value("DataStackName", "TablePrefix"),
        "RetentionDays": ref("RetentionDays"),
    }
    resources: Json = {}
    resources |= _network()
    resources |= _wal_file_system()
    resources |= _load_balancer()
    resources |= _ecs(options, imported)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Starbase services: router and serve on ECS Fargate behind HTTPS",
        "Mappings": {
            "Fargate": {cpu: {"Memory": memory} for cpu, memory in FARGATE.items()},
            "Workers": {cpu: {"Count": str(int(cpu) // 1024)} for cpu in FARGATE},
        },
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": {
            "LoadBalancerDns": {"Value": get_att("LoadBalancer", "DNSName")},
            "RouterUrl": {
                "Description": "Point the RouterUrl's DNS name at LoadBalancerDns",
                "Value": sub("https://${LoadBalancer.DNSName}"),
            },
        },
    }


def _network() -> Json:
    def group(description: str, ingress: list[Json]) -> Json:
        return {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": description,
                "VpcId": ref("VpcId"),
                "SecurityGroupIngress": ingress,
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "AWS APIs (S3, Secrets Manager, Logs, ECR) over HTTPS",
                    },
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 2049,
                        "ToPort": 2049,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "NFS to the WAL's file system",
                    },
                ],
            },
        }

    def from_lb(port: int) -> Json:
        return {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "SourceSecurityGroupId": ref("LoadBalancerSecurityGroup"),
            "Description": "from the load balancer",
        }

    return {
        "LoadBalancerSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "Starbase load balancer: HTTPS in",
                "VpcId": ref("VpcId"),
                "SecurityGroupIngress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "CidrIp": ref("IngressCidr"),
                        "Description": "HTTPS",
                    },
                ],
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": settings.ROUTER_PORT,
                        "ToPort": settings.ROUTER_PORT,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "to the router tasks",
                    },
                    {
                        "IpProtocol": "tcp",
                        "FromPort": settings.SERVE_PORT,
                        "ToPort": settings.SERVE_PORT,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "to the serve tasks",
                    },
                ],
            },
        },
        "RouterSecurityGroup": group("Starbase router tasks", [from_lb(settings.ROUTER_PORT)]),
        "ServeSecurityGroup": group("Starbase serve tasks", [from_lb(settings.SERVE_PORT)]),
        "WalSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "Starbase WAL file system: NFS from the router only",
                "VpcId": ref("VpcId"),
                "SecurityGroupIngress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 2049,
                        "ToPort": 2049,
                        "SourceSecurityGroupId": ref("RouterSecurityGroup"),
                        "Description": "NFS from the router",
                    }
                ],
            },
        },
    }


def _wal_file_system() -> Json:
    mount_targets = {
        f"WalMountTarget{index}": {
            "Type": "AWS::EFS::MountTarget",
            "Properties": {
                "FileSystemId": ref("WalFileSystem"),
                "SubnetId": {"Fn::Select": [index, ref("PrivateSubnets")]},
                "SecurityGroups": [ref("WalSecurityGroup")],
            },
        }
        for index in (0, 1)
    }
    uid = str(settings.USER_ID)
    efs = "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}"
    return {
        "WalFileSystem": {
            "Type": "AWS::EFS::FileSystem",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Encrypted": True,
                "PerformanceMode": "generalPurpose",
                "ThroughputMode": "elastic",
                "BackupPolicy": {"Status": "ENABLED"},
                "FileSystemTags": [{"Key": "Name", "Value": sub("${AWS::StackName}-router-wal")}],
            },
        },
        **mount_targets,
        "WalAccessPoint": {
            "Type": "AWS::EFS::AccessPoint",
            "Properties": {
                "FileSystemId": ref("WalFileSystem"),
                "PosixUser": {"Uid": uid, "Gid": uid},
                "RootDirectory": {
                    "Path": "/router",
                    "CreationInfo": {"OwnerUid": uid, "OwnerGid": uid, "Permissions": "0700"},
                },
            },
        },
        "RouterWalPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "wal-file-system",
                "Roles": [import_value("DataStackName", "RouterRoleName")],
                "PolicyDocument": policy(
                    allow(
                        ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                        sub(f"{efs}:file-system/${{WalFileSystem}}"),
                        {
                            "StringEquals": {
                                "elasticfilesystem:AccessPointArn": sub(
                                    f"{efs}:access-point/${{WalAccessPoint}}"
                                )
                            }
                        },
                    )
                ),
            },
        },
    }


def _load_balancer() -> Json:
    def target_group(port: int, health: str) -> Json:
        return {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {
                "VpcId": ref("VpcId"),
                "Protocol": "HTTP",
                "Port": port,
                "TargetType": "ip",
                "HealthCheckPath": health,
                "HealthCheckIntervalSeconds": 10,
                "HealthyThresholdCount": 2,
                "UnhealthyThresholdCount": 3,
                "Matcher": {"HttpCode": "200"},
                "TargetGroupAttributes": [
                    {
                        "Key": "deregistration_delay.timeout_seconds",
                        "Value": str(settings.TERMINATION_GRACE_S),
                    }
                ],
            },
        }

    return {
        "LoadBalancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Metadata": checkov_skip(
                (
                    "CKV_AWS_91",
                    "access logs go to a bucket of the platform's choice: set "
                    "access_logs.s3.* (docs/deploy-security.md)",
                ),
            ),
            "Properties": {
                "Scheme": "internet-facing",
                "Type": "application",
                "Subnets": ref("PublicSubnets"),
                "SecurityGroups": [ref("LoadBalancerSecurityGroup")],
                "LoadBalancerAttributes": [
                    {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
                    {"Key": "idle_timeout.timeout_seconds", "Value": "120"},
                ],
            },
        },
        "RouterTargetGroup": target_group(settings.ROUTER_PORT, settings.ROUTER_READINESS),
        "ServeTargetGroup": target_group(settings.SERVE_PORT, settings.SERVE_READINESS),
        "HttpsListener": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": ref("LoadBalancer"),
                "Port": 443,
                "Protocol": "HTTPS",
                "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "Certificates": [{"CertificateArn": ref("CertificateArn")}],
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref("ServeTargetGroup")}],
            },
        },
        "RouterRule": {
            "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Properties": {
                "ListenerArn": ref("HttpsListener"),
                "Priority": 10,
                "Conditions": [
                    {
                        "Field": "path-pattern",
                        "PathPatternConfig": {"Values": list(settings.ROUTER_PATHS)},
                    }
                ],
                "Actions": [{"Type": "forward", "TargetGroupArn": ref("RouterTargetGroup")}],
            },
        },
    }


def _ecs(options: Options, imported: Json) -> Json:
    secret_arn = {
        name: import_value("DataStackName", f"{name}SecretArn")
        for name in ("RouterTokens", "FirehoseKey", "ServeTokens")
    }
    toml = sub(config_toml(options), imported)
    logs = {
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": ref("TaskLogGroup"),
            "awslogs-region": ref("AWS::Region"),
        },
    }
    scratch = [
        {"SourceVolume": "etc", "ContainerPath": settings.CONFIG_DIR},
        {"SourceVolume": "tmp", "ContainerPath": "/tmp"},
    ]
    placeholders: Json = {
        "@WORKERS": {"Fn::FindInMap": ["Workers", ref("RouterCpu"), "Count"]},
        "@S3": sub("s3://${BucketName}/${TablePrefix}", imported),
        "@REGION": ref("AWS::Region"),
    }
    router_argv = settings.router_args(workers="@WORKERS", s3="@S3", region="@REGION")
    router_command = [placeholders.get(arg, arg) for arg in router_argv]
    router_container = {
        "Name": "router",
        "Image": ref("Image"),
        "Essential": True,
        "Command": router_command,
        "PortMappings": [{"ContainerPort": settings.ROUTER_PORT, "Protocol": "tcp"}],
        "Environment": [{"Name": "STARBASE_STATE", "Value": settings.STATE_DIR}],
        "Secrets": [
            {"Name": settings.ROUTER_TOKENS_ENV, "ValueFrom": secret_arn["RouterTokens"]},
            {
                "Name": settings.FIREHOSE_KEYS_ENV,
                "ValueFrom": {"Fn::Join": ["", [secret_arn["FirehoseKey"], ":api_key::"]]},
            },
        ],
        "MountPoints": [
            {"SourceVolume": "wal", "ContainerPath": settings.DATA_DIR},
            {"SourceVolume": "tmp", "ContainerPath": "/tmp"},
        ],
        "ReadonlyRootFilesystem": True,
        "StopTimeout": settings.TERMINATION_GRACE_S,
        "LogConfiguration": _stream(logs, "router"),
        "User": str(settings.USER_ID),
    }
    retention_container = {
        "Name": "retention",
        "Image": ref("Image"),
        "Essential": False,
        "EntryPoint": ["sh", "-c"],
        "Command": [_retention_loop()],
        "Environment": [
            {"Name": "STARBASE_STATE", "Value": settings.STATE_DIR},
            {"Name": "STARBASE_TOML", "Value": toml},
        ],
        "MountPoints": [{"SourceVolume": "wal", "ContainerPath": settings.DATA_DIR}, *scratch],
        "ReadonlyRootFilesystem": True,
        "LogConfiguration": _stream(logs, "retention"),
        "User": str(settings.USER_ID),
    }
    serve_container = {
        "Name": "serve",
        "Image": ref("Image"),
        "Essential": True,
        "EntryPoint": ["sh", "-c"],
        "Command": [_with_files(settings.serve_args())],
        "PortMappings": [{"ContainerPort": settings.SERVE_PORT, "Protocol": "tcp"}],
        "Environment": [{"Name": "STARBASE_TOML", "Value": toml}],
        "Secrets": [{"Name": "SERVE_TOKENS", "ValueFrom": secret_arn["ServeTokens"]}],
        "MountPoints": scratch,
        "ReadonlyRootFilesystem": True,
        "LogConfiguration": _stream(logs, "serve"),
        "User": str(settings.USER_ID),
    }
    secrets_read = allow(["secretsmanager:GetSecretValue"], list(secret_arn.values()))
    execution_role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "ECS agent: pull the image, write the tasks' logs, read the tokens",
            "AssumeRolePolicyDocument": policy(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ),
            "Policies": [
                {
                    "PolicyName": "run",
                    "PolicyDocument": policy(
                        # ECR's token call has no resource; the pulls are limited to the
                        # account's repositories.
                        allow(["ecr:GetAuthorizationToken"], "*"),
                        allow(
                            [
                                "ecr:BatchCheckLayerAvailability",
                                "ecr:BatchGetImage",
                                "ecr:GetDownloadUrlForLayer",
                            ],
                            sub(
                                "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:"
                                "repository/*"
                            ),
                        ),
                        allow(
                            ["logs:CreateLogStream", "logs:PutLogEvents"],
                            get_att("TaskLogGroup", "Arn"),
                        ),
                        secrets_read,
                    ),
                }
            ],
        },
    }
    ephemeral = [{"Name": "etc"}, {"Name": "tmp"}]
    router_task = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": sub("${AWS::StackName}-router"),
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": ref("RouterCpu"),
            "Memory": {"Fn::FindInMap": ["Fargate", ref("RouterCpu"), "Memory"]},
            "ExecutionRoleArn": get_att("ExecutionRole", "Arn"),
            "TaskRoleArn": import_value("DataStackName", "RouterRoleArn"),
            "ContainerDefinitions": [router_container, retention_container],
            "Volumes": [
                {
                    "Name": "wal",
                    "EFSVolumeConfiguration": {
                        "FilesystemId": ref("WalFileSystem"),
                        "TransitEncryption": "ENABLED",
                        "AuthorizationConfig": {
                            "AccessPointId": ref("WalAccessPoint"),
                            "IAM": "ENABLED",
                        },
                    },
                },
                *ephemeral,
            ],
        },
    }
    serve_task = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": sub("${AWS::StackName}-serve"),
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": ref("ServeCpu"),
            "Memory": {"Fn::FindInMap": ["Fargate", ref("ServeCpu"), "Memory"]},
            "ExecutionRoleArn": get_att("ExecutionRole", "Arn"),
            "TaskRoleArn": import_value("DataStackName", "ServeRoleArn"),
            "ContainerDefinitions": [serve_container],
            "Volumes": ephemeral,
        },
    }

    def service(
        task: str, count: Any, group: str, target: str, port: int, name: str, deployment: Json
    ) -> Json:
        return {
            "Type": "AWS::ECS::Service",
            "DependsOn": ["HttpsListener", "RouterRule"],
            "Properties": {
                "Cluster": ref("Cluster"),
                "LaunchType": "FARGATE",
                "TaskDefinition": ref(task),
                "DesiredCount": count,
                "DeploymentConfiguration": deployment,
                "HealthCheckGracePeriodSeconds": 60,
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "AssignPublicIp": "DISABLED",
                        "Subnets": ref("PrivateSubnets"),
                        "SecurityGroups": [ref(group)],
                    }
                },
                "LoadBalancers": [
                    {"ContainerName": name, "ContainerPort": port, "TargetGroupArn": ref(target)}
                ],
            },
        }

    return {
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
        },
        "TaskLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": checkov_skip(
                (
                    "CKV_AWS_158",
                    "Starbase's own process logs; encrypted by CloudWatch Logs' own key",
                ),
            ),
            "Properties": {
                "LogGroupName": sub("/starbase/${AWS::StackName}/tasks"),
                "RetentionInDays": 365,
            },
        },
        "ExecutionRole": execution_role,
        "RouterTask": router_task,
        "ServeTask": serve_task,
        # One router task per prefix (two writers must not share a table, docs/storage.md);
        # the old task stops (draining its WAL) before the new one mounts the same WAL.
        "RouterService": service(
            "RouterTask",
            1,
            "RouterSecurityGroup",
            "RouterTargetGroup",
            settings.ROUTER_PORT,
            "router",
            {"MinimumHealthyPercent": 0, "MaximumPercent": 100},
        ),
        "ServeService": service(
            "ServeTask",
            ref("ServeCount"),
            "ServeSecurityGroup",
            "ServeTargetGroup",
            settings.SERVE_PORT,
            "serve",
            {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
        ),
    }


def _stream(logs: Json, prefix: str) -> Json:
    return {**logs, "Options": {**logs["Options"], "awslogs-stream-prefix": prefix}}


# ------------------------------------------------------------------ output


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings; no anchors (CloudFormation rejects YAML aliases)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(template: Json) -> str:
    return yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
