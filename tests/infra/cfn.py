"""Reading a synthesized CloudFormation template in the terms the infra tests speak.

Resources are looked up through the constructs that made them (their logical ids come from
the stack), so a test says "the dead-letter queue", not "IngressDeadLetterQueue1C881486".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

Json = dict[str, Any]


@dataclass(frozen=True)
class Statement:
    """One IAM policy statement, with where it came from."""

    policy: str  # logical id of the AWS::IAM::Policy (or Role) holding it
    effect: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


@dataclass(frozen=True)
class SynthesizedStack:
    """A stack object and its synthesized template."""

    stack: cdk.Stack
    template: Json

    @property
    def resources(self) -> Mapping[str, Json]:
        """Every resource of the template by logical id."""
        resources: Mapping[str, Json] = self.template["Resources"]
        return resources

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of `construct`'s CloudFormation resource (or of itself, if L1)."""
        element = construct if isinstance(construct, cdk.CfnElement) else None
        if element is None:
            child = construct.node.default_child
            assert isinstance(child, cdk.CfnElement), f"{construct.node.path} has no L1 child"
            element = child
        logical_id = self.stack.resolve(self.stack.get_logical_id(element))
        assert isinstance(logical_id, str)
        return logical_id

    def resource(self, construct: IConstruct) -> Json:
        """The template entry (Type, Properties, …) of `construct`."""
        return self.resources[self.logical_id(construct)]

    def properties(self, construct: IConstruct) -> Json:
        """The `Properties` of `construct`'s resource."""
        properties: Json = self.resource(construct).get("Properties", {})
        return properties

    def ref(self, construct: IConstruct) -> Json:
        """`{"Ref": …}` to `construct`, as the template writes it."""
        return {"Ref": self.logical_id(construct)}

    def get_att(self, construct: IConstruct, attribute: str) -> Json:
        """`{"Fn::GetAtt": [...]}` of `construct`, as the template writes it."""
        return {"Fn::GetAtt": [self.logical_id(construct), attribute]}

    def of_type(self, resource_type: str) -> dict[str, Json]:
        """The resources of one type, by logical id."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def iam_statements(self) -> Iterator[Statement]:
        """Every statement of every identity policy in the template (not resource policies)."""
        for logical_id, resource in self.resources.items():
            documents: list[Json] = []
            if resource["Type"] == "AWS::IAM::Policy":
                documents.append(resource["Properties"]["PolicyDocument"])
            elif resource["Type"] == "AWS::IAM::Role":
                documents += [
                    policy["PolicyDocument"]
                    for policy in resource["Properties"].get("Policies", [])
                ]
            for document in documents:
                for statement in document["Statement"]:
                    yield Statement(
                        policy=logical_id,
                        effect=statement["Effect"],
                        actions=_as_tuple(statement.get("Action", ())),
                        resources=_as_tuple(statement.get("Resource", ())),
                    )
