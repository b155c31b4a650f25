"""SMS gateway for AWS in front of USpeedo: the Lambda's code.

Words used with one meaning throughout:

- **door**: the way a message came in — SQS, SNS, the REST API, or a direct invoke.
- **message**: what a producer sends (USpeedo's field names), validated into a `Message`.
- **chunk**: the part of a message that one provider call carries (at most 1,000 numbers),
  sent exactly once under its own idempotency record.
- **fate**: what became of a message — sent, rejected to its caller, or parked.
- **park**: put a message that will never be sent as it is into the dead-letter queue,
  with its reason (`ErrorCode`, `ErrorMessage`, `RetCode`).
- **replay**: answering a repeat from the stored result instead of sending again.
- **gateway key**: the secret every stored hash is an HMAC under.
"""
