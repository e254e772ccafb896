"""What the Pulumi program, the operator tool and the local system may import from the handlers.

Every module here imports only the standard library and its siblings (a test holds it to that):
names, numbers and pure functions both sides of the deploy must agree on.
"""
