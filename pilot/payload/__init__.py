"""Payload Control: prepare and run the payload, interpret its exit code and job report."""
