"""Lambda handlers of the email pipeline and the modules they share.

Each function is deployed as a zip of the modules its entry module imports (see
`components.packaging`); they need nothing beyond the standard library and the botocore that comes
with the Lambda runtime. A third-party dependency listed in `handlers/requirements.txt` would ship
as a Lambda layer.
"""
