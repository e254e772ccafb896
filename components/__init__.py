"""Reusable Pulumi components of the email pipeline."""
