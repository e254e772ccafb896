"""The lanes and sending: one SQS batch of events composed, paced and sent through SES v2.
"""
