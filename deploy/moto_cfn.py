"""moto's CloudFormation, completed for the resources Starbase's templates use.

Requires: moto with its `cloudformation` extra, boto3. moto 5.2's CloudFormation skips (with a
warning) AWS::KinesisFirehose::DeliveryStream, AWS::Logs::SubscriptionFilter,
AWS::Logs::LogStream, AWS::SecretsManager::Secret and AWS::S3::BucketPolicy, creates an
AWS::S3::Bucket without its versioning, lifecycle, public access block or ownership controls,
and an AWS::ECS::TaskDefinition without its roles, CPU, network mode or compatibilities.
`install(endpoint)` adds them: each is created the way CloudFormation does, by calling the
service's API — here moto's own, over HTTP at `endpoint` — with the resource's properties
translated from CloudFormation's spelling to the API's. So after a stack is created, the
services' own read calls (GetBucketLifecycleConfiguration, DescribeDeliveryStream,
DescribeSubscriptionFilters, GetSecretValue, …) answer with what a real deployment of the
template would hold.

Guarantees and limits: Ref and Fn::GetAtt give what CloudFormation gives (a secret's Ref is its
ARN, a stream's Ref its name and `Arn` its ARN). A bucket policy is kept by this module
(`bucket_policies`) and not handed to moto's S3: moto ignores a statement's Condition, so the
templates' TLS-only Deny would deny every request there. Deleting a stack leaves these
resources in moto. `serve(host, port)` runs moto's server with this installed (the AWS guide's
local walk-through).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.ecs.models import TaskDefinition, ecs_backends
from moto.s3.models import FakeBucket

log = logging.getLogger("starbase.deploy.moto")

_endpoint: dict[str, str] = {}
_lock = threading.Lock()
bucket_policies: dict[str, dict[str, Any]] = {}  # bucket name -> policy document

NUMBERS = {
    "IntervalInSeconds",
    "SizeInMBs",
    "DurationInSeconds",
    "PasswordLength",
    "NoncurrentDays",
    "DaysAfterInitiation",
    "TransitionInDays",
    "ExpirationInDays",
    "ObjectSizeGreaterThan",
    "ObjectSizeLessThan",
    "NewerNoncurrentVersions",
}


def install(endpoint: str) -> None:
    """Teach moto's CloudFormation these resource types; `endpoint` is moto's own URL."""
    with _lock:
        _endpoint["url"] = endpoint
        if not getattr(FakeBucket, "_starbase_completed", False):
            original = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

            def create_bucket(
                cls: type[FakeBucket],
                /,
                resource_name: str,
                cloudformation_json: Any,
                account_id: str,
                region_name: str,
                **kwargs: Any,
            ) -> FakeBucket:
                bucket: FakeBucket = original(
                    cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
                )
                _complete_bucket(
                    resource_name, cloudformation_json.get("Properties", {}), region_name
                )
                return bucket

            FakeBucket.create_from_cloudformation_json = classmethod(create_bucket)  # type: ignore[method-assign, assignment]
            FakeBucket._starbase_completed = True  # type: ignore[attr-defined]
        if not getattr(TaskDefinition, "_starbase_completed", False):
            TaskDefinition.create_from_cloudformation_json = classmethod(_task_definition)  # type: ignore[method-assign, assignment]
            TaskDefinition._starbase_completed = True  # type: ignore[attr-defined]
        parsing.get_model_map.cache_clear()
        parsing.get_name_type_map.cache_clear()


def client(service: str, region: str) -> Any:
    import boto3  # type: ignore[import-untyped, unused-ignore]

    return boto3.client(
        service,
        endpoint_url=_endpoint["url"],
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def api_shape(value: Any, key: str = "") -> Any:
    """CloudFormation's resolved property values as the API wants them (numbers as numbers)."""
    if isinstance(value, dict):
        return {k: api_shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [api_shape(v, key) for v in value]
    if key in NUMBERS and isinstance(value, str):
        return int(value)
    if isinstance(value, str) and value in ("true", "false") and key in ("Enabled",):
        return value == "true"
    return value


# ------------------------------------------------------------------ S3


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """One AWS::S3::Bucket Rule in PutBucketLifecycleConfiguration's shape."""
    rule = api_shape(rule)
    conditions: dict[str, Any] = {}
    if "Prefix" in rule:
        conditions["Prefix"] = rule["Prefix"]
    for size in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if size in rule:
            conditions[size] = rule[size]
    if rule.get("TagFilters"):
        conditions["Tags"] = rule["TagFilters"]
    api: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
    if len(conditions) > 1 or "Tags" in conditions:
        api["Filter"] = {"And": conditions}
    else:
        api["Filter"] = conditions or {"Prefix": ""}
    if "Transitions" in rule:
        api["Transitions"] = [
            {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["Transitions"]
        ]
    expiration = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = rule["ExpirationInDays"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        api["Expiration"] = expiration
    for same in ("NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
        if same in rule:
            api[same] = rule[same]
    unknown = set(rule) - {
        "Id",
        "Status",
        "Prefix",
        "ObjectSizeGreaterThan",
        "ObjectSizeLessThan",
        "TagFilters",
        "Transitions",
        "ExpirationInDays",
        "ExpiredObjectDeleteMarker",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
    }
    if unknown:
        raise ValueError(f"lifecycle rule {rule['Id']}: not translated: {sorted(unknown)}")
    return api


def _complete_bucket(name: str, properties: dict[str, Any], region: str) -> None:
    s3 = client("s3", region)
    versioning = properties.get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
    lifecycle = properties.get("LifecycleConfiguration")
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={"Rules": [lifecycle_rule(r) for r in lifecycle["Rules"]]},
        )
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration={k: bool(v) for k, v in block.items()}
        )
    ownership = properties.get("OwnershipControls")
    if ownership:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ownership)


# ------------------------------------------------------------------ ECS


def camel(name: str) -> str:
    """CloudFormation's PascalCase key as ECS's API spells it: `EFSVolumeConfiguration` →
    `efsVolumeConfiguration`, `IAM` → `iam`, `ContainerPort` → `containerPort`."""
    upper = len(name) - len(name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if upper <= 1 or upper == len(name):
        return name[:upper].lower() + name[upper:]
    return name[: upper - 1].lower() + name[upper - 1 :]


def camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        # Environment entries, log options and the like are data, not keys of the API.
        if set(value) <= {"Name", "Value"} or set(value) <= {"Name", "ValueFrom"}:
            return {camel(k): v for k, v in value.items()}
        return {camel(k): (v if k == "Options" else camel_keys(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _task_definition(
    cls: type[TaskDefinition],
    /,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> TaskDefinition:
    """RegisterTaskDefinition with every property (moto's own keeps only family, containers,
    volumes and memory)."""
    p = cloudformation_json["Properties"]
    return ecs_backends[account_id][region_name].register_task_definition(
        family=p["Family"],
        container_definitions=camel_keys(p.get("ContainerDefinitions", [])),
        volumes=camel_keys(p.get("Volumes", [])),
        network_mode=p.get("NetworkMode"),
        requires_compatibilities=p.get("RequiresCompatibilities"),
        cpu=p.get("Cpu"),
        memory=p.get("Memory"),
        task_role_arn=p.get("TaskRoleArn"),
        execution_role_arn=p.get("ExecutionRoleArn"),
    )


# ------------------------------------------------------------------ the added resource types


class _Created:
    """A resource created through the API: what Ref and Fn::GetAtt give. (Each resource class
    also names CloudFormationModel directly: moto looks up only its direct subclasses.)"""

    def __init__(self, physical_id: str, attributes: dict[str, str]) -> None:
        self._physical_id = physical_id
        self._attributes = attributes

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name in self._attributes:
            return self._attributes[attribute_name]
        raise UnformattedGetAttTemplateException()


class DeliveryStream(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::KinesisFirehose::DeliveryStream"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeliveryStreamName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DeliveryStream:
        properties = api_shape(dict(cloudformation_json["Properties"]))
        properties["DeliveryStreamName"] = resource_name
        firehose = client("firehose", region_name)
        arn = firehose.create_delivery_stream(**properties)["DeliveryStreamARN"]
        return cls(resource_name, {"Arn": arn})


class SubscriptionFilter(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Logs::SubscriptionFilter"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "FilterName"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SubscriptionFilter:
        p = cloudformation_json["Properties"]
        request = {
            "logGroupName": p["LogGroupName"],
            "filterName": resource_name,
            "filterPattern": p.get("FilterPattern", ""),
            "destinationArn": p["DestinationArn"],
        }
        if p.get("RoleArn"):
            request["roleArn"] = p["RoleArn"]
        client("logs", region_name).put_subscription_filter(**request)
        return cls(resource_name, {})


class LogStream(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Logs::LogStream"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "LogStreamName"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LogStream:
        group = cloudformation_json["Properties"]["LogGroupName"]
        client("logs", region_name).create_log_stream(
            logGroupName=group, logStreamName=resource_name
        )
        return cls(resource_name, {})


class Secret(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Secret:
        p = api_shape(cloudformation_json["Properties"])
        secrets = client("secretsmanager", region_name)
        value = p.get("SecretString")
        generate = p.get("GenerateSecretString")
        if value is None and generate is not None:
            options = {
                k: v
                for k, v in generate.items()
                if k not in ("SecretStringTemplate", "GenerateStringKey")
            }
            password = secrets.get_random_password(**options)["RandomPassword"]
            if "GenerateStringKey" in generate:
                document = json.loads(generate.get("SecretStringTemplate") or "{}")
                document[generate["GenerateStringKey"]] = password
                value = json.dumps(document)
            else:
                value = password
        request = {"Name": resource_name, "SecretString": value or ""}
        if p.get("Description"):
            request["Description"] = p["Description"]
        arn = secrets.create_secret(**request)["ARN"]
        return cls(arn, {"Id": arn})


class BucketPolicy(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicy:
        p = cloudformation_json["Properties"]
        bucket_policies[p["Bucket"]] = p["PolicyDocument"]
        return cls(p["Bucket"], {})


# ------------------------------------------------------------------ a server with it


def serve(host: str, port: int) -> None:
    """moto's server on host:port with this module installed, until interrupted."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    install(f"http://{host}:{port}")
    print(f"moto (with Starbase's CloudFormation types) on http://{host}:{port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
