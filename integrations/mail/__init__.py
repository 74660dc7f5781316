"""Inbound email: the merchant's mailbox read over IMAP (issue 18, docs/inbound-email.md)."""
