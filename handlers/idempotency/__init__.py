"""Send once: claims on each event's key, one record per batch of what it sent.
"""
