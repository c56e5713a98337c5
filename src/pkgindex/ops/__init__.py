"""Running in production: trusted proxy headers, request ids and access logs, metrics, logging set-up."""
