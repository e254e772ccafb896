"""The email pipeline's CrossGuard policy pack (see `__main__.py` and `email_policies.py`)."""
