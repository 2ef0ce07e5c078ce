"""LocalStack extensions for Lanyard: a host-process Lambda runtime executor and AWS-parity patches."""
