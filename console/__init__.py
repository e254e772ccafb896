"""The web console (`make console`, `email-pipeline console`): templates, the message log, test sends, dead letters.

Installed as the `console` extra (`pip install "ses-email-pipeline[console]"`); never in the Lambda
zip or the program's `requirements.txt`. `docs/console.md` describes the page, its API and the IAM
an operator needs for a deployed stack.
"""
