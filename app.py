#!/usr/bin/env python3
"""The CDK app: settings from context, the gateway's stack, and cdk-nag over all of it.

`npx cdk synth` (or `make synth`) runs this file. Every setting is a context key in
`cdk.json`, overridable with `-c key=value`.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra import lambda_code
from infra.names import PROJECT_TAG, STACK_ID
from infra.settings import GatewaySettings
from infra.stack import SmsGatewayStack


def build(app: cdk.App) -> SmsGatewayStack:
    """Add the gateway's stack to `app` and check it with cdk-nag's AWS Solutions rules.

    A finding that is not acknowledged on its resource (with a reason) fails the synth.
    """
    settings = GatewaySettings.from_context(app.node.try_get_context)
    stack = SmsGatewayStack(
        app,
        STACK_ID,
        settings=settings,
        message_schema=lambda_code.message_json_schema(),
        opt_outs_schema=lambda_code.opt_outs_json_schema(),
    )
    cdk.Tags.of(stack).add("Project", PROJECT_TAG)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> None:
    """Synthesize the app into `cdk.out`."""
    app = cdk.App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
