"""Plugin entry point: serves EmailSender, EventRouter and Monitoring to any Pulumi language."""

from ses_email_pipeline.provider import main

main()
