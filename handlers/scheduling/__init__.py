"""When each email may go: the stack's send schedule and the pacing around it.
"""
