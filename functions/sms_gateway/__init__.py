"""SMS gateway for AWS in front of USpeedo: the Lambda's code."""
