"""Delivery status: SES's events read into outcomes, ordered against each message's record.
"""
