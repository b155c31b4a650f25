"""The CDK app's infrastructure: one thin stack composing one construct per capability."""
