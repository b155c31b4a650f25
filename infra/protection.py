"""Protection: the traffic policy's parameter, and the table of counters and opt-outs.

The gateway refuses what the policy forbids before it pays for an SMS (country rules,
velocity limits, volume caps, expiry) and never texts an opted-out number. The policy is a
JSON document in an SSM parameter, made here from the context key `trafficPolicy`; people
change it afterwards with `smsgw policy …` (no deploy). The table holds the shared counters,
the per-chunk markers that keep a retry from counting twice, and the opt-out list: the one
place the gateway stores phone numbers, so it is encrypted with a key of its own whose
policy lets it be used through DynamoDB only.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.names import (
    PROTECTION_PARTITION_KEY,
    PROTECTION_TTL_ATTRIBUTE,
    ConstructId,
    traffic_policy_parameter_name,
)

# What the function does on the table (contract): single items for the counters, markers
# and opt-outs, and transactions of counter updates (TransactWriteItems is authorised item
# by item as UpdateItem: no action of its own); BatchGetItem to check a chunk's numbers
# against the opt-out list in one round; Scan to list the opt-outs (`GET /optouts`). No
# Query, no index, no table admin.
TABLE_ACTIONS: Final = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Scan",
)
# What a caller of a table encrypted with a customer-managed key needs on the key, through
# DynamoDB only: Decrypt for the table key on every read and write, Encrypt and
# GenerateDataKey for writes, DescribeKey for DynamoDB's check of the key. Never ReEncrypt
# or CreateGrant: those change which key protects the table, which the function never does.
FUNCTION_KEY_ACTIONS: Final = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
)
# The key policy. The account administers the key (its IAM policies decide who), with no
# way to use it outside DynamoDB: no Decrypt of its own and no CreateGrant, which would let
# a principal hand itself Decrypt.
KEY_ADMIN_ACTIONS: Final = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:PutKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListKeyRotations",
    "kms:RotateKeyOnDemand",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ListResourceTags",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
# What DynamoDB asks for, on behalf of whoever creates or uses the table (AWS's documented
# minimum for a table's customer-managed key), allowed only through DynamoDB in this
# account and region. IAM policies still decide who: the stack's deployment creates the
# table, the function's role reads and writes it.
KEY_DYNAMODB_ACTIONS: Final = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:CreateGrant",
)
# Deleted with the stack like the other keys, but after the longest wait KMS allows: a
# deleted table leaves a system backup for 35 days (point-in-time recovery), readable only
# while its key exists.
KEY_PENDING_WINDOW: Final = cdk.Duration.days(30)


class Protection(Construct):
    """The traffic policy's SSM parameter, and the protection table with its own key.

    The stack adds it under `Protection` (`ConstructId.PROTECTION`); every logical id below
    derives from that id and from the ids in `ConstructId`: renaming one replaces the
    resource, and a replaced table loses the opt-out list.
    """

    def __init__(self, scope: Construct, construct_id: str, *, policy_document: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        # CloudFormation writes the value when the parameter is created, and again only when
        # `trafficPolicy` changes: a deploy leaves a policy changed with `smsgw policy` alone.
        self.policy_parameter = ssm.StringParameter(
            self,
            ConstructId.TRAFFIC_POLICY_PARAMETER,
            parameter_name=traffic_policy_parameter_name(stack.stack_name),
            description="SMS gateway traffic policy (JSON): country rules, rate limits, caps, "
            "expiry. Read within 60 s by the gateway; change it with `smsgw policy`.",
            string_value=policy_document,
            tier=ssm.ParameterTier.STANDARD,
        )
        self.key = kms.Key(
            self,
            ConstructId.PROTECTION_KEY,
            description="SMS gateway: encrypts the protection table (the opt-out list holds "
            "phone numbers); usable through DynamoDB only",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
            pending_window=KEY_PENDING_WINDOW,
            policy=self._key_policy(stack),
        )
        self.table = dynamodb.Table(
            self,
            ConstructId.PROTECTION_TABLE,
            partition_key=dynamodb.Attribute(
                name=PROTECTION_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            time_to_live_attribute=PROTECTION_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Counters and markers expire by TTL; the opt-out list goes with the stack like
            # every other stateful resource (export it first: `smsgw optout list`).
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    @staticmethod
    def _dynamodb_only(stack: cdk.Stack) -> dict[str, dict[str, str]]:
        return {
            "StringEquals": {
                "kms:ViaService": f"dynamodb.{stack.region}.{stack.url_suffix}",
                "kms:CallerAccount": stack.account,
            }
        }

    def _key_policy(self, stack: cdk.Stack) -> iam.PolicyDocument:
        account = iam.AccountRootPrincipal()
        return iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="AdministerTheKey",
                    principals=[account],
                    actions=list(KEY_ADMIN_ACTIONS),
                    resources=["*"],  # in a key policy, "*" is this key
                ),
                iam.PolicyStatement(
                    sid="UseItThroughDynamoDbOnly",
                    principals=[account],
                    actions=list(KEY_DYNAMODB_ACTIONS),
                    resources=["*"],
                    conditions=self._dynamodb_only(stack),
                ),
            ]
        )

    def grant(self, role: iam.IRole) -> None:
        """What the function needs, each on its one resource: the policy's parameter read,
        the table's items, and the table's key through DynamoDB."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"], resources=[self.policy_parameter.parameter_arn]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[self.table.table_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(FUNCTION_KEY_ACTIONS),
                resources=[self.key.key_arn],
                conditions=self._dynamodb_only(cdk.Stack.of(self)),
            )
        )
