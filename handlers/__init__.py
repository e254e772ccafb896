"""Lambda handlers of the email pipeline and the modules they share.

Deployed as one zip of this package (see `components.packaging`); the third-party runtime
dependencies in `handlers/requirements.txt` ship as a Lambda layer, and boto3 comes with the
Lambda runtime.
"""
